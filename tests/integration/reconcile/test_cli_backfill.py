"""`wooforce backfill`, `wooforce sync` and `wooforce reconcile`, run as a user runs them (the emulator stays in
this process, so the CLI runs as an asyncio subprocess)."""
from __future__ import annotations

import asyncio
import json
import os
import sys

import pytest
from cryptography.fernet import Fernet

from tests.integration.reconcile.conftest import heads

pytestmark = pytest.mark.integration


@pytest.fixture
def cli(pg_dsn, tmp_path, db):
    env = {**os.environ, "WOOFORCE_DATABASE_URL": pg_dsn, "WOOFORCE_MASTER_KEY": Fernet.generate_key().decode(),
           "WOOFORCE_DATA_DIR": str(tmp_path), "WOOFORCE_WC_MAX_RETRIES": "0"}

    async def run(*args: str) -> tuple[int, str, str]:
        proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "cli", *args, env=env, cwd=tmp_path,
                                                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        return proc.returncode, out.decode(), err.decode()

    return run


async def test_backfill_sync_and_gap_report_commands(cli, db, wc):
    wc.seed(orders=130, products=8, customers=20, days=10)
    ck, cs = wc.add_api_key("read")
    rc, out, err = await cli("stores", "add", "--name", "Cli", "--wc-url", wc.url, "--wc-key", ck, "--wc-secret", cs,
                             "--json")
    assert rc == 0, err
    store_id = json.loads(out)["store_id"]

    rc, out, err = await cli("backfill", "--store", store_id, "--resource", "orders", "--json")
    assert rc == 0, err
    summary = json.loads(out)
    assert summary["orders_enqueued"] == 130 and "customers_seen" not in summary
    assert set(await heads(db, store_id, "order")) == set(wc.store.orders)

    oid = next(iter(wc.store.orders))
    rc, out, err = await cli("sync", "--store", store_id, "order", str(oid))
    assert rc == 0 and f"order {oid} queued" in out, err
    assert (await heads(db, store_id, "order"))[oid][2] == "manual"
    rc, out, err = await cli("sync", "--store", store_id, "order", "999999")
    assert rc == 4 and "does not exist" in err

    rc, out, err = await cli("reconcile", "--store", store_id, "--json")
    assert rc == 0, err
    runs = json.loads(out)
    assert runs[0]["outcome"] == "ok" and runs[0]["requests"] > 0
    for secret in (ck, cs):
        assert secret not in out + err
