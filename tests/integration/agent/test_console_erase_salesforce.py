"""GDPR erasure also in Salesforce (agent/erasure.py): the records Wooforce wrote for the customer get their
personal fields blanked; other customers' records are untouched; local erasure and audit happen first."""
from __future__ import annotations

import pytest

from agent.erasure import erase_in_salesforce
from collector.console.service import CLI, ConsoleManager
from shared.models import events_from_body
from tests.support import woo

pytestmark = pytest.mark.integration


def _event(store_id: str, resource: str, doc: dict):
    body = {"id": f"wp_{resource}_{doc['id']}", "type": f"{resource}.updated", "occurred_at": "2026-11-22T12:00:00Z",
            "resource_id": doc["id"], "data": doc}
    return events_from_body(body, store_id=store_id, max_events=10)[0]


async def test_erase_blanks_the_customers_salesforce_records(db, stores, settings, sf_store, sf_emu, outbox, deliverer):
    await outbox.put_events([_event(sf_store, "order", woo.order(1)),              # guest buyer1@example.com
                             _event(sf_store, "order", woo.order(2, email_n=2))])  # another guest
    stats = await deliverer.drain()
    assert stats.outcomes["delivered"] == 2
    contacts = {c["Email"]: c for c in sf_emu.records("Contact")}
    assert "buyer1@example.com" in contacts and "buyer2@example.com" in contacts
    console = ConsoleManager(db)
    res = await console.erase_customer(
        CLI, "Buyer1@example.com", salesforce=True,
        salesforce_eraser=lambda ents, email: erase_in_salesforce(db, stores, settings, ents, email))
    assert res["salesforce"] == "done", res
    assert res["salesforce_report"]["erased"] == 3  # guest Account + Contact, the Order
    sf_text = str(sf_emu.records("Contact")) + str(sf_emu.records("Account")) + str(sf_emu.records("Order"))
    for personal in ("buyer1@example.com", "First1", "Last1", "1 Main St", "555-0101"):
        assert personal not in sf_text, personal
    assert "buyer2@example.com" in sf_text and "First2" in sf_text  # someone else's data stays
    erased = [c for c in sf_emu.records("Contact") if c.get("LastName") == "[erased]"]
    assert len(erased) == 1 and erased[0]["Email"] is None
    async with db.connection() as conn:
        actions = [r["action"] for r in await conn.fetch("SELECT action FROM audit_log ORDER BY id")]
    assert actions == ["gdpr.erase", "gdpr.erase_salesforce"]
