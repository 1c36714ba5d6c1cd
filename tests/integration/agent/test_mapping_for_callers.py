"""One mapping per store (shared.mapping.mapping_for) for every caller: `salesforce check` sees a field only the
store's own mapping file sends; the erasure's customer-id lookup can use its index (migration 0009)."""
from __future__ import annotations

import pytest

from agent.admin import check_salesforce
from shared import queries
from tests.support.agent_fixtures import sf_connection

pytestmark = pytest.mark.integration


async def test_salesforce_check_reports_a_field_only_the_stores_own_mapping_sends(stores, store, sf_emu, settings,
                                                                                tmp_path):
    own = tmp_path / "own.toml"
    own.write_text('[order.Order]\nShip_Note__c = "shipping.address_1"\n')
    await stores.set_salesforce(store.id, {**sf_connection(sf_emu), "mapping_file": str(own)})
    report = await check_salesforce(stores, settings, store.id)
    assert report["missing"] == {"Order": ["Ship_Note__c"]} and not report["ok"]
    sf_emu.add_field("Order", "Ship_Note__c", "string", 30)
    assert (await check_salesforce(stores, settings, store.id))["missing"] == {}


async def test_orders_by_customer_id_can_use_the_partial_index(db):
    async with db.transaction() as tx:
        await tx.execute("SET LOCAL enable_seqscan = off")  # an empty table: show that the index matches at all
        plan = "\n".join(r[0] for r in await tx.fetch("EXPLAIN " + queries.get("console_orders_by_customer")
                                                      .replace("$1", "ARRAY['st_x']").replace("$2", "ARRAY['7']")))
    assert "events_order_customer" in plan, plan
