"""register_jobs: one reconcile job per store on the agent's AsyncIOScheduler, max_instances=1, plus the job poller."""
from __future__ import annotations

import asyncio

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from loguru import logger

from agent.reconcile.reconciler import register_jobs
from tests.integration.reconcile.conftest import tuned

pytestmark = pytest.mark.integration


async def test_agent_schedules_one_reconcile_job_per_store(db, stores, shop, settings):
    ran = asyncio.Event()
    lines = []

    def sink(message):
        extra = message.record["extra"]
        if extra.get("action") == "reconcile.run" and extra.get("store_id") == shop.store_id:
            lines.append(extra)
            ran.set()

    sink_id = logger.add(sink, level="INFO")
    scheduler = AsyncIOScheduler(job_defaults={"coalesce": True, "max_instances": 1})
    try:
        register_jobs(scheduler, settings=tuned(settings), db=db, stores=stores)
        scheduler.start()
        await asyncio.wait_for(ran.wait(), 15)
        jobs = {j.id: j for j in scheduler.get_jobs()}
        assert {"reconcile.stores", "backfill.poll", "sync.poll", f"reconcile:{shop.store_id}"} <= set(jobs)
        assert jobs[f"reconcile:{shop.store_id}"].max_instances == 1
        assert jobs[f"reconcile:{shop.store_id}"].trigger.interval.total_seconds() == settings.reconcile_interval_s
        assert lines[0]["outcome"] == "ok" and "duration_ms" in lines[0] and lines[0]["requests"] > 0
    finally:
        scheduler.shutdown(wait=False)
        logger.remove(sink_id)
