"""The migrations produce the schema the code expects (procrastinate-style schema check)."""
from __future__ import annotations

import asyncpg
import pytest

from shared import migrations, queries
from shared.db import Database
from shared.errors import SchemaOutOfDate

pytestmark = pytest.mark.integration


async def test_every_named_query_prepares_against_the_migrated_schema(db):
    """A query naming a table, column or type the migrations did not create fails to prepare."""
    failures = {}
    async with db.connection() as conn:
        for name, sql in queries.queries().items():
            try:
                await conn.prepare(sql)
            except asyncpg.PostgresError as exc:
                failures[name] = str(exc)
    assert failures == {}


async def test_check_passes_and_migrate_is_idempotent(db):
    await migrations.check(db)
    assert await migrations.migrate(db) == []


async def _fresh_db(pg_server, name: str) -> Database:
    from tests.conftest import _with_db

    admin_dsn, _ = pg_server
    conn = await asyncpg.connect(admin_dsn)
    await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    await conn.execute(f"CREATE DATABASE {name}")
    await conn.close()
    return await Database(_with_db(admin_dsn, name), min_size=1, max_size=2).open()


async def test_fresh_database_is_refused_until_migrated_then_matches(pg_server, db):
    fresh = await _fresh_db(pg_server, "wooforce_schema_check")
    try:
        with pytest.raises(SchemaOutOfDate, match="wooforce migrate"):
            await migrations.check(fresh)
        applied = await migrations.migrate(fresh)
        assert applied == [m.version for m in migrations.available()]
        await migrations.check(fresh)
        # same tables and columns as the test database, which every other test runs against
        sql = ("SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns "
               "WHERE table_schema = 'public' ORDER BY 1, 2")
        async with fresh.connection() as a, db.connection() as b:
            assert [tuple(r) for r in await a.fetch(sql)] == [tuple(r) for r in await b.fetch(sql)]
            # a migration edited after it was applied is detected
            await a.execute("UPDATE schema_migrations SET checksum = 'tampered' WHERE version = 1")
        with pytest.raises(SchemaOutOfDate, match="differ"):
            await migrations.check(fresh)
    finally:
        await fresh.close()
