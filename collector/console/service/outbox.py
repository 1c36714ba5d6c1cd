"""Outbox browsing, the entity timeline, replay, sync and resync."""
from __future__ import annotations

import asyncio
import base64
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from loguru import logger

from collector.console.service.base import DESTINATIONS, STATUSES, InvalidInput, Principal, ServiceBase, parse_time
from shared import ids, pii
from shared.errors import NotFound
from shared.mapping import Ctx, Mapping
from shared.models import RESOURCES
from shared.settings import Settings

# how far in the future an entity version may be (TIMESTAMP_TOLERANCE_S's default; ingest refuses later ones)
FUTURE_TOLERANCE_S: int = Settings.model_fields["timestamp_tolerance_s"].default


def version_in_future(version: datetime | None, tolerance_s: float = FUTURE_TOLERANCE_S) -> bool:
    """An outbox head whose version is in the future freezes its entity: no real update can outrank it."""
    return version is not None and version > datetime.now(UTC) + timedelta(seconds=tolerance_s)


@dataclass(slots=True)
class OutboxFilter:
    destination: str = "salesforce"
    store_id: str | None = None
    resource: str | None = None
    status: str | None = None
    error_code: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    q: str | None = None                  # WooCommerce id, Salesforce Id or customer email
    resource_id: int | None = field(default=None, init=False)
    sf_id: str | None = field(default=None, init=False)
    email_sha256: bytes | None = field(default=None, init=False)
    entity_ids: list[int] | None = field(default=None, init=False)    # resolved from email_sha256
    entity_keys: list[str] | None = field(default=None, init=False)   # "store/resource/id"

    FIELDS = ("destination", "store_id", "resource", "status", "error_code", "since", "until", "q")

    @classmethod
    def parse(cls, params: Any) -> OutboxFilter:
        """From query/form parameters.

        ``store``, ``resource``, ``status``, ``error_code``, ``since``, ``until``, ``q``."""
        get = lambda k: (params.get(k) or "").strip() or None  # noqa: E731
        f = cls(destination=get("destination") or "salesforce", store_id=get("store") or get("store_id"),
                resource=get("resource"), status=get("status"), error_code=get("error_code"),
                since=parse_time(get("since"), "since"), until=parse_time(get("until"), "until"), q=get("q"))
        if f.destination not in DESTINATIONS:
            raise InvalidInput(f"destination must be one of {', '.join(DESTINATIONS)}")
        if f.resource and f.resource not in RESOURCES:
            raise InvalidInput(f"resource must be one of {', '.join(RESOURCES)}")
        if f.status and f.status not in STATUSES:
            raise InvalidInput(f"status must be one of {', '.join(STATUSES)}")
        if f.store_id and not ids.is_id("store", f.store_id):
            raise InvalidInput("store must be a store id (st_...)")
        if f.q:
            if "@" in f.q:
                f.email_sha256 = pii.email_sha256(f.q)
            elif f.q.lstrip("#").isdigit():
                f.resource_id = int(f.q.lstrip("#"))
                if not 0 < f.resource_id < 2**63:
                    raise InvalidInput("WooCommerce id out of range")
            elif f.q.isalnum() and len(f.q) in (15, 18):
                f.sf_id = f.q
            else:
                raise InvalidInput("search for a WooCommerce id (1234), a Salesforce Id (15/18 characters) or an email")
        return f

    def as_params(self) -> dict[str, str]:
        """Back to query parameters (links, hidden form fields); never contains a raw email except in ``q``."""
        out = {"destination": self.destination, "store": self.store_id, "resource": self.resource,
               "status": self.status, "error_code": self.error_code,
               "since": self.since.isoformat() if self.since else None,
               "until": self.until.isoformat() if self.until else None, "q": self.q}
        return {k: v for k, v in out.items() if v}

    def describe(self) -> dict[str, Any]:
        """For the audit log and replay rows: the filter without a raw email."""
        d = self.as_params()
        if self.email_sha256:
            d["q"] = "email:" + self.email_sha256.hex()[:12]
        return d

    def sql_args(self, scope: str | None) -> tuple:
        return (scope, self.destination, self.store_id, self.resource, self.status, self.error_code, self.since,
                self.until, self.resource_id, self.sf_id, self.entity_ids)


def encode_cursor(row: dict) -> str:
    raw = orjson.dumps([row["updated_at"].isoformat(), row["store_id"], row["resource"], row["resource_id"]])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> tuple:
    if not cursor:
        return (None, None, None, None)
    try:
        u, s, r, i = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return (datetime.fromisoformat(u), str(s), str(r), int(i))
    except (ValueError, TypeError, orjson.JSONDecodeError):
        raise InvalidInput("invalid page cursor") from None


def flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(obj, dict):
        out: dict[str, Any] = {}
        for k, v in obj.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out or ({prefix: {}} if prefix else {})
    if isinstance(obj, list):
        out = {}
        for i, v in enumerate(obj):
            out.update(flatten(v, f"{prefix}[{i}]"))
        return out or ({prefix: []} if prefix else {})
    return {prefix: obj}


def diff(old: Any, new: Any) -> list[dict[str, Any]]:
    """Field-by-field difference of two JSON documents: [{"path", "old", "new"}], paths sorted."""
    a, b = flatten(old or {}), flatten(new or {})
    return [{"path": k, "old": a.get(k), "new": b.get(k)} for k in sorted(a.keys() | b.keys()) if a.get(k) != b.get(k)]


def split_diff(old: Any, new: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(changed, unchanged) fields of two JSON documents: changed as :func:`diff` gives them, unchanged as
    [{"path", "value"}] (what a page folds away)."""
    a, b = flatten(old or {}), flatten(new or {})
    changed = [{"path": k, "old": a.get(k), "new": b.get(k)} for k in sorted(a.keys() | b.keys())
               if a.get(k) != b.get(k)]
    same = [{"path": k, "value": b[k]} for k in sorted(b) if k in a and a[k] == b[k]]
    return changed, same


def _sf_error(e: dict, outer: dict | None = None) -> dict[str, Any]:
    """One Salesforce error object ({statusCode|errorCode, message, fields}) in a record's context."""
    outer = outer or {}
    fields = e.get("fields") or outer.get("fields") or []
    return {"code": e.get("statusCode") or e.get("errorCode") or outer.get("code"),
            "fields": [str(f) for f in fields] if isinstance(fields, list) else [str(fields)],
            "message": str(e.get("message") or "").strip(), "sobject": outer.get("sobject"),
            "key": outer.get("key"), "dependency": bool(outer.get("dependency"))}


def _json(text: Any) -> Any:
    if not isinstance(text, str) or text.strip()[:1] not in ("[", "{"):
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return None


_ESCAPED_ERROR = re.compile(r'"(?:statusCode|errorCode)": "([A-Z_]+)", "message": "((?:[^"\\]|\\.)*)"'
                            r'(?:, "fields": \[([^\]]*)\])?')


def readable_errors(text: str | None) -> list[dict[str, Any]]:
    """A stored error (``attempts.error``, ``outbox.last_error``) as a person reads it: one entry per Salesforce
    error, {"code", "fields", "message", "sobject", "key", "dependency"}, the record's own errors first.

    The delivery engine stores a JSON list of failed records ({"sobject", "key", "code", "message", "dependency"})
    whose ``message`` is itself Salesforce's JSON error list (or a Composite body); both levels are unpacked. A
    text cut short (the engine keeps 8000 characters) is searched for the error objects it still holds; other
    text is one entry with the text as its message."""
    if not text:
        return []
    doc = _json(text)
    if doc is None:
        flat = text
        while '\\"' in flat:
            flat = flat.replace('\\"', '"')
        found = [{"code": c, "fields": [f.strip().strip('"') for f in (fs or "").split(",") if f.strip()],
                  "message": orjson.loads(f'"{m}"') if "\\" in m else m, "sobject": None, "key": None,
                  "dependency": False, "count": 1} for c, m, fs in _ESCAPED_ERROR.findall(flat)]
        return found or [{"code": None, "fields": [], "message": text.strip(), "sobject": None, "key": None,
                          "dependency": False, "count": 1}]
    items = doc if isinstance(doc, list) else [doc]
    out: list[dict[str, Any]] = []
    for item in items:
        if not isinstance(item, dict):
            out.append({"code": None, "fields": [], "message": str(item), "sobject": None, "key": None,
                        "dependency": False})
        elif "statusCode" in item or "errorCode" in item:
            out.append(_sf_error(item))
        else:
            inner = _json(item.get("message"))
            inner_items = inner if isinstance(inner, list) else [inner] if isinstance(inner, dict) else []
            errs = [i for i in inner_items if isinstance(i, dict) and (i.get("statusCode") or i.get("errorCode")
                                                                       or i.get("message"))]
            out.extend(_sf_error(e, item) for e in errs) if errs else out.append(_sf_error(item, item))
    merged: dict[tuple, dict[str, Any]] = {}  # the same error of several records (order lines): once, counted
    for e in sorted(out, key=lambda e: e["dependency"]):
        k = (e["code"], tuple(e["fields"]), e["message"], e["sobject"], e["dependency"])
        if k in merged:
            merged[k]["count"] += 1
        else:
            merged[k] = {**e, "count": 1}
    return list(merged.values())


def attempt_summary(summary: Any) -> str:
    """What an attempt sent, in words (the request summary without internal counters)."""
    if not isinstance(summary, dict):
        return "" if summary is None else str(summary)
    if "text" in summary and len(summary) == 1:
        return str(summary["text"])
    parts = []
    records = summary.get("records") or {}
    if isinstance(records, dict) and records:
        parts.append(", ".join(f"{n} {sobject}" for sobject, n in records.items()))
    deleted = summary.get("deleted") or {}
    if isinstance(deleted, dict) and deleted:
        parts.append("deleted " + ", ".join(f"{n} {sobject}" for sobject, n in deleted.items()))
    if summary.get("calls"):
        parts.append("via " + ", ".join(map(str, summary["calls"])))
    if summary.get("rebuilt_from"):
        parts.append(f"rebuilt from event {summary['rebuilt_from']}")
    if summary.get("ambiguous"):
        parts.append("Salesforce may have applied it although it failed")
    return " · ".join(parts)


def salesforce_fields(mapping: Mapping | None, store_id: str, resource: str, action: str,
                      payload: Any) -> dict | None:
    """What the agent sends to Salesforce for one event version, per sObject (``mapping``: the store's own,
    :meth:`ServiceBase.store_mapping`, applied the way the agent applies it); ``None`` where it cannot be computed
    (no readable mapping, erased/purged payload, a delete)."""
    if mapping is None or not isinstance(payload, dict) or payload.get("purged") or action == "deleted":
        return None
    try:
        ctx = Ctx(store_id, resource, action, mapping.options)
        return {sobject: mapping.fields(source, sobject, payload, ctx)
                for (source, sobject) in mapping.tables if source == resource and mapping.used(source, sobject)}
    except Exception as exc:  # noqa: BLE001 - a payload the mapping cannot read: the timeline shows the raw diff only
        logger.bind(action="console.mapping_failed").debug(f"{type(exc).__name__}: {exc}")
        return None


CHECKED_LABELS = {"": "changed since the last run", "trash": "in the trash", "ids": "ids swept",
                  "variation": "variations", "referenced": "referenced by orders"}
MISSING_ACTIONS = ("created", "updated", "deleted", "trashed", "restored")


def gap_report(run: dict) -> list[dict[str, Any]]:
    """A reconciler run's ``checked`` / ``missing`` / ``missing_ids`` documents as one row per resource:
    {"resource", "checked": [{"label", "n"}], "checked_total", "missing": {action: n}, "missing_total", "ids"}."""
    def doc(name: str) -> dict:
        v = run.get(name) or {}
        return orjson.loads(v) if isinstance(v, str) else v

    checked, missing, missing_ids = doc("checked"), doc("missing"), doc("missing_ids")
    rows = []
    for resource in RESOURCES:
        c: list[dict[str, Any]] = [
            {"label": "all customers swept" if k == "customer" else
             CHECKED_LABELS.get(k.partition(".")[2], k.partition(".")[2]), "n": int(n)}
            for k, n in sorted(checked.items()) if k.partition(".")[0] == resource]
        m = {a: int(missing.get(f"{resource}.{a}", 0)) for a in MISSING_ACTIONS}
        ids_ = [int(i) for i in missing_ids.get(resource) or []]
        if c or any(m.values()) or ids_:
            rows.append({"resource": resource, "checked": c, "checked_total": sum(x["n"] for x in c), "missing": m,
                         "missing_total": sum(m.values()), "ids": ids_})
    return rows


class OutboxService(ServiceBase):
    # -- outbox browser and timeline ------------------------------------------------------------
    async def _resolve(self, f: OutboxFilter, scope: str | None) -> None:
        """Customer-email search: the entities behind the hash, looked up first (a handful of rows)."""
        if f.email_sha256 is not None and f.entity_keys is None:
            rows = await self.db.fetch("console_entities_by_email", f.email_sha256, scope or f.store_id)
            f.entity_ids = sorted({r["resource_id"] for r in rows})
            f.entity_keys = [f"{r['store_id']}/{r['resource']}/{r['resource_id']}" for r in rows]

    async def outbox_page(self, p: Principal, f: OutboxFilter, *, cursor: str | None = None,
                          limit: int = 50) -> tuple[list[dict], str | None]:
        """One page, newest first, and the cursor of the next page (None at the end). No PII in the rows."""
        scope = self.scope(p, f.store_id)
        limit = max(1, min(limit, 500))
        await self._resolve(f, scope)
        async with self.db.transaction() as tx:
            await self.db.execute("console_custom_plans", conn=tx)
            rows = [dict(r) for r in await self.db.fetch("console_outbox_page", *f.sql_args(scope),
                                                          *decode_cursor(cursor), limit + 1, f.entity_keys, conn=tx)]
        more = len(rows) > limit
        rows = rows[:limit]
        return rows, encode_cursor(rows[-1]) if more else None

    async def entity(self, p: Principal, store_id: str, resource: str, resource_id: int,
                     destination: str = "salesforce", *, limit: int = 100) -> dict:
        """Outbox row, events (with a masked diff against the previous version) and attempts of one entity."""
        self.scope(p, store_id)
        row = await self.db.fetchrow("console_outbox_entity", store_id, destination, resource, resource_id)
        events = [dict(r) for r in await self.db.fetch("console_entity_events", store_id, resource, resource_id, limit)]
        if row is None and not events:
            raise NotFound(f"no {resource} {resource_id} in store {store_id}")
        attempts = [dict(r) for r in await self.db.fetch("console_entity_attempts", store_id, resource, resource_id,
                                                         limit)]
        events.reverse()  # oldest first for the diffs
        mapping = await self.store_mapping(store_id)
        values: set[str] = set()  # the entity's personal values: error texts quote them (STRING_TOO_LONG)
        for e in events:
            pii.pii_values(e["payload"], values)
        prev = prev_sent = None
        for e in events:
            payload = e.pop("payload")
            masked = pii.mask(payload) if isinstance(payload, (dict, list)) else payload
            e["diff"], e["unchanged"] = split_diff(prev, masked) if prev is not None else (None, [])
            e["payload"] = masked
            prev = masked
            sent = salesforce_fields(mapping, store_id, resource, e["action"], payload)
            sent = pii.mask(sent, pii.pii_values(payload)) if sent is not None else None
            e["salesforce"] = sent
            e["salesforce_diff"], e["salesforce_unchanged"] = (
                split_diff(prev_sent, sent) if prev_sent is not None and sent is not None else (None, []))
            prev_sent = sent if sent is not None else prev_sent
        sent_by_event = {e["id"]: e["salesforce"] for e in events}
        events.reverse()
        attempts.reverse()
        prev = None
        for a in attempts:
            a["error"] = pii.mask_text(a["error"], values)
            a["errors"] = readable_errors(a["error"])
            summary = a["request_summary"] or {}
            if isinstance(summary, str):  # a JSON string stored as jsonb
                summary = orjson.loads(summary) if summary[:1] in "{[" else {"text": summary}
            summary = pii.mask(summary)
            a["request_summary"] = summary
            a["summary_text"] = attempt_summary(summary)
            # what was sent: the Salesforce fields of the attempted version, against the previous attempt's
            sent = sent_by_event.get(a["event_id"])
            a["sent"] = sent
            a["sent_diff"], a["sent_unchanged"] = (split_diff(prev, sent) if prev is not None and sent is not None
                                                   else (None, []))
            prev = sent if sent is not None else prev
        attempts.reverse()
        # two-way sync (migration 0005): fields both sides changed; the newer change won, the loser is shown
        conflicts = [dict(r) for r in await self.db.fetch("twoway_entity_conflicts", store_id, resource, resource_id,
                                                          limit)]
        for c in conflicts:
            if pii.is_pii_key(c["field"]):
                c["winner_value"] = c["loser_value"] = pii.MASKED
        timeline = sorted([{"kind": "event", "at": e["received_at"], **e} for e in events] +
                          [{"kind": "attempt", "at": a["started_at"], **a} for a in attempts] +
                          [{"kind": "conflict", "at": c["detected_at"], **c} for c in conflicts],
                          key=lambda x: x["at"], reverse=True)
        outbox = dict(row) if row else None
        if outbox:
            outbox["version_in_future"] = version_in_future(outbox["head_version"])
            outbox["last_error"] = pii.mask_text(outbox["last_error"], values)
            outbox["errors"] = readable_errors(outbox["last_error"])
        return {"outbox": outbox, "events": events, "attempts": attempts, "conflicts": conflicts,
                "timeline": timeline}

    async def reconcile_run(self, p: Principal, run_id: str) -> dict:
        """One reconciler run (a gap report) with its per-resource table (:func:`gap_report`)."""
        row = await self.db.fetchrow("console_reconcile_run", run_id, p.store_id)
        if row is None:
            raise NotFound(f"no reconciler run {run_id}")
        run = dict(row)
        run["table"] = gap_report(run)
        return run

    async def waiting_since(self, p: Principal, store_id: str | None = None) -> datetime | None:
        """When the oldest change not yet in Salesforce arrived (None: nothing waits)."""
        since: datetime | None = await self.db.fetchval("console_waiting_since", self.scope(p, store_id), store_id)
        return since

    # -- writes: replay, sync, resync ----------------------------------------------------------
    async def replay_entity(self, p: Principal, store_id: str, resource: str, resource_id: int,
                            destination: str = "salesforce", ip: str | None = None) -> dict:
        """Back to pending with attempts reset (dead/retrying/delivered); pending and leased rows are untouched."""
        self.require(p, "operator")
        self.scope(p, store_id)
        target = f"{store_id}/{destination}/{resource}/{resource_id}"
        async with self.db.transaction() as tx:
            row = await self.db.fetchrow("console_replay_entity", store_id, destination, resource, resource_id,
                                         conn=tx)
            result = {"replayed": 1 if row else 0}
            await self.audit(p, "outbox.replay", store_id=store_id, target=target, result=result, ip=ip, conn=tx)
        return result

    async def unfreeze_entity(self, p: Principal, store_id: str, resource: str, resource_id: int,
                              destination: str = "salesforce", *, tolerance_s: float = FUTURE_TOLERANCE_S,
                              ip: str | None = None) -> dict:
        """Clear an entity frozen by a version in the future (stored before such versions were refused): its outbox
        head's version goes back to the newest of its events that is not in the future (the epoch when there is
        none), so the next real update, or the reconciler's next look at the record, outranks it. The head event
        itself stays. Audited; ``unfrozen`` is 0 when the head's version was not in the future."""
        self.require(p, "operator")
        self.scope(p, store_id)
        target = f"{store_id}/{destination}/{resource}/{resource_id}"
        limit = datetime.now(UTC) + timedelta(seconds=tolerance_s)
        async with self.db.transaction() as tx:
            row = await self.db.fetchrow("console_unfreeze_entity", store_id, destination, resource, resource_id,
                                         limit, conn=tx)
            result: dict[str, Any] = {"unfrozen": 0}
            if row is not None:
                result = {"unfrozen": 1, "was": row["was"].isoformat(), "head_version": row["head_version"].isoformat()}
            await self.audit(p, "outbox.unfreeze", store_id=store_id, target=target, result=result, ip=ip, conn=tx)
        logger.bind(action="console.outbox_unfrozen", store_id=store_id, resource=resource, resource_id=resource_id,
                    unfrozen=result["unfrozen"]).info("entity unfrozen" if row else "entity was not frozen")
        return result

    async def sync_entity(self, p: Principal, store_id: str, resource: str, resource_id: int,
                          destination: str = "salesforce", ip: str | None = None) -> dict:
        """Send one entity now (due immediately)."""
        self.require(p, "operator")
        self.scope(p, store_id)
        target = f"{store_id}/{destination}/{resource}/{resource_id}"
        async with self.db.transaction() as tx:
            row = await self.db.fetchrow("console_sync_entity", store_id, destination, resource, resource_id, conn=tx)
            result = {"status": row["status"] if row else None, "queued": row is not None}
            await self.audit(p, "outbox.sync", store_id=store_id, target=target, result=result, ip=ip, conn=tx)
        return result

    async def replay_count(self, p: Principal, f: OutboxFilter) -> int:
        """How many rows a bulk replay of this filter would move back to pending (shown for confirmation)."""
        scope = self.scope(p, f.store_id)
        await self._resolve(f, scope)
        async with self.db.transaction() as tx:
            await self.db.execute("console_custom_plans", conn=tx)
            count: int = await self.db.fetchval("console_replayable_count", *f.sql_args(scope), f.entity_keys,
                                                conn=tx)
            return count

    async def start_replay(self, p: Principal, f: OutboxFilter, ip: str | None = None) -> dict:
        """Record a bulk replay (audited) and return it; run it with :meth:`run_replay`."""
        self.require(p, "operator")
        self.scope(p, f.store_id)
        total = await self.replay_count(p, f)
        replay_id = "rpl_" + ids.new_id("job")[4:]
        async with self.db.transaction() as tx:
            row = await self.db.fetchrow("console_insert_replay", replay_id, p.actor, f.describe(), total, conn=tx)
            assert row is not None  # INSERT ... RETURNING
            await self.audit(p, "outbox.replay_bulk", store_id=f.store_id, target=replay_id, params=f.describe(),
                             result={"total": total}, ip=ip, conn=tx)
        return {"id": replay_id, "total": total, "started_at": row["started_at"], "status": "running"}

    async def run_replay(self, p: Principal, replay_id: str, f: OutboxFilter, started_at: datetime) -> int:
        """Replay in batches (one transaction each), updating progress; returns the rows replayed."""
        t0 = time.perf_counter()
        scope = self.scope(p, f.store_id)
        await self._resolve(f, scope)
        done = 0
        try:
            while True:
                async with self.db.transaction() as tx:
                    await self.db.execute("console_custom_plans", conn=tx)
                    rows = await self.db.fetch("console_replay_batch", *f.sql_args(scope), started_at,
                                               self.replay_batch, f.entity_keys, conn=tx)
                    await self.db.execute("console_replay_progress", replay_id, len(rows), conn=tx)
                done += len(rows)
                if len(rows) < self.replay_batch:
                    break
                await asyncio.sleep(0)
        except Exception as exc:
            await self.db.execute("console_finish_replay", replay_id, "failed", str(exc)[:500])
            logger.bind(action="console.replay_failed", replay_id=replay_id).exception("bulk replay failed")
            raise
        await self.db.execute("console_finish_replay", replay_id, "done", None)
        logger.bind(action="console.replayed", replay_id=replay_id, rows=done,
                    duration_ms=round((time.perf_counter() - t0) * 1000, 1)).info("bulk replay done")
        return done

    async def get_replay(self, p: Principal, replay_id: str) -> dict:
        row = await self.db.fetchrow("console_get_replay", replay_id)
        if row is None:
            raise NotFound(f"no replay {replay_id}")
        r = dict(row)
        if p.store_id and r["filter"].get("store") != p.store_id:
            raise NotFound(f"no replay {replay_id}")
        return r

    async def resync_store(self, p: Principal, store_id: str, since: datetime | None,
                           resources: list[str] | None = None, ip: str | None = None) -> dict:
        """Request a backfill of ``store_id`` since a date (a ``jobs`` row the agent runs)."""
        self.require(p, "operator")
        self.scope(p, store_id)
        resources = resources or ["orders", "products", "customers"]
        bad = [r for r in resources if r not in ("orders", "products", "customers")]
        if bad:
            raise InvalidInput(f"unknown resources {bad}; use orders, products, customers")
        if not await self.db.fetch("console_store_names", store_id):
            raise NotFound(f"unknown store {store_id}")
        params = {"since": since.isoformat() if since else None, "resources": resources}
        async with self.db.transaction() as tx:
            row = await self.db.fetchrow("insert_job", ids.new_id("job"), store_id, "backfill", params,
                                         f"operator:{p.actor}", conn=tx)
            assert row is not None  # INSERT ... RETURNING
            await self.audit(p, "store.resync", store_id=store_id, target=row["id"], params=params, ip=ip, conn=tx)
        return {"job_id": row["id"], "status": row["status"]}
