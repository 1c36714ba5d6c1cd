"""The outbox manager: writes events and points each entity's outbox row at its newest version; and the rows the
agent's loops (delivery to Salesforce, the WooCommerce writer) claim from it and complete, typed.

Claimed rows are :class:`ClaimedRow`; what one try decided for a row is a :class:`Completion`, which
``insert_attempts`` and ``complete_outbox`` take as one JSON array of named fields (decoded in SQL with
``json_to_recordset``), never as parallel positional arrays whose order could silently swap values.
"""
from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
import orjson

from shared import ids
from shared.db import Database
from shared.models import NewEvent, Outcome, payload_dict
from shared.settings import Settings


@dataclass(frozen=True, slots=True)
class IngestResult:
    event_id: str
    new: bool


def _batch_params(events: list[NewEvent]) -> tuple[str, list[str]]:
    """``ingest_events``'s $1 and $2: the small columns as one JSON array, the payloads as they are (not
    re-serialised). Cheaper to encode than a dozen parameter arrays (asyncpg checks every array element)."""
    small = orjson.dumps([
        {"id": e.id, "store_id": e.store_id, "source": e.source, "sender_id": e.sender_id, "dedup_key": e.dedup_key,
         "resource": e.resource, "action": e.action, "resource_id": e.resource_id, "occurred_at": e.occurred_at,
         "version": e.version, "email": e.email_sha256.hex() if e.email_sha256 else None}
        for e in events
    ], option=orjson.OPT_NAIVE_UTC).decode()
    return small, [e.payload_json for e in events]


class OutboxManager:
    def __init__(self, db: Database):
        self.db = db

    async def ingest(self, events: list[NewEvent], *, destination: str = "salesforce",
                     conn: asyncpg.Connection | None = None) -> list[IngestResult]:
        """Store ``events`` atomically (one statement; inside the caller's transaction when ``conn`` is one);
        duplicates (same store + dedup key) are not stored again. Each entity's outbox row for ``destination``
        points at its newest event. Returns once the statement is committed (or, with ``conn``, executed)."""
        if not events:
            return []
        rows = await self.db.fetch("ingest_events", *_batch_params(events), destination, conn=conn)
        found = {r["id"]: r for r in rows}
        late = [e for e in events if found[e.id]["event_id"] is None]
        existing: dict[tuple[str, str], str] = {}
        if late:  # stored by a concurrent batch that committed after our statement's snapshot
            rows = await self.db.fetch("find_events_by_dedup", [e.store_id for e in late],
                                       [e.dedup_key for e in late], conn=conn)
            existing = {(r["store_id"], r["dedup_key"]): r["id"] for r in rows}
        out = []
        for e in events:
            r = found[e.id]
            if r["new"]:
                out.append(IngestResult(e.id, True))
            else:
                out.append(IngestResult(r["event_id"] or existing[(e.store_id, e.dedup_key)], False))
        return out


# ---- claiming and completing ---------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class ClaimedRow:
    """One outbox row leased by ``claim_outbox``, with its head event's action and payload."""

    store_id: str
    resource: str
    resource_id: int
    event_id: str  # the head event
    version: datetime  # the head's WooCommerce version
    seq: int  # the head's arrival order
    attempts: int
    action: str
    payload: dict[str, Any]
    sf_id: str | None = None

    @classmethod
    def from_record(cls, r: Mapping[str, Any]) -> ClaimedRow:
        return cls(store_id=r["store_id"], resource=r["resource"], resource_id=r["resource_id"],
                   event_id=r["head_event_id"], version=r["head_version"], seq=r["head_seq"], attempts=r["attempts"],
                   action=r["action"], payload=payload_dict(r["payload"]), sf_id=r["sf_id"])


async def claim(db: Database, destination: str, owner: str, limit: int, lease_s: float,
                hold: Sequence[str] = ()) -> list[ClaimedRow]:
    """Lease up to ``limit`` due rows of ``destination`` for ``owner`` (one statement, ``SKIP LOCKED``), none of the
    stores in ``hold`` (their flush window is still open)."""
    rows = await db.fetch("claim_outbox", owner, limit, float(lease_s), destination, list(hold))
    return [ClaimedRow.from_record(r) for r in rows]


@dataclass(frozen=True, slots=True, kw_only=True)
class Completion:
    """What one try decided for one claimed row: an attempt row (unless paused) and the row's new state."""

    store_id: str
    resource: str
    resource_id: int
    event_id: str
    seq: int
    version: datetime
    outcome: Outcome
    attempts: int = 0  # the row's attempt count after this try
    delay_s: float = 0.0  # due again after this long
    code: str | None = None
    error: str | None = None
    sf_id: str | None = None
    status: int | None = None  # HTTP status of the destination's answer
    summary: dict[str, Any] = field(default_factory=dict)  # attempts.request_summary
    duration_ms: int = 0  # this row's own request; 0: the batch's duration is recorded
    waiting_for: str | None = None  # retrying: waits for this record (Wooforce key) that failed permanently


def next_try(settings: Settings, outcome: Outcome, attempts: int, *, count: bool = True,
             retry_after_s: float | None = None) -> tuple[Outcome, int, float]:
    """(outcome, attempts, delay_s) after a try: a retry counts an attempt (unless ``count`` is false: not the row's
    fault) and waits on the retry schedule with jitter (at least ``retry_after_s``), and is dead-lettered at
    ``agent_max_attempts``; a dead letter counts its attempt; delivered and skipped rows start again from 0. A pause
    keeps the count; its delay is the caller's."""
    s = settings
    if outcome is Outcome.RETRYING:
        if count:
            attempts += 1
        if attempts >= s.agent_max_attempts:
            return Outcome.DEAD, attempts, 0.0
        sched = s.agent_retry_schedule_s
        base = sched[min(max(attempts - 1, 0), len(sched) - 1)]
        return outcome, attempts, max(base * (1 + s.agent_retry_jitter * (2 * random.random() - 1)), retry_after_s or 0)
    if outcome is Outcome.DEAD:
        return outcome, attempts + 1, 0.0
    if outcome is Outcome.PAUSED:
        return outcome, attempts, 0.0
    return outcome, 0, 0.0


def attempts_json(results: Sequence[Completion], duration_ms: int) -> str:
    """``insert_attempts``'s rows: one JSON object per try, by column name (new attempt ids)."""
    return orjson.dumps([
        {"id": ids.new_id("attempt"), "store_id": r.store_id, "resource": r.resource, "resource_id": r.resource_id,
         "event_id": r.event_id, "duration_ms": r.duration_ms or duration_ms, "outcome": r.outcome,
         "status_code": r.status, "error_code": r.code, "error": r.error, "sf_id": r.sf_id,
         "request_summary": r.summary}
        for r in results
    ]).decode()


def completions_json(results: Sequence[Completion]) -> list[str]:
    """``complete_outbox``'s rows: one JSON object per claimed row, by column name (a text array: see the query)."""
    return [orjson.dumps(
        {"store_id": r.store_id, "resource": r.resource, "resource_id": r.resource_id,
         "outcome": r.outcome.completes_as, "seq": r.seq, "event_id": r.event_id, "version": r.version,
         "attempts": r.attempts, "delay_s": float(r.delay_s), "sf_id": r.sf_id, "error_code": r.code,
         "error": r.error, "waiting_for": r.waiting_for}).decode()
        for r in results]


async def insert_attempts(db: Database, results: Sequence[Completion], *, started: datetime, duration_ms: int,
                          destination: str, conn: asyncpg.Connection | None = None) -> None:
    """One attempt row per try in ``results`` (pauses are not tries)."""
    tried = [r for r in results if r.outcome.recorded]
    if tried:
        await db.execute("insert_attempts", attempts_json(tried, duration_ms), started, destination, conn=conn)


async def complete(db: Database, owner: str, results: Sequence[Completion], *, destination: str,
                   conn: asyncpg.Connection | None = None) -> list[asyncpg.Record]:
    """Apply each row's outcome to ``owner``'s leased rows (``complete_outbox``); rows whose lease was lost are left."""
    if not results:
        return []
    return await db.fetch("complete_outbox", owner, completions_json(results), destination, conn=conn)


async def release(db: Database, owner: str) -> int:
    """Hand ``owner``'s leased rows back without counting an attempt (clean shutdown); how many."""
    result = await db.execute("release_leases", owner)
    return int(result.split()[-1])
