"""Salesforce failures classified by their cause (issue 15, points 10-12): an order whose customer or guest buyer
Salesforce rejected waits for it with that cause (no attempts burnt) and is sent with it once fixed; the daily API
limit pauses the store (on the sign-in too) while the concurrent-request limit is a retry; ``salesforce check``
flags a Wooforce_Key__c that is an External ID but not Unique."""
from __future__ import annotations

import json

import pytest

from agent.admin import check_salesforce, replay_dead
from collector.console.service import CLI, ConsoleManager
from collector.console.service.outbox import OutboxFilter
from emulators.salesforce.errors import CONCURRENT_LIMIT_MSG
from tests.support import woo

pytestmark = pytest.mark.integration

BAD_CONTACT = {"field": "LastName", "op": "eq", "value": "Rejected"}  # a Contact validation rule


async def rows(db, sql: str = "SELECT * FROM outbox ORDER BY resource, resource_id") -> list[dict]:
    async with db.connection() as c:
        return [dict(r) for r in await c.fetch(sql)]


async def row(db, resource: str, rid: int) -> dict:
    return next(r for r in await rows(db) if (r["resource"], r["resource_id"]) == (resource, rid))


async def wait_s(db, resource: str, rid: int) -> float:
    async with db.connection() as c:
        return float(await c.fetchval("SELECT extract(epoch FROM available_at - now()) FROM outbox "
                                      "WHERE resource = $1 AND resource_id = $2", resource, rid))


def contacts(emu) -> dict[str, dict]:
    return {r["Wooforce_Key__c"].split(":", 1)[1]: r for r in emu.records("Contact")}


async def test_an_order_waits_for_its_rejected_customer_and_follows_it(db, sf_store, sf_emu, outbox, make_deliverer):
    d = make_deliverer(agent_max_attempts=3)
    sf_emu.add_validation_rule("Contact", "No_Rejected", "Rejected contacts are not allowed", condition=BAD_CONTACT)
    await outbox.put(sf_store, "customer", woo.customer(7, last_name="Rejected"))
    # the billing name too: the Contact the order would create from it is refused as well
    await outbox.put(sf_store, "order", woo.order(70, customer_id=7, billing={**woo.address(7), "last_name": "Rejected"}))
    await d.drain(max_batches=1)
    customer, order = await row(db, "customer", 7), await row(db, "order", 70)
    assert (customer["status"], customer["last_error_code"]) == ("dead", "FIELD_CUSTOM_VALIDATION_EXCEPTION")
    # the order waits with its customer's error as its cause, and no attempt is burnt
    assert (order["status"], order["attempts"], order["last_error_code"]) == (
        "retrying", 0, "FIELD_CUSTOM_VALIDATION_EXCEPTION")
    cause = json.loads(order["last_error"])[0]
    assert cause["message"] == "waiting for customer 7: Rejected contacts are not allowed"
    assert order["waiting_for"] == f"{sf_store}:customer:7"
    assert await wait_s(db, "order", 70) > 3600  # not retried every few seconds
    attempt = (await rows(db, "SELECT * FROM attempts WHERE resource = 'order'"))[0]
    assert attempt["error_code"] == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    assert attempt["request_summary"]["waiting_for"] == f"{sf_store}:customer:7"
    async with db.connection() as c:
        await c.execute("UPDATE outbox SET available_at = now() WHERE resource = 'order'")
    await d.drain()  # due again: still waiting, same cause (not INVALID_FIELD "Foreign key external ID")
    order = await row(db, "order", 70)
    assert (order["status"], order["attempts"], order["last_error_code"]) == (
        "retrying", 0, "FIELD_CUSTOM_VALIDATION_EXCEPTION")
    # the rule is fixed; replaying the customer alone delivers it, and the order follows at once
    sf_emu.remove_validation_rule("No_Rejected")
    assert await replay_dead(db, sf_store, resource="customer", resource_ids=[7]) == [("customer", 7)]
    stats = await d.drain()
    assert stats.outcomes["delivered"] == 2, await rows(db)
    assert {r["status"] for r in await rows(db)} == {"delivered"}
    assert (await row(db, "order", 70))["waiting_for"] is None
    order_rec = next(o for o in sf_emu.records("Order") if o["Wooforce_Key__c"].endswith(":order:70"))
    assert order_rec["BillToContactId"] == contacts(sf_emu)["customer:7"]["Id"]


async def test_replaying_the_waiting_order_by_its_cause_sends_the_buyer_again(db, sf_store, sf_emu, outbox,
                                                                            make_deliverer):
    d = make_deliverer()
    await outbox.put(sf_store, "order", woo.order(80, email_n=80, billing={**woo.address(80), "email": "not-an-email"}))
    await d.drain()
    order = await row(db, "order", 80)
    assert (order["status"], order["attempts"], order["last_error_code"]) == ("retrying", 0, "INVALID_EMAIL_ADDRESS")
    guest = woo.email_hash_key("not-an-email")
    assert json.loads(order["last_error"])[0]["message"].startswith(f"waiting for guest buyer {guest[:12]}: ")
    assert f"guest:{guest}" not in contacts(sf_emu)  # the Account went in, the Contact was refused
    # support finds it in the console by its buyer's error code
    page, _ = await ConsoleManager(db).outbox_page(CLI, OutboxFilter(error_code="INVALID_EMAIL_ADDRESS"))
    assert [(r["resource"], r["resource_id"], r["status"]) for r in page] == [("order", 80, "retrying")]
    # `outbox replay --error-code INVALID_EMAIL_ADDRESS` finds the order by its buyer's error
    assert await replay_dead(db, sf_store, error_code="INVALID_EMAIL_ADDRESS") == [("order", 80)]
    await d.drain()
    order = await row(db, "order", 80)
    # the Contact went again (without it the order's own error would be INVALID_FIELD "Foreign key external ID")
    assert (order["status"], order["last_error_code"]) == ("retrying", "INVALID_EMAIL_ADDRESS")
    assert json.loads(order["last_error"])[0]["sobject"] == "Contact"
    # the buyer's address is corrected in the store: the order's new version brings a valid Contact with it
    await outbox.put(sf_store, "order", woo.order(80, email_n=80, modified=5,
                                                  billing={**woo.address(80), "email": "fixed@example.com"}))
    await d.drain()
    assert (await row(db, "order", 80))["status"] == "delivered"


async def test_a_guest_buyers_rejected_contact_is_sent_again_with_its_order(db, sf_store, sf_emu, outbox,
                                                                          make_deliverer):
    d = make_deliverer()
    sf_emu.add_validation_rule("Contact", "No_Rejected", "Rejected contacts are not allowed", condition=BAD_CONTACT)
    guest_billing = {**woo.address(90), "last_name": "Rejected"}
    await outbox.put(sf_store, "order", woo.order(90, email_n=90, billing=guest_billing))
    await d.drain()
    assert (await row(db, "order", 90))["last_error_code"] == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    sf_emu.remove_validation_rule("No_Rejected")
    assert await replay_dead(db, sf_store, resource="order", resource_ids=[90]) == [("order", 90)]
    assert (await d.drain()).outcomes["delivered"] == 1
    guest = woo.email_hash_key("buyer90@example.com")
    assert contacts(sf_emu)[f"guest:{guest}"]["LastName"] == "Rejected"


async def test_replaying_the_order_of_a_rejected_customer_sends_its_contact_too(db, sf_store, sf_emu, outbox,
                                                                              make_deliverer):
    d = make_deliverer()
    sf_emu.add_validation_rule("Contact", "No_Rejected", "Rejected contacts are not allowed", condition=BAD_CONTACT)
    await outbox.put(sf_store, "customer", woo.customer(8, last_name="Rejected"))
    await outbox.put(sf_store, "order", woo.order(81, customer_id=8))
    await d.drain()
    sf_emu.remove_validation_rule("No_Rejected")
    assert await replay_dead(db, sf_store, resource="order") == [("order", 81)]
    assert (await d.drain()).outcomes["delivered"] == 1  # the order brings the Contact the org lacks
    assert "customer:8" in contacts(sf_emu)


async def test_the_daily_limit_pauses_the_store_without_burning_attempts(db, sf_store, sf_emu, outbox,
                                                                         make_deliverer):
    d = make_deliverer(agent_max_attempts=1, sf_budget_pause_s=900)
    await outbox.put(sf_store, "customer", woo.customer(1))
    await d.drain()  # connected while Salesforce is fine
    await outbox.put(sf_store, "customer", woo.customer(2), woo.customer(3))
    sf_emu.faults.add("request_limit", path_contains="/composite")  # lasting: "TotalRequests Limit exceeded."
    stats = await d.drain()
    assert stats.outcomes["paused"] == 2 and stats.outcomes["dead"] == 0
    waiting = [r for r in await rows(db) if r["resource_id"] in (2, 3)]
    assert {(r["status"], r["attempts"], r["last_error_code"]) for r in waiting} == {
        ("pending", 0, "REQUEST_LIMIT_EXCEEDED")}
    (budget,) = await rows(db, "SELECT * FROM sf_budget")
    assert budget["paused"] is True
    async with db.connection() as c:
        assert 800 < await c.fetchval("SELECT extract(epoch FROM paused_until - now()) FROM sf_budget") <= 900
    assert (await d.drain()).claimed == 0  # the paused store is not claimed
    # the allocation recovers: after the pause the rows are delivered
    sf_emu.faults.clear()
    async with db.connection() as c:
        await c.execute("UPDATE sf_budget SET paused_until = now() - interval '1 second'")
        await c.execute("UPDATE outbox SET available_at = now()")
    assert (await d.drain()).outcomes["delivered"] == 2
    assert (await rows(db, "SELECT paused FROM sf_budget"))[0]["paused"] is False


async def test_the_daily_limit_on_the_sign_in_pauses_the_store_and_is_not_an_auth_failure(
        db, sf_store, sf_emu, outbox, make_deliverer):
    d = make_deliverer(agent_max_attempts=1)
    await outbox.put(sf_store, "customer", woo.customer(1))
    sf_emu.faults.add("request_limit", path_contains="/services/oauth2/token")
    stats = await d.drain()
    assert stats.outcomes["paused"] == 1
    (r,) = await rows(db)
    assert (r["status"], r["attempts"], r["last_error_code"]) == ("pending", 0, "REQUEST_LIMIT_EXCEEDED")
    (budget,) = await rows(db, "SELECT * FROM sf_budget")
    assert budget["paused"] is True and budget["paused_until"] is not None
    assert await rows(db, "SELECT * FROM attempts") == []


async def test_the_concurrent_request_limit_is_a_retry_with_backoff(db, sf_store, sf_emu, outbox, make_deliverer):
    d = make_deliverer(agent_retry_schedule_s=[60.0])
    await outbox.put(sf_store, "customer", woo.customer(1))
    await d.drain()
    await outbox.put(sf_store, "customer", woo.customer(2))
    sf_emu.faults.add("request_limit", path_contains="/composite", times=1, message=CONCURRENT_LIMIT_MSG)
    assert (await d.drain()).outcomes["retrying"] == 1
    r = await row(db, "customer", 2)
    assert (r["status"], r["attempts"], r["last_error_code"]) == ("retrying", 1, "REQUEST_LIMIT_EXCEEDED")
    assert 50 < await wait_s(db, "customer", 2) <= 61
    assert await rows(db, "SELECT * FROM sf_budget WHERE paused") == []  # the store goes on


async def test_the_concurrent_limit_on_the_sign_in_is_retried_not_an_auth_failure(db, sf_store, sf_emu, outbox,
                                                                                 make_deliverer):
    d = make_deliverer()
    await outbox.put(sf_store, "customer", woo.customer(1))
    sf_emu.faults.add("request_limit", path_contains="/services/oauth2/token", times=1, message=CONCURRENT_LIMIT_MSG)
    assert (await d.drain()).outcomes["retrying"] == 1
    (r,) = await rows(db)
    assert (r["status"], r["attempts"], r["last_error_code"]) == ("retrying", 0, "REQUEST_LIMIT_EXCEEDED")
    assert (await d.drain()).outcomes["delivered"] == 1  # same client: not dropped as badly configured


async def test_salesforce_check_flags_a_key_that_is_an_external_id_but_not_unique(db, stores, sf_store, sf_emu,
                                                                                  settings):
    assert (await check_salesforce(stores, settings, sf_store))["key_not_unique"] == []
    sf_emu.remove_field("Contact", "Wooforce_Key__c")
    sf_emu.add_field("Contact", "Wooforce_Key__c", "string", 255, external_id=True, unique=False)
    report = await check_salesforce(stores, settings, sf_store)
    assert report["key_not_unique"] == ["Contact"] and report["key_not_external_id"] == [] and not report["ok"]
