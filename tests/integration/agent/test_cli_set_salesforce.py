"""`wooforce stores set-salesforce` refuses mistakes, keeps what a call does not change, stores the JWT key's content
(never a path) and `--test` signs in for real (issue 16, point 3). Run as a user runs it, against the emulator."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from agent.salesforce import SalesforceClient
from shared.crypto import Vault
from shared.settings import Settings
from shared.stores import StoreManager
from tests.support.agent_fixtures import CLIENT_ID, CLIENT_SECRET

pytestmark = pytest.mark.integration

JWT_APP, JWT_USER = "jwt-cli-app", "cli-sync@shop.example"


@pytest.fixture
def master_key() -> str:
    return Fernet.generate_key().decode()


@pytest.fixture
def cli(pg_dsn, tmp_path, db, master_key):
    base = {k: v for k, v in os.environ.items() if not k.startswith("WOOFORCE_")}
    env = {**base, "WOOFORCE_DATABASE_URL": pg_dsn, "WOOFORCE_MASTER_KEY": master_key,
           "WOOFORCE_DATA_DIR": str(tmp_path / "data")}

    def run(*args: str, cwd: Path = tmp_path) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "cli", *args], env=env, capture_output=True, text=True,
                              timeout=60, cwd=cwd)

    return run


@pytest.fixture
def vault_stores(db, master_key, tmp_path) -> StoreManager:
    return StoreManager(db, Vault.from_settings(Settings(_env_file=None, master_key=master_key, data_dir=tmp_path)))


@pytest.fixture
def sid(cli) -> str:
    added = cli("stores", "add", "--name", "Sf shop", "--json")
    assert added.returncode == 0, added.stderr
    store_id: str = json.loads(added.stdout)["store_id"]
    return store_id


@pytest.fixture
def pem(sf_emu) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    sf_emu.register_jwt_app(JWT_APP, key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo), JWT_USER)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


async def stored(stores: StoreManager, store_id: str) -> dict | None:
    conn: dict | None = (await stores.get(store_id))["sf_credentials"]
    return conn


@pytest.mark.parametrize("args, says", [
    (["--instance-url", "https://x.my.salesforce.com", "--auth", "jwt", "--username", "u@x.example",
      "--private-key-file", "missing.pem"], "--private-key-file: cannot read"),
    (["--instance-url", "https://x.my.salesforce.com", "--auth", "jwt", "--username", "u@x.example",
      "--private-key-file", "{pem}"], "--client-id: needed with --auth jwt"),
    (["--instance-url", "not a url", "--client-id", "c", "--client-secret", "s"], "--instance-url: 'not a url' is not"),
    (["--instance-url", "http://x.my.salesforce.com", "--client-id", "c", "--client-secret", "s"], "https://"),
    (["--instance-url", "https://x.my.salesforce.com", "--client-id", "c"], "--client-secret: needed"),
    (["--client-id", "c", "--client-secret", "s"], "--instance-url: needed"),
    (["--instance-url", "https://x.my.salesforce.com", "--auth", "jwt", "--client-id", "c", "--username",
      "u@x.example", "--private-key-file", "garbage.pem"], "not an unencrypted PEM private key"),
    (["--instance-url", "https://x.my.salesforce.com", "--client-id", "c", "--client-secret", "s",
      "--ca-file", "nope.pem"], "--ca-file: no such file"),
])
async def test_mistakes_exit_2_and_store_nothing(cli, sid, vault_stores, tmp_path, pem, args, says):
    (tmp_path / "key.pem").write_text(pem)
    (tmp_path / "garbage.pem").write_text("not a key")
    args = [a.replace("{pem}", "key.pem") for a in args]
    r = cli("stores", "set-salesforce", sid, *args)
    assert r.returncode == 2, r.stderr
    assert says in r.stderr and "Traceback" not in r.stderr
    assert await stored(vault_stores, sid) is None


async def test_a_partial_call_keeps_the_other_options(cli, sid, vault_stores, sf_emu):
    full = cli("stores", "set-salesforce", sid, "--instance-url", sf_emu.url, "--client-id", CLIENT_ID,
               "--client-secret", "old", "--ca-file", str(sf_emu.ca_path))
    assert full.returncode == 0, full.stderr
    r = cli("stores", "set-salesforce", sid, "--client-secret", CLIENT_SECRET)
    assert r.returncode == 0, r.stderr
    assert await stored(vault_stores, sid) == {
        "instance_url": sf_emu.url, "auth": "client_credentials", "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET, "ca_file": str(sf_emu.ca_path)}
    bad = cli("stores", "set-salesforce", sid, "--instance-url", "ftp://nope")  # a wrong change keeps the old one
    assert bad.returncode == 2 and (await stored(vault_stores, sid))["instance_url"] == sf_emu.url


async def test_a_relative_key_path_stores_the_key_itself_and_test_signs_in(cli, sid, vault_stores, sf_emu, pem,
                                                                           tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    (work / "key.pem").write_text(pem)
    r = cli("stores", "set-salesforce", sid, "--instance-url", sf_emu.url, "--auth", "jwt", "--client-id", JWT_APP,
            "--username", JWT_USER, "--private-key-file", "key.pem", "--login-url", sf_emu.url,
            "--ca-file", str(sf_emu.ca_path), "--test", "--json", cwd=work)
    assert r.returncode == 0, r.stderr
    tested = json.loads(r.stdout)
    assert tested["org_id"] == sf_emu.state.org_id
    assert tested["api_max"] == 100_000 and tested["api_used"] >= 1 and "of 100000" in tested["api_usage"]
    conn = await stored(vault_stores, sid)
    assert conn is not None and conn["private_key"] == pem and "private_key_file" not in conn
    raw = await vault_stores.db.fetchrow("get_store", sid)
    assert pem.encode() not in bytes(raw["sf_credentials"])  # encrypted like the other secrets

    (work / "key.pem").unlink()  # the stored key is enough, from any directory
    again = cli("stores", "set-salesforce", sid, "--test", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert f"org_id: {sf_emu.state.org_id}" in again.stdout and "api_usage: " in again.stdout


async def test_test_that_cannot_sign_in_exits_1_and_stores_nothing(cli, sid, vault_stores, sf_emu):
    r = cli("stores", "set-salesforce", sid, "--instance-url", sf_emu.url, "--client-id", CLIENT_ID,
            "--client-secret", "wrong", "--ca-file", str(sf_emu.ca_path), "--test")
    assert r.returncode == 1, r.stderr
    assert "sign-in failed" in r.stderr and "nothing was stored" in r.stderr and "Traceback" not in r.stderr
    assert await stored(vault_stores, sid) is None


async def test_a_stored_key_path_still_works_and_becomes_content(cli, sid, vault_stores, sf_emu, pem, tmp_path):
    """Connections stored before keys were stored as content hold a path: the agent still reads it, and the next
    change stores the content instead."""
    key_file = tmp_path / "legacy.pem"
    key_file.write_text(pem)
    legacy = {"instance_url": sf_emu.url, "auth": "jwt", "client_id": JWT_APP, "username": JWT_USER,
              "private_key_file": str(key_file), "login_url": sf_emu.url, "ca_file": str(sf_emu.ca_path)}
    await vault_stores.db.execute("update_store_salesforce", sid, vault_stores.vault.encrypt(legacy))
    client = SalesforceClient(legacy)
    try:
        client.login()
        assert client.org_id == sf_emu.state.org_id
    finally:
        client.close()
    r = cli("stores", "set-salesforce", sid, "--username", JWT_USER)
    assert r.returncode == 0, r.stderr
    conn = await stored(vault_stores, sid)
    assert conn is not None and conn["private_key"] == pem and "private_key_file" not in conn
