"""A real `wooforce agent` killed with SIGKILL mid-drain: its leases expire, another agent finishes the backlog.
Zero lost, zero duplicated. And SIGTERM: the current batch is abandoned within the grace period, leases released,
exit 0."""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

import pytest

from shared.crypto import Vault
from shared.settings import Settings
from shared.stores import StoreManager
from tests.support import woo
from tests.support.agent_fixtures import sf_connection, sf_emu, sf_session  # noqa: F401 - fixtures

pytestmark = pytest.mark.reliability

N_ORDERS, N_CUSTOMERS, N_PRODUCTS = 120, 30, 12


@pytest.fixture
async def sf_proc_store(db, master_key, tmp_path, sf_emu):
    stores = StoreManager(db, Vault.from_settings(Settings(_env_file=None, master_key=master_key, data_dir=tmp_path)))
    row, _ = await stores.add("Kill shop")
    await stores.set_salesforce(row["id"], sf_connection(sf_emu))
    return row["id"]


def start_agent(env: dict, **settings) -> subprocess.Popen:
    extra = {f"WOOFORCE_{k.upper()}": str(v) for k, v in settings.items()}
    return subprocess.Popen([sys.executable, "-m", "cli", "agent"], env={**os.environ, **env, **extra},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


async def statuses(db) -> dict[str, int]:
    async with db.connection() as c:
        return {r["status"]: r["n"] for r in await c.fetch("SELECT status, count(*) AS n FROM outbox GROUP BY 1")}


async def wait_for(pred, proc: subprocess.Popen, db, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await pred():
            return
        if proc.poll() is not None:
            raise AssertionError(f"agent exited {proc.returncode}: {proc.stderr.read().decode()[-2000:]}")
        await asyncio.sleep(0.05)
    proc.terminate()
    raise AssertionError(f"condition not reached in time: {await statuses(db)} {proc.stderr.read().decode()[-3000:]}")


async def backlog(db, store_id: str) -> None:
    feeder = woo.Feeder(db)
    await feeder.put(store_id, "customer", *(woo.customer(c) for c in range(1, N_CUSTOMERS + 1)))
    await feeder.put(store_id, "product", *(woo.product(p) for p in range(1, N_PRODUCTS + 1)))
    await feeder.put(store_id, "order", *(woo.order(o, customer_id=o % N_CUSTOMERS + 1,
                                                    products=(o % N_PRODUCTS + 1, (o + 1) % N_PRODUCTS + 1))
                                          for o in range(1, N_ORDERS + 1)))


def assert_exactly_once(emu) -> None:
    for sobject, n in (("Account", N_CUSTOMERS), ("Contact", N_CUSTOMERS), ("Product2", N_PRODUCTS),
                       ("PricebookEntry", N_PRODUCTS), ("Order", N_ORDERS), ("OrderItem", 2 * N_ORDERS)):
        keys = [r["Wooforce_Key__c"] for r in emu.records(sobject)]
        assert len(keys) == len(set(keys)) == n, sobject


async def test_sigkill_mid_drain_then_another_agent_finishes(db, proc_env, sf_proc_store, sf_emu):
    await backlog(db, sf_proc_store)
    sf_emu.set_latency(150)
    knobs = dict(agent_poll_interval_s=0.2, agent_lease_s=2, agent_claim_batch=40, sf_concurrency=2,
                 agent_retry_schedule_s="[0.2]")
    first = start_agent(proc_env, **knobs)
    try:
        async def mid_drain():
            s = await statuses(db)
            return s.get("delivered", 0) > 0 and s.get("leased", 0) > 0
        await wait_for(mid_drain, first, db)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
    at_kill = await statuses(db)
    assert at_kill.get("leased", 0) > 0 and at_kill.get("delivered", 0) < N_ORDERS + N_CUSTOMERS + N_PRODUCTS
    sf_emu.set_latency(0)
    second = start_agent(proc_env, **knobs)
    try:
        async def all_delivered():
            return await statuses(db) == {"delivered": N_ORDERS + N_CUSTOMERS + N_PRODUCTS}
        await wait_for(all_delivered, second, db)
        second.send_signal(signal.SIGTERM)
        assert second.wait(15) == 0
    finally:
        if second.poll() is None:
            second.kill()
    assert_exactly_once(sf_emu)


async def test_sigterm_abandons_the_batch_and_releases_its_leases(db, proc_env, sf_proc_store, sf_emu):
    await backlog(db, sf_proc_store)
    sf_emu.faults.add("timeout", path_contains="/composite", hang_s=30)  # Salesforce hangs
    agent = start_agent({**proc_env, "WOOFORCE_LOG_LEVEL": "INFO"}, agent_poll_interval_s=0.2, agent_shutdown_grace_s=0.5, sf_timeout_s=30)
    try:
        async def leased():
            return (await statuses(db)).get("leased", 0) > 0
        await wait_for(leased, agent, db)
        await asyncio.sleep(0.3)  # the composite call is in flight (hanging)
        t0 = time.monotonic()
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(15) == 0
        assert time.monotonic() - t0 < 10
    finally:
        if agent.poll() is None:
            agent.kill()
        sf_emu.faults.clear()
    s = await statuses(db)
    assert "leased" not in s and s.get("pending", 0) > 0, agent.stderr.read().decode()[-3000:]
