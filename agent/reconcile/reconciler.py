"""The reconciler: polls each store's WooCommerce REST API and enqueues what the webhooks missed.

One run of one store (:meth:`Reconciler.run_store`):

* orders and products: everything modified after the store's cursor minus ``reconcile_overlap_s`` (plus the
  ``status=trash`` list over the same window), keyset-paged by modified date; a record is enqueued when it is
  newer than the outbox head of its entity, or when its state (live / trashed) differs from the head's;
* customers an order references that the outbox has never seen are fetched by id;
* customers (no date filter in the API): a paced sweep by id, ``customer_sweep_pages_per_run`` pages per run,
  resumable (the page is stored), comparing a fingerprint of the synced fields;
* vanished records: a paced sweep over the ids the outbox knows, ``id_sweep_ids_per_run`` per resource, asking
  WooCommerce for them with ``include=``; an id it no longer has (404) becomes a ``deleted`` event;
* the store's native webhooks (:mod:`agent.reconcile.webhooks`, one ``GET /webhooks``): those WooCommerce disabled
  are re-activated, the rest of what is wrong is reported (``store_webhooks``, the gap report, an alert).

Everything goes through :class:`~shared.outbox.OutboxManager` with ``source="reconciler"`` and the native-webhook
dedup key (``wc:{resource}:{id}:{version}``), so a version already seen is not stored twice. Each run writes a
``reconcile_runs`` row (the store's gap report) and one ``reconcile.run`` log line.
"""
from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from loguru import logger

from agent.leases import new_owner
from agent.reconcile import records as W
from agent.reconcile import webhooks as hooks
from agent.woocommerce import WooClient
from shared import ids
from shared.db import Database
from shared.errors import NotFound, RetryableError, WooCommerceAuthError, WooforceError
from shared.models import NewEvent, payload_dict
from shared.outbox import OutboxManager
from shared.settings import Settings
from shared.stores import StoreManager

MISSING_IDS_KEPT = 50  # per resource in the gap report


@dataclass
class RunReport:
    store_id: str
    outcome: str = "ok"
    requests: int = 0
    checked: Counter = field(default_factory=Counter)
    missing: Counter = field(default_factory=Counter)
    missing_ids: dict[str, list[int]] = field(default_factory=dict)
    error: str | None = None
    duration_ms: int = 0
    webhooks: dict[str, Any] | None = None  # what the webhook check found (agent/reconcile/webhooks.py)

    def found(self, events: list[NewEvent], new: list[bool]) -> None:
        for ev, is_new in zip(events, new):
            if is_new:
                self.missing[f"{ev.resource}.{ev.action}"] += 1
                kept = self.missing_ids.setdefault(ev.resource, [])
                if len(kept) < MISSING_IDS_KEPT:
                    kept.append(ev.resource_id)


class Reconciler:
    def __init__(self, db: Database, stores: StoreManager, settings: Settings, *, owner: str | None = None,
                 session: aiohttp.ClientSession | None = None, ssl: Any = None):
        self.db, self.stores, self.settings = db, stores, settings
        self.outbox = OutboxManager(db)
        self.owner = owner or new_owner()
        self.session, self.ssl = session, ssl

    # ------------------------------------------------------------------ one run

    async def run_store(self, store_id: str, *, force: bool = False) -> RunReport | None:
        """Reconcile one store; ``None`` when another agent holds it or it is backing off (unless ``force``)."""
        s = self.settings
        claim = await self.db.fetchrow("reconcile_claim", store_id, self.owner, s.reconcile_lease_s, force)
        if claim is None:
            return None
        failures = claim["failures"]
        started, t0 = datetime.now(UTC), time.perf_counter()
        report = RunReport(store_id)
        client: WooClient | None = None
        next_run_at, log_level = None, "INFO"
        try:
            store = await self.stores.get(store_id)
            client = WooClient.for_store(store, timeout_s=s.wc_timeout_s, max_retries=s.wc_max_retries,
                                         retry_backoff_s=s.wc_retry_backoff_s, session=self.session, ssl=self.ssl)
            async with client:
                await self._reconcile(client, store_id, report)
            failures = 0
            if store["keys_status"] != "ok":
                await self.db.execute("update_store_keys_status", store_id, "ok", None)
        except WooCommerceAuthError as exc:
            report.outcome, report.error, log_level = "auth_failed", exc.message, "ERROR"
            failures += 1
            next_run_at = datetime.now(UTC) + timedelta(seconds=s.reconcile_auth_backoff_s)
            await self.db.execute("update_store_keys_status", store_id, "failed", exc.message)
        except NotFound as exc:
            report.outcome, report.error, log_level = "failed", exc.message, "WARNING"
        except WooforceError as exc:
            report.outcome = "retrying" if isinstance(exc, RetryableError) else "failed"
            report.error, log_level = exc.message, "WARNING"
            failures += 1
            delay = min(s.reconcile_interval_s * 2 ** (failures - 1), s.reconcile_max_backoff_s)
            next_run_at = datetime.now(UTC) + timedelta(seconds=delay)
        finally:
            report.requests = client.requests if client is not None else 0
            report.duration_ms = int((time.perf_counter() - t0) * 1000)
            try:
                await self.db.execute("reconcile_release", store_id, self.owner, failures, next_run_at,
                                      report.error)
                await self.db.execute("reconcile_insert_run", ids.new_id("run"), store_id, started, report.duration_ms,
                                      report.outcome, report.requests, dict(report.checked), dict(report.missing),
                                      report.missing_ids, report.error, report.webhooks)
            finally:
                logger.bind(action="reconcile.run", store_id=store_id, outcome=report.outcome,
                            duration_ms=report.duration_ms, requests=report.requests,
                            missing=sum(report.missing.values()), checked=sum(report.checked.values()),
                            next_run_at=next_run_at.isoformat() if next_run_at else None).log(
                    log_level, "reconciled: {}" if report.error is None else "reconcile failed: {}",
                    dict(report.missing) if report.error is None else report.error)
        return report

    async def _reconcile(self, client: WooClient, store_id: str, report: RunReport) -> None:
        await self._webhooks(client, store_id, report)
        tracks = {r["track"]: dict(r) for r in await self.db.fetch("reconcile_tracks", store_id)}
        customer_refs: set[int] = set()
        for resource in ("order", "product"):
            await self._modified(client, store_id, resource, tracks.get(resource), report, customer_refs)
        await self._referenced_customers(client, store_id, customer_refs, report)
        await self._customer_sweep(client, store_id, tracks.get("customer"), report)
        for resource in ("order", "product", "customer"):
            await self._id_sweep(client, store_id, resource, tracks.get(f"{resource}_ids"), report)

    async def _enqueue(self, events: list[NewEvent], report: RunReport) -> None:
        if events:
            results = await self.outbox.ingest(events)
            report.found(events, [r.new for r in results])

    async def _webhooks(self, client: WooClient, store_id: str, report: RunReport) -> None:
        found = await hooks.check(client, store_id, self.settings.public_url)
        report.webhooks = found.as_json()
        await self.db.execute("reconcile_save_webhooks", store_id, found.problems, report.webhooks)

    # ------------------------------------------------------------------ orders and products

    async def _modified(self, client: WooClient, store_id: str, resource: str, track: dict | None,
                        report: RunReport, customer_refs: set[int]) -> None:
        s = self.settings
        now = datetime.now(UTC)
        cursor = (track or {}).get("cursor_at") or now - timedelta(seconds=s.reconcile_initial_lookback_s)
        since = cursor - timedelta(seconds=s.reconcile_overlap_s)
        newest = cursor
        path = W.PATHS[resource]
        for label, extra in ((resource, None), (f"{resource}.trash", {"status": "trash"})):
            async for records, _, _ in W.pages_modified_after(client, path, since, per_page=s.wc_per_page,
                                                              extra=extra):
                report.checked[label] += len(records)
                records = W.without_drafts(resource, records)
                if resource == "product":
                    records = records + await self._changed_variations(client, store_id, records, since, report)
                hs = await W.heads(self.db, store_id, resource, [int(r["id"]) for r in records])
                events = [e for r in records
                          if (e := W.decide(store_id, "reconciler", resource, r, hs.get(int(r["id"]))))]
                await self._enqueue(events, report)
                for r in records:
                    v = W.version_of(r)
                    if v is not None and r.get("type") != "variation":
                        newest = max(newest, v)
                    if resource == "order" and int(r.get("customer_id") or 0) > 0:
                        customer_refs.add(int(r["customer_id"]))
        await self.db.execute("reconcile_save_track", store_id, resource, newest, 0, 0)

    async def _changed_variations(self, client: WooClient, store_id: str, parents: list[dict[str, Any]],
                                  since: datetime, report: RunReport) -> list[dict[str, Any]]:
        """Variations are not in ``/products`` lists; a variation change touches its parent, so look under
        each variable parent that changed (one request per such parent)."""
        out: list[dict[str, Any]] = []
        for parent in parents:
            found = await W.variations_of(client, parent, since, per_page=self.settings.wc_per_page)
            report.checked["product.variation"] += len(found)
            out.extend(found)
        return out

    async def _referenced_customers(self, client: WooClient, store_id: str, cids: set[int], report: RunReport) -> None:
        if not cids:
            return
        known = await W.heads(self.db, store_id, "customer", sorted(cids), payload=False)
        events = []
        for cid in sorted(cids - set(known)):
            report.checked["customer.referenced"] += 1
            record = await client.get(f"customers/{cid}")
            event = W.event_or_skip(store_id, "reconciler", "customer", "created", record) if record else None
            if event is not None:
                events.append(event)
        await self._enqueue(events, report)

    # ------------------------------------------------------------------ customers: paced sweep

    async def _customer_sweep(self, client: WooClient, store_id: str, track: dict | None, report: RunReport) -> None:
        s = self.settings
        page = max(int((track or {}).get("position") or 1), 1)
        sweeps = int((track or {}).get("sweeps_done") or 0)
        for _ in range(s.customer_sweep_pages_per_run):
            got = (await client.list("customers", {"orderby": "id", "order": "asc", "per_page": s.wc_per_page,
                                                   "page": page})).records
            report.checked["customer"] += len(got)
            await self._compare_customers(store_id, got, report)
            if len(got) < s.wc_per_page:
                page, sweeps = 1, sweeps + 1
            else:
                page += 1
            # saved page by page: a restarted agent resumes where this one stopped
            await self.db.execute("reconcile_save_track", store_id, "customer", None, page, sweeps)
            if page == 1:
                break

    async def _compare_customers(self, store_id: str, records: list[dict[str, Any]], report: RunReport) -> None:
        if not records:
            return
        rids = [int(r["id"]) for r in records]
        hs = await W.heads(self.db, store_id, "customer", rids)
        stored = {r["customer_id"]: r for r in await self.db.fetch("reconcile_fingerprints", store_id, rids)}
        events, fps = [], []
        for record in records:
            rid, version, fp = int(record["id"]), W.version_of(record), W.fingerprint(record)
            fps.append((rid, fp, version))
            head = hs.get(rid)
            event = W.decide(store_id, "reconciler", "customer", record, head)
            if event is None and head is not None:
                known = stored.get(rid)
                if known is not None and known["version"] is not None and known["version"] >= head.version:
                    head_fp = known["fingerprint"]
                else:
                    head_fp = W.fingerprint(payload_dict(head.payload))
                if fp != head_fp:  # changed without a new modified date (user meta): a new event at this version
                    v = max(version or head.version, head.version)
                    event = W.event_or_skip(store_id, "reconciler", "customer", "updated", record, version=v,
                                            key=f"{W.dedup_key('customer', rid, v)}:fp:{fp}")
            if event is not None:
                events.append(event)
        await self._enqueue(events, report)
        await self.db.execute("reconcile_save_fingerprints", store_id, [f[0] for f in fps], [f[1] for f in fps],
                              [f[2] for f in fps])

    # ------------------------------------------------------------------ vanished records: paced id sweep

    async def _id_sweep(self, client: WooClient, store_id: str, resource: str, track: dict | None,
                        report: RunReport) -> None:
        s = self.settings
        budget = s.id_sweep_ids_per_run
        if budget <= 0:
            return
        position = int((track or {}).get("position") or 0)
        sweeps = int((track or {}).get("sweeps_done") or 0)
        rows = await self.db.fetch("reconcile_known_ids", store_id, resource, position, budget)
        known = [r["resource_id"] for r in rows]
        path = W.PATHS[resource]
        extra = {"role": "all"} if resource == "customer" else {}
        events: list[NewEvent] = []
        for i in range(0, len(known), s.wc_per_page):
            chunk = known[i:i + s.wc_per_page]
            report.checked[f"{resource}.ids"] += len(chunk)
            params = {"include": ",".join(map(str, chunk)), "per_page": s.wc_per_page, **extra}
            found = {int(r["id"]): r for r in (await client.list(path, params)).records}
            missing = [rid for rid in chunk if rid not in found]
            alive: set[int] = set()
            if missing and resource == "product":
                alive = await self._live_variations(client, store_id, missing, found)
                missing = [rid for rid in missing if rid not in alive]
            if missing and resource != "customer":
                trash = await client.list(path, {**params, "include": ",".join(map(str, missing)), "status": "trash"})
                found.update({int(r["id"]): r for r in trash.records})
                missing = [rid for rid in missing if rid not in found]
            for rid in missing:  # not listed: another status, or gone for good (rare: one request each)
                record = await client.get(f"{path}/{rid}")
                if record is None:
                    events.append(W.deleted_event(store_id, "reconciler", resource, rid))
                elif record.get("type") != "variation":
                    found[rid] = record
            hs = await W.heads(self.db, store_id, resource, list(found))
            events.extend(e for r in W.without_drafts(resource, list(found.values()))
                          if (e := W.decide(store_id, "reconciler", resource, r, hs.get(int(r["id"])))))
        await self._enqueue(events, report)
        if len(known) < budget:
            position, sweeps = 0, sweeps + (1 if known or position else 0)
        else:
            position = known[-1]
        await self.db.execute("reconcile_save_track", store_id, f"{resource}_ids", None, position, sweeps)

    async def _live_variations(self, client: WooClient, store_id: str, missing: list[int],
                               found: dict[int, dict[str, Any]]) -> set[int]:
        """Variations are never in ``/products`` lists: those still listed in their parent's ``variations``
        exist (their changes come through the parent in the modified listing). One request for the parents
        not already at hand."""
        hs = await W.heads(self.db, store_id, "product", missing)
        parent_of = {rid: int(payload_dict(h.payload).get("parent_id") or 0) for rid, h in hs.items()}
        parent_of = {rid: p for rid, p in parent_of.items() if p}
        wanted = sorted(set(parent_of.values()) - set(found))
        parents = dict(found)
        if wanted:
            got = await client.list("products", {"include": ",".join(map(str, wanted)),
                                                 "per_page": self.settings.wc_per_page})
            parents.update({int(r["id"]): r for r in got.records})
        return {rid for rid, p in parent_of.items() if rid in (parents.get(p) or {}).get("variations", [])}

    # ------------------------------------------------------------------ every store

    async def run_all(self, *, force: bool = False) -> list[RunReport]:
        out = []
        for row in await self.db.fetch("reconcile_stores"):
            report = await self.run_store(row["id"], force=force)
            if report is not None:
                out.append(report)
        return out


# ---------------------------------------------------------------------- scheduling


def register_jobs(scheduler: Any, *, settings: Settings, db: Database,
                  stores: StoreManager | None = None) -> Reconciler:
    """Add the reconciler (one job per store, refreshed every minute) and the backfill poller to ``scheduler``
    (an APScheduler 3 ``AsyncIOScheduler``)."""
    from agent.reconcile import backfill
    from shared.crypto import Vault

    stores = stores or StoreManager(db, Vault.from_settings(settings), cache_ttl_s=settings.store_cache_ttl_s)
    reconciler = Reconciler(db, stores, settings)

    async def refresh_store_jobs() -> None:
        wanted = {f"reconcile:{r['id']}": r["id"] for r in await db.fetch("reconcile_stores")}
        for job in scheduler.get_jobs():
            if job.id.startswith("reconcile:") and job.id not in wanted:
                job.remove()
        existing = {job.id for job in scheduler.get_jobs()}
        for job_id, store_id in wanted.items():
            if job_id not in existing:
                scheduler.add_job(reconciler.run_store, "interval", seconds=settings.reconcile_interval_s,
                                  args=[store_id], id=job_id, max_instances=1, coalesce=True,
                                  next_run_time=datetime.now(UTC))

    scheduler.add_job(refresh_store_jobs, "interval", seconds=60, id="reconcile.stores", max_instances=1,
                      coalesce=True, next_run_time=datetime.now(UTC))
    backfill.register_jobs(scheduler, settings=settings, db=db, stores=stores, owner=reconciler.owner)
    return reconciler
