"""Released migrations are append-only: their SHA-256 is pinned here.

A database that applied a migration records its checksum (``schema_migrations``) and the agent refuses to start
when the file changed since, so an edited released migration breaks every installed database. Change the schema
with a new migration instead. A new migration is pinned here in the commit that adds it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import shared

MIGRATIONS = Path(shared.__file__).resolve().parent / "migrations"

PINNED = {
    "0001_initial.sql": "e8d1ae7f169b246324c7d8896eed92acc4012b08f47429c329769c49a8e90861",
    "0002_delivery.sql": "e219464776b9e02b6e1b9e5d77d9cfd198100b964804502d2de133bd9283ce7a",
    "0003_reconciler.sql": "745cee2d21ee6c8bb721f09921c4f280f197610708804bb858a13b2dd8c9c0c5",
    "0004_console.sql": "6ba147ce394dbed173cfc18d0d829d2374acf3c00ee55bd55b0e87bdd274b5dd",
    "0005_twoway.sql": "35d1a6b77ab98dc734eb1b819c731dfe8174a9adc75627367c917724c58d717f",
    "0006_order_lines.sql": "8b836d3bdd4516f93ee0a2bcf2128950f92abdd1ad0ce0eccfcfc1c2852a3337",
    "0007_erasure_jobs.sql": "f746bc817901945b7e8dfeeb7f695aa40d08b811a3e18cb47b629fd83ae3fd93",
    "0009_erasure_by_customer.sql": "7eafbd7a3fafe2c32d5dca849bbd5fc80bca42fbbae74c77df114aa2aefab4a4",
    "0008_sf_connection.sql": "1bae1e0c85a905af5c4705c168282057922f930119d4f2ebb2fc6b10b9ff3c7f",
    "0010_resync_dedup.sql": "fc218d17d28d0e74f6d4b48495868bba39a65569442cb49b1f08682e8e1d6b54",
    "0011_outbox_waiting.sql": "6e1b2bac208a0dc1df6a37adc1c437c9421c0c2147fceb0a7844e9d26faf6469",
    "0012_flush_window.sql": "73dd7117917c8842b59408c516844b4b5282464efd5fe1a91a0d563539cfe419",
    "0013_sf_matches.sql": "a6e9e236c12f74b5203dd515635be5283232bef5bfc427ed8d677121ceaefd8b",
    "0014_import_jobs.sql": "6febaf4d052f9f73d4dcc7a55a402c283eea9e5a9f988438ccb1df5caf6d5d00",
    "0015_store_webhooks.sql": "914652356295fd4e6c2e51e8db589048eaef94180c3dd6903148a06d92fb257c",
}


def _files() -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(MIGRATIONS.glob("*.sql"))}


def test_released_migrations_are_unchanged() -> None:
    files = _files()
    missing = sorted(set(PINNED) - set(files))
    assert not missing, f"released migrations were removed: {missing}. Migrations are append-only."
    changed = sorted(name for name, sha in PINNED.items() if files[name] != sha)
    assert not changed, (
        f"released migrations were edited: {changed}. Migrations are append-only: databases that applied them "
        "record their checksum and refuse to start. Revert the edit and add a new migration instead."
    )


def test_every_migration_is_pinned() -> None:
    unpinned = {name: sha for name, sha in _files().items() if name not in PINNED}
    assert not unpinned, (
        "new migrations are not pinned yet: add them to PINNED in tests/unit/test_migrations_pinned.py once "
        "they are final (from then on they are append-only):\n"
        + "\n".join(f'    "{name}": "{sha}",' for name, sha in unpinned.items())
    )
