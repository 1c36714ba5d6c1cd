"""The outbox manager: writes events and points each entity's outbox row at its newest version."""
from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from shared.db import Database
from shared.models import NewEvent


@dataclass(frozen=True, slots=True)
class IngestResult:
    event_id: str
    new: bool


class OutboxManager:
    def __init__(self, db: Database):
        self.db = db

    async def ingest(self, events: list[NewEvent], *, destination: str = "salesforce",
                     conn: asyncpg.Connection | None = None) -> list[IngestResult]:
        """Store ``events`` in one transaction; duplicates (same store + dedup key) are not stored again.
        Each entity's outbox row for ``destination`` points at its newest event."""
        if conn is None:
            async with self.db.transaction() as tx:
                return await self._ingest(tx, events, destination)
        return await self._ingest(conn, events, destination)

    async def _ingest(self, conn: asyncpg.Connection, events: list[NewEvent], destination: str) -> list[IngestResult]:
        if not events:
            return []
        cols = list(zip(*(
            (e.id, e.store_id, e.source, e.sender_id, e.dedup_key, e.resource, e.action, e.resource_id,
             e.occurred_at, e.version, e.payload_json) for e in events
        )))
        inserted = {r["id"] for r in await self.db.fetch("ingest_events", *cols, destination, conn=conn)}
        emails = sorted({(e.email_sha256, e.store_id, e.resource, e.resource_id)
                         for e in events if e.email_sha256 and e.id in inserted})
        if emails:  # customer-email lookup for the console: only the hash is stored
            h, s, r, i = zip(*emails)
            await self.db.execute("insert_entity_emails", list(s), list(h), list(r), list(i), conn=conn)
        existing: dict[tuple[str, str], str] = {}
        if len(inserted) < len(events):
            missing = [e for e in events if e.id not in inserted]
            rows = await self.db.fetch("find_events_by_dedup", [e.store_id for e in missing],
                                       [e.dedup_key for e in missing], conn=conn)
            existing = {(r["store_id"], r["dedup_key"]): r["id"] for r in rows}
        return [
            IngestResult(e.id, True) if e.id in inserted else IngestResult(existing[(e.store_id, e.dedup_key)], False)
            for e in events
        ]
