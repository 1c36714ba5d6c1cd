from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from shared import embedded_pg
from shared.crypto import Vault
from shared.settings import Settings
from shared.stores import StoreManager
from tests.integration.conftest import client, store, stores  # noqa: F401  (shared fixtures)


@pytest.fixture
def master_key() -> str:
    return Fernet.generate_key().decode()


@pytest.fixture
def proc_env(pg_dsn, master_key, tmp_path) -> dict[str, str]:
    """Environment for a collector subprocess sharing the test database."""
    return {"WOOFORCE_DATABASE_URL": pg_dsn, "WOOFORCE_MASTER_KEY": master_key, "WOOFORCE_DATA_DIR": str(tmp_path),
            "WOOFORCE_LOG_LEVEL": "WARNING", "WOOFORCE_STORE_CACHE_TTL_S": "0"}


@pytest.fixture
async def proc_store(db, master_key, tmp_path):
    settings = Settings(_env_file=None, master_key=master_key, data_dir=tmp_path)
    row, secret = await StoreManager(db, Vault.from_settings(settings)).add("Crash shop")
    return row["id"], secret


@pytest.fixture
async def own_pg():
    """A Postgres of the test's own, so stopping and restarting it disturbs no other test: (dsn, server)."""
    data_dir = Path(tempfile.mkdtemp(prefix="wf-own-", dir="/tmp"))  # short path: Unix socket length limit
    dsn = await asyncio.to_thread(embedded_pg.start, data_dir, db_name="wooforce", cleanup_mode="stop")
    server = embedded_pg.server_for(data_dir)
    yield dsn, server
    await asyncio.to_thread(server.stop)
