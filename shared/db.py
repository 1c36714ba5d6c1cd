"""The connector: an asyncpg pool, named queries, and driver errors wrapped into ours.

Connection-class failures (server down, restarting, network) become
:class:`~shared.errors.DatabaseUnavailable` (retryable); anything else the server rejects becomes
:class:`~shared.errors.DatabaseError`. The pool replaces broken connections by itself, so a
restarted server is picked up without restarting the process.
"""
from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import asyncpg
from loguru import logger

from shared import queries
from shared.errors import DatabaseError, DatabaseUnavailable, WooforceError
from shared.settings import Settings

_UNAVAILABLE = (
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,  # admin shutdown, cannot connect now, crash shutdown
    asyncpg.exceptions.InsufficientResourcesError,  # too many connections, disk full
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,  # a connection the server dropped while idle, used before the client saw it close
    OSError,
    asyncio.TimeoutError,
    ConnectionError,
)


CONFLICT_SQLSTATES = frozenset({"40001", "40P01"})  # serialization failure, deadlock: run the transaction again


def is_conflict(exc: WooforceError) -> bool:
    """A transaction that lost a lock race: retrying it is safe and expected to succeed."""
    return exc.sqlstate in CONFLICT_SQLSTATES


T = TypeVar("T")


async def retry_conflicts(run: Callable[[], Awaitable[T]], *, attempts: int = 3, action: str | None = None) -> T:
    """Await ``run()`` (a whole transaction or single statement, started afresh each time) again when it lost a lock
    race (``is_conflict``), up to ``attempts`` times in all; any other error, or the last conflict, is raised. With
    ``action``, each retry is logged under that action."""
    for attempt in range(1, attempts + 1):
        try:
            return await run()
        except DatabaseError as exc:
            if not is_conflict(exc) or attempt == attempts:
                raise
            if action:
                logger.bind(action=action, attempt=attempt).warning("retried after a lock conflict: {}", exc)
    raise AssertionError("attempts must be at least 1")


def wrap(exc: BaseException) -> BaseException:
    if isinstance(exc, _UNAVAILABLE):
        return DatabaseUnavailable(f"database unavailable: {type(exc).__name__}: {exc}")
    if isinstance(exc, asyncpg.PostgresError):
        return DatabaseError(f"{type(exc).__name__}: {exc}", sqlstate=exc.sqlstate,
                             is_data_error=isinstance(exc, asyncpg.exceptions.DataError))
    return exc  # not a driver error


@asynccontextmanager
async def wrapped() -> AsyncIterator[None]:
    try:
        yield
    except (asyncpg.PostgresError, *_UNAVAILABLE) as exc:
        raise wrap(exc) from exc


async def _init_connection(conn: asyncpg.Connection) -> None:
    for typ in ("json", "jsonb"):
        await conn.set_type_codec(typ, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


class Database:
    def __init__(self, dsn: str, *, min_size: int = 2, max_size: int = 10, connect_timeout_s: float = 5.0,
                 statement_timeout_ms: int = 30_000):
        self.dsn = dsn
        self._pool_args = {"min_size": min_size, "max_size": max_size, "timeout": connect_timeout_s,
                           "server_settings": {"statement_timeout": str(statement_timeout_ms),
                                               "application_name": "wooforce"}}
        self.pool: asyncpg.Pool | None = None

    @classmethod
    def from_settings(cls, settings: Settings, dsn: str) -> Database:
        return cls(dsn, min_size=settings.db_pool_min, max_size=max(settings.db_pool_min, settings.db_pool_max),
                   connect_timeout_s=settings.db_connect_timeout_s,
                   statement_timeout_ms=settings.db_statement_timeout_ms)

    async def open(self) -> Database:
        async with wrapped():
            self.pool = await asyncpg.create_pool(self.dsn, init=_init_connection, **self._pool_args)
        return self

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.close()
            self.pool = None

    async def __aenter__(self) -> Database:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        assert self.pool is not None, "Database.open() was not called"
        async with wrapped():
            async with self.pool.acquire() as conn:
                yield conn

    async def acquire(self) -> asyncpg.Connection:
        """A connection for a long-lived worker that runs many statements on it (no reset in between, unlike
        ``connection()``); hand it back with ``release``."""
        assert self.pool is not None, "Database.open() was not called"
        async with wrapped():
            return await self.pool.acquire()

    @staticmethod
    def is_open(conn: asyncpg.Connection) -> bool:
        """False once the server or the client closed it: asyncpg then hands the pool slot back and detaches the
        connection from its pool proxy, on which ``is_closed()`` itself raises."""
        try:
            return not conn.is_closed()
        except asyncpg.InterfaceError:
            return False

    async def release(self, conn: asyncpg.Connection) -> None:
        """Give back a connection from ``acquire``; a broken one is closed and replaced by the pool."""
        if self.pool is not None:
            try:
                await self.pool.release(conn)
            except (asyncpg.PostgresError, *_UNAVAILABLE):
                pass  # the pool has already discarded it

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[asyncpg.Connection]:
        async with self.connection() as conn:
            async with wrapped():
                async with conn.transaction():
                    yield conn

    async def fetch(self, name: str, *args: Any, conn: asyncpg.Connection | None = None) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await self._run("fetch", name, args, conn)
        return rows

    async def fetchrow(self, name: str, *args: Any,
                       conn: asyncpg.Connection | None = None) -> asyncpg.Record | None:
        return await self._run("fetchrow", name, args, conn)

    async def fetchval(self, name: str, *args: Any, conn: asyncpg.Connection | None = None) -> Any:
        return await self._run("fetchval", name, args, conn)

    async def execute(self, name: str, *args: Any, conn: asyncpg.Connection | None = None) -> str:
        status: str = await self._run("execute", name, args, conn)
        return status

    async def _run(self, method: str, name: str, args: tuple, conn: asyncpg.Connection | None) -> Any:
        sql = queries.get(name)
        if conn is not None:
            async with wrapped():
                return await getattr(conn, method)(sql, *args)
        async with self.connection() as c:
            async with wrapped():
                return await getattr(c, method)(sql, *args)


async def resolve_dsn(settings: Settings) -> str:
    """The configured DSN, or the embedded server's (started in a worker thread: it blocks)."""
    if settings.database_url:
        return settings.database_url
    from shared import embedded_pg

    return await asyncio.to_thread(embedded_pg.start, settings.data_dir)
