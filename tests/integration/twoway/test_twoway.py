"""Salesforce -> WooCommerce against the real emulators over HTTP(S) and a real Postgres: the poll, the WooCommerce
destination of the outbox, echo recognition in both directions, validation and dead letters, API calls per poll."""
from __future__ import annotations

import asyncio

import pytest

pytestmark = pytest.mark.integration


async def outbox_row(db, store_id, destination, resource, rid):
    async with db.connection() as conn:
        return await conn.fetchrow("SELECT * FROM outbox WHERE store_id = $1 AND destination = $2 AND resource = $3 "
                                   "AND resource_id = $4", store_id, destination, resource, rid)


async def test_salesforce_status_and_tracking_reach_woocommerce_once_and_the_echo_stops(rig, db):
    oid = rig.orders[0]
    sf_order = rig.sf_record("Order", "order", oid)
    assert sf_order["Woo_Status__c"] == "processing"
    puts, writes = rig.wc_puts(), rig.sf_writes("Order", "Account", "Contact", "OrderItem")
    rig.tick()
    rig.sf.edit_as_user("Order", sf_order["Id"], {"Woo_Status__c": "completed", "Woo_Tracking_Number__c": "1Z999",
                                                  "Woo_Carrier__c": "UPS"})
    rep = await rig.poll()
    assert (rep.changes, rep.api_calls, rep.error) == (1, 1, None)
    ev = await outbox_row(db, rig.store_id, "woocommerce", "order", oid)
    assert ev["status"] == "pending"
    out = await rig.write()
    assert out["delivered"] == 1
    doc = rig.wc.store.render(rig.wc.store.get_order(oid))
    meta = {m["key"]: m["value"] for m in doc["meta_data"]}
    assert doc["status"] == "completed"
    assert (meta["wooforce_tracking_number"], meta["wooforce_carrier"]) == ("1Z999", "UPS")
    assert rig.wc_puts() == puts + 1
    # the webhook of our own PUT comes back: recognised (same date_modified, same values), not sent to Salesforce
    await rig.deliver()
    assert rig.sf_writes("Order", "Account", "Contact", "OrderItem") == writes + 1  # the human edit only
    async with db.connection() as conn:
        last = await conn.fetchrow("SELECT outcome, error FROM attempts WHERE store_id = $1 AND destination = "
                                   "'salesforce' AND resource = 'order' AND resource_id = $2 ORDER BY started_at DESC "
                                   "LIMIT 1", rig.store_id, oid)
        wc_attempt = await conn.fetchrow("SELECT outcome, request_summary FROM attempts WHERE destination = "
                                         "'woocommerce' AND resource_id = $1", oid)
    assert last["outcome"] == "skipped" and "echo" in last["error"]
    assert wc_attempt["outcome"] == "delivered" and wc_attempt["request_summary"]["path"] == f"orders/{oid}"
    # polling again (the overlap window returns the same row) changes nothing
    rep = await rig.poll()
    assert rep.changes == 0
    assert await rig.writer.drain() == {}
    assert rig.wc_puts() == puts + 1


async def test_our_own_upserts_come_back_in_the_poll_and_are_skipped(rig):
    # WooCommerce changes; the delivery upserts to Salesforce as the integration user; the poll sees them: no write
    rig.tick()
    for oid in rig.orders:
        rig.wc.store.update_order(oid, {"status": "on-hold"})
    await rig.deliver()
    assert {rig.sf_record("Order", "order", o)["Woo_Status__c"] for o in rig.orders} == {"on-hold"}
    puts = rig.wc_puts()
    rep = await rig.poll()
    assert rep.changes == 0 and rep.own >= len(rig.orders)
    assert await rig.writer.drain() == {}
    assert rig.wc_puts() == puts


async def test_customer_phone_and_address_flow_back(rig):
    cid = rig.customers[1]
    acc = rig.sf_record("Account", "customer", cid)
    rig.tick()
    rig.sf.edit_as_user("Account", acc["Id"], {"Phone": "+1 555 0199", "ShippingStreet": "9 Elm St\nApt 4",
                                               "ShippingCity": "Shelbyville"})
    await rig.sync()
    doc = rig.wc.store.render(rig.wc.store.get_customer(cid))
    assert doc["billing"]["phone"] == "+1 555 0199"
    assert (doc["shipping"]["address_1"], doc["shipping"]["address_2"], doc["shipping"]["city"]) == (
        "9 Elm St", "Apt 4", "Shelbyville")
    assert doc["billing"]["city"] == "Springfield"  # untouched fields stay


async def test_a_status_without_woocommerce_equivalent_is_dead_lettered_with_a_clear_error(rig, db):
    oid = rig.orders[1]
    sf_order = rig.sf_record("Order", "order", oid)
    rig.sf.edit_as_user("Order", sf_order["Id"], {"Woo_Status__c": "Lost in transit"})
    puts = rig.wc_puts()
    await rig.poll()
    out = await rig.write()
    assert out == {"dead": 1}
    row = await outbox_row(db, rig.store_id, "woocommerce", "order", oid)
    assert (row["status"], row["last_error_code"]) == ("dead", "twoway_invalid_status")
    assert "'Lost in transit' has no WooCommerce order status" in row["last_error"]
    assert rig.wc_puts() == puts and rig.wc.store.get_order(oid).doc["status"] == "processing"
    # mapped Salesforce wording is accepted (status_map: shipped -> completed); a replay after the fix delivers
    rig.sf.edit_as_user("Order", sf_order["Id"], {"Woo_Status__c": "Shipped"})
    await rig.poll()
    assert (await rig.write())["delivered"] == 1
    assert rig.wc.store.get_order(oid).doc["status"] == "completed"


async def test_one_composite_call_per_poll_and_paging_by_next_records_url(rig, db):
    before = rig.sf.stats()["api_usage"]
    rep = await rig.poll()
    assert rep.api_calls == 1 and rig.sf.stats()["api_usage"] == before + 1  # Order and Account in one call
    assert rep.rows == {"Order": len(rig.orders), "Account": len(rig.customers)}
    # 450 changed orders with 200 rows a page: pages 2 and 3 of each object ride in the next Composite calls
    st = rig.wc.store
    for n in range(447):
        o = st.create_order({"status": "processing", "billing": {"email": f"p{n}@example.com"}})
        rig.orders.append(o.id)
    await rig.deliver()
    rig.poller.settings = rig.poller.settings.model_copy(update={"sf_poll_batch_size": 200})
    before = rig.sf.stats()["api_usage"]
    rep = await rig.poll()
    assert rep.rows["Order"] >= 450 and rep.error is None
    assert rep.api_calls == 3 and rig.sf.stats()["api_usage"] == before + 3
    async with db.connection() as conn:
        state = await conn.fetch("SELECT sobject, cursor_at, last_api_calls FROM sf_poll_state WHERE store_id = $1",
                                 rig.store_id)
    assert {r["sobject"] for r in state} == {"Order", "Account"} and all(r["cursor_at"] for r in state)


async def test_a_change_to_an_order_the_store_trashed_does_not_restore_it(rig, db):
    oid = rig.orders[2]
    rig.tick()
    rig.wc.store.trash_order(oid)
    await rig.deliver()
    rig.tick()
    rig.sf.edit_as_user("Order", rig.sf_record("Order", "order", oid)["Id"], {"Woo_Tracking_Number__c": "1Z1"})
    puts = rig.wc_puts()
    await rig.poll()
    assert await rig.write() == {"skipped": 1}
    assert rig.wc_puts() == puts and rig.wc.store.get_order(oid).status == "trash"


async def test_a_store_without_woocommerce_rest_keys_is_not_polled(rig, stores, sf_emu):
    row, _ = await stores.add("Webhooks only", wc_url="https://shop.example", wc_credentials={"webhook_secret": "s"})
    from tests.support.agent_fixtures import sf_connection

    await stores.set_salesforce(row["id"], sf_connection(sf_emu))
    before = sf_emu.stats()["api_usage"]
    rep = await rig.poller.poll_store(row["id"])
    assert rep.skipped and rep.api_calls == 0 and sf_emu.stats()["api_usage"] == before


async def test_a_slow_woocommerce_write_keeps_its_lease(rig, db):
    """The WooCommerce writer extends its leases while a batch runs (like the Salesforce delivery): a batch that
    outlasts AGENT_LEASE_S is not claimed by a second writer, and the store gets one PUT."""
    oid = rig.orders[0]
    sf_order = rig.sf_record("Order", "order", oid)
    rig.tick()
    rig.sf.edit_as_user("Order", sf_order["Id"], {"Woo_Status__c": "completed"})
    assert (await rig.poll()).changes == 1
    puts = rig.wc_puts()
    rig.writer.settings = rig.writer.settings.model_copy(update={"agent_lease_s": 1.0})
    rig.wc.config.api_latency_ms = 3000  # the write (one PUT) takes three leases
    batch = asyncio.create_task(rig.writer.run_batch())
    await asyncio.sleep(1.7)
    assert not batch.done()
    stolen = await db.fetch("claim_outbox", "another-writer", 10, 1.0, "woocommerce", [])
    assert [dict(r) for r in stolen] == [], "the lease of a running batch expired"
    out = await asyncio.wait_for(batch, 30)
    rig.wc.config.api_latency_ms = 0
    assert out["delivered"] == 1
    assert rig.wc_puts() == puts + 1
