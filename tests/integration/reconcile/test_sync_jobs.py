"""The agent runs ``sync`` jobs (the plugin's Sync now for an entity the outbox has no row of, issue 17): the record
is fetched from WooCommerce and enqueued as ``wooforce sync`` does, or the job ends with a readable error."""
from __future__ import annotations

import pytest

from agent.reconcile.backfill import SYNC_JOB_MAX_ATTEMPTS, run_sync_jobs
from shared import ids
from tests.integration.reconcile.conftest import heads, tuned

pytestmark = pytest.mark.integration


async def sync_job(db, store_id: str, resource: str, rid: int) -> str:
    row = await db.fetchrow("insert_job", ids.new_id("job"), store_id, "sync",
                            {"resource": resource, "resource_id": rid}, "store:plugin")
    return str(row["id"])


async def test_a_sync_job_enqueues_the_record_and_ends_done(db, stores, shop, settings):
    shop.wc.seed(orders=3, products=2, days=1)
    oid = next(iter(shop.store.orders))
    job_id = await sync_job(db, shop.store_id, "order", oid)
    backfill_id = (await db.fetchrow("insert_job", ids.new_id("job"), shop.store_id, "backfill",
                                     {"since": None, "resources": ["orders"]}, "store:plugin"))["id"]
    assert await run_sync_jobs(db, stores, tuned(settings), owner="agent-a") == 1
    job = await db.fetchrow("job_get", job_id)
    assert (job["status"], job["error"], job["lease_owner"]) == ("done", None, None)
    assert set(await heads(db, shop.store_id, "order")) == {oid}
    assert (await heads(db, shop.store_id, "order"))[oid][2] == "manual"
    async with db.connection() as conn:
        assert await conn.fetchval("SELECT head_event_id FROM outbox WHERE store_id = $1", shop.store_id) == \
            job["progress"]["event_id"]
        assert await conn.fetchval("SELECT status FROM jobs WHERE id = $1", backfill_id) == "requested"  # not ours
    assert await run_sync_jobs(db, stores, tuned(settings), owner="agent-a") == 0


async def test_sync_jobs_that_cannot_succeed_fail_with_the_reason(db, stores, shop, settings):
    shop.wc.seed(orders=1, products=1, days=1)
    gone = await sync_job(db, shop.store_id, "product", 999_999)
    row, _ = await stores.add("No keys shop")
    no_keys = await sync_job(db, row["id"], "order", 1)
    assert await run_sync_jobs(db, stores, tuned(settings), owner="agent-a") == 2
    job = await db.fetchrow("job_get", gone)
    assert job["status"] == "failed" and "product 999999 does not exist in the store" in job["error"]
    job = await db.fetchrow("job_get", no_keys)
    assert job["status"] == "failed" and "no WooCommerce URL or REST keys" in job["error"]


async def test_a_transient_failure_postpones_the_job_until_it_gives_up(db, stores, settings):
    row, _ = await stores.add("Down shop", wc_url="http://127.0.0.1:9",
                              wc_credentials={"consumer_key": "ck_x", "consumer_secret": "cs_x", "auth": "basic"})
    job_id = await sync_job(db, row["id"], "order", 5)
    s = tuned(settings)
    assert await run_sync_jobs(db, stores, s, owner="agent-a") == 1
    async with db.connection() as conn:
        job = await conn.fetchrow("SELECT status, error, attempts, lease_expires_at > now() + interval '20 seconds' "
                                  "AS later FROM jobs WHERE id = $1", job_id)
    assert (job["status"], job["attempts"], job["later"]) == ("running", 1, True) and job["error"]
    assert await run_sync_jobs(db, stores, s, owner="agent-b") == 0  # not due before its backoff is over
    async with db.connection() as conn:
        await conn.execute("UPDATE jobs SET attempts = $2, lease_expires_at = now() - interval '1 second' "
                           "WHERE id = $1", job_id, SYNC_JOB_MAX_ATTEMPTS - 1)
    assert await run_sync_jobs(db, stores, s, owner="agent-b") == 1
    job = await db.fetchrow("job_get", job_id)
    assert job["status"] == "failed" and job["error"]
