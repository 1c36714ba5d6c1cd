"""Case 3 on the real store (issue 14): the Wooforce plugin active in this WordPress with real WooCommerce. Every
real change, made through the REST API or through WooCommerce's PHP CRUD (``wc_create_order()``,
``$order->update_status()``, ``$order->delete(true)``, a customer edit, stock reduced by an order), is stored by the
collector as exactly one event of its entity. The collector then goes down while the store changes again, comes back,
and the plugin's spool drains with the store's cron running: each change delivered once. Salesforce (the emulator,
through the real delivery engine) then matches the store's REST API field by field.

Written against what can be observed (the collector's ``events``, the Salesforce records), waiting on conditions
with deadlines: how the plugin builds and sends its events is its own business."""
from __future__ import annotations

import time
from collections import Counter

from agent.reconcile.reconciler import Reconciler
from tests.store import helpers as H
from tests.store import plugin as P
from tests.store.compare import compare_store, mismatches

# the collector's return to the whole spool delivered: the plugin probes the collector from its minute sweep
DRAIN_TIMEOUT_S = 180.0
CHANGES_TIMEOUT_S = 90.0


async def test_plugin_sends_one_event_per_change_and_rides_out_an_outage(
        real_store, stores, settings, db, sf_emu, make_deliverer):
    store, rest, php = real_store, H.rest, P.php
    tag = f"pl{int(time.time())}"
    row, secret = await stores.add("Plugin store", wc_url=store.url, wc_credentials={
        "consumer_key": store.consumer_key, "consumer_secret": store.consumer_secret, "auth": "oauth1"})
    sid = str(row["id"])
    from tests.support.agent_fixtures import sf_connection

    await stores.set_salesforce(sid, sf_connection(sf_emu))
    deliverer = make_deliverer()
    # what the session's other cases left in the store goes first, through the reconciler: the comparison at the
    # end is over the whole store, the plugin's events are counted from here on
    s = settings.model_copy(update={"customer_sweep_pages_per_run": 10, "id_sweep_ids_per_run": 1000})
    catch_up = await Reconciler(stores.db, stores, s).run_store(sid, force=True)
    assert catch_up is not None and catch_up.outcome == "ok", catch_up and catch_up.error
    await H.drain(deliverer)

    collector = P.Collector(settings, db)
    await collector.start()
    await P.activate(store, collector.url, sid, secret)
    t0 = time.monotonic()
    expected: Counter[tuple[str, int]] = Counter()

    def changed(resource: str, *ids: int) -> None:
        for i in ids:
            expected[(resource, int(i))] += 1

    try:
        # ---- 1. the collector up: REST
        widget = await rest(store, "POST", "products", json={"name": f"Plugin widget {tag}", "sku": f"{tag}-W",
                                                             "regular_price": "12.00", "manage_stock": True,
                                                             "stock_quantity": 40})
        gadget = await rest(store, "POST", "products", json={"name": f"Plugin gadget {tag}", "sku": f"{tag}-G",
                                                             "regular_price": "5.00"})
        changed("product", widget["id"], gadget["id"])
        buyer = await rest(store, "POST", "customers", json={
            "email": f"{tag}@example.com", "first_name": "Plugin", "last_name": "Buyer", "username": tag,
            "password": "not-a-real-password-6", "billing": H.address(11, f"{tag}@example.com")})
        changed("customer", buyer["id"])
        rest_order = await rest(store, "POST", "orders", json={
            "customer_id": buyer["id"], "billing": H.address(11, f"{tag}@example.com"),
            "line_items": [{"product_id": widget["id"], "quantity": 2}, {"product_id": gadget["id"], "quantity": 1}]})
        changed("order", rest_order["id"])
        await rest(store, "PUT", f"orders/{rest_order['id']}", json={"status": "processing"})  # stock 40 -> 38
        changed("order", rest_order["id"])
        changed("product", widget["id"])
        # ---- 1. the collector up: WooCommerce's PHP CRUD, each snippet a request of its own
        crud_order = int((await php(store, f"""
$o = wc_create_order(array('customer_id' => {buyer['id']}));
$o->add_product(wc_get_product({widget['id']}), 3);
$o->set_address(array('first_name' => 'Plugin', 'last_name' => 'Buyer', 'email' => '{tag}@example.com',
                      'country' => 'US', 'city' => 'Springfield'), 'billing');
$o->calculate_totals();
$o->save();
echo $o->get_id();""")).strip())
        changed("order", crud_order)
        await php(store, f"wc_get_order({crud_order})->update_status('processing', 'Paid by phone.');")
        changed("order", crud_order)
        changed("product", widget["id"])  # stock 38 -> 35, through the order
        await php(store, f"$c = new WC_Customer({buyer['id']}); $c->set_billing_city('Crud City'); $c->save();")
        changed("customer", buyer["id"])
        doomed = int((await php(store, f"""
$o = wc_create_order();
$o->add_product(wc_get_product({gadget['id']}), 1);
$o->set_address(array('first_name' => 'Gone', 'last_name' => 'Soon', 'email' => '{tag}-gone@example.com'), 'billing');
$o->calculate_totals();
$o->save();
echo $o->get_id();""")).strip())
        changed("order", doomed)
        await php(store, f"wc_get_order({doomed})->delete(true);")
        changed("order", doomed)
        up_s = await P.wait_for_events(db, sid, expected, store, timeout_s=CHANGES_TIMEOUT_S,
                                       what="collector up")
        assert (await rest(store, "GET", f"products/{widget['id']}"))["stock_quantity"] == 35
        events = await P.plugin_events(db, sid)
        assert [e["action"] for e in events if e["resource_id"] == doomed and e["resource"] == "order"][-1] \
            == "deleted"

        # ---- 2. the collector down while the store changes (REST and CRUD)
        before_outage = Counter(expected)
        await collector.stop()
        down_at = time.monotonic()
        await rest(store, "PUT", f"products/{gadget['id']}", json={"regular_price": "6.50"})
        changed("product", gadget["id"])
        guest = await rest(store, "POST", "orders", json={
            "billing": H.address(12, f"{tag}-guest@example.com"),
            "line_items": [{"product_id": widget["id"], "quantity": 1}]})
        changed("order", guest["id"])
        await php(store, f"wc_get_order({guest['id']})->update_status('completed');")  # stock 35 -> 34
        changed("order", guest["id"])
        changed("product", widget["id"])
        await rest(store, "PUT", f"customers/{buyer['id']}", json={"billing": {"city": "Outage City"}})
        changed("customer", buyer["id"])
        assert (await rest(store, "GET", f"customers/{buyer['id']}"))["is_paying_customer"] is False
        await php(store, f"wc_get_order({rest_order['id']})->update_status('completed');")
        changed("order", rest_order["id"])
        changed("customer", buyer["id"])  # WooCommerce marks her a paying customer: her record changes too
        await P.wait_cron(store, runs=2)  # the plugin tries, and fails, meanwhile
        assert P.per_entity(await P.plugin_events(db, sid)) == before_outage  # nothing got through

        # ---- 3. the collector back: the spool drains, each change once
        await collector.start()
        back_at = time.monotonic()
        drain_s = await P.wait_for_events(db, sid, expected, store, timeout_s=DRAIN_TIMEOUT_S,
                                          what="after the outage")
        await P.wait_cron(store, runs=3)  # no late second copy
        assert P.per_entity(await P.plugin_events(db, sid)) == expected
        spooled = int(store.sql("SELECT COUNT(*) FROM wp_wooforce_spool").strip())
        assert spooled == 0, "the spool still holds rows: " + store.sql(
            "SELECT type, resource_id, attempts, status, last_error FROM wp_wooforce_spool")

        # ---- 4. Salesforce matches the store, field by field
        await H.drain(deliverer)
        async with db.connection() as conn:
            stuck = [dict(r) for r in await conn.fetch(
                "SELECT resource, resource_id, status, last_error FROM outbox WHERE store_id = $1 "
                "AND status <> 'delivered'", sid)]
        assert stuck == []
        snap, conv = compare_store(store, sf_emu.records, sid)
        assert mismatches(conv) == []
        assert (await rest(store, "GET", f"customers/{buyer['id']}"))["is_paying_customer"] is True
        assert {rest_order["id"], crud_order, guest["id"]} <= set(snap.orders) and doomed not in snap.orders
        assert store.wooforce_log_problems() == []
        print(f"case 3: {sum(expected.values())} changes of {len(expected)} entities, one event each; collector up: "
              f"all stored {up_s:.1f} s after the last change; outage {back_at - down_at:.1f} s, spool drained "
              f"{drain_s:.1f} s after the collector's return; {time.monotonic() - t0:.1f} s in all")
    finally:
        await collector.stop()
        await P.deactivate(store)
