"""The `wooforce` console script, run as a user runs it."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from cryptography.fernet import Fernet

pytestmark = pytest.mark.integration


@pytest.fixture
def cli(pg_dsn, tmp_path, db):
    env = {**os.environ, "WOOFORCE_DATABASE_URL": pg_dsn, "WOOFORCE_MASTER_KEY": Fernet.generate_key().decode(),
           "WOOFORCE_DATA_DIR": str(tmp_path)}

    def run(*args: str, extra_env: dict | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "cli", *args], env={**env, **(extra_env or {})},
                              capture_output=True, text=True, timeout=60, cwd=tmp_path)

    return run


def test_stores_lifecycle(cli):
    added = cli("stores", "add", "--name", "Cli shop", "--wc-url", "https://shop.example", "--json")
    assert added.returncode == 0, added.stderr
    store = json.loads(added.stdout)
    assert store["store_id"].startswith("st_") and store["signing_secret"].startswith("whsec_")

    listed = json.loads(cli("stores", "list", "--json").stdout)
    assert [s["id"] for s in listed] == [store["store_id"]]

    shown = cli("stores", "show", store["store_id"])
    assert shown.returncode == 0 and "Cli shop" in shown.stdout
    assert store["signing_secret"] not in shown.stdout  # secrets are shown once, at creation

    rotated = json.loads(cli("stores", "rotate-secret", store["store_id"], "--grace-s", "60", "--json").stdout)
    assert rotated["signing_secret"] != store["signing_secret"] and rotated["previous_valid_for_s"] == 60

    wc = cli("stores", "set-woocommerce", store["store_id"], "--url", "http://shop.local", "--key", "ck_1",
             "--secret", "cs_1", "--webhook-secret", "hook")
    assert wc.returncode == 0, wc.stderr
    assert "wc_webhook_secret: set" in cli("stores", "show", store["store_id"]).stdout

    assert cli("stores", "remove", store["store_id"]).returncode == 2  # needs --yes
    assert cli("stores", "remove", store["store_id"], "--yes").returncode == 0
    missing = cli("stores", "show", store["store_id"])
    assert missing.returncode == 4 and "unknown store" in missing.stderr


def test_bad_configuration_exits_with_a_clear_message(cli):
    r = cli("stores", "list", extra_env={"WOOFORCE_DB_POOL_MIN": "zero", "WOOFORCE_TIMESTAMP_TOLERANCE_S": "-5"})
    assert r.returncode == 2
    assert "WOOFORCE_DB_POOL_MIN" in r.stderr and "WOOFORCE_TIMESTAMP_TOLERANCE_S" in r.stderr
    assert "Traceback" not in r.stderr


def test_unreachable_database_exits_with_a_clear_message(cli):
    r = cli("stores", "list", extra_env={"WOOFORCE_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",
                                         "WOOFORCE_DB_CONNECT_TIMEOUT_S": "2"})
    assert r.returncode == 3 and "database unavailable" in r.stderr and "Traceback" not in r.stderr


def test_migrate_check_and_keygen(cli):
    r = cli("migrate", "--check")
    assert r.returncode == 0 and "up to date" in r.stdout
    key = cli("keygen").stdout.strip()
    Fernet(key)  # a valid master key


def test_wrong_master_key_is_reported_not_crashed(cli):
    store = json.loads(cli("stores", "add", "--name", "Keyed", "--json").stdout)
    r = cli("stores", "show", store["store_id"], extra_env={"WOOFORCE_MASTER_KEY": Fernet.generate_key().decode()})
    assert r.returncode == 2 and "WOOFORCE_MASTER_KEY" in r.stderr
