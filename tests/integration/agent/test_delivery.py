"""Delivery to the Salesforce emulator (real HTTPS, real Postgres): mapping, dependency order, record-by-record
outcomes, retries, dead letters and replay, session expiry, API budget, bulk."""
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from agent.admin import check_salesforce, replay_dead
from emulators.salesforce.errors import CONCURRENT_LIMIT_MSG
from tests.support import woo

pytestmark = pytest.mark.integration


async def rows(db, sql: str = "SELECT * FROM outbox ORDER BY resource, resource_id") -> list[dict]:
    async with db.connection() as c:
        return [dict(r) for r in await c.fetch(sql)]


def by_key(emu, sobject: str) -> dict[str, dict]:
    recs = emu.records(sobject)
    keys = [r["Wooforce_Key__c"] for r in recs]
    assert len(keys) == len(set(keys)), f"duplicate {sobject} records"
    return {k.split(":", 1)[1]: r for k, r in zip(keys, recs)}


async def test_orders_before_their_customer_and_products_are_delivered_with_dependencies(
        db, sf_store, sf_emu, outbox, deliverer):
    # the orders arrive first; their customer and products only later (and after the first drain)
    await outbox.put(sf_store, "order", woo.order(100, customer_id=5, products=(1, 2)),
                     woo.order(101, products=(2,), email_n=77), woo.order(102, products=(3,), email_n=77))
    stats = await deliverer.drain()
    assert stats.outcomes["delivered"] == 3 and stats.api_calls <= 4  # limits + price book + 2 composites
    accounts, orders, items = by_key(sf_emu, "Account"), by_key(sf_emu, "Order"), by_key(sf_emu, "OrderItem")
    guest = woo.email_hash_key("buyer77@example.com")
    assert set(accounts) == {"customer:5", f"guest:{guest}"}  # two guest orders, one account; no raw email
    assert not any("@" in k for k in accounts)
    o = orders["order:100"]
    assert o["AccountId"] == accounts["customer:5"]["Id"] and o["Status"] == "Draft"
    assert (o["Woo_Status__c"], o["Woo_Currency__c"], o["Woo_Shipping_Method__c"]) == ("processing", "USD", "Flat rate")
    assert (o["Woo_Total__c"], o["Woo_Shipping_Total__c"], o["Woo_Tax_Total__c"]) == (48.0, 5.0, 3.0)
    assert o["Woo_Transaction_Id__c"] == "ch_100" and o["Woo_Date_Paid__c"].startswith("2026-11-22T12:01")
    assert o["BillingCity"] == "Springfield" and o["EffectiveDate"] == "2026-11-22"
    assert orders["order:101"]["AccountId"] == orders["order:102"]["AccountId"] == accounts[f"guest:{guest}"]["Id"]
    entries = by_key(sf_emu, "PricebookEntry")
    assert items["order:100:item:1001"]["OrderId"] == o["Id"]
    assert items["order:100:item:1002"]["PricebookEntryId"] == entries["product:2"]["Id"]
    assert entries["product:2"]["Pricebook2Id"] == sf_emu.standard_pricebook_id
    # now the customer and a product arrive with their real data: they update, never duplicate
    await outbox.put(sf_store, "customer", woo.customer(5, last_name="Real", modified=5))
    await outbox.put(sf_store, "product", woo.product(2, price="12.50", modified=5, stock_quantity=7))
    assert (await deliverer.drain()).outcomes["delivered"] == 2
    assert by_key(sf_emu, "Contact")["customer:5"]["LastName"] == "Real"
    assert by_key(sf_emu, "Product2")["product:2"]["Woo_Stock_Quantity__c"] == 7
    assert by_key(sf_emu, "PricebookEntry")["product:2"]["UnitPrice"] == 12.5
    out = await rows(db)
    assert {r["status"] for r in out} == {"delivered"} and all(r["sf_id"] for r in out)
    sfmap = await rows(db, "SELECT count(*) AS n FROM salesforce_records")
    assert sfmap[0]["n"] == 1 + 2 * 2 + 3 * 2 + 3 + 4  # price book + accounts/contacts + products/entries + orders + items


async def test_partial_failure_in_one_collection_then_replay_after_fixing_the_rule(db, sf_store, sf_emu, outbox,
                                                                                     deliverer):
    sf_emu.add_validation_rule("Order", "Max_Total", "Orders above 100 need approval",
                               condition={"field": "Woo_Total__c", "op": "gt", "value": 100})
    await outbox.put(sf_store, "order", woo.order(1), woo.order(2, products=(1, 2, 3, 4, 5)), woo.order(3))
    stats = await deliverer.drain()
    assert (stats.outcomes["delivered"], stats.outcomes["dead"]) == (2, 1)
    out = {r["resource_id"]: r for r in await rows(db)}
    assert out[2]["status"] == "dead" and out[2]["last_error_code"] == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    assert "Orders above 100 need approval" in json.loads(out[2]["last_error"])[0]["message"]
    assert out[1]["status"] == out[3]["status"] == "delivered"
    attempts = await rows(db, "SELECT resource_id, outcome, status_code, error_code FROM attempts ORDER BY resource_id")
    assert [(a["resource_id"], a["outcome"]) for a in attempts] == [(1, "delivered"), (2, "dead"), (3, "delivered")]
    # a batch this small is one Composite request (issue 19): its three orders go record by record, so the refused
    # one's status is its own subrequest's 400 (a collection's partial failure answers 200)
    assert attempts[1]["error_code"] == "FIELD_CUSTOM_VALIDATION_EXCEPTION" and attempts[1]["status_code"] == 400
    assert set(by_key(sf_emu, "Order")) == {"order:1", "order:3"}
    # dead stays dead on the next run; after the rule is fixed a replay delivers it
    assert (await deliverer.drain()).claimed == 0
    sf_emu.remove_validation_rule("Max_Total")
    assert await replay_dead(db, sf_store, resource="order") == [("order", 2)]
    assert (await deliverer.drain()).outcomes["delivered"] == 1
    assert len(by_key(sf_emu, "OrderItem")) == 7


async def test_outage_then_recovery_loses_nothing_and_duplicates_nothing(db, sf_store, sf_emu, outbox, deliverer):
    await outbox.put(sf_store, "customer", *(woo.customer(i) for i in range(1, 6)))
    await outbox.put(sf_store, "order", *(woo.order(i, customer_id=i) for i in range(1, 6)))
    # first the connection works, then Salesforce goes down mid-batch (the write commits, the answer is a 503)
    fault = sf_emu.faults.add("unavailable", phase="after", path_contains="/composite", times=1)
    stats = await deliverer.drain()
    assert stats.outcomes["retrying"] == 10 and fault.hits == 1
    out = await rows(db)
    assert {r["status"] for r in out} == {"retrying"} and {r["attempts"] for r in out} == {1}
    sf_emu.faults.add("unavailable")  # now fully down
    assert (await deliverer.drain()).outcomes["retrying"] == 10
    assert {r["status_code"] for r in await rows(db, "SELECT status_code FROM attempts")} == {503}
    sf_emu.faults.clear()
    stats = await deliverer.drain()
    assert stats.outcomes["delivered"] == 10, [(r["resource"], r["last_error"]) for r in await rows(db)]
    assert len(by_key(sf_emu, "Account")) == 5 and len(by_key(sf_emu, "Order")) == 5
    assert len(by_key(sf_emu, "OrderItem")) == 5 and len(by_key(sf_emu, "Contact")) == 5


async def test_out_of_order_and_duplicate_events_newest_wins(db, sf_store, sf_emu, outbox, deliverer):
    new = outbox.event(sf_store, "order", woo.order(9, status="completed", modified=10), event_id="e-new")
    old = outbox.event(sf_store, "order", woo.order(9, status="pending", modified=1), event_id="e-old")
    dup = outbox.event(sf_store, "order", woo.order(9, status="completed", modified=10), event_id="e-new")
    await outbox.put_events([new])
    await outbox.put_events([old])  # arrives late
    await outbox.put_events([dup])  # delivered twice by the sender
    await deliverer.drain()
    assert by_key(sf_emu, "Order")["order:9"]["Woo_Status__c"] == "completed"
    await outbox.put_events([outbox.event(sf_store, "order", woo.order(9, status="on-hold", modified=5))])
    assert (await deliverer.drain()).claimed == 0  # an older version never becomes the head
    assert by_key(sf_emu, "Order")["order:9"]["Woo_Status__c"] == "completed"
    assert len(await rows(db, "SELECT * FROM attempts")) == 1


async def test_expired_session_logs_in_again(db, sf_store, sf_emu, outbox, deliverer):
    await outbox.put(sf_store, "customer", woo.customer(1))
    await deliverer.drain()
    tokens = sf_emu.stats()["oauth_tokens"]
    sf_emu.expire_sessions()
    await outbox.put(sf_store, "customer", woo.customer(2))
    stats = await deliverer.drain()
    assert stats.outcomes["delivered"] == 1
    s = sf_emu.stats()
    assert s["oauth_tokens"] == tokens + 1 and s["unauthorized"] >= 1


async def test_lock_errors_are_retried_record_by_record(db, sf_store, sf_emu, outbox, deliverer):
    await outbox.put(sf_store, "product", *(woo.product(i) for i in range(1, 5)))
    sf_emu.faults.add("lock_row", times=1)  # one record of the first collection
    stats = await deliverer.drain(max_batches=1)
    assert (stats.outcomes["delivered"], stats.outcomes["retrying"]) == (3, 1)
    retry = [r for r in await rows(db) if r["status"] == "retrying"]
    assert retry[0]["last_error_code"] == "UNABLE_TO_LOCK_ROW"
    assert (await deliverer.drain()).outcomes["delivered"] == 1
    assert len(by_key(sf_emu, "Product2")) == 4


async def test_retryable_errors_dead_letter_after_max_attempts(db, sf_store, sf_emu, outbox, make_deliverer):
    d = make_deliverer(agent_max_attempts=2)
    await outbox.put(sf_store, "customer", woo.customer(1))
    sf_emu.faults.add("unavailable", path_contains="/composite")
    await d.drain()
    await d.drain()
    (row,) = await rows(db)
    assert (row["status"], row["attempts"], row["last_error_code"]) == ("dead", 2, "SERVER_UNAVAILABLE")


async def test_budget_pause_before_the_share_is_passed(db, sf_store, sf_emu, outbox, make_deliverer):
    d = make_deliverer(sf_api_budget_share=0.8)
    sf_emu.set_daily_api_max(100, api_usage=79)
    await outbox.put(sf_store, "customer", woo.customer(1), woo.customer(2))
    stats = await d.drain()
    assert stats.outcomes["paused"] == 2
    assert sf_emu.api_calls == 80  # only the /limits read
    (budget,) = await rows(db, "SELECT * FROM sf_budget")
    assert (budget["api_used"], budget["api_max"], budget["paused"]) == (80, 100, True)
    assert {r["status"] for r in await rows(db)} == {"pending"} and await rows(db, "SELECT * FROM attempts") == []
    assert (await d.drain()).claimed == 0  # a paused store is not claimed
    # the allocation resets (new day): after the pause the store is delivered again
    sf_emu.set_daily_api_max(100, api_usage=0)
    async with db.connection() as c:
        await c.execute("UPDATE sf_budget SET paused_until = now() - interval '1 second'")
        await c.execute("UPDATE outbox SET available_at = now()")
    d.drain_clients = None
    stats = await d.drain()
    assert stats.outcomes["delivered"] == 2
    assert (await rows(db, "SELECT paused FROM sf_budget"))[0]["paused"] is False


async def test_trash_and_delete_are_mapped(db, sf_store, sf_emu, outbox, make_deliverer, tmp_path):
    erase = tmp_path / "erase.toml"
    erase.write_text('[options]\ncustomer_on_delete = "erase"\n')
    d = make_deliverer(mapping_file=erase)
    await outbox.put(sf_store, "customer", woo.customer(1))
    await outbox.put(sf_store, "product", woo.product(1))
    await outbox.put(sf_store, "order", woo.order(1, customer_id=1), woo.order(2))
    await d.drain()
    await outbox.put(sf_store, "product", {"id": 1}, action="deleted")
    await outbox.put(sf_store, "order", woo.order(1, customer_id=1, modified=3), action="trashed")
    await outbox.put(sf_store, "order", {"id": 2}, action="deleted")
    await outbox.put(sf_store, "customer", {"id": 1}, action="deleted")
    await outbox.put(sf_store, "product", {"id": 99}, action="deleted")  # never synced: nothing to do
    stats = await d.drain()
    assert stats.outcomes["delivered"] == 4 and stats.outcomes["skipped"] == 1
    assert by_key(sf_emu, "Product2")["product:1"]["IsActive"] is False
    assert by_key(sf_emu, "PricebookEntry")["product:1"]["IsActive"] is True  # old orders may still use it
    await outbox.put(sf_store, "order", woo.order(3, products=(1,)))  # a late order of the retired product
    assert (await d.drain()).outcomes["delivered"] == 1
    orders = by_key(sf_emu, "Order")
    assert (orders["order:1"]["Woo_Status__c"], orders["order:2"]["Woo_Status__c"]) == ("trash", "deleted")
    contact, account = by_key(sf_emu, "Contact")["customer:1"], by_key(sf_emu, "Account")["customer:1"]
    assert (contact["LastName"], contact["Email"], contact["FirstName"], contact["MailingStreet"]) == (
        "Erased", None, None, None)
    assert (account["Name"], account["Phone"], account["Woo_Email_Hash__c"]) == ("Erased customer", None, None)


async def test_order_lines_removed_in_woocommerce_are_deleted_in_salesforce(db, sf_store, sf_emu, outbox, deliverer):
    doc = woo.order(5, products=(1, 2, 3))
    await outbox.put(sf_store, "order", doc, woo.order(6, products=(1,)))
    assert (await deliverer.drain()).outcomes["delivered"] == 2
    assert {k for k in by_key(sf_emu, "OrderItem") if k.startswith("order:5:")} == {
        "order:5:item:51", "order:5:item:52", "order:5:item:53"}
    # the shop removes line 52 and edits another order; order 6 keeps its line
    calls = sf_emu.api_calls
    await outbox.put(sf_store, "order", {**doc, "line_items": [doc["line_items"][0], doc["line_items"][2]],
                                          "total": "48.00", "date_modified_gmt": woo.ts(2)},
                     woo.order(6, products=(1,), modified=2, customer_note="gift"))
    stats = await deliverer.drain()
    assert stats.outcomes["delivered"] == 2 and sf_emu.api_calls - calls == 2  # one upsert + one delete call
    items = by_key(sf_emu, "OrderItem")
    assert set(items) == {"order:5:item:51", "order:5:item:53", "order:6:item:61"}
    async with db.connection() as c:
        mapped = {r["wooforce_key"].split(":", 1)[1] for r in await c.fetch(
            "SELECT wooforce_key FROM salesforce_records WHERE sobject = 'OrderItem'")}
        summary = await c.fetchval("SELECT request_summary FROM attempts WHERE resource_id = 5 ORDER BY started_at "
                                   "DESC LIMIT 1")
    assert mapped == set(items) and summary["deleted"] == {"OrderItem": 1}
    # nothing removed: no delete call; a line someone already deleted in Salesforce counts as deleted
    calls = sf_emu.api_calls
    await outbox.put(sf_store, "order", {**doc, "line_items": [doc["line_items"][0], doc["line_items"][2]],
                                          "date_modified_gmt": woo.ts(3)})
    assert (await deliverer.drain()).outcomes["delivered"] == 1 and sf_emu.api_calls - calls == 1
    sf_emu.delete_as_user("OrderItem", items["order:5:item:53"]["Id"])
    await outbox.put(sf_store, "order", {**doc, "line_items": [doc["line_items"][0]], "date_modified_gmt": woo.ts(4)})
    assert (await deliverer.drain()).outcomes["delivered"] == 1
    assert {k for k in by_key(sf_emu, "OrderItem") if k.startswith("order:5:")} == {"order:5:item:51"}


async def test_bulk_api_above_the_threshold(db, sf_store, sf_emu, outbox, make_deliverer):
    d = make_deliverer(sf_bulk_threshold_records=5, sf_bulk_poll_s=0.05)
    await outbox.put(sf_store, "product", *(woo.product(i) for i in range(1, 9)))
    sf_emu.add_validation_rule("Product2", "No_13", "SKU 13 is reserved",
                               condition={"field": "ProductCode", "op": "eq", "value": "SKU-3"})
    stats = await d.drain()
    assert (stats.outcomes["delivered"], stats.outcomes["dead"]) == (7, 1)
    s = sf_emu.stats()["by_endpoint"]
    # Product2 and PricebookEntry jobs; the one Composite looked for the products in the org first (issue 17)
    assert s.get("bulk2.create") == 2 and s.get("composite") == 1
    assert len(by_key(sf_emu, "PricebookEntry")) == 7
    dead = [r for r in await rows(db) if r["status"] == "dead"]
    assert dead[0]["resource_id"] == 3 and dead[0]["last_error_code"] == "FIELD_CUSTOM_VALIDATION_EXCEPTION"


async def test_salesforce_check_lists_missing_fields(db, stores, sf_store, sf_emu, settings):
    report = await check_salesforce(stores, settings, sf_store)
    assert report["ok"] and report["missing"] == {}
    sf_emu.remove_field("Order", "Woo_Tax_Total__c")
    report = await check_salesforce(stores, settings, sf_store)
    assert report["missing"] == {"Order": ["Woo_Tax_Total__c"]} and not report["ok"]


async def test_jwt_bearer_connection(db, stores, store, sf_emu, outbox, deliverer, tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = tmp_path / "sf.key"
    pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    sf_emu.register_jwt_app("jwt-app", key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo), "sync@shop.example")
    await stores.set_salesforce(store.id, {"instance_url": sf_emu.url, "auth": "jwt", "client_id": "jwt-app",
                                           "username": "sync@shop.example", "private_key_file": str(pem),
                                           "login_url": sf_emu.url, "ca_file": str(sf_emu.ca_path)})
    await outbox.put(store.id, "customer", woo.customer(1))
    assert (await deliverer.drain()).outcomes["delivered"] == 1
    user = next(u for u in sf_emu.records("User") if u["Username"] == "sync@shop.example")
    assert by_key(sf_emu, "Account")["customer:1"]["CreatedById"] == user["Id"]


@pytest.mark.parametrize("fault, code", [
    (dict(kind="request_limit", message=CONCURRENT_LIMIT_MSG), "REQUEST_LIMIT_EXCEEDED"),  # the daily one pauses
    (dict(kind="timeout", hang_s=5), "TIMEOUT"),
    (dict(kind="unavailable"), "SERVER_UNAVAILABLE"),
])
async def test_request_level_failures_are_retryable(db, sf_store, sf_emu, outbox, make_deliverer, fault, code):
    d = make_deliverer(sf_timeout_s=0.5)
    await outbox.put(sf_store, "customer", woo.customer(1))
    await d.drain()  # connect (limits, price book) while Salesforce is fine
    await outbox.put(sf_store, "customer", woo.customer(2))
    kind = fault.pop("kind")
    sf_emu.faults.add(kind, path_contains="/composite", times=1, **fault)
    stats = await d.drain(max_batches=1)
    assert stats.outcomes["retrying"] == 1
    row = next(r for r in await rows(db) if r["resource_id"] == 2)
    assert (row["status"], row["last_error_code"]) == ("retrying", code)
    assert (await d.drain()).outcomes["delivered"] == 1


@pytest.mark.parametrize("kind, header", [("unavailable", "seconds"), ("request_limit", "http-date")])
async def test_retry_after_from_salesforce_postpones_the_retry(db, sf_store, sf_emu, outbox, make_deliverer, kind,
                                                               header):
    """The retry schedule says retry at once, but Salesforce (or a gateway in front of it) asked for 30 s, in either
    form RFC 9110 allows."""
    d = make_deliverer(agent_retry_schedule_s=[0.0])
    await outbox.put(sf_store, "customer", woo.customer(1))
    await d.drain()  # connect while Salesforce is fine
    await outbox.put(sf_store, "customer", woo.customer(2))
    value = "30" if header == "seconds" else format_datetime(datetime.now(UTC) + timedelta(seconds=30),
                                                              usegmt=True)
    extra = {"message": CONCURRENT_LIMIT_MSG} if kind == "request_limit" else {}  # the daily limit pauses instead
    fault = sf_emu.faults.add(kind, path_contains="/composite", times=1, retry_after=value, **extra)
    assert (await d.drain()).outcomes["retrying"] == 1 and fault.hits == 1
    async with db.connection() as c:
        wait_s = await c.fetchval("SELECT extract(epoch FROM available_at - now()) FROM outbox WHERE resource_id = 2")
    assert 25 < wait_s <= 31
    assert (await d.drain()).claimed == 0  # not due yet


async def test_query_follows_next_records_url(sf_emu):
    from agent.salesforce import SalesforceClient
    from tests.support.agent_fixtures import sf_connection

    for i in range(2_050):
        sf_emu.insert("Product2", {"Name": f"P{i}", "ProductCode": f"Q-{i}"})
    client = SalesforceClient(sf_connection(sf_emu), api_version="66.0")
    try:
        rows = client.query("SELECT Id, ProductCode FROM Product2 WHERE ProductCode LIKE 'Q-%'")
        assert len(rows) == 2_050 and len({r["Id"] for r in rows}) == 2_050
        assert client.calls == 2  # two pages
    finally:
        client.close()
