"""The console manager: operators, sessions, API tokens, the outbox browser, timeline, replay, resync, GDPR
erasure, dashboard and audit log. The console pages, the admin API and the CLI all call these functions.

Authorization lives here too: every function takes the acting :class:`Principal` and checks role and store
scope itself, so no caller can forget to.
"""
from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from loguru import logger

from shared import ids, pii
from shared.db import Database
from shared.errors import DatabaseError, NotFound, PermanentError
from shared.models import RESOURCES

ROLES = {"viewer": 1, "operator": 2, "admin": 3}
STATUSES = ("pending", "leased", "delivered", "retrying", "dead")
DESTINATIONS = ("salesforce", "woocommerce")
TOKEN_PREFIX = "wf_"
LAG_SAMPLE = 5000  # lag percentiles over the newest deliveries of the window (bounded cost on any table size)
_hasher = PasswordHasher()  # argon2id, RFC 9106 low-memory profile (64 MiB, t=3)
# verified against when the email is unknown, so a wrong email costs as long as a wrong password
_DUMMY_HASH = _hasher.hash("not a password")


class Forbidden(PermanentError):
    """The signed-in operator may not do this."""
    code = "forbidden"


class InvalidInput(PermanentError):
    code = "invalid_input"


class AuthFailed(PermanentError):
    """Wrong email or password."""
    code = "auth_failed"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is acting: an operator via a console session, an API token, or the local CLI."""

    operator_id: str | None
    email: str
    role: str
    store_id: str | None = None      # limited to this store (a store's own staff)
    via: str = "session"             # session | token | cli
    csrf_token: str | None = None
    token_id: str | None = None

    @property
    def actor(self) -> str:
        return f"token:{self.token_id}({self.email})" if self.via == "token" else self.email

    def can(self, role: str) -> bool:
        return ROLES[self.role] >= ROLES[role]


CLI = Principal(None, "cli", "admin", via="cli")


def _sha256(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def hash_password(password: str) -> str:
    if len(password) < 10:
        raise InvalidInput("a password needs at least 10 characters")
    return _hasher.hash(password)


def _now() -> datetime:
    return datetime.now(timezone.utc)


# -- filters and cursors -----------------------------------------------------------------------

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
    def parse(cls, params: Any) -> "OutboxFilter":
        """From query/form parameters (``store``, ``resource``, ``status``, ``error_code``, ``since``, ``until``, ``q``)."""
        get = lambda k: (params.get(k) or "").strip() or None  # noqa: E731
        f = cls(destination=get("destination") or "salesforce", store_id=get("store") or get("store_id"),
                resource=get("resource"), status=get("status"), error_code=get("error_code"),
                since=_parse_time(get("since"), "since"), until=_parse_time(get("until"), "until"), q=get("q"))
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


def _parse_time(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"{name} must be an ISO date or time, e.g. 2026-11-22 or 2026-11-22T15:00:00Z") from None
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


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


_MAPPING: list = []


def salesforce_fields(store_id: str, resource: str, action: str, payload: Any) -> dict | None:
    """What the agent sends to Salesforce for one event version, per sObject (the default mapping, applied the
    way the agent applies it); ``None`` where it cannot be computed (no agent installed, erased/purged payload)."""
    if not isinstance(payload, dict) or payload.get("purged") or action == "deleted":
        return None
    try:
        from agent.mapping import Ctx, load_mapping

        if not _MAPPING:
            _MAPPING.append(load_mapping())
        m = _MAPPING[0]
        ctx = Ctx(store_id, resource, action, m.options)
        return {sobject: m.fields(source, sobject, payload, ctx) for (source, sobject) in m.tables if source == resource}
    except Exception as exc:  # a payload the mapping cannot read: the timeline shows the raw diff only
        logger.bind(action="console.mapping_failed").debug(f"{type(exc).__name__}: {exc}")
        return None


# -- the manager ------------------------------------------------------------------------------

class ConsoleManager:
    def __init__(self, db: Database, *, session_ttl_s: int = 8 * 3600, replay_batch: int = 500):
        self.db = db
        self.session_ttl_s = session_ttl_s
        self.replay_batch = replay_batch

    # authorization helpers
    @staticmethod
    def require(p: Principal, role: str) -> None:
        if not p.can(role):
            raise Forbidden(f"this needs the {role} role (you are {p.role})")

    @staticmethod
    def scope(p: Principal, store_id: str | None = None) -> str | None:
        """The store a principal is limited to; refuses a request for another store."""
        if p.store_id and store_id and store_id != p.store_id:
            raise Forbidden("you can only see your own store")
        return p.store_id

    async def audit(self, p: Principal, action: str, *, store_id: str | None = None, target: str | None = None,
                    params: dict | None = None, result: dict | None = None, ip: str | None = None,
                    conn=None) -> None:
        await self.db.execute("console_insert_audit", p.actor, p.operator_id, action, store_id, target,
                              params or {}, result or {}, ip, conn=conn)

    # -- operators, sessions, tokens ------------------------------------------------------------
    async def add_operator(self, p: Principal, email: str, password: str, role: str, store_id: str | None = None,
                           ip: str | None = None) -> dict:
        self.require(p, "admin")
        self.scope(p, store_id)
        if role not in ROLES:
            raise InvalidInput(f"role must be one of {', '.join(ROLES)}")
        email = email.strip().lower()
        if "@" not in email:
            raise InvalidInput("email must be an email address")
        if store_id and not await self.db.fetch("console_store_names", store_id):
            raise NotFound(f"unknown store {store_id}")
        pw_hash = await asyncio.to_thread(hash_password, password)
        async with self.db.transaction() as tx:
            if await self.db.fetchrow("console_operator_by_email", email, conn=tx):
                raise InvalidInput(f"an operator {email} exists already")
            row = await self.db.fetchrow("console_insert_operator", ids.new_id("operator"), email, pw_hash, role,
                                         store_id or p.store_id, conn=tx)
            await self.audit(p, "operator.add", store_id=store_id, target=email, params={"role": role}, ip=ip, conn=tx)
        return dict(row)

    async def list_operators(self, p: Principal) -> list[dict]:
        self.require(p, "admin")
        rows = [dict(r) for r in await self.db.fetch("console_list_operators")]
        return [r for r in rows if not p.store_id or r["store_id"] == p.store_id]

    async def authenticate(self, email: str, password: str) -> Principal:
        row = await self.db.fetchrow("console_operator_by_email", email.strip().lower())
        ok = False
        try:
            ok = await asyncio.to_thread(_hasher.verify, row["password_hash"] if row else _DUMMY_HASH, password)
        except (VerificationError, InvalidHashError):
            ok = False
        if not ok or row is None or row["disabled"]:
            raise AuthFailed("wrong email or password")
        if _hasher.check_needs_rehash(row["password_hash"]):
            await self.db.execute("console_update_operator_password", row["id"],
                                  await asyncio.to_thread(_hasher.hash, password))
        await self.db.execute("console_operator_login", row["id"])
        return Principal(row["id"], row["email"], row["role"], row["store_id"])

    async def create_session(self, p: Principal, ip: str | None) -> tuple[str, str]:
        """A new session for a signed-in operator: (cookie token, CSRF token). Only the token's hash is stored."""
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        await self.db.execute("console_insert_session", _sha256(token), p.operator_id, csrf, ip,
                              float(self.session_ttl_s))
        await self.db.execute("console_purge_sessions")
        return token, csrf

    async def session(self, token: str | None) -> Principal | None:
        if not token or len(token) > 200:
            return None
        row = await self.db.fetchrow("console_get_session", _sha256(token))
        if row is None:
            return None
        return Principal(row["id"], row["email"], row["role"], row["store_id"], csrf_token=row["csrf_token"])

    async def end_session(self, token: str | None) -> None:
        if token:
            await self.db.execute("console_delete_session", _sha256(token))

    async def create_token(self, p: Principal, email: str, name: str, expires_days: int | None = None,
                           ip: str | None = None) -> tuple[str, dict]:
        """An API token acting as operator ``email``: (token shown once, row)."""
        self.require(p, "admin")
        op = await self.db.fetchrow("console_operator_by_email", email.strip().lower())
        if op is None:
            raise NotFound(f"no operator {email}")
        self.scope(p, op["store_id"])
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        expires = _now() + timedelta(days=expires_days) if expires_days else None
        async with self.db.transaction() as tx:
            row = await self.db.fetchrow("console_insert_token", ids.new_id("token"), _sha256(token), op["id"], name,
                                         expires, conn=tx)
            await self.audit(p, "token.create", store_id=op["store_id"], target=row["id"],
                             params={"operator": op["email"], "name": name}, ip=ip, conn=tx)
        return token, dict(row)

    async def token_principal(self, token: str) -> Principal | None:
        if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
            return None
        row = await self.db.fetchrow("console_get_token", _sha256(token))
        if row is None:
            return None
        await self.db.execute("console_touch_token", row["token_id"])
        return Principal(row["id"], row["email"], row["role"], row["store_id"], via="token", token_id=row["token_id"])

    async def list_tokens(self, p: Principal) -> list[dict]:
        self.require(p, "admin")
        return [dict(r) for r in await self.db.fetch("console_list_tokens")]

    async def revoke_token(self, p: Principal, token_id: str, ip: str | None = None) -> None:
        self.require(p, "admin")
        async with self.db.transaction() as tx:
            if await self.db.fetchrow("console_revoke_token", token_id, conn=tx) is None:
                raise NotFound(f"no active token {token_id}")
            await self.audit(p, "token.revoke", target=token_id, ip=ip, conn=tx)

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
        prev = prev_sent = None
        for e in events:
            payload = e.pop("payload")
            masked = pii.mask(payload) if isinstance(payload, (dict, list)) else payload
            e["diff"] = diff(prev, masked) if prev is not None else None
            e["payload"] = masked
            prev = masked
            sent = salesforce_fields(store_id, resource, e["action"], payload)
            sent = pii.mask(sent, pii.pii_values(payload)) if sent is not None else None
            e["salesforce"] = sent
            e["salesforce_diff"] = diff(prev_sent, sent) if prev_sent is not None and sent is not None else None
            prev_sent = sent if sent is not None else prev_sent
        events.reverse()
        attempts.reverse()
        prev = None
        for a in attempts:
            a["error"] = pii.mask_text(a["error"])
            summary = a["request_summary"] or {}
            if isinstance(summary, str):  # a JSON string stored as jsonb
                summary = orjson.loads(summary) if summary[:1] in "{[" else {"text": summary}
            summary = pii.mask(summary)
            a["request_summary"] = summary
            a["diff"] = diff(prev, summary) if prev is not None else None
            prev = summary
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
            outbox["last_error"] = pii.mask_text(outbox["last_error"])
        return {"outbox": outbox, "events": events, "attempts": attempts, "conflicts": conflicts,
                "timeline": timeline}

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
            return await self.db.fetchval("console_replayable_count", *f.sql_args(scope), f.entity_keys, conn=tx)

    async def start_replay(self, p: Principal, f: OutboxFilter, ip: str | None = None) -> dict:
        """Record a bulk replay (audited) and return it; run it with :meth:`run_replay`."""
        self.require(p, "operator")
        self.scope(p, f.store_id)
        total = await self.replay_count(p, f)
        replay_id = "rpl_" + ids.new_id("job")[4:]
        async with self.db.transaction() as tx:
            row = await self.db.fetchrow("console_insert_replay", replay_id, p.actor, f.describe(), total, conn=tx)
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
            await self.audit(p, "store.resync", store_id=store_id, target=row["id"], params=params, ip=ip, conn=tx)
        return {"job_id": row["id"], "status": row["status"]}

    # -- GDPR --------------------------------------------------------------------------------
    async def erase_customer(self, p: Principal, email: str, *, store_id: str | None = None,
                             salesforce: bool = False, ip: str | None = None,
                             salesforce_eraser: Any = None) -> dict:
        """Overwrite one customer's personal data in stored events, attempts and outbox errors (audited).

        Entities are found by the hashed email (orders billed to it, the customer record). With ``salesforce``
        and a ``salesforce_eraser`` (``agent.erase``: ``async (entities, email) -> report``), the records
        Wooforce wrote to Salesforce for them are blanked too, after the local erasure (which never waits on
        Salesforce); without an eraser the result says ``salesforce: "not_done"``. The audit entry records both.
        """
        self.require(p, "admin")
        scope = self.scope(p, store_id) or store_id
        h = pii.email_sha256(email)
        t0 = time.perf_counter()
        async with self.db.transaction() as tx:
            ents = await self.db.fetch("console_entities_by_email", h, scope, conn=tx)
            cols = ([e["store_id"] for e in ents], [e["resource"] for e in ents], [e["resource_id"] for e in ents])
            events = await self.db.fetch("console_events_for_erase", *cols, conn=tx)
            values = {email.strip()}
            sf_entities = {(e["store_id"], e["resource"], e["resource_id"]) for e in ents}
            for e in events:
                pii.pii_values(e["payload"], values)
                cid = e["payload"].get("customer_id") if isinstance(e["payload"], dict) else None
                if isinstance(cid, int) and cid > 0:  # a registered buyer: its customer record in Salesforce
                    sf_entities.add((e["store_id"], "customer", cid))
            ev_ids, ev_payloads = [], []
            for e in events:
                ev_ids.append(e["id"])
                ev_payloads.append(orjson.dumps(pii.erase(e["payload"], values)).decode())
            if ev_ids:
                await self.db.execute("console_erase_events", ev_ids, ev_payloads, conn=tx)
            attempts = await self.db.fetch("console_attempts_for_erase", *cols, conn=tx)
            if attempts:
                await self.db.execute(
                    "console_erase_attempts", [a["id"] for a in attempts],
                    [orjson.dumps(pii.erase(a["request_summary"] or {}, values)).decode() for a in attempts],
                    [pii.ERASED if a["error"] else None for a in attempts], conn=tx)
            await self.db.execute("console_erase_outbox_errors", *cols, conn=tx)
            await self.db.execute("console_delete_entity_emails", h, scope, conn=tx)
            result = {"entities": len(ents), "events": len(ev_ids), "attempts": len(attempts),
                      "salesforce": "not_done" if salesforce else "not_requested",
                      "entity_keys": [f"{e['store_id']}/{e['resource']}/{e['resource_id']}" for e in ents][:100]}
            if salesforce and salesforce_eraser:
                result["salesforce"] = "requested"
            await self.audit(p, "gdpr.erase", store_id=scope, target="email:" + h.hex()[:12],
                             params={"salesforce": salesforce}, result=result, ip=ip, conn=tx)
        if salesforce and salesforce_eraser:  # after the local erasure is committed (and audited)
            try:
                report = await salesforce_eraser(sorted(sf_entities), email)
                result["salesforce"] = "done" if not report["failed"] else "partial"
                result["salesforce_report"] = report
            except Exception as exc:  # the local erasure stands; Salesforce is reported as failed
                logger.bind(action="console.erase_salesforce_failed").warning(f"{type(exc).__name__}")
                result["salesforce"] = "failed"
                result["salesforce_report"] = {"error": f"{type(exc).__name__}: {str(exc)[:200]}"}
            await self.audit(p, "gdpr.erase_salesforce", store_id=scope, target="email:" + h.hex()[:12],
                             result={"salesforce": result["salesforce"], **result.get("salesforce_report", {})},
                             ip=ip)
        logger.bind(action="console.erased", entities=len(ents), events=len(ev_ids),
                    duration_ms=round((time.perf_counter() - t0) * 1000, 1)).info("customer data erased")
        return result

    # -- dashboard, audit ----------------------------------------------------------------------
    async def _optional(self, table: str, name: str, *args) -> list[dict] | None:
        """Rows of a query over a colleague's table; None when that table does not exist (yet)."""
        if not await self.db.fetchval("console_table_exists", table):
            return None
        try:
            return [dict(r) for r in await self.db.fetch(name, *args)]
        except DatabaseError as exc:  # a column renamed under us: show "not available", keep the page up
            logger.bind(action="console.optional_failed", table=table).warning(str(exc))
            return None

    async def dashboard(self, p: Principal, store_id: str | None = None, *, hours: int = 24) -> dict:
        scope = self.scope(p, store_id)
        stores = [dict(r) for r in await self.db.fetch("console_dash_stores", scope, store_id)]
        counts: dict[str, dict[str, int]] = {}
        for r in await self.db.fetch("console_dash_counts", scope, store_id):
            counts.setdefault(r["store_id"], {})[r["status"]] = r["n"]
        for r in await self.db.fetch("console_dash_delivered", scope, store_id, hours):  # "delivered" = in the window
            counts.setdefault(r["store_id"], {})["delivered"] = r["n"]
        total = {s: sum(c.get(s, 0) for c in counts.values()) for s in STATUSES}
        for s in stores:
            c = counts.get(s["id"], {})
            s["counts"] = {k: c.get(k, 0) for k in STATUSES}
            s["backlog"] = c.get("pending", 0) + c.get("leased", 0) + c.get("retrying", 0)
        lag = await self.db.fetchrow("console_dash_lag", scope, store_id, hours, LAG_SAMPLE)
        pct = lag["p"] or [None] * 4
        outcomes = [dict(r) for r in await self.db.fetch("console_dash_outcomes", scope, store_id, hours)]
        return {
            "stores": stores,
            "totals": total,
            "backlog": total["pending"] + total["leased"] + total["retrying"],
            "lag": {"sample": lag["n"], "p50_s": pct[0], "p90_s": pct[1], "p95_s": pct[2], "p99_s": pct[3],
                    "window_h": hours, "delivered": total["delivered"]},
            "outcomes": outcomes,
            "budget": await self._optional("sf_budget", "console_dash_budget", scope, store_id),
            "reconcile_runs": await self._optional("reconcile_runs", "console_dash_reconcile", scope, store_id, 10),
        }

    async def audit_entries(self, p: Principal, *, action: str | None = None, before_id: int | None = None,
                            limit: int = 100) -> list[dict]:
        self.require(p, "admin")
        return [dict(r) for r in await self.db.fetch("console_list_audit", p.store_id, action, before_id,
                                                       max(1, min(limit, 1000)))]

    async def store_names(self, p: Principal) -> list[dict]:
        return [dict(r) for r in await self.db.fetch("console_store_names", p.store_id)]


def csrf_ok(expected: str | None, given: str | None) -> bool:
    return bool(expected and given) and hmac.compare_digest(expected.encode(), given.encode())
