"""Shared fixtures: a real Postgres (embedded unless WOOFORCE_TEST_DATABASE_URL is set), migrated once.

Each test that uses ``db`` gets empty tables (TRUNCATE), so tests stay independent and fast.
"""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import asyncpg
import pytest
from loguru import logger

from shared import migrations
from shared.db import Database
from shared.settings import Settings

TEST_DB = "wooforce_test"

# quiet test output: warnings and errors only (tests that check log content add their own sinks)
logger.remove()
logger.add(sys.stderr, level=os.environ.get("WOOFORCE_TEST_LOG_LEVEL", "WARNING"))


def _admin_dsn(tmp_root: Path) -> tuple[str, object | None]:
    url = os.environ.get("WOOFORCE_TEST_DATABASE_URL")
    if url:
        return url, None
    from shared import embedded_pg

    data_dir = Path(os.environ.get("WOOFORCE_TEST_PG_DIR", tmp_root))
    embedded_pg.start(data_dir, db_name="postgres")
    server = embedded_pg.server_for(data_dir)
    return embedded_pg.dsn_for(server, "postgres"), server


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory):
    """(admin DSN, embedded server or None)."""
    root = Path(tempfile.mkdtemp(prefix="wf-pg-", dir="/tmp"))  # short path: Unix socket length limit
    return _admin_dsn(root)


@pytest.fixture(scope="session")
async def pg_dsn(pg_server) -> str:
    admin_dsn, _ = pg_server
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {TEST_DB} WITH (FORCE)")
        await conn.execute(f"CREATE DATABASE {TEST_DB}")
    finally:
        await conn.close()
    dsn = _with_db(admin_dsn, TEST_DB)
    async with Database(dsn, min_size=1, max_size=2) as db:
        await migrations.migrate(db)
    return dsn


def _with_db(dsn: str, name: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    u = urlsplit(dsn)
    return urlunsplit((u.scheme, u.netloc, f"/{name}", u.query, ""))


@pytest.fixture(scope="session")
async def shared_db(pg_dsn):
    db = Database(pg_dsn, min_size=2, max_size=10)
    await db.open()
    yield db
    await db.close()


@pytest.fixture
async def db(shared_db):
    async with shared_db.connection() as conn:
        tables = [r["tablename"] for r in await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'schema_migrations'")]
        if tables:
            await conn.execute("TRUNCATE " + ", ".join(tables) + " RESTART IDENTITY CASCADE")
    return shared_db


@pytest.fixture
def settings(tmp_path) -> Settings:
    from cryptography.fernet import Fernet

    return Settings(_env_file=None, data_dir=tmp_path, master_key=Fernet.generate_key().decode(),
                    database_url="postgresql://unused/for-tests", log_dir=tmp_path / "logs",
                    store_cache_ttl_s=0)
