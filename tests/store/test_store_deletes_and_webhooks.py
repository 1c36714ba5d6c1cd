"""Issue 14, problems 3-5, on the real store (the emulator's copies of these behaviours are checked here too):

* a webhook whose deliveries keep failing (the collector is down) is disabled by WooCommerce on the same failed
  delivery as in the emulator, stays disabled once the collector is back, and the reconciler re-activates it;
* deleting a customer turns their orders into guest orders (``customer_id`` 0, a new ``date_modified``), and
  Wooforce keeps them on the person's Account and Contact (no second one);
* after a product is deleted for good its order lines read ``product_id`` 0 and ``sku`` null, and Salesforce's line
  keeps its product (no placeholder)."""
from __future__ import annotations

import time

import pytest
from aiohttp.test_utils import TestServer

from agent.reconcile.reconciler import Reconciler
from collector.app import create_app
from emulators.woocommerce import WooCommerceEmulator
from tests.store import helpers as H

EMULATOR_DISABLES_AT = 7  # emulators/woocommerce/webhooks.py: the 7th consecutive failure disables


def webhook_row(store, hid: int) -> tuple[str, int]:
    status, count = store.sql(f"SELECT status, failure_count FROM wp_wc_webhooks WHERE webhook_id = {hid}").split()
    return status, int(count)


async def emulator_disables_at(edits: int) -> int | None:
    """After how many failed order.updated deliveries the emulator disables the webhook (None: not within edits)."""
    async with WooCommerceEmulator() as wc:
        order = wc.store.create_order({"status": "processing"})
        wc.configure_webhooks("http://127.0.0.1:9", "st_x", mode="native", wc_webhook_secret="s", max_retries=0)
        for n in range(1, edits + 1):
            wc.store.clock.advance(1)
            wc.store.update_order(order.id, {"customer_note": f"edit {n}"})
            await wc.dispatcher.wait_idle(10)
            if wc.dispatcher.webhooks.get(4).status == "disabled":
                return n
    return None


@pytest.mark.timeout(900)  # one cron pass per failed delivery, on the real store
async def test_a_webhook_disabled_by_a_collector_outage_is_reactivated(real_store, stores, settings, db, sf_emu):
    store = real_store
    sid = await H.register(stores, store, sf_emu, "Webhook outage store")
    collector = TestServer(create_app(settings, db=db), host="127.0.0.1")
    await collector.start_server()
    port = collector.port
    hooks = await H.create_webhooks(store, str(collector.make_url(f"/v1/stores/{sid}/woocommerce")))
    updated = hooks[H.TOPICS.index("order.updated")]
    back = None
    try:
        order = await H.rest(store, "POST", "orders", json={"billing": H.address(1, "outage@example.com")})
        await H.settle(store)
        await collector.close()  # down: each order edit's delivery fails
        disabled_at = None
        for n in range(1, 11):
            await H.next_second()
            await H.rest(store, "PUT", f"orders/{order['id']}", json={"customer_note": f"edit {n}"})
            await H.settle(store)
            if webhook_row(store, updated)[0] == "disabled":
                disabled_at = n
                break
        assert disabled_at == await emulator_disables_at(10) == EMULATOR_DISABLES_AT, (disabled_at,
                                                                                       webhook_row(store, updated))
        back = TestServer(create_app(settings, db=db), host="127.0.0.1", port=port)
        await back.start_server()  # the collector is back: WooCommerce does not re-enable the webhook
        await H.next_second()
        await H.rest(store, "PUT", f"orders/{order['id']}", json={"customer_note": "after the outage"})
        await H.settle(store)
        assert webhook_row(store, updated)[0] == "disabled"

        report = await Reconciler(db, stores, settings).run_store(sid, force=True)
        assert report is not None and report.outcome == "ok", report and report.error
        assert report.webhooks is not None and report.webhooks["reactivated"] == [updated], report.webhooks
        assert report.webhooks["missing_topics"] == []
        assert webhook_row(store, updated)[0] == "active"
        async with db.connection() as conn:
            before = await conn.fetchval("SELECT count(*) FROM events WHERE store_id = $1 AND source = 'webhook'", sid)
        await H.next_second()
        await H.rest(store, "PUT", f"orders/{order['id']}", json={"customer_note": "real time again"})
        await H.settle(store)
        async with db.connection() as conn:
            after = await conn.fetchval("SELECT count(*) FROM events WHERE store_id = $1 AND source = 'webhook'", sid)
        assert after == before + 1
    finally:
        await H.delete_webhooks(store, hooks)
        if back is not None:
            await back.close()


@pytest.mark.timeout(600)
async def test_deleted_customers_and_products_keep_their_orders_records(real_store, stores, settings, db, sf_emu,
                                                                       make_deliverer):
    store = real_store
    tag = f"del{int(time.time())}"
    sid = await H.register(stores, store, sf_emu, "Deletes store")
    s = settings.model_copy(update={"customer_sweep_pages_per_run": 10, "id_sweep_ids_per_run": 1000})
    reconciler, deliverer = Reconciler(db, stores, s), make_deliverer()
    mug = await H.rest(store, "POST", "products", json={"name": f"Mug {tag}", "sku": f"{tag}-mug",
                                                       "regular_price": "9.00"})
    person = await H.rest(store, "POST", "customers", json={
        "email": f"{tag}@example.com", "first_name": "Del", "last_name": "Buyer", "username": tag,
        "password": "not-a-real-password-9", "billing": H.address(3, f"{tag}@example.com")})
    order = await H.rest(store, "POST", "orders", json={
        "customer_id": person["id"], "status": "processing", "billing": H.address(3, f"{tag}@example.com"),
        "line_items": [{"product_id": mug["id"], "quantity": 2}]})
    assert (await reconciler.run_store(sid, force=True)).outcome == "ok"
    await H.drain(deliverer)
    key = f"{sid}:order:{order['id']}"
    sf_order = next(o for o in sf_emu.records("Order") if o["Wooforce_Key__c"] == key)
    sf_item = next(i for i in sf_emu.records("OrderItem") if i["Wooforce_Key__c"].startswith(f"{key}:item:"))
    products_before = len(sf_emu.records("Product2"))

    await H.next_second()
    await H.rest(store, "DELETE", f"customers/{person['id']}", params={"force": True})
    await H.rest(store, "DELETE", f"products/{mug['id']}", params={"force": True})
    now = await H.rest(store, "GET", f"orders/{order['id']}")
    # the store as the emulator now does it
    assert now["customer_id"] == 0 and now["date_modified_gmt"] != order["date_modified_gmt"]
    line = now["line_items"][0]
    assert (line["product_id"], line["sku"], line["name"]) == (0, None, order["line_items"][0]["name"])
    async with WooCommerceEmulator() as wc:
        st = wc.store
        p = st.create_product({"name": "Mug", "sku": "m", "regular_price": "9.00"})
        c = st.create_customer({"email": "e@example.com"})
        o = st.create_order({"customer_id": c.id, "line_items": [{"product_id": p.id, "quantity": 2}]})
        st.clock.advance(1)
        modified = o.doc["date_modified_gmt"]
        st.delete_customer(c.id)
        st.delete_product(p.id)
        emu = st.render(o)
        assert emu["customer_id"] == 0 and emu["date_modified_gmt"] != modified
        assert (emu["line_items"][0]["product_id"], emu["line_items"][0]["sku"]) == (0, None)

    report = await reconciler.run_store(sid, force=True)
    assert report is not None and report.outcome == "ok", report and report.error
    await H.drain(deliverer)
    contacts = [c for c in sf_emu.records("Contact") if (c.get("Email") or "").lower() == f"{tag}@example.com"]
    assert len(contacts) == 1 and contacts[0]["Wooforce_Key__c"] == f"{sid}:customer:{person['id']}"
    again = next(o for o in sf_emu.records("Order") if o["Wooforce_Key__c"] == key)
    assert again["AccountId"] == sf_order["AccountId"]
    assert again["Woo_Date_Modified__c"].startswith(now["date_modified_gmt"])  # re-sent, and kept its buyer
    item = next(i for i in sf_emu.records("OrderItem") if i["Id"] == sf_item["Id"])
    assert item["PricebookEntryId"] == sf_item["PricebookEntryId"]
    assert len(sf_emu.records("Product2")) == products_before  # no placeholder product
