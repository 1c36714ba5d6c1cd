"""Both sides change a field owned by both before either change reached the other side: the newer change wins on
both sides, and the losing value is recorded on the entity's console timeline."""
from __future__ import annotations

import pytest

from collector.console.service import CLI, ConsoleManager
from tests.support.twoway import make_rig

pytestmark = pytest.mark.integration


async def conflicts(db, store_id: str, oid: int) -> list[dict]:
    async with db.connection() as conn:
        rows = await conn.fetch("SELECT field, winner, winner_value, loser_value FROM twoway_conflicts "
                                "WHERE store_id = $1 AND resource = 'order' AND resource_id = $2", store_id, oid)
    return [dict(r) for r in rows]


async def both_sides(rig, oid: int) -> tuple[str, str]:
    return rig.wc.store.get_order(oid).doc["status"], rig.sf_record("Order", "order", oid)["Woo_Status__c"]


async def test_the_newer_woocommerce_change_wins_and_the_salesforce_value_is_recorded(rig, db):
    oid = rig.orders[0]
    rig.sf.edit_as_user("Order", rig.sf_record("Order", "order", oid)["Id"], {"Woo_Status__c": "completed"})
    rig.tick(5)  # the store's change is 5 s newer
    rig.wc.store.update_order(oid, {"status": "cancelled"})
    await rig.webhooks()
    puts = rig.wc_puts()
    await rig.poll()  # sees Salesforce's change and WooCommerce's newer one in the outbox
    await rig.sync()
    await rig.sync()
    assert await both_sides(rig, oid) == ("cancelled", "cancelled")
    assert rig.wc_puts() == puts  # the losing Salesforce value was never written to WooCommerce
    assert await conflicts(db, rig.store_id, oid) == [
        {"field": "Woo_Status__c", "winner": "woocommerce", "winner_value": "cancelled", "loser_value": "completed"}]
    timeline = (await ConsoleManager(db).entity(CLI, rig.store_id, "order", oid))["timeline"]
    shown = [t for t in timeline if t["kind"] == "conflict"]
    assert [(t["winner"], t["loser_value"]) for t in shown] == [("woocommerce", "completed")]


@pytest.mark.parametrize("poll_first", [True, False], ids=["poll-first", "delivery-first"])
async def test_the_newer_salesforce_change_wins_and_the_woocommerce_value_is_recorded(db, stores, settings, sf_emu,
                                                                                        wc, poll_first):
    rig = await make_rig(db, stores, settings, sf_emu, wc, orders=1, customers=1)
    try:
        oid = rig.orders[0]
        rig.tick()
        rig.wc.store.update_order(oid, {"status": "cancelled"})  # then, later, a Salesforce user's change
        await rig.webhooks()
        rig.sf.edit_as_user("Order", rig.sf_record("Order", "order", oid)["Id"], {"Woo_Status__c": "completed"})
        writes = rig.sf_writes("Order")
        if poll_first:
            await rig.poll()
        await rig.sync()  # delivery-first: the delivery reads Salesforce before overwriting a field both own
        await rig.sync()
        assert await both_sides(rig, oid) == ("completed", "completed")
        assert await conflicts(db, rig.store_id, oid) == [
            {"field": "Woo_Status__c", "winner": "salesforce", "winner_value": "completed",
             "loser_value": "cancelled"}]
        # the store's older change still reached Salesforce for its other fields, without the status
        assert rig.sf_writes("Order") <= writes + 1
    finally:
        await rig.close()
