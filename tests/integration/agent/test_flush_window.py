"""The flush window (issue 19): a store's changes wait up to SF_MAX_DELAY_S so that they share one Salesforce call;
past half the org's daily API allocation the window widens batch by batch up to SF_MAX_DELAY_BUDGET_S and narrows
again when the allocation recovers. Real Postgres, the Salesforce emulator."""
from __future__ import annotations

import asyncio
import time

import pytest

from agent.app import deliver_tick_s
from tests.support import woo

pytestmark = pytest.mark.integration


async def window_recorded(db, store_id: str) -> float | None:
    async with db.connection() as c:
        return await c.fetchval("SELECT flush_window_s FROM sf_budget WHERE store_id = $1", store_id)


async def test_the_window_widens_past_half_the_allocation_and_narrows_when_it_recovers(db, sf_store, sf_emu, outbox,
                                                                                       make_deliverer):
    deliverer = make_deliverer(sf_max_delay_s=2.0, sf_max_delay_budget_s=16.0)
    seen = []
    sf_emu.set_daily_api_max(1000, api_usage=600)  # 60 % used: past half, below the 80 % pause
    for i in range(1, 5):
        await outbox.put(sf_store, "customer", woo.customer(i, modified=i))
        assert (await deliverer.drain()).outcomes["delivered"] == 1
        seen.append(await window_recorded(db, sf_store))
    assert seen == [4.0, 8.0, 16.0, 16.0]  # step by step, up to SF_MAX_DELAY_BUDGET_S
    sf_emu.set_daily_api_max(1000, api_usage=100)  # the rolling 24 h allocation recovered
    seen = []
    for i in range(5, 9):
        await outbox.put(sf_store, "customer", woo.customer(i, modified=i))
        assert (await deliverer.drain()).outcomes["delivered"] == 1
        seen.append(await window_recorded(db, sf_store))
    assert seen == [8.0, 4.0, 2.0, 2.0]  # and back down to SF_MAX_DELAY_S
    # another agent (or a restart) takes the recorded window up
    sf_emu.set_daily_api_max(1000, api_usage=700)
    await outbox.put(sf_store, "customer", woo.customer(20))
    await deliverer.drain()
    other = make_deliverer(sf_max_delay_s=2.0, sf_max_delay_budget_s=16.0)
    await outbox.put(sf_store, "customer", woo.customer(21))
    assert await other.held_stores() is None  # its window (4 s, recorded) is still open
    assert other.windows == {sf_store: 4.0}


async def test_changes_wait_their_window_then_share_one_call(db, sf_store, sf_emu, outbox, make_deliverer):
    deliverer = make_deliverer(sf_max_delay_s=1.0, sf_max_delay_budget_s=60.0)
    # the customers and products first, not windowed (at once): sign-in, price book, and nothing left for the
    # lookup of records the org may already have (issue 17's adopt, one call of its own) to do for the orders
    await outbox.put(sf_store, "customer", *(woo.customer(i) for i in range(1, 6)))
    await outbox.put(sf_store, "product", *(woo.product(p) for p in range(3, 18)))
    assert (await deliverer.drain()).outcomes["delivered"] == 20
    t0 = time.monotonic()
    for i in range(1, 6):  # five orders trickle in, each alone in the outbox at first
        await outbox.put(sf_store, "order", woo.order(i, customer_id=i, products=(3 * i, 3 * i + 1, 3 * i + 2)))
        if time.monotonic() - t0 < 0.8:
            assert (await deliverer.drain(windowed=True)).claimed == 0  # the window is still open: nothing sent
    async with db.connection() as c:
        assert await c.fetchval("SELECT count(*) FROM outbox WHERE status = 'pending'") == 5
    before = sf_emu.api_calls
    deadline = time.monotonic() + 20
    while (stats := await deliverer.drain(windowed=True)).claimed == 0:
        assert time.monotonic() < deadline, "the window never closed"
        await asyncio.sleep(0.05)
    assert time.monotonic() - t0 >= 1.0  # the oldest waited its window
    assert (stats.claimed, stats.outcomes["delivered"], sf_emu.api_calls - before) == (5, 5, 1)
    assert len(sf_emu.records("Order")) == 5


async def test_a_store_whose_window_is_open_is_held_back_from_the_claim(db, stores, store, sf_store, sf_emu, outbox,
                                                                        make_deliverer):
    deliverer = make_deliverer(sf_max_delay_s=30.0, sf_max_delay_budget_s=60.0)
    other, _ = await stores.add("other")
    await stores.set_salesforce(other["id"], (await stores.get(sf_store))["sf_credentials"])
    await outbox.put(sf_store, "customer", woo.customer(1))
    await outbox.put(other["id"], "customer", woo.customer(2))
    async with db.connection() as c:  # the other store's change has waited longer than its window
        await c.execute("UPDATE outbox SET available_at = now() - interval '31 seconds' WHERE store_id = $1",
                        other["id"])
    stats = await deliverer.drain(windowed=True)
    assert (stats.claimed, stats.outcomes["delivered"]) == (1, 1)
    async with db.connection() as c:
        status = {r["store_id"]: r["status"] for r in await c.fetch("SELECT store_id, status FROM outbox")}
    assert status == {other["id"]: "delivered", sf_store: "pending"}


def test_the_deliver_job_looks_often_enough_for_the_window(settings):
    assert deliver_tick_s(settings.model_copy(update={"sf_max_delay_s": 2.0, "agent_poll_interval_s": 2.0})) == 0.5
    assert deliver_tick_s(settings.model_copy(update={"sf_max_delay_s": 0.0, "agent_poll_interval_s": 2.0})) == 2.0
    assert deliver_tick_s(settings.model_copy(update={"sf_max_delay_s": 60.0, "agent_poll_interval_s": 2.0})) == 2.0


def test_a_budget_window_narrower_than_the_base_window_is_refused(settings):
    from pydantic import ValidationError

    from shared.settings import Settings

    with pytest.raises(ValidationError, match="must be at least WOOFORCE_SF_MAX_DELAY_S"):
        Settings(_env_file=None, data_dir=settings.data_dir, sf_max_delay_s=10, sf_max_delay_budget_s=5)


async def test_changes_that_arrive_while_a_batch_is_sent_wait_their_own_window(db, sf_store, sf_emu, outbox,
                                                                                make_deliverer):
    deliverer = make_deliverer(sf_max_delay_s=5.0, sf_max_delay_budget_s=60.0)
    await outbox.put(sf_store, "customer", woo.customer(999))
    await deliverer.drain()  # sign-in, price book
    await outbox.put(sf_store, "order", woo.order(1, customer_id=1))
    async with db.connection() as c:
        await c.execute("UPDATE outbox SET available_at = now() - interval '6 seconds' WHERE status = 'pending'")
    sf_emu.set_latency(500)
    run = asyncio.create_task(deliverer.drain(windowed=True))
    deadline = time.monotonic() + 20
    async with db.connection() as c:  # the first batch is being sent
        while await c.fetchval("SELECT count(*) FROM outbox WHERE status = 'leased'") == 0:
            assert time.monotonic() < deadline and not run.done()
            await asyncio.sleep(0.02)
    await outbox.put(sf_store, "order", woo.order(2, customer_id=2))
    stats = await run
    assert (stats.claimed, stats.outcomes["delivered"]) == (1, 1)  # not a second batch at once for order 2
    async with db.connection() as c:
        assert await c.fetchval("SELECT status FROM outbox WHERE resource = 'order' AND resource_id = 2") == "pending"
