"""Group commit: concurrent requests share one transaction, each answered after its own commit.

Requests put their events on a queue and wait on a future. ``writers`` tasks each take everything
queued (up to ``max_batch_events``), write it in one transaction, commit, and resolve the futures.
While one batch commits the next one fills, so under load one fsync covers many requests and an
idle collector adds no delay at all. Each writer keeps one pool connection for its batches (a connection
that broke is given back and replaced on the next batch).
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import asyncpg
from loguru import logger

from shared.db import Database, retry_conflicts
from shared.errors import DatabaseError, DatabaseUnavailable, PermanentError
from shared.models import NewEvent
from shared.outbox import IngestResult, OutboxManager


class UnstorableEvents(PermanentError):
    """These events could not be written for a reason of their own (not the database's): the request's fault."""
    code = "unstorable_event"


@dataclass(slots=True)
class _Item:
    events: list[NewEvent]
    future: asyncio.Future[list[IngestResult]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future())


class GroupCommitter:
    def __init__(self, db: Database, outbox: OutboxManager, *, writers: int = 2, max_batch_events: int = 2000,
                 on_batch: Callable[[int, int, float], None] | None = None):
        self.db = db
        self.outbox = outbox
        self.writers = writers
        self.max_batch_events = max_batch_events
        self.on_batch = on_batch
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._tasks: list[asyncio.Task] = []

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._writer(), name=f"group-commit-{i}") for i in range(self.writers)]

    async def stop(self) -> None:
        """Finish what is queued, then stop the writers."""
        await self._queue.join()
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def submit(self, events: list[NewEvent]) -> list[IngestResult]:
        """Write ``events``; return once they are committed (or raise a wrapped database error)."""
        if not self._tasks:
            raise RuntimeError("GroupCommitter.start() was not called")
        item = _Item(events)
        self._queue.put_nowait(item)
        # a request cancelled while it waits (client gone) cancels only its future: the writer still commits
        # the events and skips the answer (it checks future.done() before resolving)
        return await item.future

    def _take(self, first: _Item) -> list[_Item]:
        items, n = [first], len(first.events)
        while n < self.max_batch_events:
            try:
                item = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                break
            items.append(item)
            n += len(item.events)
        return items

    async def _writer(self) -> None:
        conn = None  # kept between batches: no pool reset round trip per commit
        try:
            while True:
                first = await self._queue.get()
                items = self._take(first)
                try:
                    if conn is not None and not self.db.is_open(conn):  # the server closed it while idle
                        await self._given_back(conn)
                        conn = None
                    conn = await self._write(items, conn)
                finally:
                    for _ in items:
                        self._queue.task_done()
        finally:
            await self._given_back(conn)

    async def _write(self, items: list[_Item], conn: asyncpg.Connection | None) -> asyncpg.Connection | None:
        """Commit ``items`` on ``conn`` (acquired when None) and answer them; returns the connection to keep, or None
        when it may be broken (it is then given back to the pool)."""
        events = [e for it in items for e in it.events]
        t0 = time.perf_counter()
        try:
            if conn is None:
                conn = await self.db.acquire()
            results = await self._commit(events, conn)
        except DatabaseUnavailable as exc:
            _fail(items, exc)
            await self._given_back(conn)
            return None
        except DatabaseError as exc:
            if len(items) == 1 or conn is None:
                _fail(items, exc)
                return conn
            # one request's data must not fail its neighbours: write each on its own
            return await self._one_by_one(items, conn)
        except Exception as exc:  # noqa: BLE001 - a bug must not kill the writer
            # not the database: something in the events themselves (a value the driver cannot encode). Nothing
            # was written (the statement never ran or ran as one); the connection may be mid-protocol: replace it
            logger.bind(action="ingest.batch_failed", requests=len(items), events=len(events),
                        error=type(exc).__name__).warning("group commit failed; writing its requests one by one")
            await self._given_back(conn)
            try:
                conn = await self.db.acquire()
            except DatabaseUnavailable as unavailable:
                _fail(items, unavailable)
                return None
            return await self._one_by_one(items, conn)
        duration_ms = (time.perf_counter() - t0) * 1000
        if self.on_batch:
            self.on_batch(len(items), len(events), duration_ms)
        pos = 0
        for it in items:
            n = len(it.events)
            if not it.future.done():
                it.future.set_result(results[pos:pos + n])
            pos += n
        return conn

    async def _one_by_one(self, items: list[_Item], conn: asyncpg.Connection) -> asyncpg.Connection | None:
        """Write each request of a failed batch on its own, so that only a bad one fails. A request that fails for
        a reason other than the database gets :class:`UnstorableEvents` (answered 422); the connection is replaced
        after such a failure."""
        kept: asyncpg.Connection | None = conn
        for it in items:
            try:
                if kept is None:
                    kept = await self.db.acquire()
                res = await self._commit(it.events, kept)
            except DatabaseUnavailable as exc:
                _fail([it], exc)
                await self._given_back(kept)
                kept = None
            except DatabaseError as exc:
                _fail([it], exc)
            except Exception as exc:  # noqa: BLE001 - the request's own data: handed to it as a 422
                logger.bind(action="ingest.request_unstorable", events=len(it.events), error=type(exc).__name__
                            ).warning("a request's events could not be written")
                _fail([it], UnstorableEvents(f"the events could not be stored: {type(exc).__name__}"))
                await self._given_back(kept)
                kept = None
            else:
                if not it.future.done():
                    it.future.set_result(res)
        return kept

    async def _given_back(self, conn: asyncpg.Connection | None) -> None:
        if conn is not None:
            await self.db.release(conn)

    async def _commit(self, events: list[NewEvent], conn: asyncpg.Connection) -> list[IngestResult]:
        # one statement: it commits on its own
        return await retry_conflicts(lambda: self.outbox.ingest(events, conn=conn))


def _fail(items: list[_Item], exc: BaseException) -> None:
    """Hand ``exc`` to every request of ``items`` still waiting."""
    for it in items:
        if not it.future.done():
            it.future.set_exception(exc)
