"""Case 2 on the real store: the native webhooks are paused while the store changes, then the collector is down
while it changes again (every delivery fails); the reconciler closes every gap within two intervals (two runs), and
Salesforce then matches the store's REST API field by field."""
from __future__ import annotations

import time

from aiohttp.test_utils import TestServer

from agent.reconcile.reconciler import Reconciler
from collector.app import create_app
from tests.store import helpers as H
from tests.store.compare import compare_store, mismatches

INTERVALS = 2


async def changes(store, tag: str, n: int, customer_id: int, product_ids: list[int]) -> dict[str, list[int]]:
    """A round of store changes: a product, a customer, two orders, a status change, a trash, a price change."""
    rest = H.rest
    product = await rest(store, "POST", "products", json={"name": f"Gap widget {tag}{n}", "sku": f"{tag}-{n}",
                                                          "regular_price": "3.00", "manage_stock": True,
                                                          "stock_quantity": 9})
    customer = await rest(store, "POST", "customers", json={
        "email": f"{tag}{n}@example.com", "first_name": "Gap", "last_name": f"Buyer{n}", "username": f"{tag}{n}",
        "password": "not-a-real-password-4", "billing": H.address(n, f"{tag}{n}@example.com")})
    lines = [{"product_id": product["id"], "quantity": 2}, {"product_id": product_ids[0], "quantity": 1}]
    first = await rest(store, "POST", "orders", json={"customer_id": customer["id"], "line_items": lines,
                                                      "billing": H.address(n, f"{tag}{n}@example.com")})
    second = await rest(store, "POST", "orders", json={"customer_id": customer_id, "line_items": lines[1:],
                                                       "billing": H.address(n + 1, f"{tag}x{n}@example.com")})
    await rest(store, "PUT", f"orders/{first['id']}", json={"status": "processing"})
    await rest(store, "DELETE", f"orders/{second['id']}")  # trash
    await rest(store, "PUT", f"products/{product_ids[1]}", json={"regular_price": f"{4 + n}.25"})
    await rest(store, "PUT", f"customers/{customer_id}", json={"billing": {"city": f"Gap City {n}"}})
    return {"order": [first["id"], second["id"]], "product": [product["id"], product_ids[1]],
            "customer": [customer["id"], customer_id]}


async def test_paused_webhooks_and_a_collector_outage_are_closed_by_the_reconciler(
        real_store, stores, settings, db, sf_emu, make_deliverer):
    store = real_store
    tag = f"gap{int(time.time())}"
    sid = await H.register(stores, store, sf_emu, "Gap store")
    s = settings.model_copy(update={"customer_sweep_pages_per_run": 10, "id_sweep_ids_per_run": 1000})
    reconciler, deliverer = Reconciler(stores.db, stores, s), make_deliverer()
    base = [await H.rest(store, "POST", "products", json={"name": f"Gap base {i}", "regular_price": "2.00"})
            for i in range(2)]
    buyer = await H.rest(store, "POST", "customers", json={"email": f"{tag}@example.com", "username": tag,
                                                           "password": "not-a-real-password-5"})
    catch_up = await reconciler.run_store(sid, force=True)  # what is in the store before this case
    assert catch_up is not None and catch_up.outcome == "ok", catch_up and catch_up.error
    await H.drain(deliverer)

    collector = TestServer(create_app(settings, db=db), host="127.0.0.1")
    await collector.start_server()
    hooks = await H.create_webhooks(store, str(collector.make_url(f"/v1/stores/{sid}/woocommerce")))
    try:
        # 1. webhooks paused: nothing is delivered
        for hid in hooks:
            await H.rest(store, "PUT", f"webhooks/{hid}", json={"status": "paused"})
        touched = [await changes(store, tag, 1, buyer["id"], [b["id"] for b in base])]
        await H.settle(store)
        # 2. webhooks active again, the collector down: every delivery fails
        for hid in hooks:
            await H.rest(store, "PUT", f"webhooks/{hid}", json={"status": "active"})
        await collector.close()
        touched.append(await changes(store, tag, 2, buyer["id"], [b["id"] for b in base]))
        await H.settle(store)
        assert H.webhook_failures(store), "the deliveries to the stopped collector should have failed"
        async with db.connection() as conn:
            assert await conn.fetchval("SELECT count(*) FROM events WHERE store_id = $1 AND source = 'webhook'",
                                       sid) == 0
        # 3. the reconciler, interval after interval
        closed_after = None
        for run in range(1, INTERVALS + 1):
            report = await reconciler.run_store(sid, force=True)
            assert report is not None and report.outcome == "ok", report and report.error
            await H.drain(deliverer)
            _, conv = compare_store(store, sf_emu.records, sid)
            if not mismatches(conv):
                closed_after = run
                break
        assert closed_after is not None, mismatches(conv)
        for resource in ("order", "product", "customer"):  # each touched entity delivered
            wanted = {rid for group in touched for rid in group[resource]}
            assert wanted <= set(await outbox_ids(db, sid, resource)), resource
        print(f"case 2: gaps closed after {closed_after} reconcile run(s)")
    finally:
        await H.delete_webhooks(store, hooks)


async def outbox_ids(db, store_id: str, resource: str) -> list[int]:
    async with db.connection() as conn:
        return [r["resource_id"] for r in await conn.fetch(
            "SELECT resource_id FROM outbox WHERE store_id = $1 AND resource = $2 AND status = 'delivered'",
            store_id, resource)]
