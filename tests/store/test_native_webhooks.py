"""Case 1 on the real store: native WooCommerce webhooks (every synced topic) into the real collector, the real
delivery engine into the Salesforce emulator, then one reconcile run for what WooCommerce sends no webhook for
(permanent deletes of orders and products); Salesforce then matches the store's REST API field by field."""
from __future__ import annotations

import time

from agent.reconcile.reconciler import Reconciler
from tests.store import helpers as H
from tests.store.compare import compare_store, mismatches


async def test_native_webhooks_converge(real_store, collector, stores, settings, sf_emu, make_deliverer):
    store = real_store
    sid = await H.register(stores, store, sf_emu, "Webhook store")
    # what the session's other cases left in the store comes first, through the reconciler; from then on the
    # reconciler's gap report names only what this case's webhooks missed
    s = settings.model_copy(update={"customer_sweep_pages_per_run": 10, "id_sweep_ids_per_run": 1000})
    reconciler, deliverer = Reconciler(stores.db, stores, s), make_deliverer()
    catch_up = await reconciler.run_store(sid, force=True)
    assert catch_up is not None and catch_up.outcome == "ok", catch_up and catch_up.error
    await H.drain(deliverer)
    hooks = await H.create_webhooks(store, str(collector.make_url(f"/v1/stores/{sid}/woocommerce")))
    t0 = time.monotonic()
    try:
        rest = H.rest
        tag = f"wh{int(time.time())}"
        # products: simple ones with stock, a variable one with two variations
        simple = [await rest(store, "POST", "products", json={
            "name": f"Real widget {i}", "sku": f"{tag}-W{i}", "regular_price": f"{10 + i}.50", "manage_stock": True,
            "stock_quantity": 50}) for i in range(3)]
        shirt = await rest(store, "POST", "products", json={
            "name": "Real shirt", "type": "variable", "sku": f"{tag}-SHIRT",
            "attributes": [{"name": "Size", "options": ["S", "M"], "variation": True, "visible": True}]})
        sizes = [await rest(store, "POST", f"products/{shirt['id']}/variations", json={
            "regular_price": "20.00", "sku": f"{tag}-SHIRT-{s}", "attributes": [{"name": "Size", "option": s}]})
            for s in ("S", "M")]
        doomed_product = await rest(store, "POST", "products", json={"name": "Real doomed", "regular_price": "1.00"})
        # customers
        buyer = await rest(store, "POST", "customers", json={
            "email": f"{tag}-buyer@example.com", "first_name": "Real", "last_name": "Buyer", "username": f"{tag}b",
            "password": "not-a-real-password-1", "billing": H.address(1, f"{tag}-buyer@example.com"),
            "shipping": H.address(1)})
        doomed_customer = await rest(store, "POST", "customers", json={
            "email": f"{tag}-gone@example.com", "first_name": "Gone", "last_name": "Soon", "username": f"{tag}g",
            "password": "not-a-real-password-2"})
        await rest(store, "PUT", f"customers/{buyer['id']}", json={"billing": {"city": "Shelbyville"}})
        # orders: registered and guest, several lines each (a variation among them)
        lines = [{"product_id": simple[0]["id"], "quantity": 2}, {"product_id": shirt["id"],
                                                                  "variation_id": sizes[1]["id"], "quantity": 1},
                 {"product_id": simple[1]["id"], "quantity": 1}]
        registered = await rest(store, "POST", "orders", json={
            "customer_id": buyer["id"], "billing": H.address(1, f"{tag}-buyer@example.com"), "line_items": lines,
            "payment_method": "bacs", "payment_method_title": "Bank transfer"})
        guest = await rest(store, "POST", "orders", json={
            "billing": H.address(2, f"{tag}-guest@example.com"), "line_items": [
                *lines[1:], {"product_id": simple[2]["id"], "quantity": 4}]})
        doomed_order = await rest(store, "POST", "orders", json={
            "billing": H.address(3, f"{tag}-guest3@example.com"), "line_items": lines[:1]})
        # status changes, a line edit, trash and restore through REST. Each change of an entity in a second of its
        # own: two changes within a second share WooCommerce's date_modified_gmt (the version), so the second
        # webhook is taken for a duplicate of the first (the reconciler's content fingerprint finds those)
        await rest(store, "PUT", f"orders/{registered['id']}", json={"status": "processing"})
        await H.next_second()
        await rest(store, "PUT", f"orders/{registered['id']}", json={
            "line_items": [{"id": registered["line_items"][0]["id"], "product_id": simple[0]["id"], "quantity": 5}]})
        await H.next_second()
        await rest(store, "PUT", f"orders/{registered['id']}", json={"status": "completed"})
        await rest(store, "PUT", f"orders/{guest['id']}", json={"status": "on-hold"})
        await rest(store, "DELETE", f"orders/{guest['id']}")  # trash
        await H.settle(store)  # the trash webhook goes before the restore changes the order again
        await H.next_second()
        await rest(store, "PUT", f"orders/{guest['id']}", json={"status": "processing"})  # restore
        await rest(store, "DELETE", f"products/{simple[2]['id']}")  # trash
        await H.settle(store)
        await H.next_second()
        await rest(store, "PUT", f"products/{simple[2]['id']}", json={"status": "publish"})  # restore
        await rest(store, "PUT", f"products/{simple[1]['id']}", json={"name": "Real widget 1 renamed"})
        await rest(store, "PUT", f"products/{shirt['id']}/variations/{sizes[0]['id']}", json={"regular_price": "21.00"})
        # permanent deletes
        await rest(store, "DELETE", f"orders/{doomed_order['id']}", params={"force": True})
        await rest(store, "DELETE", f"products/{doomed_product['id']}", params={"force": True})
        await rest(store, "DELETE", f"customers/{doomed_customer['id']}", params={"force": True})
        await H.settle(store)
        changes_s = time.monotonic() - t0
        assert H.webhook_failures(store) == {}

        await H.drain(deliverer)
        async with stores.db.connection() as conn:
            by_source = dict(await conn.fetch("SELECT source, count(*) FROM events GROUP BY source"))
        assert by_source.get("webhook", 0) > 0
        # the reconciler finds what WooCommerce sends no webhook for, and nothing else: the permanently deleted order
        # and product, the order restored by a REST status change, the variable product whose modified date its
        # variation's change moved
        report = await reconciler.run_store(sid, force=True)
        assert report is not None and report.outcome == "ok", report and report.error
        assert dict(report.missing) == {"order.deleted": 1, "product.deleted": 1, "order.restored": 1,
                                        "product.updated": 1}, "\n".join(await H.reconciler_findings(stores.db, sid))
        assert {k: sorted(v) for k, v in report.missing_ids.items()} == {
            "order": sorted([doomed_order["id"], guest["id"]]), "product": sorted([shirt["id"], doomed_product["id"]])}
        await H.drain(deliverer)
        async with stores.db.connection() as conn:
            stuck = [dict(r) for r in await conn.fetch(
                "SELECT resource, resource_id, status, last_error FROM outbox WHERE store_id = $1 "
                "AND status <> 'delivered'", sid)]
        assert stuck == []
        snap, conv = compare_store(store, sf_emu.records, sid)
        assert mismatches(conv) == []
        assert {registered["id"], guest["id"]} <= set(snap.orders)
        assert {v["id"] for v in sizes} <= set(snap.variations)
        print(f"case 1: {changes_s:.1f} s of store changes and webhooks, {time.monotonic() - t0:.1f} s in all")
    finally:
        await H.delete_webhooks(store, hooks)
