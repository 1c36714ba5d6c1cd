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

    async def ingest(self, events: list[NewEvent], *, conn: asyncpg.Connection | None = None) -> list[IngestResult]:
        """Store ``events`` in one transaction; duplicates (same store + dedup key) are not stored again."""
        if conn is None:
            async with self.db.transaction() as tx:
                return await self._ingest(tx, events)
        return await self._ingest(conn, events)

    async def _ingest(self, conn: asyncpg.Connection, events: list[NewEvent]) -> list[IngestResult]:
        if not events:
            return []
        cols = list(zip(*(
            (e.id, e.store_id, e.source, e.sender_id, e.dedup_key, e.resource, e.action, e.resource_id,
             e.occurred_at, e.version, e.payload_json)
            # one lock order for every writer: concurrent batches cannot deadlock on the unique index
            for e in sorted(events, key=lambda e: (e.store_id, e.dedup_key))
        )))
        inserted = {r["id"]: r["seq"] for r in await self.db.fetch("insert_events", *cols, conn=conn)}
        existing: dict[tuple[str, str], str] = {}
        if len(inserted) < len(events):
            missing = [e for e in events if e.id not in inserted]
            rows = await self.db.fetch("find_events_by_dedup", [e.store_id for e in missing],
                                       [e.dedup_key for e in missing], conn=conn)
            existing = {(r["store_id"], r["dedup_key"]): r["id"] for r in rows}
        # newest new event per entity (a statement may touch each outbox row only once)
        heads: dict[tuple[str, str, int], NewEvent] = {}
        for e in events:
            if e.id in inserted:
                key = (e.store_id, e.resource, e.resource_id)
                cur = heads.get(key)
                if cur is None or (e.version, inserted[e.id]) > (cur.version, inserted[cur.id]):
                    heads[key] = e
        if heads:
            hs = sorted(heads.values(), key=lambda e: (e.store_id, e.resource, e.resource_id))
            await self.db.execute(
                "upsert_outbox", [e.store_id for e in hs], [e.resource for e in hs], [e.resource_id for e in hs],
                [e.id for e in hs], [e.version for e in hs], [inserted[e.id] for e in hs], conn=conn,
            )
            await self.db.execute("touch_stores", sorted({e.store_id for e in hs}), conn=conn)
        return [
            IngestResult(e.id, True) if e.id in inserted else IngestResult(existing[(e.store_id, e.dedup_key)], False)
            for e in events
        ]
