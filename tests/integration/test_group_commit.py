"""Concurrent requests share commits, and each is answered only after its own events are committed."""
from __future__ import annotations

import asyncio
import re
from datetime import UTC

import pytest

from tests.integration.conftest import body_of, count, event

pytestmark = pytest.mark.integration


async def test_concurrent_requests_share_commits(client, db, store):
    n = 120

    async def one(i: int):
        body = body_of(event(i + 1, eid=f"gc{i}"))
        r = await client.post(f"/v1/stores/{store.id}/events", data=body, headers=store.signed(body, f"m{i}"))
        return r.status

    statuses = await asyncio.gather(*(one(i) for i in range(n)))
    assert statuses == [202] * n
    assert await count(db, "events") == n
    metrics = await (await client.get("/metrics")).text()
    commits = float(re.search(r"^wooforce_group_commit_requests_count (\S+)$", metrics, re.M).group(1))
    shared = float(re.search(r"^wooforce_group_commit_requests_sum (\S+)$", metrics, re.M).group(1))
    assert shared == n
    assert commits < n / 2, f"{commits} commits for {n} concurrent requests: commits are not shared"


async def test_answer_waits_for_the_commit(client, db, store):
    """Hold a lock the commit needs: the request must not be answered until it is released."""
    body = body_of(event(77, eid="held"))
    async with db.connection() as conn:
        tx = conn.transaction()
        await tx.start()
        await conn.execute("LOCK TABLE outbox IN EXCLUSIVE MODE")
        task = asyncio.create_task(client.post(f"/v1/stores/{store.id}/events", data=body, headers=store.signed(body)))
        await asyncio.sleep(0.5)
        assert not task.done(), "answered before the commit could happen"
        await tx.rollback()
    r = await asyncio.wait_for(task, 10)
    assert r.status == 202
    assert await count(db, "events") == 1


def _events(store_id: str, *keys: str) -> list:
    from datetime import datetime

    from shared.models import NewEvent

    v = datetime(2026, 11, 22, 15, 35, 24, tzinfo=UTC)
    return [NewEvent(store_id=store_id, source="plugin", resource="customer", action="updated", resource_id=i + 1,
                     version=v, payload_json=f'{{"id": {i + 1}, "email": "c{i}@example.com"}}', dedup_key=k,
                     sender_id=k, occurred_at=v, email_sha256=bytes([i]) * 32) for i, k in enumerate(keys)]


async def test_one_statement_answers_new_duplicate_and_in_batch_duplicate(db, store):
    """ingest_events says per event whether it was stored now, and which stored event a duplicate matches."""
    from shared.outbox import OutboxManager

    ob = OutboxManager(db)
    [first] = await ob.ingest(_events(store.id, "k1"))
    assert first.new
    res = await ob.ingest(_events(store.id, "k1", "k2", "k2"))
    assert (res[0].event_id, res[0].new) == (first.event_id, False)
    assert res[1].new and (res[2].event_id, res[2].new) == (res[1].event_id, False)
    assert await count(db, "events") == 2
    async with db.connection() as conn:  # the customer-email hashes of new events, in the same statement
        assert await conn.fetchval("SELECT count(*) FROM entity_emails WHERE store_id = $1", store.id) == 2


async def test_duplicate_committed_by_a_concurrent_batch_is_found(db, store):
    """A batch that waited on another's uncommitted copy of its key sees that copy only after the other commits,
    after its own snapshot: the duplicate still gets the stored event's id."""
    from shared.outbox import OutboxManager

    ob = OutboxManager(db)
    async with db.connection() as held:
        tx = held.transaction()
        await tx.start()
        [a] = await ob.ingest(_events(store.id, "race"), conn=held)
        waiting = asyncio.create_task(ob.ingest(_events(store.id, "race")))
        async with db.connection() as probe:
            for _ in range(200):  # until the second statement waits on the first one's row
                if await probe.fetchval("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                        "AND datname = current_database()"):
                    break
                await asyncio.sleep(0.02)
            else:
                pytest.fail("the second batch never waited on the first")
        await tx.commit()
    [b] = await asyncio.wait_for(waiting, 10)
    assert (b.event_id, b.new) == (a.event_id, False)
    assert await count(db, "events") == 1


async def test_writer_survives_a_killed_connection_and_a_cancelled_request(db, store):
    """Each writer keeps one connection between batches. When the server kills it, the writer takes a fresh one
    (before the batch when the client has seen the close, after a 503 for that batch when not). A request
    cancelled while it waits does not stop its events from being committed, nor the writer from going on."""
    from collector.batcher import GroupCommitter
    from shared.errors import DatabaseUnavailable
    from shared.outbox import OutboxManager

    gc = GroupCommitter(db, OutboxManager(db), writers=1)
    await gc.start()
    try:
        [first] = await gc.submit(_events(store.id, "w1"))
        assert first.new
        async with db.connection() as probe:  # the writer's connection is the other 'wooforce' backend
            killed = await probe.fetchval(
                "SELECT count(*) FROM (SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name = 'wooforce' "
                "AND state = 'idle') t")
        assert killed >= 1
        # at once: if the client has not yet seen the close, that batch fails as DatabaseUnavailable (the collector
        # answers 503, the sender retries); whether it has is up to the event loop's timing, so both are accepted
        try:
            await gc.submit(_events(store.id, "w2"))
        except DatabaseUnavailable:
            pass
        [again] = await gc.submit(_events(store.id, "w2"))
        assert again.event_id, "the batch after the broken connection was not written"
        async with db.connection() as probe:  # killed again, and this time the client sees the close first
            assert await probe.fetchval(
                "SELECT count(*) FROM (SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name = 'wooforce' "
                "AND state = 'idle') t") >= 1
        await asyncio.sleep(0.3)
        [fresh] = await gc.submit(_events(store.id, "w2b"))
        assert fresh.new, "a connection known to be closed was used"

        waiter = asyncio.create_task(gc.submit(_events(store.id, "w3")))
        await asyncio.sleep(0)
        waiter.cancel()
        [after] = await gc.submit(_events(store.id, "w4"))
        assert after.new
    finally:
        await gc.stop()
    async with db.connection() as conn:
        keys = {r["dedup_key"] for r in await conn.fetch("SELECT dedup_key FROM events WHERE store_id = $1", store.id)}
    assert keys == {"w1", "w2", "w2b", "w3", "w4"}
