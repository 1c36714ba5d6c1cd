"""Claiming: one statement, SKIP LOCKED, leases that expire, coalescing and 'never older over newer'."""
from __future__ import annotations

import asyncio
from datetime import UTC

import pytest

from tests.support import woo

pytestmark = pytest.mark.integration


async def _status(db) -> dict[tuple[str, int], str]:
    async with db.connection() as c:
        return {(r["resource"], r["resource_id"]): r["status"]
                for r in await c.fetch("SELECT resource, resource_id, status FROM outbox")}


async def test_concurrent_claims_are_disjoint_and_dependencies_come_first(db, sf_store, outbox, make_deliverer):
    await outbox.put(sf_store, "order", *(woo.order(i) for i in range(1, 41)))
    await outbox.put(sf_store, "customer", *(woo.customer(i) for i in range(1, 11)))
    a, b = make_deliverer(), make_deliverer()
    first = await a.claim(5)
    assert {u.resource for u in first} == {"customer"}  # customers/products before orders
    got_a, got_b = await asyncio.gather(a.claim(30), b.claim(30))
    keys_a = {(u.resource, u.resource_id) for u in got_a}
    keys_b = {(u.resource, u.resource_id) for u in got_b}
    assert not keys_a & keys_b
    assert len(keys_a | keys_b | {(u.resource, u.resource_id) for u in first}) == 50
    assert await a.claim(10) == [] and set((await _status(db)).values()) == {"leased"}


async def test_expired_lease_is_taken_by_another_agent_and_the_old_owner_cannot_complete(db, sf_store, outbox,
                                                                                         make_deliverer, sf_emu):
    await outbox.put(sf_store, "customer", woo.customer(1), woo.customer(2))
    crashed, rescuer = make_deliverer(), make_deliverer()
    assert len(await crashed.claim(10)) == 2
    assert await rescuer.claim(10) == []  # lease still valid
    async with db.connection() as c:  # time passes: the crashed agent's lease runs out
        await c.execute("UPDATE outbox SET lease_expires_at = now() - interval '1 second'")
    stats = await rescuer.drain()
    assert stats.outcomes["delivered"] == 2
    assert len(sf_emu.records("Account")) == 2
    assert await crashed.release() == 0  # its leases are gone: it cannot hand anything back


async def test_newer_event_during_lease_is_delivered_after_the_older(db, sf_store, outbox, deliverer, sf_emu):
    await outbox.put(sf_store, "customer", woo.customer(7, first_name="Old", modified=1))
    units = await deliverer.claim(10)
    # a newer version arrives while the old one is leased (in flight)
    await outbox.put(sf_store, "customer", woo.customer(7, first_name="New", modified=2))
    # finish the leased batch by hand: deliver what was claimed
    from agent.delivery.engine import StoreRun
    run = StoreRun(deliverer, sf_store, units)
    results = await run.run()
    from datetime import datetime
    await deliverer._record(results, [run], datetime.now(UTC), 1)
    assert (await _status(db))[("customer", 7)] == "pending"  # head moved: not marked delivered
    await deliverer.drain()
    assert (await _status(db))[("customer", 7)] == "delivered"
    contact = sf_emu.records("Contact")[0]
    assert contact["FirstName"] == "New"


async def test_release_hands_rows_back(db, sf_store, outbox, deliverer):
    await outbox.put(sf_store, "product", woo.product(1), woo.product(2))
    assert len(await deliverer.claim(10)) == 2
    assert await deliverer.release() == 2
    assert set((await _status(db)).values()) == {"pending"}


async def test_completing_and_extending_leases_never_deadlock_with_ingest(db, sf_store, outbox, make_deliverer):
    """The agent finishes a batch (complete_outbox) and extends its leases while the collector ingests newer versions
    of the same entities in other orders: every statement locks outbox rows in one order, so none deadlocks."""
    import random

    from agent.delivery.plan import UnitResult
    from shared.models import Outcome
    from shared.outbox import complete as complete_outbox

    d = make_deliverer()
    rng = random.Random(3)
    n = 120
    await outbox.put(sf_store, "customer", *(woo.customer(i) for i in range(1, n + 1)))
    for round_ in range(1, 9):
        units = await d.claim(n)
        assert len(units) == n
        rng.shuffle(units)  # the agent completes rows in whatever order its results come

        async def complete():
            await asyncio.sleep(rng.random() * 0.005)
            async with db.transaction() as tx:
                await db.execute("extend_leases", d.owner, 30.0, conn=tx)
                await complete_outbox(db, d.owner, [UnitResult.of(u, Outcome.DELIVERED) for u in units],
                                      destination="salesforce", conn=tx)

        async def ingest(k: int):
            ids = rng.sample(range(1, n + 1), 40)  # unsorted: ingest_events sorts what it locks
            await outbox.put(sf_store, "customer", *(woo.customer(i, modified=round_ + k / 10, first_name=f"R{k}")
                                                      for i in ids))

        await asyncio.gather(complete(), *(ingest(k) for k in range(4)))
        async with db.connection() as c:
            await c.execute("UPDATE outbox SET status = 'pending', available_at = now()")
