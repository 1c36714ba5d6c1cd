"""Concurrent requests share commits, and each is answered only after its own events are committed."""
from __future__ import annotations

import asyncio
import re

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
