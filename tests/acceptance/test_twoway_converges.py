"""Acceptance, two-way: the real emulators over HTTP(S), the real collector (native webhooks), Postgres, the agent's
delivery engine, Salesforce poller and WooCommerce writer.

* A status a Salesforce user sets reaches the WooCommerce store within one poll interval (the agent's scheduler).
* 1,000 alternating edits on both sides (500 in Salesforce as a human user, 500 in the store) end with both sides
  equal, each edit written to the other side once: no ping-pong (PUTs counted on the WooCommerce emulator, record
  writes on the Salesforce emulator), and one API call per poll.
"""
from __future__ import annotations

import asyncio
import time

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from agent.twoway.jobs import register_jobs
from emulators.woocommerce import WooCommerceEmulator
from tests.support.agent_fixtures import *  # noqa: F403 - sf_session / sf_emu fixtures
from tests.support.twoway import make_rig

pytestmark = [pytest.mark.acceptance, pytest.mark.integration]

STATUSES = ("on-hold", "completed", "processing")


@pytest.fixture
def stores(db, settings):
    from shared.crypto import Vault
    from shared.stores import StoreManager

    return StoreManager(db, Vault.from_settings(settings), cache_ttl_s=0)


async def test_a_salesforce_status_change_reaches_woocommerce_within_one_poll_interval(db, stores, settings, sf_emu):
    interval_s = 1.0
    async with WooCommerceEmulator() as wc:
        rig = await make_rig(db, stores, settings, sf_emu, wc, orders=2, customers=1)
        s = rig.deliverer.settings.model_copy(update={"sf_poll_interval_s": interval_s, "wc_write_interval_s": 30})
        scheduler = AsyncIOScheduler(job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None})
        jobs = register_jobs(scheduler, settings=s, db=db, stores=stores, deliverer=rig.deliverer)
        arrived = asyncio.Event()
        oid = rig.orders[1]
        wc.store.listeners.append(lambda ch: ch.resource == "order" and ch.resource_id == oid and
                                  ch.payload.get("status") == "completed" and arrived.set())
        scheduler.start()
        try:
            rig.tick()
            t0 = time.monotonic()
            sf_emu.edit_as_user("Order", rig.sf_record("Order", "order", oid)["Id"], {"Woo_Status__c": "Completed"})
            await asyncio.wait_for(arrived.wait(), timeout=interval_s + 5)
            elapsed = time.monotonic() - t0
        finally:
            scheduler.shutdown(wait=False)
            await jobs.shutdown()
            await rig.close()
        assert wc.store.get_order(oid).doc["status"] == "completed"
        assert elapsed <= interval_s + 0.5, f"took {elapsed:.2f} s with a {interval_s} s poll interval"
        print(f"\nSalesforce -> WooCommerce: {elapsed * 1000:.0f} ms with a {interval_s:.0f} s poll interval")


async def test_a_thousand_alternating_edits_converge_without_ping_pong(db, stores, settings, sf_emu):
    rounds, n = 50, 10  # 10 orders + 10 customers, each edited once a round, sides alternating: 1,000 edits
    async with WooCommerceEmulator() as wc:
        rig = await make_rig(db, stores, settings, sf_emu, wc, orders=n, customers=n)
        try:
            await rig.sync()
            sf_ids = {("order", o): rig.sf_record("Order", "order", o)["Id"] for o in rig.orders}
            sf_ids |= {("customer", c): rig.sf_record("Account", "customer", c)["Id"] for c in rig.customers}
            puts0, writes0 = rig.wc_puts(), rig.sf_writes("Order", "Account")
            sf_edits = wc_edits = 0
            calls_per_poll = []
            for r in range(rounds):
                rig.tick()
                status = STATUSES[r % 3]
                for i, (oid, cid) in enumerate(zip(rig.orders, rig.customers)):
                    phone = f"555-{r:03d}-{i:02d}"
                    if (r + i) % 2 == 0:
                        sf_emu.edit_as_user("Order", sf_ids[("order", oid)], {"Woo_Status__c": status})
                        sf_emu.edit_as_user("Account", sf_ids[("customer", cid)], {"Phone": phone})
                        sf_edits += 2
                    else:
                        wc.store.update_order(oid, {"status": status})
                        wc.store.update_customer(cid, {"billing": {"phone": phone}})
                        wc_edits += 2
                await rig.deliver()
                rep = await rig.poll()
                assert rep.error is None
                calls_per_poll.append(rep.api_calls)
                await rig.write()
                await rig.deliver()
            assert sf_edits + wc_edits == 1000
            # both sides equal
            for oid in rig.orders:
                assert wc.store.get_order(oid).doc["status"] == rig.sf_record("Order", "order", oid)["Woo_Status__c"]
            for cid in rig.customers:
                assert wc.store.get_customer(cid).doc["billing"]["phone"] == \
                    rig.sf_record("Account", "customer", cid)["Phone"]
            puts = rig.wc_puts() - puts0
            integration_writes = rig.sf_writes("Order", "Account") - writes0 - sf_edits  # minus the human edits
            assert puts == sf_edits, (puts, sf_edits)  # every Salesforce edit written to the store exactly once
            assert integration_writes <= wc_edits, (integration_writes, wc_edits)
            assert set(calls_per_poll) == {1}
            # quiet: another full round writes nothing on either side
            await rig.sync()
            assert (rig.wc_puts() - puts0, rig.sf_writes("Order", "Account") - writes0 - sf_edits) == (
                puts, integration_writes)
            print(f"\n1,000 alternating edits: {puts} WooCommerce PUTs for {sf_edits} Salesforce edits, "
                  f"{integration_writes} Salesforce upserts (Order/Account) for {wc_edits} store edits, "
                  f"{sum(calls_per_poll) / len(calls_per_poll):.0f} API call per poll")
        finally:
            await rig.close()
