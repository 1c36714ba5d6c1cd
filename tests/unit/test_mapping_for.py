"""shared.mapping.mapping_for: the one mapping of a store, for delivery, the org check, the Salesforce erasure and
the console: shipped defaults, the global override (settings.mapping_file) over them, the store's own
mapping_file (in its Salesforce connection) on top."""
from __future__ import annotations

from pathlib import Path

import pytest

from shared.errors import ConfigError
from shared.mapping import load_mapping, mapping_for


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_the_store_override_goes_over_the_global_one_over_the_shipped_mapping(tmp_path: Path) -> None:
    glob = _write(tmp_path / "global.toml", '[order.Order]\nType = "=Global"\nShip_Note__c = "shipping.city"\n')
    own = _write(tmp_path / "own.toml", '[order.Order]\nShip_Note__c = "shipping.address_1"\n'
                                        '[customer.Contact]\nHome_Street__c = "billing.address_1"\n')
    store = {"id": "st_x", "sf_credentials": {"instance_url": "https://x", "mapping_file": str(own)}}
    m = mapping_for(store, glob)
    order = m.tables[("order", "Order")]
    assert order["Type"].sources == ("=Global",)                       # the global override
    assert order["Ship_Note__c"].sources == ("shipping.address_1",)    # the store's own wins over it
    assert m.tables[("customer", "Contact")]["Home_Street__c"].sources == ("billing.address_1",)
    assert order["BillingCity"].sources == ("billing.city",)           # the shipped rest stays
    # no connection, or a connection without its own file: shipped + global
    for other in (None, {"id": "st_y", "sf_credentials": None}, {"id": "st_z", "sf_credentials": {"auth": "x"}}):
        assert mapping_for(other, glob).tables == load_mapping(glob).tables
    assert mapping_for(None, None).tables == load_mapping().tables


def test_an_unreadable_store_mapping_is_a_config_error(tmp_path: Path) -> None:
    store = {"sf_credentials": {"mapping_file": str(tmp_path / "missing.toml")}}
    with pytest.raises(ConfigError, match=r"missing\.toml"):
        mapping_for(store, None)
