"""Configuration that refuses mistakes, run as a user runs `wooforce` (issue 16, points 4-7): list settings, the
data directory, the master key (start-up check, `keygen --env-file`), exit codes and hints, the audit of CLI store
changes."""
from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from cryptography.fernet import Fernet

pytestmark = pytest.mark.integration


@pytest.fixture
def cli(pg_dsn, tmp_path, db):
    base = {k: v for k, v in os.environ.items() if not k.startswith("WOOFORCE_")}
    env = {**base, "WOOFORCE_DATABASE_URL": pg_dsn, "WOOFORCE_MASTER_KEY": Fernet.generate_key().decode(),
           "WOOFORCE_DATA_DIR": str(tmp_path / "data")}

    def run(*args: str, extra_env: dict | None = None, drop: tuple[str, ...] = (), cwd: Path = tmp_path,
            timeout: float = 60) -> subprocess.CompletedProcess:
        full = {k: v for k, v in {**env, **(extra_env or {})}.items() if k not in drop}
        return subprocess.run([sys.executable, "-m", "cli", *args], env=full, capture_output=True, text=True,
                              timeout=timeout, cwd=cwd)

    return run


def _dsn_with(dsn: str, *, user: str | None = None, db: str | None = None) -> str:
    parts = urlsplit(dsn)
    netloc = parts.netloc
    if user is not None:
        netloc = user + "@" + netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=netloc, path="/" + db if db is not None else parts.path))


# --- point 6: list settings -------------------------------------------------------------------

@pytest.mark.parametrize("name, value", [("WOOFORCE_AGENT_RETRY_SCHEDULE_S", "abc"),
                                         ("WOOFORCE_AGENT_RETRY_SCHEDULE_S", "[5, oops]"),
                                         ("WOOFORCE_ALERT_EMAIL_TO", "not-an-address")])
def test_a_wrong_list_setting_exits_2_naming_it(cli, name, value):
    r = cli("stores", "list", extra_env={name: value})
    assert r.returncode == 2, r.stderr
    assert name in r.stderr and "Traceback" not in r.stderr


def test_comma_lists_are_accepted(cli):
    r = cli("stores", "list", extra_env={"WOOFORCE_AGENT_RETRY_SCHEDULE_S": "5,30",
                                         "WOOFORCE_ALERT_EMAIL_TO": "ops@example.com"})
    assert r.returncode == 0, r.stderr


# --- point 5: the data directory ------------------------------------------------------------------

def test_default_data_dir_does_not_depend_on_the_working_directory(cli, tmp_path):
    xdg = tmp_path / "xdg"
    seen = []
    for where in ("a", "b"):
        cwd = tmp_path / where
        cwd.mkdir()
        r = cli("stores", "list", extra_env={"XDG_DATA_HOME": str(xdg)}, drop=("WOOFORCE_DATA_DIR",), cwd=cwd)
        assert r.returncode == 0, r.stderr
        assert not (cwd / ".wooforce").exists()
        seen.append([line for line in r.stderr.splitlines() if "using" in line])
    assert seen[0] == seen[1] and str(xdg / "wooforce") in seen[0][0]


def test_stores_list_says_when_the_database_has_no_stores(cli, tmp_path):
    r = cli("stores", "list")
    assert r.returncode == 0 and r.stdout == ""
    assert "no stores in the database" in r.stderr and str(tmp_path / "data") in r.stderr
    assert cli("stores", "add", "--name", "One").returncode == 0
    r = cli("stores", "list", "--json")
    assert "no stores" not in r.stderr and [s["name"] for s in json.loads(r.stdout)] == ["One"]


# --- point 4: the master key ------------------------------------------------------------------

def test_a_master_key_that_cannot_decrypt_the_stores_stops_start_up(cli):
    store = json.loads(cli("stores", "add", "--name", "Keyed", "--json").stdout)
    other = {"WOOFORCE_MASTER_KEY": Fernet.generate_key().decode()}
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    collector = cli("collector", "--port", str(port), extra_env=other, timeout=30)
    assert collector.returncode == 2, collector.stderr
    assert "WOOFORCE_MASTER_KEY" in collector.stderr and store["store_id"] in collector.stderr
    assert "Traceback" not in collector.stderr and "collector ready" not in collector.stderr
    agent = cli("agent", "--once", extra_env=other, timeout=30)
    assert agent.returncode == 2 and "WOOFORCE_MASTER_KEY" in agent.stderr and "Traceback" not in agent.stderr
    added = cli("stores", "add", "--name", "Under another key", extra_env=other)  # would mix two keys
    assert added.returncode == 2 and "WOOFORCE_MASTER_KEY" in added.stderr
    assert [s["name"] for s in json.loads(cli("stores", "list", "--json").stdout)] == ["Keyed"]


def test_keygen_env_file_writes_the_key_once_and_keeps_it(cli, tmp_path):
    env_file = tmp_path / "deploy" / ".env"
    env_file.parent.mkdir()
    r = cli("keygen", "--env-file", str(env_file))
    assert r.returncode == 0, r.stderr
    first = env_file.read_text()
    key = first.strip().removeprefix("WOOFORCE_MASTER_KEY=")
    Fernet(key)
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    again = cli("keygen", "--env-file", str(env_file))
    assert again.returncode == 0 and "kept" in again.stderr and env_file.read_text() == first

    other = tmp_path / "other.env"
    other.write_text("POSTGRES_PASSWORD=pw")  # no final newline
    assert cli("keygen", "--env-file", str(other)).returncode == 0
    lines = other.read_text().splitlines()
    assert lines[0] == "POSTGRES_PASSWORD=pw" and lines[1].startswith("WOOFORCE_MASTER_KEY=") and len(lines) == 2


def test_docker_compose_reads_the_master_key_from_the_env_file():
    import yaml

    compose = yaml.safe_load((Path(__file__).parents[2] / "docker-compose.yml").read_text())
    for name in ("migrate", "collector", "agent"):
        service = compose["services"][name]
        assert ".env" in service["env_file"], name
        # never a key from the shell only (a second `$(wooforce keygen)` run made a new one)
        assert "WOOFORCE_MASTER_KEY" not in service.get("environment", {}), name


# --- point 7: exit codes, messages, audit ----------------------------------------------------------

def test_a_taken_port_exits_2_saying_so(cli):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = cli("collector", "--port", str(port), timeout=30)
    assert r.returncode == 2, r.stderr
    assert f"port {port}" in r.stderr and "already in use" in r.stderr
    assert "listening" not in r.stderr and "collector ready" not in r.stderr and "Traceback" not in r.stderr


def test_an_unknown_store_is_not_found(cli):
    r = cli("reconcile", "--store", "st_unknown")
    assert r.returncode == 4, r.stderr
    assert "no store st_unknown" in r.stderr and "ForeignKey" not in r.stderr and "Traceback" not in r.stderr
    r = cli("backfill", "--store", "st_unknown")
    assert r.returncode == 4 and "no store st_unknown" in r.stderr


@pytest.mark.parametrize("wrong", ["database", "role"])
def test_a_wrong_database_name_or_role_exits_3_with_a_hint(cli, pg_dsn, wrong):
    dsn = _dsn_with(pg_dsn, db="no_such_db") if wrong == "database" else _dsn_with(pg_dsn, user="no_such_role")
    r = cli("stores", "list", extra_env={"WOOFORCE_DATABASE_URL": dsn})
    assert r.returncode == 3, r.stderr
    assert "refused the connection" in r.stderr and "WOOFORCE_DATABASE_URL" in r.stderr
    assert ("no_such_db" if wrong == "database" else "no_such_role") in r.stderr
    assert "Traceback" not in r.stderr


def test_store_changes_from_the_cli_are_audited(cli):
    store = json.loads(cli("stores", "add", "--name", "Audited", "--wc-key", "ck_1", "--wc-secret", "cs_secret_1",
                           "--wc-webhook-secret", "hook_secret_1", "--json").stdout)
    sid = store["store_id"]
    steps = [("rotate-secret", sid, "--grace-s", "5"),
             ("set-woocommerce", sid, "--url", "https://shop.example", "--secret", "cs_secret_2"),
             ("set-salesforce", sid, "--instance-url", "https://example.my.salesforce.com", "--client-id", "c",
              "--client-secret", "sf_secret_1"),
             ("disable", sid), ("enable", sid), ("remove", sid, "--yes")]
    for step in steps:
        r = cli("stores", *step)
        assert r.returncode == 0, (step, r.stderr)
    entries = json.loads(cli("audit", "--json", "--limit", "20").stdout)
    mine = [e for e in entries if e["store_id"] == sid]
    assert sorted(e["action"] for e in mine) == sorted([
        "store.add", "store.rotate_secret", "store.set_woocommerce", "store.set_salesforce", "store.disable",
        "store.enable", "store.remove"])
    assert {e["actor"] for e in mine} == {"cli"}
    dumped = json.dumps(entries)
    for secret in ("cs_secret_1", "cs_secret_2", "hook_secret_1", "sf_secret_1", store["signing_secret"]):
        assert secret not in dumped
