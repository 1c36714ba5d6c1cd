"""Backfills (import a store's history) and manual syncs (re-send one entity now).

A backfill is a ``jobs`` row (kind ``backfill``) whose ``progress`` is its checkpoint: per resource, where the
keyset paging stands (orders, products: ``modified_after`` + page; customers: page by id). It is written after
every page together with the lease renewal, so a re-run (``wooforce backfill`` again, or another agent after
the lease expired) continues where it stopped. Records go through the outbox with ``source="backfill"``: a
version the outbox has already seen is skipped unless ``force`` (then each record gets a key unique to the job).
The agent picks up ``requested`` jobs (the plugin's Resync button) with :func:`poll_jobs`, and ``sync`` jobs (the
plugin's Sync now for an entity the outbox has no row of) with :func:`run_sync_jobs`.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp
from loguru import logger

from agent.reconcile import records as W
from agent.woocommerce import WooClient
from shared import ids
from shared.db import Database
from shared.errors import NotFound, PermanentError, RetryableError, WooCommerceAuthError, WooforceError
from shared.models import FutureVersion
from shared.outbox import OutboxManager
from shared.settings import Settings
from shared.stores import StoreManager

RESOURCES = ("customers", "products", "orders")  # dependencies first
EPOCH = datetime(1970, 1, 2, tzinfo=UTC)

ProgressFn = Callable[[str, int, int], None]  # (resource, records done, total)


class LeaseLost(RetryableError):
    """Another agent took over this job (our lease expired)."""
    code = "job_lease_lost"


def job_params(since: datetime | None, resources: list[str] | None, force: bool = False) -> dict[str, Any]:
    return {"since": since.isoformat() if since else None,
            "resources": sorted(resources) if resources else None, **({"force": True} if force else {})}


class Backfill:
    def __init__(self, db: Database, stores: StoreManager, settings: Settings, *, owner: str,
                 session: aiohttp.ClientSession | None = None, ssl: Any = None,
                 on_progress: ProgressFn | None = None):
        self.db, self.stores, self.settings, self.owner = db, stores, settings, owner
        self.outbox = OutboxManager(db)
        self.session, self.ssl, self.on_progress = session, ssl, on_progress
        self.requests = 0

    async def find_or_create(self, store_id: str, params: dict[str, Any], requested_by: str = "cli") -> str:
        """The unfinished job with these parameters (to continue it), or a new one."""
        await self.stores.get(store_id)
        job_id = await self.db.fetchval("job_find_open_backfill", store_id, params)
        if job_id is None:
            row = await self.db.fetchrow("insert_job", ids.new_id("job"), store_id, "backfill", params, requested_by)
            assert row is not None  # INSERT ... RETURNING
            job_id = row["id"]
        return str(job_id)

    async def run(self, job_id: str) -> dict[str, Any]:
        """Claim and run one job to the end; returns its progress. Raises if another agent holds it."""
        row = await self.db.fetchrow("job_claim", job_id, self.owner, self.settings.job_lease_s)
        if row is None:
            job = await self.db.fetchrow("job_get", job_id)
            if job is None:
                raise NotFound(f"unknown job {job_id}")
            if job["status"] == "done":
                progress: dict[str, Any] = job["progress"]
                return progress
            raise PermanentError(f"job {job_id} is {job['status']} and held by another agent "
                                 f"until {job['lease_expires_at']}", code="job_busy")
        return await self.run_claimed(dict(row))

    async def run_claimed(self, job: dict[str, Any]) -> dict[str, Any]:
        t0 = time.perf_counter()
        job_id, store_id = job["id"], job["store_id"]
        params, progress = job["params"] or {}, job["progress"] or {}
        log = logger.bind(action="backfill.run", job_id=job_id, store_id=store_id)
        client: WooClient | None = None
        try:
            store = await self.stores.get(store_id)
            s = self.settings
            client = WooClient.for_store(store, timeout_s=s.wc_timeout_s, max_retries=s.wc_max_retries,
                                         retry_backoff_s=s.wc_retry_backoff_s, session=self.session, ssl=self.ssl)
            since = datetime.fromisoformat(params["since"]) if params.get("since") else EPOCH
            if since.tzinfo is None:
                since = since.replace(tzinfo=UTC)
            async with client:
                for plural in RESOURCES:
                    if params.get("resources") and plural not in params["resources"]:
                        continue
                    await self._resource(client, job, progress, plural, since, bool(params.get("force")))
            await self.db.execute("job_finish", job_id, self.owner, "done", None)
        except WooCommerceAuthError as exc:
            await self.db.execute("update_store_keys_status", store_id, "failed", exc.message)
            await self.db.execute("job_finish", job_id, self.owner, "failed", exc.message)
            log.bind(outcome="failed").error("backfill failed: {}", exc.message)
            raise
        except RetryableError as exc:
            await self.db.execute("job_postpone", job_id, self.owner, exc.message, self.settings.job_lease_s)
            log.bind(outcome="retrying").warning("backfill interrupted: {}", exc.message)
            raise
        except WooforceError as exc:
            await self.db.execute("job_finish", job_id, self.owner, "failed", exc.message)
            log.bind(outcome="failed").error("backfill failed: {}", exc.message)
            raise
        except BaseException:  # Ctrl-C, cancellation, a bug: hand the job back at once, resumable
            await asyncio.shield(self.db.execute("job_postpone", job_id, self.owner, "interrupted", 0))
            log.bind(outcome="interrupted").warning("backfill interrupted; run it again to continue")
            raise
        finally:
            if client is not None:
                self.requests += client.requests
        log.bind(outcome="done", duration_ms=int((time.perf_counter() - t0) * 1000),
                 requests=client.requests if client else 0,
                 **{f"{k}_enqueued": v.get("enqueued", 0) for k, v in progress.items()}).info("backfill done")
        return progress

    async def _checkpoint(self, job_id: str, progress: dict[str, Any]) -> None:
        result = await self.db.execute("job_progress", job_id, self.owner, progress, self.settings.job_lease_s)
        if result.endswith(" 0"):
            raise LeaseLost(f"lost the lease of job {job_id}")

    async def _resource(self, client: WooClient, job: dict[str, Any], progress: dict[str, Any], plural: str,
                        since: datetime, force: bool) -> None:
        st = progress.setdefault(plural, {"after": None, "page": 1, "done": False, "seen": 0, "enqueued": 0,
                                          "total": None})
        if st["done"]:
            return
        s, resource = self.settings, W.RESOURCE_OF[plural]
        if st["total"] is None:
            params = {"per_page": 1} if plural == "customers" else {
                "per_page": 1, "modified_after": W.wc_gmt(since), "dates_are_gmt": True}
            st["total"] = (await client.list(plural, params)).total
        self._progress(plural, st)
        if plural == "customers":
            while True:
                got = (await client.list("customers", {"orderby": "id", "order": "asc", "per_page": s.wc_per_page,
                                                       "page": st["page"]})).records
                await self._import(job, resource, got, st, force)
                st["page"] += 1
                st["done"] = len(got) < s.wc_per_page
                await self._page_done(job, progress, plural, st)
                if st["done"]:
                    return
        start = datetime.fromisoformat(st["after"]) if st["after"] else since
        async for records, after, page in W.pages_modified_after(client, plural, start, per_page=s.wc_per_page,
                                                                  page=st["page"]):
            if plural == "products":
                for parent in list(records):
                    records += await W.variations_of(client, parent, EPOCH, per_page=s.wc_per_page)
            await self._import(job, resource, records, st, force)
            st["after"], st["page"] = after.isoformat(), max(page, 1)
            await self._page_done(job, progress, plural, st)
        st["done"] = True
        await self._page_done(job, progress, plural, st)

    async def _import(self, job: dict[str, Any], resource: str, records: list[dict[str, Any]], st: dict[str, Any],
                      force: bool) -> None:
        store_id = job["store_id"]
        records = W.without_drafts(resource, records)
        if force:
            built = (W.event_or_skip(store_id, "backfill", resource, "trashed" if r.get("status") == "trash"
                                     else "updated", r) for r in records)
            events = [e for e in built if e is not None]
            for e in events:
                e.dedup_key = f"backfill:{job['id']}:{e.dedup_key}"
        else:
            hs = await W.heads(self.db, store_id, resource, [int(r["id"]) for r in records])
            events = [ev for r in records
                      if (ev := W.decide(store_id, "backfill", resource, r, hs.get(int(r["id"])))) is not None]
        results = await self.outbox.ingest(events) if events else []
        st["seen"] += sum(1 for r in records if r.get("type") != "variation")
        st["enqueued"] += sum(1 for r in results if r.new)

    async def _page_done(self, job: dict[str, Any], progress: dict[str, Any], plural: str, st: dict[str, Any]) -> None:
        await self._checkpoint(job["id"], progress)
        self._progress(plural, st)
        logger.bind(action="backfill.progress", job_id=job["id"], store_id=job["store_id"], resource=plural,
                    seen=st["seen"], enqueued=st["enqueued"], total=st["total"]).debug("backfill page")

    def _progress(self, plural: str, st: dict[str, Any]) -> None:
        if self.on_progress is not None:
            self.on_progress(plural, st["seen"], max(st["total"] or 0, st["seen"]))


# ---------------------------------------------------------------------- manual sync


async def sync_entity(db: Database, stores: StoreManager, settings: Settings, store_id: str, resource: str,
                      rid: int, *, session: aiohttp.ClientSession | None = None, ssl: Any = None) -> str:
    """Fetch one entity from WooCommerce now and enqueue it (``source="manual"``), even if this version was
    seen: it is delivered again. Returns the event id. A 404 raises :class:`NotFound`."""
    store = await stores.get(store_id)
    t0 = time.perf_counter()
    client = WooClient.for_store(store, timeout_s=settings.wc_timeout_s, max_retries=settings.wc_max_retries,
                                 retry_backoff_s=settings.wc_retry_backoff_s, session=session, ssl=ssl)
    async with client:
        record = await client.get(f"{W.PATHS[resource]}/{rid}")
    if record is None:
        raise NotFound(f"{resource} {rid} does not exist in the store (deleted, or never existed)")
    try:
        event = W.manual_event(store_id, resource, record)
    except FutureVersion as exc:  # would freeze the entity (see `wooforce outbox unfreeze`)
        raise PermanentError(f"{resource} {rid}: {exc}", code="future_version") from None
    if record.get("status") == "trash":
        event.action = "trashed"
    result = (await OutboxManager(db).ingest([event]))[0]
    logger.bind(action="sync.manual", store_id=store_id, resource=resource, resource_id=rid, event_id=result.event_id,
                duration_ms=int((time.perf_counter() - t0) * 1000)).info("entity queued for delivery")
    return result.event_id


# ---------------------------------------------------------------------- the agent's job poller


async def poll_jobs(db: Database, stores: StoreManager, settings: Settings, *, owner: str,
                    session: aiohttp.ClientSession | None = None, ssl: Any = None, max_jobs: int = 10) -> int:
    """Run requested backfills (and those whose agent died) until none is left; returns how many ran."""
    ran = 0
    while ran < max_jobs:
        row = await db.fetchrow("job_claim_next", owner, settings.job_lease_s)
        if row is None:
            return ran
        ran += 1
        try:
            await Backfill(db, stores, settings, owner=owner, session=session, ssl=ssl).run_claimed(dict(row))
        except WooforceError:
            pass  # recorded on the job row and logged by run_claimed
    return ran


SYNC_JOB_MAX_ATTEMPTS = 5
SYNC_JOB_RETRY_S = 30.0  # the first wait after a transient failure, doubling per attempt


async def run_sync_jobs(db: Database, stores: StoreManager, settings: Settings, *, owner: str,
                        session: aiohttp.ClientSession | None = None, ssl: Any = None, max_jobs: int = 20) -> int:
    """Run requested ``sync`` jobs (the plugin's Sync now for an entity the outbox has no row of): each fetches
    the record from WooCommerce and enqueues it as :func:`sync_entity` does. Ends ``done`` (progress: the event
    id), ``failed`` with a readable error (the record is gone, no REST keys, keys refused, a record dated in the
    future, or :data:`SYNC_JOB_MAX_ATTEMPTS` transient failures), or postponed after a transient one. Each job runs
    at most once per call; returns how many ran."""
    ran: list[str] = []
    while len(ran) < max_jobs:
        job = await db.fetchrow("job_claim_next_of_kind", owner, settings.job_lease_s, "sync", ran)
        if job is None:
            break
        ran.append(job["id"])
        job_id, store_id, params = job["id"], job["store_id"], job["params"] or {}
        log = logger.bind(action="sync.job", job_id=job_id, store_id=store_id, resource=params.get("resource"),
                          resource_id=params.get("resource_id"))
        try:
            event_id = await sync_entity(db, stores, settings, store_id, str(params["resource"]),
                                         int(params["resource_id"]), session=session, ssl=ssl)
        except RetryableError as exc:
            if int(job["attempts"]) >= SYNC_JOB_MAX_ATTEMPTS:
                await db.execute("job_finish", job_id, owner, "failed", exc.message)
                log.bind(outcome="failed").warning("sync job gave up: {}", exc.message)
            else:
                delay_s = SYNC_JOB_RETRY_S * 2 ** (int(job["attempts"]) - 1)
                await db.execute("job_postpone", job_id, owner, exc.message, delay_s)
                log.bind(outcome="retrying").warning("sync job postponed: {}", exc.message)
            continue
        except WooforceError as exc:
            if isinstance(exc, WooCommerceAuthError) and exc.code != "woocommerce_keys_missing":
                await db.execute("update_store_keys_status", store_id, "failed", exc.message)
            await db.execute("job_finish", job_id, owner, "failed", exc.message)
            log.bind(outcome="failed").warning("sync job failed: {}", exc.message)
            continue
        await db.execute("job_finish_with_progress", job_id, owner, "done", None, {"event_id": event_id})
        log.bind(outcome="done", event_id=event_id).info("sync job done")
    return len(ran)


def register_jobs(scheduler: Any, *, settings: Settings, db: Database, stores: StoreManager, owner: str) -> None:
    scheduler.add_job(poll_jobs, "interval", seconds=settings.jobs_poll_interval_s, args=[db, stores, settings],
                      kwargs={"owner": owner}, id="backfill.poll", max_instances=1, coalesce=True)
    scheduler.add_job(run_sync_jobs, "interval", seconds=settings.jobs_poll_interval_s, args=[db, stores, settings],
                      kwargs={"owner": owner}, id="sync.poll", max_instances=1, coalesce=True)
