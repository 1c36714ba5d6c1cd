"""Reconciler, orders and products: pagination edges, the overlap window, no duplicates, trash and deletes."""
from __future__ import annotations

from datetime import UTC

import pytest

from shared.models import parse_wc_datetime
from tests.integration.reconcile.conftest import event_count, heads

pytestmark = pytest.mark.integration


def add_orders(store, n: int, *, at: int | None = None, same_second: bool = False) -> list[int]:
    """``n`` orders (no webhooks), modified in distinct seconds ending at ``at`` (or all in one second)."""
    pid = next(iter(store.products), None) or store.create_product(
        {"name": "Widget", "regular_price": "9.99"}, emit=False).id
    at = at or store.clock.now() - 5
    out = []
    for i in range(n):
        ts = at if same_second else at - n + 1 + i
        rec = store.create_order({"status": "processing", "line_items": [{"product_id": pid, "quantity": 1}]},
                                 now=ts, emit=False)
        out.append(rec.id)
    return out


def gmt(store, oid: int):
    return parse_wc_datetime(store.orders[oid].doc["date_modified_gmt"])


@pytest.mark.parametrize("n, order_list_requests", [(0, 2), (100, 3), (101, 3)])
async def test_pagination_edges_every_order_once(db, shop, make_reconciler, n, order_list_requests):
    oids = add_orders(shop.store, n)
    report = await make_reconciler().run_store(shop.store_id)
    assert report.outcome == "ok", report.error
    got = await heads(db, shop.store_id, "order")
    assert set(got) == set(oids)
    assert all(got[o][0] == gmt(shop.store, o) and got[o][2] == "reconciler" for o in oids)
    # modified list: a full page costs one more request (the next keyset page); plus the trash list
    assert shop.requests("orders") == order_list_requests
    assert report.missing.get("order.created", 0) == n and report.requests == shop.requests()
    # a second run finds nothing new and stores no duplicate event
    events = await event_count(db, shop.store_id)
    again = await make_reconciler().run_store(shop.store_id)
    assert sum(again.missing.values()) == 0 and await event_count(db, shop.store_id) == events


async def test_more_than_a_page_in_one_second_is_paged_by_number(db, shop, make_reconciler):
    oids = add_orders(shop.store, 150, same_second=True)
    report = await make_reconciler().run_store(shop.store_id)
    assert report.outcome == "ok"
    assert set(await heads(db, shop.store_id, "order")) == set(oids)


async def test_overlap_catches_a_late_commit_behind_the_cursor(db, shop, make_reconciler):
    store = shop.store
    add_orders(store, 3)
    await make_reconciler(reconcile_overlap_s=60).run_store(shop.store_id)
    cursor = max(gmt(store, o) for o in store.orders)
    now = int(cursor.timestamp())
    # committed after the last run but stamped before the cursor: store clock behind, or a slow transaction
    late = add_orders(store, 1, at=now - 30)[0]
    too_late = add_orders(store, 1, at=now - 200)[0]  # outside the overlap window: proves the window matters
    report = await make_reconciler(reconcile_overlap_s=60).run_store(shop.store_id)
    got = await heads(db, shop.store_id, "order")
    assert late in got and got[late][0] == gmt(store, late)
    assert too_late not in got
    assert report.missing_ids["order"] == [late]


async def test_a_version_seen_by_a_webhook_is_not_enqueued_again_but_a_newer_one_is(db, shop, make_reconciler):
    from datetime import datetime

    from shared.models import event_from_wc_webhook
    from shared.outbox import OutboxManager

    store = shop.store
    a, b = add_orders(store, 2)
    body = store.render(store.orders[a])
    ev = event_from_wc_webhook("order.updated", body, store_id=shop.store_id, delivery_id="d1",
                               received_at=datetime.now(UTC))
    await OutboxManager(db).ingest([ev])
    store.update_order(b, {"customer_note": "changed"}, now=store.clock.now())
    report = await make_reconciler().run_store(shop.store_id)
    got = await heads(db, shop.store_id, "order")
    assert got[a][2] == "webhook"  # already seen at that version: untouched
    assert got[b][2] == "reconciler" and got[b][0] == gmt(store, b)
    assert report.missing_ids["order"] == [b]


async def test_trashed_restored_and_deleted_records(db, shop, make_reconciler):
    store = shop.store
    keep, trash, gone, restore = add_orders(store, 4)
    p_trash = store.create_product({"name": "Old", "regular_price": "1.00"}, emit=False).id
    p_gone = store.create_product({"name": "Gone", "regular_price": "1.00"}, emit=False).id
    run = make_reconciler(id_sweep_ids_per_run=100)
    await run.run_store(shop.store_id)
    store.clock.advance(2)
    store.trash_order(trash)
    store.trash_order(restore)
    store.delete_order(gone)  # force delete: WooCommerce sends no webhook at all
    store.trash_product(p_trash)
    store.delete_product(p_gone)
    await run.run_store(shop.store_id)
    store.clock.advance(2)
    store.restore_order(restore, via="rest")  # REST status change: no webhook either
    report = await run.run_store(shop.store_id)
    orders, products = await heads(db, shop.store_id, "order"), await heads(db, shop.store_id, "product")
    assert orders[trash][1] == "trashed" and orders[gone][1] == "deleted" and orders[keep][1] == "created"
    assert orders[restore][1] == "restored" and products[p_trash][1] == "trashed" and products[p_gone][1] == "deleted"
    assert report.outcome == "ok"
    # the gap report lists what each run found
    async with db.connection() as conn:
        runs = await conn.fetch("SELECT missing FROM reconcile_runs WHERE store_id = $1 ORDER BY started_at",
                                shop.store_id)
    assert runs[1]["missing"] == {"order.trashed": 2, "order.deleted": 1, "product.trashed": 1, "product.deleted": 1}
    assert runs[2]["missing"] == {"order.restored": 1}


async def test_variation_changes_are_found_under_their_parent(db, shop, make_reconciler):
    store = shop.store
    parent = store.create_product({"name": "Shirt", "type": "variable",
                                   "attributes": [{"name": "Size", "options": ["S", "M"], "variation": True}]},
                                  emit=False)
    v = store.create_variation(parent.id, {"regular_price": "5.00", "attributes": [{"name": "Size", "option": "S"}]},
                               emit=False)
    await make_reconciler().run_store(shop.store_id)
    products = await heads(db, shop.store_id, "product")
    assert {parent.id, v.id} <= set(products)
    store.clock.advance(2)
    store.update_variation(parent.id, v.id, {"regular_price": "6.00"})
    report = await make_reconciler().run_store(shop.store_id)
    assert sorted(report.missing_ids["product"]) == sorted([parent.id, v.id])
    async with db.connection() as conn:
        payload = await conn.fetchval("SELECT e.payload FROM outbox o JOIN events e ON e.id = o.head_event_id "
                                      "WHERE o.store_id = $1 AND o.resource_id = $2", shop.store_id, v.id)
    assert payload["type"] == "variation" and payload["parent_id"] == parent.id and payload["regular_price"] == "6.00"


async def test_two_changes_in_one_second_and_a_bare_trash_webhook(db, shop, make_reconciler):
    """WooCommerce dates have 1 s resolution: the webhook of the first change has the same version (and dedup
    key) as the second; and a trash webhook carries only {"id"}. The content decides."""
    from datetime import datetime

    from shared.models import event_from_wc_webhook
    from shared.outbox import OutboxManager

    store, now = shop.store, datetime.now(UTC)
    store.clock.freeze()
    a, b = add_orders(store, 2, at=store.clock.now())
    first = store.render(store.orders[a])  # its webhook arrives...
    store.update_order(a, {"status": "completed"})  # ...then a second change in the same second
    store.trash_order(b)
    hooks = [event_from_wc_webhook("order.updated", first, store_id=shop.store_id, delivery_id="d1", received_at=now),
             event_from_wc_webhook("order.deleted", {"id": b}, store_id=shop.store_id, delivery_id="d2",
                                   received_at=now)]
    await OutboxManager(db).ingest(hooks)
    report = await make_reconciler().run_store(shop.store_id)
    async with db.connection() as conn:
        rows = {r["resource_id"]: r for r in await conn.fetch(
            "SELECT o.resource_id, e.action, e.payload FROM outbox o JOIN events e ON e.id = o.head_event_id "
            "WHERE o.store_id = $1", shop.store_id)}
    assert rows[a]["payload"]["status"] == "completed"
    assert rows[b]["action"] == "trashed" and rows[b]["payload"]["status"] == "trash"
    assert sorted(report.missing_ids["order"]) == [a, b]
    assert sum((await make_reconciler().run_store(shop.store_id)).missing.values()) == 0  # and only once
