"""GDPR erasure leaves nothing behind (issue 15, "GDPR erasure" 1-4): a registered customer with two orders (one
billed to another email), a guest order billed to the account's email, two-way sync state and a STRING_TOO_LONG
dead letter; erased through the CLI, the admin API and the console, then in Salesforce by the agent's job.

Afterwards no table (every row of every table in the public schema, as text), no log line and no Salesforce
record Wooforce wrote for the person holds their email, names, phone or street, including a field only the store's
own mapping file sends."""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from loguru import logger

from agent.erasure_jobs import run_erasure_jobs
from collector.console.service import CLI, ConsoleManager
from shared.models import NewEvent, events_from_body
from tests.support import woo
from tests.support.agent_fixtures import sf_connection
from tests.support.console import add_operator, sign_in

pytestmark = pytest.mark.integration

EMAIL, WORK_EMAIL = "janet.roewood@example.com", "j.roewood.work@example.org"
FIRST, LAST, PHONE, STREET = "Janetta", "Roewoodson", "555-7788", "42 Elmwood Avenue"
WORK_STREET, WORK_PHONE = "9 Harbourside Quay", "555-4466"
LONG_STREET = "1234 Extraordinarily Lengthy Boulevard of Janetta"  # longer than Ship_Note__c's 30 characters
PERSONAL = (EMAIL, WORK_EMAIL, FIRST, LAST, PHONE, STREET, WORK_STREET, WORK_PHONE, LONG_STREET)
CID = 7
# the store's own mapping file: personal data to fields only this store sends
STORE_MAPPING = """
[customer.Contact]
Home_Street__c = "billing.address_1"

[order.Order]
Ship_Note__c = "shipping.address_1"
"""


def _addr(street: str, phone: str, email: str | None = None) -> dict[str, Any]:
    a = {"first_name": FIRST, "last_name": LAST, "company": "", "address_1": street, "address_2": "",
         "city": "Springfield", "state": "IL", "postcode": "62701", "country": "US", "phone": phone}
    return {**a, "email": email} if email else a


def _docs() -> dict[str, Any]:
    customer = woo.customer(CID, email=EMAIL, first_name=FIRST, last_name=LAST, username="jroewood",
                            billing=_addr(STREET, PHONE, EMAIL), shipping=_addr(STREET, PHONE))
    own = woo.order(101, customer_id=CID, billing=_addr(STREET, PHONE, EMAIL), shipping=_addr(STREET, PHONE))
    work = woo.order(102, customer_id=CID, billing=_addr(WORK_STREET, WORK_PHONE, WORK_EMAIL),
                     shipping=_addr(WORK_STREET, WORK_PHONE))
    guest = woo.order(103, billing=_addr(STREET, PHONE, EMAIL), shipping=_addr(LONG_STREET, PHONE))
    other = woo.order(201)  # someone else (buyer201@example.com): untouched
    return {"customer": customer, "orders": [own, work, guest, other]}


@pytest.fixture
async def rig(tmp_path, stores, store, sf_emu):
    mapping = tmp_path / "store-mapping.toml"
    mapping.write_text(STORE_MAPPING)
    await stores.set_salesforce(store.id, {**sf_connection(sf_emu), "mapping_file": str(mapping)})
    sf_emu.add_field("Contact", "Home_Street__c", "string", 80)
    sf_emu.add_field("Order", "Ship_Note__c", "string", 30)
    return store.id


@pytest.fixture
def log_sink(settings):
    """The tests' log files (settings.log_dir), written as the agent and collector write theirs."""
    path = Path(settings.log_dir)
    path.mkdir(parents=True, exist_ok=True)
    sink = logger.add(path / "wooforce.log", serialize=True, level="DEBUG")
    yield path
    logger.remove(sink)


def _event(store_id: str, resource: str, doc: dict[str, Any]) -> NewEvent:
    body = {"id": f"wp_{resource}_{doc['id']}", "type": f"{resource}.updated", "occurred_at": "2026-11-22T12:00:00Z",
            "resource_id": doc["id"], "data": doc}
    return events_from_body(body, store_id=store_id, max_events=10)[0]  # with the email hash, as ingest does


async def _seed(rig: str, db: Any, outbox: Any, deliverer: Any) -> None:
    d = _docs()
    await outbox.put_events([_event(rig, "customer", d["customer"])])
    assert (await deliverer.drain()).outcomes["delivered"] == 1
    await outbox.put_events([_event(rig, "order", o) for o in d["orders"]])
    stats = await deliverer.drain()
    assert stats.outcomes["delivered"] == 3 and stats.outcomes["dead"] == 1, stats


async def _dump_all(db: Any) -> str:
    async with db.connection() as conn:
        tables = [r["tablename"] for r in await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")]
        out = []
        for t in tables:  # every row of every table, as text
            rows = await conn.fetch(f'SELECT t::text AS row FROM "{t}" t')  # names from the catalog
            out += [f"{t}: {r['row']}" for r in rows]
    return "\n".join(out)


def _found(text: str, values: tuple[str, ...] = PERSONAL) -> list[str]:
    low = text.lower()
    return [v for v in values if v.lower() in low]


def _sf_text(sf_emu: Any) -> str:
    return str([sf_emu.records(s) for s in ("Account", "Contact", "Order", "OrderItem", "Product2",
                                             "PricebookEntry")])


@pytest.fixture
def cli(pg_dsn, settings):
    env = {**os.environ, "WOOFORCE_DATABASE_URL": pg_dsn,
           "WOOFORCE_MASTER_KEY": settings.master_key.get_secret_value(), "WOOFORCE_DATA_DIR": str(settings.data_dir),
           "WOOFORCE_LOG_DIR": str(settings.log_dir)}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "cli", *args], env=env, capture_output=True, text=True,
                              timeout=60, cwd=settings.data_dir)

    return run


async def _token(db: Any) -> dict[str, str]:
    console = ConsoleManager(db)
    await add_operator(console, "admin@example.com", "admin")
    token, _ = await console.create_token(CLI, "admin@example.com", "gdpr script")
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("via", ["cli", "api", "console"])
async def test_erasure_leaves_no_personal_data_anywhere(via, rig, db, stores, agent_settings, client, cli, outbox,
                                                        deliverer, sf_emu, log_sink):
    await _seed(rig, db, outbox, deliverer)
    assert LONG_STREET in await _dump_all(db)  # the STRING_TOO_LONG dead letter quotes the street
    h = await _token(db)
    # the console shows the dead letter's error masked, and what the store's own mapping sends
    shown = await client.get(f"/api/v1/outbox/{rig}/order/103", headers=h)
    assert shown.status == 200
    dead = await shown.json()
    assert dead["outbox"]["last_error_code"] == "STRING_TOO_LONG" and "max length=30" in dead["outbox"]["last_error"]
    assert not _found(json.dumps(dead)), _found(json.dumps(dead))
    sent = (await (await client.get(f"/api/v1/outbox/{rig}/order/101", headers=h)).json())["events"][0]["salesforce"]
    assert "Ship_Note__c" in sent["Order"] and sent["Order"]["Ship_Note__c"] != STREET  # sent, and masked
    contact = next(c for c in sf_emu.records("Contact") if c.get("Wooforce_Key__c") == f"{rig}:customer:{CID}")
    assert contact["Home_Street__c"] == STREET  # the store's override reached Salesforce

    if via == "cli":
        r = await asyncio.to_thread(cli, "erase", "--email", EMAIL.upper(), "--salesforce", "--yes", "--no-wait",
                                    "--json")
        assert r.returncode == 0, r.stderr
        res = json.loads(r.stdout)
        assert not _found(r.stdout + r.stderr)
    elif via == "api":
        resp = await client.post("/api/v1/erasures", headers=h, json={"email": EMAIL, "salesforce": True})
        assert resp.status == 200, await resp.text()
        res = await resp.json()
    else:
        await add_operator(ConsoleManager(db), "gdpr@example.com", "admin")
        csrf = await sign_in(client, "gdpr@example.com")
        page = await client.post("/console/erase", data={"email": EMAIL, "salesforce": "on", "csrf_token": csrf})
        html = await page.text()
        assert page.status == 200 and "Salesforce: queued" in html, html
        async with db.connection() as conn:
            jobs = [r["id"] for r in await conn.fetch("SELECT id FROM jobs WHERE kind = 'erasure'")]
        res = {"salesforce_jobs": jobs, "entity_keys": None}
    assert len(res["salesforce_jobs"]) == 1
    if res["entity_keys"] is not None:  # the account, both its orders (one billed elsewhere) and the guest order
        assert sorted(res["entity_keys"]) == sorted(f"{rig}/{k}" for k in ("customer/7", "order/101", "order/102",
                                                                            "order/103"))
    assert await run_erasure_jobs(db, stores, agent_settings, owner="agent-a") == 1
    async with db.connection() as conn:
        job = await conn.fetchrow("SELECT status, progress FROM jobs WHERE id = $1", res["salesforce_jobs"][0])
    assert job["status"] == "done" and job["progress"]["failed"] == [], job

    dump = await _dump_all(db)
    assert not _found(dump), [line for line in dump.splitlines() if _found(line)]
    assert "buyer201@example.com" in dump and "First201" in dump  # someone else's data stays
    logs = "".join(p.read_text() for p in log_sink.rglob("*") if p.is_file())
    assert "console.erased" in logs or via == "cli"  # the log files were written
    assert not _found(logs), _found(logs)
    sf = _sf_text(sf_emu)
    assert not _found(sf), _found(sf)
    assert "buyer201@example.com" in sf
    guest = [c for c in sf_emu.records("Contact") if str(c.get("Wooforce_Key__c")).startswith(f"{rig}:guest:")
             and c.get("LastName") == "[erased]"]
    assert len(guest) == 1  # the guest buyer of order 103 (the account's email)
    contact = next(c for c in sf_emu.records("Contact") if c.get("Wooforce_Key__c") == f"{rig}:customer:{CID}")
    assert contact["Home_Street__c"] is None and contact["Email"] is None  # the store-only field too
    for oid in (101, 102):
        order = next(o for o in sf_emu.records("Order") if o.get("Wooforce_Key__c") == f"{rig}:order:{oid}")
        assert order["Ship_Note__c"] is None and order["BillingStreet"] is None
