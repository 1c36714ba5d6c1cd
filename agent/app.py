"""The agent process: an APScheduler ``AsyncIOScheduler`` running Wooforce's periodic jobs.

Jobs: ``deliver`` (drain the outbox into Salesforce, every ``AGENT_POLL_INTERVAL_S`` or a quarter of
``SF_MAX_DELAY_S`` if shorter; a store's changes are claimed once the oldest has waited its flush window;
``max_instances=1`` skips a run while the previous one is still draining), ``outbox_report``, the reconciler and
backfills, the erasure jobs (``erasure.poll``), alerts and two-way sync. SIGTERM/SIGINT: no new runs,
the current batch gets ``AGENT_SHUTDOWN_GRACE_S`` to finish; if it does not, it is cancelled and its leases
are released (rows back to pending; anything Salesforce already wrote is an idempotent upsert next time).
"""
from __future__ import annotations

import asyncio
import signal
import time
from datetime import UTC

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from loguru import logger

from agent.delivery.engine import Deliverer
from shared import migrations
from shared.crypto import Vault
from shared.db import Database, resolve_dsn
from shared.errors import RetryableError
from shared.models import Outcome
from shared.settings import Settings
from shared.stores import StoreManager


async def outbox_report(db: Database) -> dict[str, int]:
    t0 = time.perf_counter()
    counts = {r["status"]: r["n"] for r in await db.fetch("outbox_counts")}
    logger.bind(action="agent.outbox_report", duration_ms=round((time.perf_counter() - t0) * 1000, 1), **counts).info(
        "outbox status")
    return counts


class DeliverJob:
    """The scheduled delivery run; remembers its task so shutdown can wait for (or cancel) it."""

    def __init__(self, deliverer: Deliverer, stop: asyncio.Event, *, windowed: bool = True):
        self.deliverer, self.stop, self.windowed = deliverer, stop, windowed
        self.task: asyncio.Task | None = None

    async def run(self) -> None:
        if self.stop.is_set():
            return
        self.task = asyncio.current_task()
        t0 = time.perf_counter()
        try:
            stats = await self.deliverer.drain(stop=self.stop, windowed=self.windowed)
        except RetryableError as exc:
            logger.bind(action="agent.deliver_failed", code=exc.code,
                        duration_ms=round((time.perf_counter() - t0) * 1000, 1)).warning("delivery run failed: {}",
                                                                                        exc.message[:300])
            return
        finally:
            self.task = None
        o = stats.outcomes
        logger.bind(action="agent.deliver", duration_ms=round((time.perf_counter() - t0) * 1000, 1),
                    claimed=stats.claimed, delivered=o[Outcome.DELIVERED] + o[Outcome.SKIPPED],
                    retrying=o[Outcome.RETRYING],
                    dead=o[Outcome.DEAD], paused=o[Outcome.PAUSED], api_calls=stats.api_calls,
                    records=stats.records).log(
            "INFO" if stats.claimed else "DEBUG", "delivery run")

    async def shutdown(self, grace_s: float) -> None:
        """Give the running batch ``grace_s`` to finish, else cancel it; hand back any lease still held."""
        task = self.task
        if task is not None and not task.done():
            done, _ = await asyncio.wait({task}, timeout=grace_s)
            if not done:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        released = await self.deliverer.release()
        if released:
            logger.bind(action="agent.leases_released", count=released).warning(
                "current batch abandoned at shutdown; leases released")


async def run_agent(settings: Settings, *, once: bool = False) -> int:
    db = await Database.from_settings(settings, await resolve_dsn(settings)).open()
    deliverer = None
    try:
        if settings.should_migrate:
            await migrations.migrate(db)
        await migrations.check(db)
        stores = StoreManager(db, Vault.from_settings(settings), cache_ttl_s=settings.store_cache_ttl_s)
        await stores.check_keys()  # a master key that cannot decrypt the stored secrets stops start-up
        deliverer = Deliverer(db, stores, settings)
        stop = asyncio.Event()
        job = DeliverJob(deliverer, stop, windowed=not once)  # --once delivers everything due now
        if once:
            await job.run()
            await outbox_report(db)
            return 0
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        scheduler = AsyncIOScheduler(job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None})
        scheduler.add_job(job.run, "interval", seconds=deliver_tick_s(settings), id="deliver",
                          next_run_time=_now())
        scheduler.add_job(outbox_report, "interval", seconds=60, args=[db], id="outbox_report")
        # --- reconciler and backfills (issue 4): one job per store + the requested-jobs poller ---
        from agent.reconcile.reconciler import register_jobs as register_reconciler
        reconciler = register_reconciler(scheduler, settings=settings, db=db)
        # --- GDPR erasure in Salesforce (issue 13): the erasure jobs the console enqueues ---
        from agent.erasure_jobs import register_jobs as register_erasure
        register_erasure(scheduler, settings=settings, db=db, stores=stores, owner=reconciler.owner)
        # --- import from Salesforce (issue 20): the import jobs the console starts ---
        from agent.twoway.imports import register_jobs as register_imports
        register_imports(scheduler, settings=settings, db=db, stores=stores, owner=reconciler.owner)
        # --- console (issue 6): alerts and payload retention ---
        from shared.alerts import register_jobs as register_alerts
        register_alerts(scheduler, settings=settings, db=db)
        # --- two-way sync (issue 8): Salesforce poll and WooCommerce writes ---
        from agent.twoway.jobs import register_jobs as register_twoway
        twoway = register_twoway(scheduler, settings=settings, db=db, stores=stores, deliverer=deliverer)
        scheduler.start()
        logger.bind(action="agent.started", owner=deliverer.owner).info("agent running")
        await stop.wait()
        scheduler.pause()  # no new runs; shutting the scheduler down now would cancel the running batch at once
        await job.shutdown(settings.agent_shutdown_grace_s)
        if twoway is not None:
            await twoway.shutdown()
        scheduler.shutdown(wait=False)
        logger.bind(action="agent.stopped").info("agent stopped cleanly")
        return 0
    finally:
        if deliverer is not None:
            deliverer.close()
        await db.close()


def deliver_tick_s(settings: Settings) -> float:
    """How often the deliver job looks: every ``agent_poll_interval_s``, more often with a flush window (a quarter
    of ``sf_max_delay_s``, at least 0.1 s) so that a change waits its window and not a poll interval more."""
    if settings.sf_max_delay_s <= 0:
        return settings.agent_poll_interval_s
    return min(settings.agent_poll_interval_s, max(0.1, settings.sf_max_delay_s / 4))


def _now():
    from datetime import datetime

    return datetime.now(UTC)
