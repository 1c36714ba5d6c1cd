"""Versioned SQL migrations (``shared/migrations/NNNN_name.sql``), applied in order, each once.

``schema_migrations`` records version and checksum; the check at startup refuses to run code
against a schema that is behind, ahead, or was applied from different files.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources

from loguru import logger

from shared.db import Database, wrapped
from shared.errors import SchemaOutOfDate

_FILE = re.compile(r"^(\d{4})_(\w+)\.sql$")
_LOCK_ID = 0x5F00F0CE  # advisory lock so two processes never migrate at once


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def available() -> list[Migration]:
    found = []
    for entry in resources.files("shared").joinpath("migrations").iterdir():
        m = _FILE.match(entry.name)
        if m:
            found.append(Migration(int(m.group(1)), m.group(2), entry.read_text()))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(f"migration versions must be 1..N without gaps, found {versions}")
    return found


_CREATE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     integer PRIMARY KEY,
    name        text NOT NULL,
    checksum    text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
)"""


async def applied(db: Database) -> dict[int, str]:
    async with db.connection() as conn, wrapped():
        exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
        if not exists:
            return {}
        rows = await conn.fetch("SELECT version, checksum FROM schema_migrations")
        return {r["version"]: r["checksum"] for r in rows}


async def migrate(db: Database) -> list[int]:
    """Apply every pending migration; return the versions applied."""
    done: list[int] = []
    async with db.connection() as conn, wrapped():
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_ID)
            await conn.execute(_CREATE)
            rows = await conn.fetch("SELECT version, checksum FROM schema_migrations")
            have = {r["version"]: r["checksum"] for r in rows}
            for mig in available():
                if mig.version in have:
                    if have[mig.version] != mig.checksum:
                        raise SchemaOutOfDate(
                            f"migration {mig.version:04d}_{mig.name} was changed after it was applied")
                    continue
                await conn.execute(mig.sql)
                await conn.execute("INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                                   mig.version, mig.name, mig.checksum)
                logger.bind(action="db.migrated", version=mig.version).info(
                    f"applied migration {mig.version:04d}_{mig.name}")
                done.append(mig.version)
    return done


async def check(db: Database) -> None:
    """Raise :class:`SchemaOutOfDate` unless the database is exactly at the code's version."""
    have = await applied(db)
    want = {m.version: m.checksum for m in available()}
    missing = sorted(set(want) - set(have))
    if missing:
        raise SchemaOutOfDate(f"database schema is behind (missing migrations {missing}): run `wooforce migrate`")
    ahead = sorted(set(have) - set(want))
    if ahead:
        raise SchemaOutOfDate(f"database schema is newer than this code (migrations {ahead}): upgrade Wooforce")
    changed = [v for v in want if have[v] != want[v]]
    if changed:
        raise SchemaOutOfDate(f"migrations {changed} differ from the ones applied to this database")
