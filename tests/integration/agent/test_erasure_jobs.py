"""Salesforce erasure jobs end to end: enqueued by the admin API / the CLI, run by the agent's job runner
(agent/erasure_jobs.py) against the Salesforce emulator, retried through an outage, visible in
``GET /api/v1/erasures/{job_id}`` and waited for by ``wooforce erase --salesforce``."""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from cryptography.fernet import Fernet

from agent.erasure_jobs import run_erasure_jobs
from collector.console.service import CLI, ConsoleManager
from shared.mapping import email_hash
from shared.models import NewEvent, events_from_body
from tests.support import woo
from tests.support.console import add_operator, audit_rows, seed_orders, sign_in

pytestmark = pytest.mark.integration
PERSONAL_1 = ("buyer1@example.com", "First1", "Last1", "1 Main St", "555-0101")


def _event(store_id: str, doc: dict[str, Any]) -> NewEvent:
    body = {"id": f"wp_order_{doc['id']}", "type": "order.updated", "occurred_at": "2026-11-22T12:00:00Z",
            "resource_id": doc["id"], "data": doc}
    return events_from_body(body, store_id=store_id, max_events=10)[0]  # with the email hash, as ingest does


async def _guests_delivered(sf_store: str, outbox: Any, deliverer: Any, n: int = 2) -> None:
    """Orders of guests buyer1@example.com .. buyer<n>@example.com, delivered to Salesforce."""
    await outbox.put_events([_event(sf_store, woo.order(i)) for i in range(1, n + 1)])
    assert (await deliverer.drain()).outcomes["delivered"] == n


def _sf_text(sf_emu: Any) -> str:
    return str(sf_emu.records("Contact")) + str(sf_emu.records("Account")) + str(sf_emu.records("Order"))


async def _job(db: Any, job_id: str) -> dict[str, Any]:
    async with db.connection() as conn:
        row = await conn.fetchrow("SELECT status, attempts, error, progress, lease_expires_at - now() AS due_in "
                                  "FROM jobs WHERE id = $1", job_id)
    return dict(row)


async def _backoff_passes(db: Any, job_id: str) -> None:
    """Move the postponed job's retry time to the past (instead of waiting out its backoff)."""
    async with db.connection() as conn:
        await conn.execute("UPDATE jobs SET lease_expires_at = now() - interval '1 second' WHERE id = $1", job_id)


async def _token(console: ConsoleManager, email: str, role: str, store_id: str | None = None) -> dict[str, str]:
    await add_operator(console, email, role, store_id)
    token, _ = await console.create_token(CLI, email, "gdpr script")
    return {"Authorization": f"Bearer {token}"}


async def _until(cond: Callable[[], Awaitable[Any]], timeout_s: float = 30.0) -> Any:
    """Poll ``cond`` until it returns something truthy; fail after ``timeout_s``."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while asyncio.get_running_loop().time() < deadline:
        if got := await cond():
            return got
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


async def test_salesforce_outage_retries_the_job_then_it_is_done(client, db, stores, agent_settings, sf_store, sf_emu,
                                                                 outbox, deliverer):
    await _guests_delivered(sf_store, outbox, deliverer)
    console = ConsoleManager(db)
    h = await _token(console, "admin@example.com", "admin")
    down = sf_emu.faults.add("unavailable", path_contains="/sobjects/")  # Salesforce answers 503
    calls = sf_emu.api_calls
    resp = await client.post("/api/v1/erasures", headers=h, json={"email": "buyer1@example.com", "salesforce": True})
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert body["salesforce"] == "queued" and body["events"] == 1 and len(body["salesforce_jobs"]) == 1
    assert sf_emu.api_calls == calls and down.hits == 0  # the request answered without calling Salesforce
    job_id = body["salesforce_jobs"][0]
    s = agent_settings.model_copy(update={"erasure_retry_backoff_s": 60.0, "erasure_max_backoff_s": 600.0,
                                          "erasure_max_attempts": 5, "sf_timeout_s": 0.5})

    assert await run_erasure_jobs(db, stores, s, owner="agent-a") == 1  # attempt 1: 503
    assert down.hits >= 1
    view = await (await client.get(f"/api/v1/erasures/{job_id}", headers=h)).json()
    assert (view["status"], view["state"], view["attempts"], view["result"]) == ("running", "retrying", 1, None)
    assert "attempt 1" in view["error"] and "503" in view["error"]
    assert view["progress"]["erased"] == 0 and view["progress"]["records"] == 3
    assert 50 < (await _job(db, job_id))["due_in"].total_seconds() <= 60  # postponed by the first backoff
    assert await run_erasure_jobs(db, stores, s, owner="agent-b") == 0  # not due before its backoff is over

    sf_emu.faults.clear()
    sf_emu.faults.add("timeout", hang_s=2.0, times=1, path_contains="/sobjects/")  # then a timeout
    await _backoff_passes(db, job_id)
    assert await run_erasure_jobs(db, stores, s, owner="agent-b") == 1  # attempt 2: times out
    job = await _job(db, job_id)
    assert (job["status"], job["attempts"]) == ("running", 2) and "timed out" in job["error"]
    assert 110 < job["due_in"].total_seconds() <= 120  # the backoff doubled
    assert "buyer1@example.com" in _sf_text(sf_emu)

    await _backoff_passes(db, job_id)  # Salesforce is back
    assert await run_erasure_jobs(db, stores, s, owner="agent-b") == 1
    view = await (await client.get(f"/api/v1/erasures/{job_id}", headers=h)).json()
    assert (view["status"], view["state"], view["attempts"], view["error"]) == ("done", "done", 3, None)
    assert view["result"] == {"records": 3, "erased": 3, "failed": []}
    sf_text = _sf_text(sf_emu)
    for personal in PERSONAL_1:
        assert personal not in sf_text, personal
    assert "buyer2@example.com" in sf_text
    audit = [a for a in await audit_rows(db) if a["action"].startswith("gdpr.")]
    assert [a["action"] for a in audit] == ["gdpr.erase", "gdpr.erase_salesforce"]  # one entry when the job ended
    assert audit[1]["actor"] == audit[0]["actor"] and audit[1]["params"]["attempts"] == 3
    assert "buyer1" not in str(audit).lower()


async def test_a_job_still_failing_after_max_attempts_fails_with_a_readable_error(db, stores, agent_settings,
                                                                                  sf_store, sf_emu, outbox, deliverer):
    await _guests_delivered(sf_store, outbox, deliverer, n=1)
    res = await ConsoleManager(db).erase_customer(CLI, "buyer1@example.com", salesforce=True)
    job_id = res["salesforce_jobs"][0]
    sf_emu.faults.add("unavailable")  # logins too
    s = agent_settings.model_copy(update={"erasure_retry_backoff_s": 0.0, "erasure_max_backoff_s": 0.0,
                                          "erasure_max_attempts": 2})
    assert await run_erasure_jobs(db, stores, s, owner="agent-a") == 1
    assert (await _job(db, job_id))["status"] == "running"
    await _backoff_passes(db, job_id)
    assert await run_erasure_jobs(db, stores, s, owner="agent-a") == 1
    view = await ConsoleManager(db).erasure_job(CLI, job_id)
    assert (view["status"], view["state"], view["attempts"]) == ("failed", "failed", 2)
    assert view["error"].startswith("Salesforce still unavailable after 2 attempts") and "503" in view["error"]
    assert (await audit_rows(db))[-1]["result"]["salesforce"] == "failed"
    assert await run_erasure_jobs(db, stores, s, owner="agent-a") == 0  # failed jobs are not retried
    assert "buyer1@example.com" in _sf_text(sf_emu)


async def test_erasure_endpoint_needs_an_admin_and_hides_other_stores_jobs(client, db, stores, sf_store):
    other, _ = await stores.add("Other shop")
    console = ConsoleManager(db)
    await seed_orders(db, sf_store, [1])
    res = await console.erase_customer(CLI, "jane@example.com", salesforce=True)
    job_id = res["salesforce_jobs"][0]
    admin = await _token(console, "admin@example.com", "admin")
    own = await _token(console, "own@example.com", "admin", sf_store)
    foreign = await _token(console, "foreign@example.com", "admin", other["id"])
    operator = await _token(console, "ops@example.com", "operator")
    for h in (admin, own):
        r = await client.get(f"/api/v1/erasures/{job_id}", headers=h)
        assert r.status == 200
        got = await r.json()
        assert (got["job_id"], got["store_id"], got["status"], got["state"]) == (job_id, sf_store, "requested",
                                                                                  "queued")
        assert got["progress"] == {"records": 0, "erased": 0, "failed": []} and got["result"] is None
    assert (await client.get(f"/api/v1/erasures/{job_id}", headers=foreign)).status == 404
    assert (await client.get("/api/v1/erasures/job_00000000000000000000000000", headers=admin)).status == 404
    r = await client.get(f"/api/v1/erasures/{job_id}", headers=operator)
    assert r.status == 403 and (await r.json())["error"]["code"] == "forbidden"
    async with db.connection() as conn:  # a backfill job is not an erasure
        backfill = await conn.fetchval("INSERT INTO jobs (id, store_id, kind, requested_by) VALUES "
                                       "('job_00000000000000000000000001', $1, 'backfill', 'cli') RETURNING id",
                                       sf_store)
    assert (await client.get(f"/api/v1/erasures/{backfill}", headers=admin)).status == 404


@pytest.fixture
def cli(pg_dsn, tmp_path):
    env = {**os.environ, "WOOFORCE_DATABASE_URL": pg_dsn, "WOOFORCE_MASTER_KEY": Fernet.generate_key().decode(),
           "WOOFORCE_DATA_DIR": str(tmp_path)}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "cli", *args], env=env, capture_output=True, text=True,
                              timeout=60, cwd=tmp_path)

    return run


async def test_cli_erase_waits_for_the_jobs_printing_progress(cli, db, stores, agent_settings, sf_store, sf_emu,
                                                              outbox, deliverer):
    await _guests_delivered(sf_store, outbox, deliverer, n=3)

    async def job_of(email: str) -> str | None:
        async with db.connection() as conn:
            return await conn.fetchval("SELECT id FROM jobs WHERE kind = 'erasure' AND params->>'guest_email_hash' = $1",
                                       email_hash(email))

    # --no-wait: the job ids at once, the job still queued
    r = cli("erase", "--email", "buyer3@example.com", "--salesforce", "--yes", "--no-wait", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["salesforce"] == "queued" and out["salesforce_jobs"] == [await job_of("buyer3@example.com")]
    assert out["salesforce_jobs"][0] in r.stderr
    assert (await _job(db, out["salesforce_jobs"][0]))["status"] == "requested"

    # waiting: the CLI returns once the agent has run the job, exit 0
    waiting = asyncio.create_task(asyncio.to_thread(cli, "erase", "--email", "buyer1@example.com", "--salesforce",
                                                    "--yes", "--poll-interval-s", "0.05"))
    job_id = await _until(lambda: job_of("buyer1@example.com"))
    assert not waiting.done()
    assert await run_erasure_jobs(db, stores, agent_settings, owner="agent-a") == 2  # buyer3's and buyer1's
    r = await asyncio.wait_for(waiting, 60)
    assert r.returncode == 0, r.stderr
    assert job_id in r.stderr and f"{job_id}: done, 3/3 records erased, 0 failed" in r.stderr
    assert "salesforce: done" in r.stdout
    assert "buyer1@example.com" not in _sf_text(sf_emu) and "buyer3@example.com" not in _sf_text(sf_emu)

    # a job that fails: exit 1
    sf_emu.faults.add("unavailable")
    waiting = asyncio.create_task(asyncio.to_thread(cli, "erase", "--email", "buyer2@example.com", "--salesforce",
                                                    "--yes", "--poll-interval-s", "0.05", "--json"))
    job_id = await _until(lambda: job_of("buyer2@example.com"))
    s = agent_settings.model_copy(update={"erasure_max_attempts": 1})
    assert await run_erasure_jobs(db, stores, s, owner="agent-a") == 1
    r = await asyncio.wait_for(waiting, 60)
    assert r.returncode == 1, r.stderr
    out = json.loads(r.stdout)
    assert out["salesforce"] == "failed" and [j["job_id"] for j in out["salesforce_report"]] == [job_id]
    assert f"{job_id}: failed" in r.stderr


async def test_console_erase_page_links_to_the_job_which_refreshes_until_done(client, db, stores, agent_settings,
                                                                              sf_store, sf_emu, outbox, deliverer):
    await _guests_delivered(sf_store, outbox, deliverer, n=1)
    console = ConsoleManager(db)
    await add_operator(console, "admin@example.com", "admin")
    csrf = await sign_in(client, "admin@example.com")
    page = await client.post("/console/erase", data={"email": "buyer1@example.com", "salesforce": "on",
                                                     "csrf_token": csrf})
    html = await page.text()
    assert page.status == 200, html
    async with db.connection() as conn:
        job_id = await conn.fetchval("SELECT id FROM jobs WHERE kind = 'erasure'")
    assert "Salesforce: queued" in html and f'href="/console/erasures/{job_id}"' in html
    show = await (await client.get(f"/console/erasures/{job_id}")).text()
    assert 'id="erasure-state">queued<' in show and 'http-equiv="refresh"' in show
    assert await run_erasure_jobs(db, stores, agent_settings, owner="agent-a") == 1
    show = await (await client.get(f"/console/erasures/{job_id}")).text()
    assert 'id="erasure-state">done<' in show and "3 / 3 records erased" in show
    assert 'http-equiv="refresh"' not in show and "buyer1" not in show
