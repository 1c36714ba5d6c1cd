"""`wooforce outbox dead/replay` and `wooforce salesforce check` as real commands against the test database."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from cryptography.fernet import Fernet

from shared.crypto import Vault
from shared.settings import Settings
from shared.stores import StoreManager
from tests.support import woo
from tests.support.agent_fixtures import sf_connection

pytestmark = pytest.mark.integration


def cli(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cli", *args], env={**os.environ, **env}, capture_output=True,
                          text=True, timeout=60)


async def test_dead_letters_listed_and_replayed_and_org_checked(db, pg_dsn, sf_emu, tmp_path, make_deliverer):
    key = Fernet.generate_key().decode()
    stores = StoreManager(db, Vault.from_settings(Settings(_env_file=None, master_key=key, data_dir=tmp_path)))
    row, _ = await stores.add("CLI shop")
    sid = row["id"]
    await stores.set_salesforce(sid, sf_connection(sf_emu))
    feeder = woo.Feeder(db)
    await feeder.put(sid, "order", woo.order(1), woo.order(2))
    async with db.connection() as c:  # two dead letters, as the agent leaves them
        await c.execute("UPDATE outbox SET status = 'dead', last_error_code = CASE resource_id WHEN 1 THEN "
                        "'FIELD_CUSTOM_VALIDATION_EXCEPTION' ELSE 'REQUIRED_FIELD_MISSING' END")
    env = {"WOOFORCE_DATABASE_URL": pg_dsn, "WOOFORCE_MASTER_KEY": key, "WOOFORCE_DATA_DIR": str(tmp_path),
           "WOOFORCE_LOG_LEVEL": "WARNING"}
    dead = cli(env, "outbox", "dead", "--store", sid, "--json")
    assert dead.returncode == 0 and {r["resource_id"] for r in json.loads(dead.stdout)} == {1, 2}
    one = cli(env, "outbox", "replay", "--store", sid, "--error-code", "FIELD_CUSTOM_VALIDATION_EXCEPTION", "--json")
    assert json.loads(one.stdout)["replayed"] == 1
    async with db.connection() as c:
        assert {r["resource_id"]: r["status"] for r in await c.fetch("SELECT resource_id, status FROM outbox")} == {
            1: "pending", 2: "dead"}
    assert cli(env, "salesforce", "check", "--store", sid).returncode == 0
    sf_emu.remove_field("Contact", "Woo_Customer_Id__c")
    check = cli(env, "salesforce", "check", "--store", sid)
    assert check.returncode == 1 and "Contact: missing Woo_Customer_Id__c" in check.stdout


async def test_salesforce_check_prints_a_key_that_is_not_unique(db, pg_dsn, sf_emu, tmp_path):
    key = Fernet.generate_key().decode()
    stores = StoreManager(db, Vault.from_settings(Settings(_env_file=None, master_key=key, data_dir=tmp_path)))
    row, _ = await stores.add("Check shop")
    await stores.set_salesforce(row["id"], sf_connection(sf_emu))
    env = {"WOOFORCE_DATABASE_URL": pg_dsn, "WOOFORCE_MASTER_KEY": key, "WOOFORCE_DATA_DIR": str(tmp_path),
           "WOOFORCE_LOG_LEVEL": "WARNING"}
    sf_emu.remove_field("Account", "Wooforce_Key__c")
    sf_emu.add_field("Account", "Wooforce_Key__c", "string", 255, external_id=True, unique=False)
    check = cli(env, "salesforce", "check", "--store", row["id"])
    assert check.returncode == 1
    assert "Account: Wooforce_Key__c is an External ID but not Unique" in check.stdout
    assert "the org has every field" not in check.stdout
