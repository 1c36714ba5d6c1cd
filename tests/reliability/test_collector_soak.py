"""Collector crash and outage cases under sustained load (each prints its figures).

- SIGKILL the collector three times (at 20, 45 and 70 % acknowledged) while 20,000 events are posted: acknowledged lost = 0,
  and with plugin-like retries every event ends up stored exactly once.
- Restart Postgres in the middle of the load: 503 + Retry-After meanwhile, recovery without a
  collector restart, acknowledged lost = 0.
"""
from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest

from tests.support.loadgen import SendStats, order_events, send_all
from tests.support.procs import free_port, start_collector

pytestmark = pytest.mark.reliability
N_EVENTS = int(os.environ.get("WOOFORCE_SOAK_EVENTS", "20000"))


async def _stored(db, store_id: str) -> tuple[set[str], int]:
    async with db.connection() as conn:
        rows = await conn.fetch("SELECT sender_id FROM events WHERE store_id = $1", store_id)
    return {r["sender_id"] for r in rows}, len(rows)


async def test_repeated_sigkill_during_20k_events(db, proc_env, proc_store):
    store_id, secret = proc_store
    port = free_port()
    state = {"proc": await asyncio.to_thread(start_collector, proc_env, port), "kills": 0}
    events = order_events("soak", N_EVENTS)

    stats = SendStats()

    async def killer():
        # kill at fixed points of the load (not on a timer, which a fast machine outruns)
        for share in (0.2, 0.45, 0.7):
            while len(stats.acked) < share * N_EVENTS:
                await asyncio.sleep(0.01)
            state["proc"].send_signal(signal.SIGKILL)
            await asyncio.to_thread(state["proc"].wait, 10)
            state["kills"] += 1
            state["proc"] = await asyncio.to_thread(start_collector, proc_env, port)

    kill_task = asyncio.create_task(killer())
    t0 = time.monotonic()
    try:
        stats = await send_all(lambda: f"http://127.0.0.1:{port}", store_id, secret, events, batch=10,
                               concurrency=16, deadline_s=240, stats=stats)
    finally:
        kill_task.cancel()
        await asyncio.gather(kill_task, return_exceptions=True)
        state["proc"].kill()
        state["proc"].wait(10)
    stored, rows = await _stored(db, store_id)
    lost = stats.acked - stored
    print(f"\ncollector SIGKILLs={state['kills']} events={N_EVENTS} acknowledged={len(stats.acked)} stored={len(stored)} "
          f"rows={rows} acknowledged_lost={len(lost)} connection_errors={stats.connection_errors} "
          f"elapsed_s={time.monotonic() - t0:.1f}")
    assert state["kills"] >= 2
    assert lost == set()
    assert len(stats.acked) == N_EVENTS  # the retrying sender got every event acknowledged
    assert rows == len(stored) == N_EVENTS  # exactly once: retries after a kill were deduplicated


async def test_postgres_restart_in_the_middle_of_the_load(own_pg, master_key, tmp_path):
    from shared import migrations
    from shared.crypto import Vault
    from shared.db import Database
    from shared.settings import Settings
    from shared.stores import StoreManager

    dsn, server = own_pg
    db = await Database(dsn, min_size=1, max_size=2).open()
    await migrations.migrate(db)
    row, secret = await StoreManager(db, Vault.from_settings(Settings(_env_file=None, master_key=master_key,
                                                                      data_dir=tmp_path))).add("pg restart")
    await db.close()
    env = {"WOOFORCE_DATABASE_URL": dsn, "WOOFORCE_MASTER_KEY": master_key, "WOOFORCE_DATA_DIR": str(tmp_path),
           "WOOFORCE_LOG_LEVEL": "WARNING", "WOOFORCE_DB_CONNECT_TIMEOUT_S": "1", "WOOFORCE_RETRY_AFTER_S": "1"}
    port = free_port()
    proc = await asyncio.to_thread(start_collector, env, port)
    events = order_events("pgr", max(N_EVENTS // 4, 2000))
    try:
        stats = SendStats()
        send = asyncio.create_task(send_all(lambda: f"http://127.0.0.1:{port}", row["id"], secret, events,
                                            batch=10, concurrency=8, deadline_s=180, stats=stats))
        while len(stats.acked) < len(events) // 10:  # the outage starts in the middle of the load, not after it
            await asyncio.sleep(0.01)
        await asyncio.to_thread(server.stop)
        outage_start = time.monotonic()
        await asyncio.sleep(2.0)
        await asyncio.to_thread(server.start)
        outage_s = time.monotonic() - outage_start
        stats = await send
        assert proc.poll() is None, "the collector must survive the outage without a restart"
    finally:
        proc.terminate()
        proc.wait(15)
    db = await Database(dsn, min_size=1, max_size=2).open()
    stored, rows = await _stored(db, row["id"])
    await db.close()
    lost = stats.acked - stored
    print(f"\npostgres outage_s={outage_s:.1f} events={len(events)} acknowledged={len(stats.acked)} "
          f"503s={stats.statuses.get(503, 0)} retry_after_headers={stats.retry_after_seen} acknowledged_lost={len(lost)}")
    assert stats.statuses.get(503, 0) > 0 and stats.retry_after_seen == stats.statuses.get(503, 0)
    assert lost == set() and len(stats.acked) == len(events) and rows == len(events)
