"""The outbox manager: writes events and points each entity's outbox row at its newest version."""
from __future__ import annotations

from dataclasses import dataclass

import asyncpg
import orjson

from shared.db import Database
from shared.models import NewEvent


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
