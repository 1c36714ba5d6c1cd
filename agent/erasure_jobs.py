"""The agent's runner of erasure jobs (``jobs`` rows of kind ``erasure``, enqueued by the console's GDPR erasure).

Each job is claimed with a lease (``job_claim_next_of_kind``: one statement, ``FOR UPDATE SKIP LOCKED``, counts
the attempt), its progress is written after every record together with the lease renewal, and it ends:
- ``done`` when every record was handled; records Salesforce refused are listed in ``progress.failed`` ("partial");
- postponed (still ``running``, due again after a backoff doubling from ``ERASURE_RETRY_BACKOFF_S`` up to
  ``ERASURE_MAX_BACKOFF_S``) on a :class:`~shared.errors.RetryableError`: Salesforce down, timeouts, connection
  errors;
- ``failed`` with a readable error after ``ERASURE_MAX_ATTEMPTS`` tries or ``ERASURE_MAX_AGE_S``, or on a
  permanent error of the whole job.
A finished job writes the ``gdpr.erase_salesforce`` audit entry in the same transaction.
"""
from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

from loguru import logger

from agent.erasure import erase_in_salesforce
from agent.reconcile.backfill import LeaseLost
from shared.db import Database
from shared.errors import RetryableError, WooforceError
from shared.jobs import ErasureState, JobKind, JobStatus, empty_progress, erasure_state
from shared.settings import Settings
from shared.stores import StoreManager

AUDIT_ACTION = "gdpr.erase_salesforce"


def retry_delay_s(settings: Settings, attempts: int, retry_after_s: float | None = None) -> float:
    """The wait before try ``attempts + 1``: doubling from the first delay, at least a Retry-After, capped."""
    delay = settings.erasure_retry_backoff_s * float(2 ** max(attempts - 1, 0))
    return min(max(delay, retry_after_s or 0.0), settings.erasure_max_backoff_s)


async def run_erasure_jobs(db: Database, stores: StoreManager, settings: Settings, *, owner: str,
                           max_jobs: int = 10) -> int:
    """Run due erasure jobs (requested, retries whose backoff is over, those whose agent died), each at most once,
    until none is left or ``max_jobs`` ran; returns how many ran."""
    ran: list[str] = []
    while len(ran) < max_jobs:
        row = await db.fetchrow("job_claim_next_of_kind", owner, settings.job_lease_s, JobKind.ERASURE.value, ran)
        if row is None:
            break
        ran.append(row["id"])
        try:
            await run_erasure_job(db, stores, settings, dict(row), owner=owner)
        except RetryableError as exc:  # the database itself failed: the lease expires, the job is run again
            logger.bind(action="erasure.poll_failed", code=exc.code).warning("erasure jobs: {}", exc.message[:300])
            break
    return len(ran)


async def run_erasure_job(db: Database, stores: StoreManager, settings: Settings, job: dict[str, Any], *,
                          owner: str) -> ErasureState:
    """Run one claimed erasure job; returns its state afterwards (``retrying`` when postponed)."""
    t0 = time.perf_counter()
    job_id, store_id, attempts = job["id"], job["store_id"], int(job["attempts"])
    params = job["params"] or {}
    entities = [(store_id, str(resource), int(rid)) for resource, rid in params.get("entities", [])]
    progress: dict[str, Any] = empty_progress()
    log = logger.bind(action="erasure.job", job_id=job_id, store_id=store_id, attempt=attempts)

    async def checkpoint(report: dict[str, Any]) -> None:
        progress.update(report)
        done = await db.execute("job_progress", job_id, owner, report, settings.job_lease_s)
        if done.endswith(" 0"):
            raise LeaseLost(f"lost the lease of job {job_id}")

    status: JobStatus | None = None  # set: the job ends with it
    error: str | None = None
    state = ErasureState.RETRYING
    try:
        progress = await erase_in_salesforce(db, stores, settings, entities, params.get("guest_email_hash"),
                                             on_progress=checkpoint)
        status = JobStatus.DONE
    except LeaseLost:
        state, error = ErasureState.RUNNING, "lease lost: another agent runs the job"
    except RetryableError as exc:
        age_s = (datetime.now(UTC) - job["created_at"]).total_seconds()
        if attempts >= settings.erasure_max_attempts or age_s >= settings.erasure_max_age_s:
            status = JobStatus.FAILED
            error = (f"Salesforce still unavailable after {attempts} attempts over {age_s:.0f} s, giving up: "
                     f"{exc.message[:300]}")
        else:
            error = exc.message[:300]
            delay_s = retry_delay_s(settings, attempts, exc.retry_after_s)
            await db.execute("job_postpone", job_id, owner, f"attempt {attempts}: {error}", delay_s)
            log = log.bind(retry_in_s=delay_s)
    except WooforceError as exc:
        status, error = JobStatus.FAILED, exc.message[:300]
    except BaseException:  # cancellation (agent stopping), a bug: hand the job back at once
        await asyncio.shield(db.execute("job_postpone", job_id, owner, "interrupted", 0.0))
        log.bind(outcome="interrupted").warning("erasure job interrupted; it will be run again")
        raise
    if status is not None:
        if await _finish(db, job, owner, status, error, progress):
            state = erasure_state(status, progress, error)
        else:
            state, error = ErasureState.RUNNING, "lease lost: another agent runs the job"
    log.bind(outcome=state.value, records=progress["records"], erased=progress["erased"],
             failed=len(progress["failed"]), duration_ms=round((time.perf_counter() - t0) * 1000, 1)).log(
        "INFO" if state in (ErasureState.DONE, ErasureState.RETRYING) else "WARNING",
        "erasure job {}{}", state.value, f": {error}" if error else "")
    return state


async def _finish(db: Database, job: dict[str, Any], owner: str, status: JobStatus, error: str | None,
                  progress: dict[str, Any]) -> bool:
    """End the job and write its audit entry, in one transaction; False (nothing written) if the lease was lost."""
    params = job["params"] or {}
    state = erasure_state(status, progress, error)
    async with db.transaction() as tx:
        done = await db.execute("job_finish_with_progress", job["id"], owner, status.value, error, progress, conn=tx)
        if done.endswith(" 0"):
            return False
        await db.execute("console_insert_audit", job["requested_by"], None, AUDIT_ACTION, job["store_id"],
                         "email:" + str(params.get("guest_email_hash") or "")[:12],
                         {"job_id": job["id"], "run_by": "agent", "attempts": job["attempts"]},
                         {"salesforce": state.value, "error": error, **progress}, None, conn=tx)
    return True


def register_jobs(scheduler: Any, *, settings: Settings, db: Database, stores: StoreManager, owner: str) -> None:
    scheduler.add_job(run_erasure_jobs, "interval", seconds=settings.jobs_poll_interval_s,
                      args=[db, stores, settings], kwargs={"owner": owner}, id="erasure.poll", max_instances=1,
                      coalesce=True)
