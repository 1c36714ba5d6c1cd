"""A refund reaches the outbox with its order, by both paths (issue 14, problem 9): WooCommerce has no refund topic;
a refund sends ``order.updated`` (``webhooks/order.updated-8.json`` of the captured store: the order's ``refunds``
list, a new ``date_modified``), and the reconciler lists the order as modified. Either way the outbox head of the
order carries its ``refunds`` with their totals."""
from __future__ import annotations

import json

import pytest
from aiohttp.test_utils import TestServer

from collector.app import create_app
from shared.models import payload_dict
from tests.fixtures import fixtures_dir

pytestmark = pytest.mark.integration


async def order_head(db, store_id: str, oid: int) -> tuple[str, dict]:
    async with db.connection() as conn:
        row = await conn.fetchrow("SELECT e.source, e.payload FROM outbox o JOIN events e ON e.id = o.head_event_id "
                                  "WHERE o.store_id = $1 AND o.resource = 'order' AND o.resource_id = $2", store_id, oid)
    return row["source"], payload_dict(row["payload"])


def refund_order(store) -> tuple[int, int]:
    store.clock.freeze()
    mug = store.create_product({"name": "Mug", "regular_price": "12.00", "manage_stock": True, "stock_quantity": 9})
    order = store.create_order({"status": "processing", "set_paid": True, "billing": {"email": "r@example.com"},
                                "line_items": [{"product_id": mug.id, "quantity": 3}]})
    store.clock.advance(2)
    line = store.render(order)["line_items"][0]
    refund = store.create_refund(order.id, {"reason": "One mug arrived chipped", "line_items": [
        {"id": line["id"], "quantity": 1, "refund_total": "12.00", "refund_tax": [{"id": 1, "refund_total": "0.87"}]}]})
    return order.id, refund.id


def test_the_emulator_sends_a_refund_as_the_real_store_does():
    hook = json.loads((fixtures_dir() / "woocommerce" / "webhooks" / "order.updated-8.json").read_text())
    real = json.loads(hook["raw_body"])
    assert hook["caused_by"]["operation"] == "order-refund-partial" and real["refunds"][0]["total"] == "-12.87"
    assert set(real["refunds"][0]) == {"id", "reason", "total"}


async def test_a_refunds_webhook_brings_the_orders_refunds(db, wc, stores, settings):
    row, _ = await stores.add("Refund shop", wc_url=wc.url, wc_credentials={
        **dict(zip(("consumer_key", "consumer_secret"), wc.add_api_key("read"))), "auth": "auto",
        "webhook_secret": "hook-secret"})
    server = TestServer(create_app(settings, db=db), host="127.0.0.1")
    await server.start_server()
    try:
        wc.configure_webhooks(str(server.make_url("")).rstrip("/"), row["id"], mode="native",
                              wc_webhook_secret="hook-secret")
        oid, rid = refund_order(wc.store)
        await wc.dispatcher.wait_idle(30)
        topics = [(d.resource, d.topics) for d in wc.dispatcher.records][-2:]
        assert topics == [("product", ["product.updated"]), ("order", ["order.updated"])]  # as the real store
        assert wc.dispatcher.summary()["failed"] == 0
    finally:
        await server.close()
    source, doc = await order_head(db, row["id"], oid)
    assert source == "webhook"
    assert doc["refunds"] == [{"id": rid, "reason": "One mug arrived chipped", "total": "-12.87"}]
    assert doc["total"] == "38.61" and doc["status"] == "processing"


async def test_the_reconciler_brings_a_refund_the_webhooks_missed(db, shop, make_reconciler):
    store = shop.store
    store.clock.freeze()
    first = make_reconciler()
    order = store.create_order({"status": "processing", "billing": {"email": "r@example.com"},
                                "line_items": [{"name": "Gift", "product_id": 0, "quantity": 1, "total": "20.00"}]})
    assert (await first.run_store(shop.store_id, force=True)).outcome == "ok"
    assert (await order_head(db, shop.store_id, order.id))[1]["refunds"] == []
    oid, rid = refund_order(store)  # no webhook configured: only the reconciler can see it
    report = await make_reconciler().run_store(shop.store_id, force=True)
    assert report.outcome == "ok" and report.missing["order.created"] + report.missing["order.updated"] >= 1
    source, doc = await order_head(db, shop.store_id, oid)
    assert source == "reconciler"
    assert doc["refunds"] == [{"id": rid, "reason": "One mug arrived chipped", "total": "-12.87"}]
    store.clock.advance(2)
    store.create_refund(order.id, {"amount": "5.00", "reason": "late"})
    await make_reconciler().run_store(shop.store_id, force=True)
    assert [r["total"] for r in (await order_head(db, shop.store_id, order.id))[1]["refunds"]] == ["-5.00"]
