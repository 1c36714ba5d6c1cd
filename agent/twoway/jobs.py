"""Two-way sync on the agent scheduler: ``sf_poll`` (every ``SF_POLL_INTERVAL_S``: poll each store's Salesforce
records, then write what changed) and ``wc_write`` (every ``WC_WRITE_INTERVAL_S``: retries and replays of the
WooCommerce destination). Both reuse the delivery engine's per-store Salesforce clients and mappings."""
from __future__ import annotations

import time
from ssl import SSLContext
from typing import TYPE_CHECKING, Any

from loguru import logger

from agent.twoway.poll import Poller
from agent.twoway.write import WooWriter
from shared.db import Database
from shared.errors import RetryableError
from shared.settings import Settings
from shared.stores import StoreManager

if TYPE_CHECKING:
    from agent.delivery.engine import Deliverer


class TwoWayJobs:
    def __init__(self, db: Database, stores: StoreManager, settings: Settings, deliverer: Deliverer, *,
                 ssl: SSLContext | None = None):
        self.poller = Poller(db, deliverer, settings)
        self.writer = WooWriter(db, stores, settings, deliverer.mapping, owner=deliverer.owner + ":wc", ssl=ssl,
                                sf_for=deliverer.client)
        self.stopping = False

    async def poll(self) -> None:
        if self.stopping:
            return
        t0 = time.perf_counter()
        try:
            reports = await self.poller.run()
            await self.writer.drain()
        except RetryableError as exc:
            logger.bind(action="twoway.poll_failed", code=exc.code).warning("two-way poll failed: {}",
                                                                             exc.message[:300])
            return
        logger.bind(action="twoway.poll", duration_ms=round((time.perf_counter() - t0) * 1000, 1),
                    stores=len(reports), api_calls=sum(r.api_calls for r in reports),
                    changes=sum(r.changes for r in reports)).debug("two-way poll")

    async def write(self) -> None:
        if self.stopping:
            return
        try:
            await self.writer.drain()
        except RetryableError as exc:
            logger.bind(action="twoway.write_failed", code=exc.code).warning("WooCommerce writes failed: {}",
                                                                              exc.message[:300])

    async def shutdown(self) -> None:
        self.stopping = True
        try:
            await self.writer.release()
        finally:
            await self.writer.close()


def register_jobs(scheduler: Any, *, settings: Settings, db: Database, stores: StoreManager,
                  deliverer: Deliverer) -> TwoWayJobs | None:
    if not settings.twoway_enabled:
        return None
    jobs = TwoWayJobs(db, stores, settings, deliverer)
    scheduler.add_job(jobs.poll, "interval", seconds=settings.sf_poll_interval_s, id="sf_poll")
    scheduler.add_job(jobs.write, "interval", seconds=settings.wc_write_interval_s, id="wc_write")
    return jobs
