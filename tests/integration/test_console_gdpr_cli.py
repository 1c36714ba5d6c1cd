"""GDPR erasure, payload retention, and the console's CLI commands."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from cryptography.fernet import Fernet

from collector.console.service import CLI, ConsoleManager, Forbidden
from shared.alerts import purge_payloads
from tests.support.console import add_attempt, add_operator, audit_rows, outbox_row, seed_orders

pytestmark = pytest.mark.integration
PII = ("jane@example.com", "Jane", "Doe", "555 0100", "Main St", "Springfield")


async def _dump(db, table: str) -> str:
    async with db.connection() as conn:
        return str([dict(r) for r in await conn.fetch(f"SELECT * FROM {table}")])  # test helper: fixed names


async def test_erase_removes_the_customers_personal_data_and_is_audited(db, store, stores):
    other, _ = await stores.add("Other")
    await seed_orders(db, store.id, [1, 2], status="dead", error_code="FIELD_CUSTOM_VALIDATION_EXCEPTION")
    await seed_orders(db, store.id, [3], email="bob@example.com")
    await add_attempt(db, store.id, 1)
    async with db.connection() as conn:
        await conn.execute("UPDATE outbox SET last_error = 'email jane@example.com rejected' WHERE resource_id = 1")
    console = ConsoleManager(db)
    viewer = await add_operator(console, "v@example.com", "operator")
    with pytest.raises(Forbidden):  # erasure needs an admin
        await console.erase_customer(viewer, "jane@example.com")
    res = await console.erase_customer(CLI, "Jane@Example.com", salesforce=True)
    assert (res["entities"], res["events"], res["attempts"], res["salesforce"]) == (2, 2, 1, "queued")
    async with db.connection() as conn:  # the Salesforce part is the agent's job, with no personal data in it
        jobs = [dict(r) for r in await conn.fetch("SELECT id, store_id, kind, status, params FROM jobs")]
    assert [(j["id"], j["store_id"], j["kind"], j["status"]) for j in jobs] == [
        (res["salesforce_jobs"][0], store.id, "erasure", "requested")]
    assert sorted(map(tuple, jobs[0]["params"]["entities"])) == [("order", 1), ("order", 2)]
    assert "jane" not in str(jobs[0]).lower()
    events = await _dump(db, "events")
    attempts = await _dump(db, "attempts")
    outbox = await _dump(db, "outbox")
    for value in PII:
        assert value not in attempts and value not in outbox
    # bob's order keeps its data; jane's are erased
    assert "bob@example.com" in events and "jane@example.com" not in events
    async with db.connection() as conn:
        p = await conn.fetchval("SELECT payload FROM events WHERE resource_id = 1")
        assert p["billing"]["email"] == "[erased]" and p["total"] == "10.00"  # non-personal data stays
        assert await conn.fetchval("SELECT count(*) FROM events WHERE erased_at IS NOT NULL") == 2
        assert await conn.fetchval("SELECT count(*) FROM entity_emails") == 1  # jane's lookup row is gone too
    audit = [a for a in await audit_rows(db) if a["action"] == "gdpr.erase"]
    assert len(audit) == 1 and audit[0]["target"].startswith("email:")
    assert audit[0]["result"]["salesforce"] == "queued" and "jane" not in str(audit[0]).lower()
    assert audit[0]["result"]["salesforce_jobs"] == res["salesforce_jobs"]
    assert (await outbox_row(db, store.id, 1))["status"] == "dead"  # delivery state untouched


async def test_retention_purges_old_delivered_payloads_only(db, store, settings):
    await seed_orders(db, store.id, [1, 2, 3])
    async with db.connection() as conn:
        await conn.execute("UPDATE events SET received_at = now() - interval '40 days'")
        await conn.execute("UPDATE outbox SET status = 'delivered', delivered_seq = head_seq "
                           "WHERE resource_id IN (1, 2)")
    assert await purge_payloads(db, settings) == 0  # retention off by default
    s = settings.model_copy(update={"retention_delivered_payload_days": 30})
    assert await purge_payloads(db, s, batch=1) == 2
    async with db.connection() as conn:
        rows = {r["resource_id"]: r["payload"] for r in await conn.fetch("SELECT resource_id, payload FROM events")}
    assert rows[1] == {"purged": True} and rows[2] == {"purged": True} and rows[3]["id"] == 3  # 3 not delivered
    assert await purge_payloads(db, s) == 0


@pytest.fixture
def cli(pg_dsn, tmp_path, db):
    env = {**os.environ, "WOOFORCE_DATABASE_URL": pg_dsn, "WOOFORCE_MASTER_KEY": Fernet.generate_key().decode(),
           "WOOFORCE_DATA_DIR": str(tmp_path)}

    def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "cli", *args], env=env, input=stdin,
                              capture_output=True, text=True, timeout=60, cwd=tmp_path)

    return run


async def test_cli_operators_tokens_outbox_and_erase(cli, db, store):
    await seed_orders(db, store.id, [1, 2], status="dead", error_code="FIELD_CUSTOM_VALIDATION_EXCEPTION")
    r = cli("operators", "add", "--email", "Ops@Example.com", "--role", "operator", "--store", store.id,
            "--password-stdin", "--json", stdin="a long enough password\n")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["email"] == "ops@example.com"
    assert cli("operators", "add", "--email", "x@example.com", "--role", "viewer", "--password-stdin",
               stdin="short\n").returncode == 1
    t = cli("tokens", "create", "--email", "ops@example.com", "--name", "script", "--json")
    assert t.returncode == 0 and json.loads(t.stdout)["token"].startswith("wf_")
    listed = cli("outbox", "list", "--store", store.id, "--status", "dead", "--json")
    assert [i["resource_id"] for i in json.loads(listed.stdout)["items"]] == [2, 1] or \
        sorted(i["resource_id"] for i in json.loads(listed.stdout)["items"]) == [1, 2]
    assert "jane" not in listed.stdout.lower()
    shown = cli("outbox", "show", store.id, "order", "1")
    assert shown.returncode == 0 and "status: dead" in shown.stdout and "source=plugin" in shown.stdout
    dry = cli("outbox", "replay-filtered", "--store", store.id, "--error-code", "FIELD_CUSTOM_VALIDATION_EXCEPTION")
    assert dry.returncode == 2 and "2 entities" in dry.stderr
    assert (await outbox_row(db, store.id, 1))["status"] == "dead"
    done = cli("outbox", "replay-filtered", "--store", store.id, "--error-code", "FIELD_CUSTOM_VALIDATION_EXCEPTION",
               "--yes", "--json")
    assert done.returncode == 0 and json.loads(done.stdout)["replayed"] == 2
    await seed_orders(db, store.id, [9], status="dead", error_code="X")
    dead = cli("outbox", "replay", "--store", store.id, "--json")  # the delivery's command, audited too
    assert dead.returncode == 0 and json.loads(dead.stdout)["replayed"] == 1
    assert cli("erase", "--email", "jane@example.com").returncode == 2  # needs --yes
    er = cli("erase", "--email", "jane@example.com", "--yes", "--json")
    assert er.returncode == 0 and json.loads(er.stdout)["events"] == 3
    audit = json.loads(cli("audit", "--json").stdout)
    assert [a["action"] for a in audit] == ["gdpr.erase", "outbox.replay_dead", "outbox.replay_bulk", "token.create",
                                            "operator.add"]
    assert all(a["actor"] == "cli" for a in audit)
