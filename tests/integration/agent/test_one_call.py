"""A small batch is one API call: one Composite request holding collections for the larger sObject groups and
single-record upserts for the rest, in dependency order (issue 19). Real Postgres, the Salesforce emulator."""
from __future__ import annotations

import json

import pytest

from tests.support import woo

pytestmark = pytest.mark.integration
# a batch with customers and products Wooforce never wrote first looks for them in the org (issue 17, records the
# org already has: agent/delivery/adopt.py): one Composite of lookups, on top of the write calls counted here
LOOKUP = 1


def by_key(emu, sobject: str) -> dict[str, dict]:
    recs = emu.records(sobject)
    keys = [r["Wooforce_Key__c"] for r in recs]
    assert len(keys) == len(set(keys)), f"duplicate {sobject} records"
    return {k.split(":", 1)[1]: r for k, r in zip(keys, recs)}


async def _warm(sf_store, outbox, deliverer) -> None:
    """The first batch also reads /limits and the standard price book: not what is counted."""
    await outbox.put(sf_store, "customer", woo.customer(999))
    assert (await deliverer.drain()).outcomes["delivered"] == 1


async def test_five_orders_with_new_customers_and_products_in_exactly_one_api_call(db, sf_store, sf_emu, outbox,
                                                                                    deliverer):
    await _warm(sf_store, outbox, deliverer)
    # 5 orders x 3 lines; every customer and product is new to Salesforce (6 sObjects: today two requests)
    await outbox.put(sf_store, "order", *(woo.order(i, customer_id=i, products=(3 * i, 3 * i + 1, 3 * i + 2))
                                          for i in range(1, 6)))
    before = sf_emu.api_calls
    stats = await deliverer.drain()
    assert sf_emu.api_calls - before == 1 + LOOKUP and stats.api_calls == 1 + LOOKUP
    assert stats.outcomes["delivered"] == 5
    assert sf_emu.stats()["composite_subrequests"].get("sobjects.upsert", 0) == 5  # one group record by record
    accounts, contacts, orders = by_key(sf_emu, "Account"), by_key(sf_emu, "Contact"), by_key(sf_emu, "Order")
    entries, items = by_key(sf_emu, "PricebookEntry"), by_key(sf_emu, "OrderItem")
    products = by_key(sf_emu, "Product2")
    for i in range(1, 6):
        o = orders[f"order:{i}"]
        assert o["AccountId"] == accounts[f"customer:{i}"]["Id"]
        assert contacts[f"customer:{i}"]["AccountId"] == accounts[f"customer:{i}"]["Id"]
        for n, pid in enumerate((3 * i, 3 * i + 1, 3 * i + 2), 1):
            line = items[f"order:{i}:item:{i * 10 + n}"]
            assert line["OrderId"] == o["Id"] and line["PricebookEntryId"] == entries[f"product:{pid}"]["Id"]
            assert entries[f"product:{pid}"]["Product2Id"] == products[f"product:{pid}"]["Id"]
    # every record's Id is remembered, single-record subrequests' too
    async with db.connection() as c:
        mapped = {(r["sobject"], r["wooforce_key"]): r["sf_id"] for r in await c.fetch(
            "SELECT sobject, wooforce_key, sf_id FROM salesforce_records")}
        delivered = {r["resource_id"]: r["sf_id"] for r in await c.fetch(
            "SELECT resource_id, sf_id FROM outbox WHERE resource = 'order'")}
    for sobject, recs in (("Account", accounts), ("Contact", contacts), ("Order", orders), ("OrderItem", items)):
        for k, r in recs.items():
            assert mapped[(sobject, f"{sf_store}:{k}")] == r["Id"], (sobject, k)
    assert delivered == {i: orders[f"order:{i}"]["Id"] for i in range(1, 6)}
    # the same orders and their customers again (updates, 200 created false): one call, nothing duplicated (a
    # change of a two-way field would add two-way sync's read of Salesforce first: not made here)
    await outbox.put(sf_store, "customer", *(woo.customer(i, last_name=f"New{i}", modified=5) for i in range(1, 6)))
    await outbox.put(sf_store, "order", *(woo.order(i, customer_id=i, products=(3 * i, 3 * i + 1, 3 * i + 2),
                                                    modified=5) for i in range(1, 6)))
    before = sf_emu.api_calls
    stats = await deliverer.drain()
    assert (sf_emu.api_calls - before, stats.outcomes["delivered"]) == (1, 10), sf_emu.stats()
    assert {c["LastName"] for c in by_key(sf_emu, "Contact").values()} == {f"New{i}" for i in range(1, 6)} | {
        "Last999"}
    assert len(by_key(sf_emu, "Order")) == 5 and len(by_key(sf_emu, "OrderItem")) == 15


async def test_one_call_outcomes_stay_record_by_record(db, sf_store, sf_emu, outbox, deliverer):
    """In the one-call plan the orders go record by record: one order refused by a validation rule is dead with
    that rule's error, its lines fail for want of it; the other orders, their customers and lines are delivered."""
    await _warm(sf_store, outbox, deliverer)
    sf_emu.add_validation_rule("Order", "Max_Total", "Orders above 100 need approval",
                               condition={"field": "Woo_Total__c", "op": "gt", "value": 100})
    docs = [woo.order(i, customer_id=i, products=(3 * i, 3 * i + 1, 3 * i + 2)) for i in range(1, 6)]
    docs[2]["total"] = "500.00"
    await outbox.put(sf_store, "order", *docs)
    before = sf_emu.api_calls
    stats = await deliverer.drain()
    assert sf_emu.api_calls - before == 1 + LOOKUP
    assert (stats.outcomes["delivered"], stats.outcomes["dead"]) == (4, 1)
    async with db.connection() as c:
        rows = {r["resource_id"]: dict(r) for r in await c.fetch(
            "SELECT resource_id, status, last_error_code, last_error FROM outbox WHERE resource = 'order'")}
        attempt = await c.fetchrow("SELECT status_code, error_code FROM attempts WHERE resource_id = 3")
    assert rows[3]["status"] == "dead" and rows[3]["last_error_code"] == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    errors = json.loads(rows[3]["last_error"])
    assert errors[0]["sobject"] == "Order" and json.loads(errors[0]["message"]) == [  # as a collection result's
        {"statusCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION", "message": "Orders above 100 need approval", "fields": []}]
    assert (attempt["status_code"], attempt["error_code"]) == (400, "FIELD_CUSTOM_VALIDATION_EXCEPTION")
    assert set(by_key(sf_emu, "Order")) == {f"order:{i}" for i in (1, 2, 4, 5)}
    assert len(by_key(sf_emu, "OrderItem")) == 12 and "customer:3" in by_key(sf_emu, "Account")


async def test_a_batch_too_large_for_one_request_keeps_the_collection_plan(db, sf_store, sf_emu, outbox, deliverer,
                                                                           agent_settings):
    """30 orders with new customers: 30 Accounts, Contacts and Orders cannot go record by record within 25
    subrequests, so the batch keeps five collections per request (two requests, no single-record upserts)."""
    await _warm(sf_store, outbox, deliverer)
    await outbox.put(sf_store, "order", *(woo.order(i, customer_id=i, products=(i, i + 100)) for i in range(1, 31)))
    before = sf_emu.api_calls
    stats = await deliverer.drain()
    assert stats.outcomes["delivered"] == 30 and sf_emu.api_calls - before == 2 + LOOKUP
    assert sf_emu.stats()["composite_subrequests"].get("sobjects.upsert", 0) == 0
