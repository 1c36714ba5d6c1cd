"""Multi-currency orgs (issue 18; mapping option multi_currency): an order in another currency than the corporate one
gets its CurrencyIsoCode and lines on a standard price book entry of that currency (created once, then reused); an
order in a currency the org lacks is a dead letter naming the currency, with nothing of it sent; the shipped default
keeps one currency (Woo_Currency__c only). Real Postgres, the Salesforce emulator with currencies."""
from __future__ import annotations

import json

import pytest

from agent.delivery import models
from tests.support import woo
from tests.support.agent_fixtures import sf_connection

pytestmark = pytest.mark.integration


@pytest.fixture
def org(sf_emu):
    sf_emu.set_org_features(currencies=["USD", "EUR"])
    models._CURRENCIES.clear()
    yield sf_emu
    sf_emu.set_org_features()
    models._CURRENCIES.clear()


async def test_orders_in_the_orgs_currencies_and_one_it_lacks(db, stores, store, org, outbox, deliverer, tmp_path):
    own = tmp_path / "own.toml"
    own.write_text("[options]\nmulti_currency = true\n")
    await stores.set_salesforce(store.id, {**sf_connection(org), "mapping_file": str(own)})
    sid = store.id
    await outbox.put(sid, "product", woo.product(1, price="10.00"))
    await outbox.put(sid, "order", woo.order(1, products=(1,)), woo.order(2, products=(1,), currency="EUR"),
                     woo.order(3, products=(1,), currency="EUR", email_n=9))
    stats = await deliverer.drain()
    assert stats.outcomes["delivered"] == 4, stats
    orders = {r["Wooforce_Key__c"].rsplit(":", 1)[1]: r for r in org.records("Order")}
    assert (orders["1"]["CurrencyIsoCode"], orders["2"]["CurrencyIsoCode"]) == ("USD", "EUR")
    entries = {r["Wooforce_Key__c"][len(sid) + 1:]: r for r in org.records("PricebookEntry")}
    assert set(entries) == {"product:1", "product:1:EUR"}  # one entry per currency used, shared by orders 2 and 3
    assert entries["product:1:EUR"]["CurrencyIsoCode"] == "EUR"
    items = [r for r in org.records("OrderItem") if r["OrderId"] == orders["2"]["Id"]]
    assert items and all(i["PricebookEntryId"] == entries["product:1:EUR"]["Id"] for i in items)

    await outbox.put(sid, "order", woo.order(4, products=(1,), currency="JPY"))
    assert (await deliverer.drain()).outcomes["dead"] == 1
    assert not any(r["Wooforce_Key__c"].endswith(":order:4") for r in org.records("Order"))
    async with db.connection() as c:
        row = await c.fetchrow("SELECT last_error_code, last_error FROM outbox WHERE resource = 'order' "
                               "AND resource_id = 4")
    assert row["last_error_code"] == "CURRENCY_NOT_IN_ORG" and "JPY" in row["last_error"], dict(row)
    assert "USD, EUR" in json.dumps(row["last_error"])


async def test_single_currency_by_default(db, sf_store, sf_emu, outbox, deliverer):
    await outbox.put(sf_store, "order", woo.order(1, products=(1,), currency="EUR"))
    assert (await deliverer.drain()).outcomes["delivered"] == 1
    order = sf_emu.records("Order")[0]
    assert order["Woo_Currency__c"] == "EUR" and "CurrencyIsoCode" not in order
