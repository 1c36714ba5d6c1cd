"""Order activation (issue 18; mapping option activate_order_statuses): an order in a status mapped as active is
Activated after its lines are written; Salesforce locks an Activated order's lines, so a later line edit sets the
order back to Draft, writes the lines and activates it again, all in one Composite call; a removed line is deleted
between a Draft and an Activated write; a status not mapped as active leaves the order Draft. Real Postgres, the
Salesforce emulator (which refuses line changes on an Activated order, ENTITY_IS_LOCKED)."""
from __future__ import annotations

import pytest

from tests.support import woo
from tests.support.agent_fixtures import sf_connection

pytestmark = pytest.mark.integration


@pytest.fixture
async def active_store(stores, store, sf_emu, tmp_path):
    own = tmp_path / "own.toml"
    own.write_text('[options]\nactivate_order_statuses = ["processing", "completed"]\n')
    await stores.set_salesforce(store.id, {**sf_connection(sf_emu), "mapping_file": str(own)})
    return store.id


def _order(emu, sid: str, oid: int) -> dict:
    return next(r for r in emu.records("Order") if r["Wooforce_Key__c"] == f"{sid}:order:{oid}")


def _lines(emu, sid: str, oid: int) -> dict[str, dict]:
    prefix = f"{sid}:order:{oid}:item:"
    return {r["Wooforce_Key__c"][len(prefix):]: r for r in emu.records("OrderItem")
            if r["Wooforce_Key__c"].startswith(prefix)}


async def test_activation_and_a_line_edit_in_one_composite_call(db, active_store, sf_emu, outbox, deliverer):
    sid = active_store
    await outbox.put(sid, "customer", woo.customer(1))
    await outbox.put(sid, "product", woo.product(1), woo.product(2), woo.product(3))
    assert (await deliverer.drain()).outcomes["delivered"] == 4
    await outbox.put(sid, "order", woo.order(7, customer_id=1, products=(1, 2), status="processing", modified=1))
    stats = await deliverer.drain()
    assert stats.outcomes["delivered"] == 1, stats
    assert _order(sf_emu, sid, 7)["StatusCode"] == "Activated"
    assert {k: r["Quantity"] for k, r in _lines(sf_emu, sid, 7).items()} == {"71": 2.0, "72": 2.0}

    # a line edit: quantity 5 on line 71 (the emulator refuses it while the order is Activated)
    doc = woo.order(7, customer_id=1, products=(1, 2), status="completed", modified=2)
    doc["line_items"][0]["quantity"] = 5
    await outbox.put(sid, "order", doc)
    before, ends = sf_emu.api_calls, dict(sf_emu.stats()["by_endpoint"])
    stats = await deliverer.drain()
    assert stats.outcomes["delivered"] == 1, stats
    ends = {k: n - ends.get(k, 0) for k, n in sf_emu.stats()["by_endpoint"].items() if n != ends.get(k, 0)}
    # Draft, lines, Activated: one Composite (plus the two-way read of the order's Salesforce-owned fields that
    # every update of a known order makes: agent/twoway/hooks.py preflight)
    assert ends == {"composite": 1, "query": 1} and sf_emu.api_calls - before == 2 == stats.api_calls
    assert _order(sf_emu, sid, 7)["StatusCode"] == "Activated"
    assert _order(sf_emu, sid, 7)["Woo_Status__c"] == "completed"
    assert {k: r["Quantity"] for k, r in _lines(sf_emu, sid, 7).items()} == {"71": 5.0, "72": 2.0}

    # a line removed (72) and one added (73): upserts in one call, the delete between a Draft and an Activated write
    doc = woo.order(7, customer_id=1, products=(1, 2, 3), status="completed", modified=3)
    doc["line_items"] = [doc["line_items"][0], doc["line_items"][2]]
    await outbox.put(sid, "order", doc)
    stats = await deliverer.drain()
    assert stats.outcomes["delivered"] == 1, stats
    assert set(_lines(sf_emu, sid, 7)) == {"71", "73"}
    assert _order(sf_emu, sid, 7)["StatusCode"] == "Activated"

    # a status not mapped as active: the order is left Draft
    await outbox.put(sid, "order", woo.order(7, customer_id=1, products=(1, 3), status="refunded", modified=4))
    assert (await deliverer.drain()).outcomes["delivered"] == 1
    assert _order(sf_emu, sid, 7)["StatusCode"] == "Draft"


async def test_without_the_option_orders_stay_draft(db, sf_store, sf_emu, outbox, deliverer):
    await outbox.put(sf_store, "order", woo.order(8, products=(1,), status="completed"))
    assert (await deliverer.drain()).outcomes["delivered"] == 1
    assert _order(sf_emu, sf_store, 8)["StatusCode"] == "Draft"
