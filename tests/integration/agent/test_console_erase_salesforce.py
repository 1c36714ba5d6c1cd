"""GDPR erasure also in Salesforce: the console's erasure enqueues an ``erasure`` job (no personal data in it), the
agent's job runner (agent/erasure_jobs.py) blanks the personal fields of the records Wooforce wrote for the
customer; other customers' records are untouched; local erasure and audit happen first, in the request."""
from __future__ import annotations

import pytest

from agent.erasure_jobs import run_erasure_jobs
from collector.console.service import CLI, ConsoleManager
from shared.mapping import email_hash
from shared.models import events_from_body
from tests.support import woo
from tests.support.console import audit_rows

pytestmark = pytest.mark.integration


def _event(store_id: str, resource: str, doc: dict):
    body = {"id": f"wp_{resource}_{doc['id']}", "type": f"{resource}.updated", "occurred_at": "2026-11-22T12:00:00Z",
            "resource_id": doc["id"], "data": doc}
    return events_from_body(body, store_id=store_id, max_events=10)[0]


async def _two_guests_delivered(sf_store, sf_emu, outbox, deliverer) -> None:
    await outbox.put_events([_event(sf_store, "order", woo.order(1)),              # guest buyer1@example.com
                             _event(sf_store, "order", woo.order(2, email_n=2))])  # another guest
    stats = await deliverer.drain()
    assert stats.outcomes["delivered"] == 2
    contacts = {c["Email"]: c for c in sf_emu.records("Contact")}
    assert "buyer1@example.com" in contacts and "buyer2@example.com" in contacts


def _sf_text(sf_emu) -> str:
    return str(sf_emu.records("Contact")) + str(sf_emu.records("Account")) + str(sf_emu.records("Order"))


async def test_erase_blanks_the_customers_salesforce_records(db, stores, agent_settings, sf_store, sf_emu, outbox,
                                                             deliverer):
    await _two_guests_delivered(sf_store, sf_emu, outbox, deliverer)
    console = ConsoleManager(db)
    calls = sf_emu.api_calls
    res = await console.erase_customer(CLI, "Buyer1@example.com", salesforce=True)
    assert res["salesforce"] == "queued" and len(res["salesforce_jobs"]) == 1, res
    assert sf_emu.api_calls == calls  # the erasure request itself never talks to Salesforce
    async with db.connection() as conn:
        job = await conn.fetchrow("SELECT kind, status, params, requested_by FROM jobs WHERE id = $1",
                                  res["salesforce_jobs"][0])
    assert (job["kind"], job["status"], job["requested_by"]) == ("erasure", "requested", "cli")
    assert job["params"] == {"entities": [["order", 1]], "guest_email_hash": email_hash("buyer1@example.com")}
    assert "buyer1" not in str(job["params"]).lower()  # the job holds no personal data
    assert "buyer1@example.com" in _sf_text(sf_emu)  # nothing blanked until the agent runs the job

    assert await run_erasure_jobs(db, stores, agent_settings, owner="test-agent") == 1
    view = await console.erasure_job(CLI, res["salesforce_jobs"][0])
    assert (view["status"], view["state"], view["attempts"], view["error"]) == ("done", "done", 1, None)
    assert view["result"] == {"records": 3, "erased": 3, "failed": []}  # guest Account + Contact, the Order
    sf_text = _sf_text(sf_emu)
    for personal in ("buyer1@example.com", "First1", "Last1", "1 Main St", "555-0101"):
        assert personal not in sf_text, personal
    assert "buyer2@example.com" in sf_text and "First2" in sf_text  # someone else's data stays
    erased = [c for c in sf_emu.records("Contact") if c.get("LastName") == "[erased]"]
    assert len(erased) == 1 and erased[0]["Email"] is None
    audit = await audit_rows(db)
    assert [a["action"] for a in audit] == ["gdpr.erase", "gdpr.erase_salesforce"]
    assert audit[1]["actor"] == "cli" and audit[1]["result"]["salesforce"] == "done"
    assert audit[1]["result"]["erased"] == 3 and audit[1]["params"]["job_id"] == view["job_id"]
    assert audit[0]["target"] == audit[1]["target"] and "buyer1" not in str(audit).lower()
    assert await run_erasure_jobs(db, stores, agent_settings, owner="test-agent") == 0  # done jobs stay done


async def test_a_record_salesforce_refuses_is_listed_and_the_job_ends_partial(db, stores, agent_settings, sf_store,
                                                                               sf_emu, outbox, deliverer):
    await _two_guests_delivered(sf_store, sf_emu, outbox, deliverer)
    order = next(o for o in sf_emu.records("Order") if o.get("Wooforce_Key__c", "").endswith(":order:1"))
    sf_emu.delete_as_user("Order", order["Id"])  # someone deleted it in Salesforce: PATCH answers 404
    console = ConsoleManager(db)
    res = await console.erase_customer(CLI, "buyer1@example.com", salesforce=True)
    assert await run_erasure_jobs(db, stores, agent_settings, owner="test-agent") == 1
    view = await console.erasure_job(CLI, res["salesforce_jobs"][0])
    assert (view["status"], view["state"]) == ("done", "partial")
    assert view["result"]["records"] == 3 and view["result"]["erased"] == 2
    assert [(f["sobject"], f["sf_id"]) for f in view["result"]["failed"]] == [("Order", order["Id"])]
    assert "buyer1@example.com" not in str(sf_emu.records("Contact"))
    assert (await audit_rows(db))[-1]["result"]["salesforce"] == "partial"


async def test_nothing_to_erase_in_salesforce_enqueues_no_job(db, sf_store):
    res = await ConsoleManager(db).erase_customer(CLI, "nobody@example.com", salesforce=True)
    assert (res["salesforce"], res["salesforce_jobs"]) == ("done", [])
    res = await ConsoleManager(db).erase_customer(CLI, "nobody@example.com")
    assert res["salesforce"] == "not_requested" and "salesforce_jobs" not in res
    async with db.connection() as conn:
        assert await conn.fetchval("SELECT count(*) FROM jobs") == 0
