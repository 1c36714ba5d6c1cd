"""Issue 14, problem 9, on the real store: a refund sends no refund topic but ``order.updated`` with the order's
``refunds`` list, and the reconciler lists the refunded order as modified; either way the outbox head of the order
carries its refunds with their totals."""
from __future__ import annotations

import pytest
from aiohttp.test_utils import TestServer

from agent.reconcile.reconciler import Reconciler
from collector.app import create_app
from shared.models import payload_dict
from tests.store import helpers as H


async def order_head(db, store_id: str, oid: int) -> tuple[str, dict]:
    async with db.connection() as conn:
        row = await conn.fetchrow("SELECT e.source, e.payload FROM outbox o JOIN events e ON e.id = o.head_event_id "
                                  "WHERE o.store_id = $1 AND o.resource = 'order' AND o.resource_id = $2", store_id, oid)
    assert row is not None, f"order {oid} not in the outbox"
    return row["source"], payload_dict(row["payload"])


async def refunded_order(store, tag: str) -> tuple[int, int]:
    mug = await H.rest(store, "POST", "products", json={"name": f"Refund mug {tag}", "regular_price": "12.00"})
    order = await H.rest(store, "POST", "orders", json={"status": "processing", "billing": H.address(5, f"{tag}@e.com"),
                                                        "line_items": [{"product_id": mug["id"], "quantity": 3}]})
    await H.next_second()
    line = order["line_items"][0]
    refund = await H.rest(store, "POST", f"orders/{order['id']}/refunds", json={
        "reason": "One mug arrived chipped", "api_refund": False,
        "line_items": [{"id": line["id"], "quantity": 1, "refund_total": "12.00"}]})
    return order["id"], refund["id"]


@pytest.mark.timeout(600)
async def test_a_refund_reaches_the_outbox_by_webhook_and_by_the_reconciler(real_store, stores, settings, db, sf_emu):
    store = real_store
    sid = await H.register(stores, store, sf_emu, "Refund store")
    collector = TestServer(create_app(settings, db=db), host="127.0.0.1")
    await collector.start_server()
    hooks = await H.create_webhooks(store, str(collector.make_url(f"/v1/stores/{sid}/woocommerce")))
    try:
        oid, rid = await refunded_order(store, "rw")
        await H.settle(store)
        source, doc = await order_head(db, sid, oid)
        real = await H.rest(store, "GET", f"orders/{oid}")
        assert source == "webhook" and doc["refunds"] == real["refunds"] and doc["refunds"][0]["id"] == rid
        assert doc["refunds"][0]["total"].startswith("-12") and doc["total"] == real["total"]
    finally:
        await H.delete_webhooks(store, hooks)
        await collector.close()
    # no webhooks now: only the reconciler can bring the next refund
    oid, rid = await refunded_order(store, "rr")
    report = await Reconciler(db, stores, settings).run_store(sid, force=True)
    assert report is not None and report.outcome == "ok", report and report.error
    source, doc = await order_head(db, sid, oid)
    assert source == "reconciler" and [r["id"] for r in doc["refunds"]] == [rid]
