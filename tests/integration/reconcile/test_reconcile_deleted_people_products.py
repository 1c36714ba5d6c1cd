"""What a real store does to orders when a customer or a product is deleted for good (issue 14, problems 4 and 5),
through the WooCommerce emulator (which does the same) and the reconciler, down to the Salesforce emulator:

* a deleted user's orders get ``customer_id`` 0 and a new ``date_modified`` (direct SQL, no webhook): the
  reconciler re-sends them, and they must stay on the person's Account and Contact (no second one, same email);
* lines of a product deleted for good come back with ``product_id`` 0 and ``sku`` null: a line keeps its product;
  lines whose product was never known share one placeholder product per store.
"""
from __future__ import annotations

import pytest

from tests.support.agent_fixtures import *  # noqa: F403 - sf_session / sf_emu / deliverer fixtures
from tests.support.agent_fixtures import sf_connection

pytestmark = pytest.mark.integration


async def deliver_all(deliverer) -> None:
    for _ in range(5):
        if (await deliverer.drain()).claimed == 0:
            return


def keyed(sf_emu, sobject: str) -> dict[str, dict]:
    return {r["Wooforce_Key__c"].split(":", 1)[1]: r for r in sf_emu.records(sobject)}


@pytest.fixture
async def synced(shop, stores, sf_emu, make_reconciler, deliverer, db):
    await stores.set_salesforce(shop.store_id, sf_connection(sf_emu))

    async def sync() -> None:
        shop.store.clock.advance(2)  # each step at its own second: a new date_modified is a new version
        report = await make_reconciler(id_sweep_ids_per_run=100).run_store(shop.store_id, force=True)
        assert report is not None and report.outcome == "ok", report and report.error
        await deliver_all(deliverer)
        async with db.connection() as conn:  # nothing left waiting (a guest buyer matching the person's email, ...)
            assert await conn.fetch("SELECT resource, resource_id, status, last_error FROM outbox "
                                    "WHERE status <> 'delivered'") == []
    return sync


async def test_a_deleted_customers_orders_stay_on_their_account_and_contact(shop, sf_emu, synced):
    store = shop.store
    store.clock.freeze()
    mug = store.create_product({"name": "Mug", "regular_price": "9.00"})
    jane = store.create_customer({"email": "jane@example.com", "first_name": "Jane", "last_name": "Doe",
                                  "billing": {"email": "jane@example.com", "first_name": "Jane", "last_name": "Doe"}})
    orders = [store.create_order({"customer_id": jane.id, "status": "processing",
                                  "billing": {"email": "jane@example.com", "first_name": "Jane", "last_name": "Doe"},
                                  "line_items": [{"product_id": mug.id, "quantity": n}]}) for n in (1, 2)]
    await synced()
    accounts = keyed(sf_emu, "Account")
    person = accounts[f"customer:{jane.id}"]["Id"]
    assert {keyed(sf_emu, "Order")[f"order:{o.id}"]["AccountId"] for o in orders} == {person}
    before = {o.id: o.doc["date_modified_gmt"] for o in orders}

    store.clock.advance(5)
    store.delete_customer(jane.id)
    # the emulator as the real store: guest orders now, modified, and no webhook said so
    assert all(o.doc["customer_id"] == 0 and o.doc["date_modified_gmt"] != before[o.id] for o in orders)
    await synced()

    contacts = [c for c in sf_emu.records("Contact") if c.get("Email") == "jane@example.com"]
    assert len(contacts) == 1 and contacts[0]["Wooforce_Key__c"].endswith(f":customer:{jane.id}")
    assert [k for k in keyed(sf_emu, "Account") if k.startswith("guest:")] == []
    sf_orders = keyed(sf_emu, "Order")
    assert {sf_orders[f"order:{o.id}"]["AccountId"] for o in orders} == {person}
    assert all(sf_orders[f"order:{o.id}"]["Woo_Date_Modified__c"].startswith(o.doc["date_modified_gmt"])
               for o in orders)  # the orders were re-sent, and stayed


async def test_lines_keep_a_deleted_product_and_unknown_products_share_one_placeholder(shop, sf_emu, synced):
    store = shop.store
    store.clock.freeze()
    lamp = store.create_product({"name": "Lamp", "regular_price": "30.00", "sku": "LAMP-1"})
    order = store.create_order({"status": "processing", "billing": {"email": "g@example.com"},
                                "line_items": [{"product_id": lamp.id, "quantity": 1}]})
    await synced()
    item = next(iter(keyed(sf_emu, "OrderItem").values()))
    entry = item["PricebookEntryId"]

    store.delete_product(lamp.id)
    line = store.render(order)["line_items"][0]
    assert (line["product_id"], line["sku"], line["name"]) == (0, None, "Lamp")  # as the real store lists it
    store.update_order(order.id, {"status": "completed"})  # the order changes: it is sent again
    # two orders of a product the store never had: WooCommerce lists their lines with product_id 0 too
    strays = [store.create_order({"status": "processing", "billing": {"email": "g@example.com"},
                                  "line_items": [{"product_id": 999999, "quantity": 1, "name": "Gift card"},
                                                 {"product_id": 999998, "quantity": 1, "name": "Voucher"}]})
              for _ in range(2)]
    assert {li["product_id"] for o in strays for li in store.render(o)["line_items"]} == {0}
    await synced()

    items = keyed(sf_emu, "OrderItem")
    assert keyed(sf_emu, "Order")[f"order:{order.id}"]["Woo_Status__c"] == "completed"
    kept = [i for k, i in items.items() if k.startswith(f"order:{order.id}:")]
    assert [i["PricebookEntryId"] for i in kept] == [entry]  # the line kept its product
    products = keyed(sf_emu, "Product2")
    assert sorted(products) == sorted([f"product:{lamp.id}", "product:unknown"])  # one placeholder, 4 lines
    placeholder = next(e["Id"] for e in sf_emu.records("PricebookEntry")
                       if e["Product2Id"] == products["product:unknown"]["Id"])
    assert [i["PricebookEntryId"] for k, i in items.items() if not k.startswith(f"order:{order.id}:")] == \
        [placeholder] * 4
