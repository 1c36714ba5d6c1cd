"""The agent process: an APScheduler ``AsyncIOScheduler`` running Wooforce's periodic jobs."""
from __future__ import annotations

import asyncio
import signal
import time

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from loguru import logger

from shared import migrations
from shared.db import Database, resolve_dsn
from shared.settings import Settings


async def outbox_report(db: Database) -> dict[str, int]:
    t0 = time.perf_counter()
    counts = {r["status"]: r["n"] for r in await db.fetch("outbox_counts")}
    logger.bind(action="agent.outbox_report", duration_ms=round((time.perf_counter() - t0) * 1000, 1), **counts).info(
        "outbox status")
    return counts


async def run_agent(settings: Settings, *, once: bool = False) -> int:
    db = await Database.from_settings(settings, await resolve_dsn(settings)).open()
    try:
        if settings.should_migrate:
            await migrations.migrate(db)
        await migrations.check(db)
        if once:
            await outbox_report(db)
            return 0
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        scheduler = AsyncIOScheduler(job_defaults={"coalesce": True, "max_instances": 1})
        scheduler.add_job(outbox_report, "interval", seconds=60, args=[db], id="outbox_report")
        scheduler.start()
        logger.bind(action="agent.started").info("agent running")
        await stop.wait()
        scheduler.shutdown(wait=True)
        logger.bind(action="agent.stopped").info("agent stopped cleanly")
        return 0
    finally:
        await db.close()
