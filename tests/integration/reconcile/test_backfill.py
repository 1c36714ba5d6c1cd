"""Backfill (resumable, through the outbox), manual sync, and the agent picking up requested jobs with leases."""
from __future__ import annotations

import asyncio

import pytest

from agent.reconcile.backfill import Backfill, job_params, poll_jobs, sync_entity
from shared.errors import NotFound, PermanentError
from tests.integration.reconcile.conftest import event_count, heads, tuned

pytestmark = pytest.mark.integration


class Stop(BaseException):
    """Simulates Ctrl-C / a crash in the middle of a backfill."""


def expected(store) -> dict[str, set[int]]:
    return {"order": set(store.orders), "product": set(store.products) | set(store.variations),
            "customer": {i for i, c in store.customers.items() if c.doc["role"] == "customer"}}


async def outbox_ids(db, store_id: str) -> dict[str, set[int]]:
    return {r: set(await heads(db, store_id, r)) for r in ("order", "product", "customer")}


async def test_backfill_imports_everything_once_and_resumes(db, stores, shop, settings):
    shop.wc.seed(orders=350, products=30, customers=120, days=60)
    s = tuned(settings)
    params = job_params(None, None)
    calls = []

    def crash_after_two_order_pages(resource, done, total):
        calls.append((resource, done, total))
        if resource == "orders" and done >= 200:
            raise Stop()

    first = Backfill(db, stores, s, owner="agent-a", on_progress=crash_after_two_order_pages)
    job_id = await first.find_or_create(shop.store_id, params)
    with pytest.raises(Stop):
        await first.run(job_id)
    partial = await outbox_ids(db, shop.store_id)
    assert partial["customer"] == expected(shop.store)["customer"] and 0 < len(partial["order"]) < 350
    # `wooforce backfill` again: same parameters -> the same job, continued from its checkpoint
    second = Backfill(db, stores, s, owner="agent-b")
    assert await second.find_or_create(shop.store_id, params) == job_id
    before, order_pages_before = shop.requests(), shop.requests("orders")
    progress = await second.run(job_id)
    assert await outbox_ids(db, shop.store_id) == expected(shop.store)
    # only the 150 orders not yet done are listed again (2 pages), not all 350 (4 pages)
    assert shop.requests("orders") - order_pages_before <= 2
    assert shop.requests() - before < 10
    assert progress["orders"]["done"] and progress["orders"]["seen"] >= 350
    async with db.connection() as conn:
        job = await conn.fetchrow("SELECT status, lease_owner FROM jobs WHERE id = $1", job_id)
        sources = {r["source"] for r in await conn.fetch("SELECT DISTINCT source FROM events")}
    assert job["status"] == "done" and job["lease_owner"] is None and sources == {"backfill"}
    # a full second backfill stores nothing new: every version is already in the outbox
    events = await event_count(db, shop.store_id)
    again = Backfill(db, stores, s, owner="agent-c")
    await again.run(await again.find_or_create(shop.store_id, params))
    assert await event_count(db, shop.store_id) == events
    assert calls[0][2] >= 120  # totals from X-WP-Total drive the progress bar


async def test_manual_sync_resends_a_seen_version(db, stores, shop, settings):
    shop.wc.seed(orders=3, products=2, days=1)
    oid = next(iter(shop.store.orders))
    s = tuned(settings)
    first = await sync_entity(db, stores, s, shop.store_id, "order", oid)
    async with db.connection() as conn:
        await conn.execute("UPDATE outbox SET status = 'delivered' WHERE store_id = $1", shop.store_id)
    second = await sync_entity(db, stores, s, shop.store_id, "order", oid)
    assert first != second
    async with db.connection() as conn:
        row = await conn.fetchrow("SELECT head_event_id, status FROM outbox WHERE store_id = $1 AND resource_id = $2",
                                  shop.store_id, oid)
        src = await conn.fetchval("SELECT source FROM events WHERE id = $1", second)
    assert row["head_event_id"] == second and row["status"] == "pending" and src == "manual"
    with pytest.raises(NotFound):
        await sync_entity(db, stores, s, shop.store_id, "order", 999_999)


async def test_requested_jobs_run_once_across_two_agents(db, stores, shop, settings):
    shop.wc.seed(orders=120, products=5, customers=10, days=5)
    s = tuned(settings)
    async with db.connection() as conn:
        await conn.execute("INSERT INTO jobs (id, store_id, kind, params, requested_by) VALUES "
                           "('job_00000000000000000000000001', $1, 'backfill', $2, 'store:plugin')",
                           shop.store_id, {"since": None, "resources": ["orders"]})
    ran = await asyncio.gather(poll_jobs(db, stores, s, owner="agent-a"), poll_jobs(db, stores, s, owner="agent-b"))
    assert sorted(ran) == [0, 1]
    got = await outbox_ids(db, shop.store_id)
    assert got["order"] == set(shop.store.orders) and got["customer"] == set()  # only what was asked for
    async with db.connection() as conn:
        assert await conn.fetchval("SELECT status FROM jobs") == "done"


async def test_a_forced_backfill_skips_a_record_dated_in_the_future_and_imports_the_rest(db, stores, shop, settings):
    shop.wc.seed(orders=20, products=3, customers=5, days=5)
    store = shop.store
    frozen = store.orders[min(store.orders)]
    store._unregister(frozen)
    frozen.modified = 253402300799  # 9999-12-31T23:59:59Z
    store._register(frozen)
    backfill = Backfill(db, stores, tuned(settings), owner="agent-f")
    job_id = await backfill.find_or_create(shop.store_id, job_params(None, ["orders"], force=True))
    await backfill.run(job_id)
    job = await db.fetchrow("job_get", job_id)
    assert job["status"] == "done", job["error"]
    assert set(await heads(db, shop.store_id, "order")) == set(store.orders) - {frozen.id}


async def test_manual_sync_of_a_record_dated_in_the_future_is_a_clear_error(db, stores, shop, settings):
    shop.wc.seed(orders=3, products=2, days=1)
    store = shop.store
    rec = store.orders[min(store.orders)]
    store._unregister(rec)
    rec.modified = 253402300799  # 9999-12-31T23:59:59Z
    store._register(rec)
    with pytest.raises(PermanentError) as err:
        await sync_entity(db, stores, tuned(settings), shop.store_id, "order", rec.id)
    assert err.value.code == "future_version" and "in the future" in err.value.message
    assert rec.id not in await heads(db, shop.store_id, "order")
