"""SIGKILL the collector under load: every event that got a 2xx is in the database."""
from __future__ import annotations

import asyncio
import json
import signal
import time

import aiohttp
import pytest

from shared.signing import sign_headers
from tests.support.procs import free_port, start_collector

pytestmark = pytest.mark.reliability


async def _post_until_dead(url: str, store_id: str, secret: str, *, prefix: str, n: int, concurrency: int = 32):
    acked: set[str] = set()
    counter = iter(range(n))

    async def worker(session: aiohttp.ClientSession):
        for i in counter:
            events = [{"id": f"{prefix}-{i}-{j}", "type": "order.updated", "occurred_at": "2026-11-22T15:35:24Z",
                       "resource_id": i * 10 + j + 1, "data": {"id": i * 10 + j + 1, "status": "processing",
                                                                "date_modified_gmt": "2026-11-22T15:35:24"}}
                      for j in range(5)]
            body = json.dumps({"events": events}).encode()
            try:
                async with session.post(f"{url}/v1/stores/{store_id}/events", data=body,
                                        headers=sign_headers(secret, f"m{i}", body)) as r:
                    if r.status in (200, 202):
                        acked.update(e["id"] for e in events)
            except (TimeoutError, aiohttp.ClientError):
                return  # the collector is gone

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return acked


async def test_sigkill_under_load_loses_no_acknowledged_event(db, proc_env, proc_store):
    store_id, secret = proc_store
    port = free_port()
    proc = await asyncio.to_thread(start_collector, proc_env, port)
    url = f"http://127.0.0.1:{port}"
    load = asyncio.create_task(_post_until_dead(url, store_id, secret, prefix="kill", n=100_000))
    # let it run under load, then kill it without warning
    async with db.connection() as conn:
        deadline = time.monotonic() + 30
        while await conn.fetchval("SELECT count(*) FROM events") < 2000 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    acked = await asyncio.wait_for(load, 30)
    async with db.connection() as conn:
        stored = {r["sender_id"] for r in await conn.fetch("SELECT sender_id FROM events WHERE store_id = $1", store_id)}
    lost = acked - stored
    print(f"\nacknowledged={len(acked)} stored={len(stored)} lost={len(lost)}")
    assert len(acked) >= 1000  # the kill came under real load
    assert lost == set()


async def test_sigterm_drains_and_exits_cleanly(db, proc_env, proc_store):
    store_id, secret = proc_store
    port = free_port()
    proc = await asyncio.to_thread(start_collector, {**proc_env, "WOOFORCE_LOG_LEVEL": "INFO"}, port)
    load = asyncio.create_task(_post_until_dead(f"http://127.0.0.1:{port}", store_id, secret, prefix="term", n=400,
                                                concurrency=8))
    await asyncio.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    rc = await asyncio.to_thread(proc.wait, 15)
    acked = await load
    err = proc.stderr.read().decode()
    assert rc == 0, err[-2000:]
    assert "collector stopped" in err
    async with db.connection() as conn:
        stored = {r["sender_id"] for r in await conn.fetch("SELECT sender_id FROM events WHERE store_id = $1", store_id)}
    assert acked <= stored
