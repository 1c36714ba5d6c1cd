"""Scale-out as README deploys it: two collectors behind a load balancer and two agents on one Postgres, under load,
each of the four processes SIGKILLed once and restarted while the load goes on (each kill triggered by load
progress). Zero acknowledged events lost, every order in Salesforce at its newest version, no Salesforce record
twice, and both agents delivering (at the same time)."""
from __future__ import annotations

import asyncio
import itertools
import json
import random
import signal
import subprocess
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import pytest

from shared.crypto import Vault
from shared.db import Database
from shared.mapping import key as wooforce_key
from shared.settings import Settings
from shared.stores import StoreManager
from tests.support import loadgen, woo
from tests.support.agent_fixtures import sf_connection, sf_emu, sf_session  # noqa: F401 - fixtures
from tests.support.procs import free_port, start_agent, start_collector

pytestmark = pytest.mark.reliability

N_ORDERS, N_CUSTOMERS, N_PRODUCTS = 100, 25, 15  # one round = a new version of every order
STEP_EVENTS = 300            # acknowledged events between one restart and the next kill
ROUND_PAUSE_S = 0.15         # load shape: ~100 events every round, a short gap between rounds
AGENT_KNOBS: dict[str, object] = dict(agent_poll_interval_s=0.2, agent_lease_s=3, agent_claim_batch=40,
                                      sf_concurrency=2, agent_retry_schedule_s="[0.2]", agent_retry_jitter=0)
DEADLINE_S = 100            # a failure bound only: a run takes 15-40 s (2 busy cores)


@dataclass
class Slot:
    """One deployed process (a collector or an agent) and every incarnation of it: logs and pids."""
    name: str
    logs: Path
    proc: subprocess.Popen | None = None
    pids: list[int] = field(default_factory=list)
    files: list[IO[bytes]] = field(default_factory=list)

    def log_file(self) -> IO[bytes]:
        f = (self.logs / f"{self.name}-{len(self.files)}.log").open("wb")
        self.files.append(f)
        return f

    def kill(self) -> None:
        assert self.proc is not None and self.proc.poll() is None, f"{self.name} died by itself: {self.tail()}"
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def tail(self) -> str:
        return "".join(p.read_text(errors="replace")[-1500:] for p in sorted(self.logs.glob(f"{self.name}-*.log")))

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        for f in self.files:
            f.close()


def order_event(round_n: int, oid: int) -> dict[str, Any]:
    doc = woo.order(oid, customer_id=oid % N_CUSTOMERS + 1, modified=round_n,
                    products=(oid % N_PRODUCTS + 1, (oid + 7) % N_PRODUCTS + 1))
    return {"id": f"so-{round_n}-{oid}", "type": "order.updated", "occurred_at": "2026-11-22T12:00:00Z",
            "resource_id": oid, "data": doc}


async def load(urls: list[str], store_id: str, secret: str, stats: loadgen.SendStats, stop: asyncio.Event) -> int:
    """Rounds of a new version of every order, shuffled, spread round-robin over the collectors (a load balancer:
    a refused connection is retried on the next one); runs until ``stop``. Returns the number of rounds."""
    rr = itertools.cycle(urls)
    rng = random.Random(15)
    n = 0
    while not stop.is_set():
        n += 1
        events = [order_event(n, oid) for oid in range(1, N_ORDERS + 1)]
        rng.shuffle(events)
        await loadgen.send_all(lambda: next(rr), store_id, secret, events, batch=10, concurrency=5, deadline_s=30,
                               stats=stats)
        await asyncio.sleep(ROUND_PAUSE_S)
    return n


async def leased(db: Database) -> list[tuple[str, int, int]]:
    """(lease owner, order id, head seq) of every row leased now."""
    async with db.connection() as c:
        return [(r["lease_owner"], r["resource_id"], r["head_seq"]) for r in await c.fetch(
            "SELECT lease_owner, resource_id, head_seq FROM outbox WHERE status = 'leased'")]


def warnings(agents: list[Slot]) -> list[str]:
    """The agents' last warnings and errors (why a delivery does not finish)."""
    return [f"{s.name} {r['extra'].get('action')} {r['message'][:200]}" for s in agents for r in agent_lines(s)
            if r["level"]["no"] >= 30][-10:]


def progress(stats: loadgen.SendStats) -> str:
    return (f"acked={len(stats.acked)} statuses={stats.statuses} connection_errors={stats.connection_errors} "
            f"in_flight={stats.in_flight}")


def owner_pid(owner: str) -> int:
    return int(owner.split(":")[-2])  # agent.leases.new_owner: host:pid:suffix


def agent_lines(slot: Slot) -> list[dict[str, Any]]:
    lines = []
    for p in sorted(slot.logs.glob(f"{slot.name}-*.log")):
        for line in p.read_text(errors="replace").splitlines():
            try:
                lines.append(json.loads(line)["record"])
            except (ValueError, KeyError, TypeError):
                pass  # not a JSON log line (a warning printed by a library), or cut short by SIGKILL
    return lines


async def running(slot: Slot, timeout_s: float = 30) -> None:
    """Wait for the agent's ``agent.started`` line (its scheduler and signal handlers are in place)."""
    deadline = time.monotonic() + timeout_s
    while not any(r["extra"].get("action") == "agent.started" and r["process"]["id"] == slot.proc.pid  # type: ignore[union-attr]
                  for r in agent_lines(slot)):
        assert slot.proc is not None and slot.proc.poll() is None, f"{slot.name} exited: {slot.tail()}"
        assert time.monotonic() < deadline, f"{slot.name} did not start: {slot.tail()}"
        await asyncio.sleep(0.05)


@pytest.fixture
async def sf_store(db, master_key, tmp_path, sf_emu):
    stores = StoreManager(db, Vault.from_settings(Settings(_env_file=None, master_key=master_key, data_dir=tmp_path)))
    row, secret = await stores.add("Scale-out shop")
    await stores.set_salesforce(row["id"], sf_connection(sf_emu))
    return row["id"], secret


async def test_two_collectors_two_agents_each_killed_once(db, proc_env, sf_store, sf_emu, tmp_path):
    store_id, secret = sf_store
    sf_emu.set_latency(40)  # a batch spans several calls: an agent holds leases most of the time
    env = {**proc_env, "WOOFORCE_DB_POOL_MIN": "1", "WOOFORCE_DB_POOL_MAX": "4", "WOOFORCE_INGEST_WRITERS": "2"}
    agent_env = {**env, "WOOFORCE_LOG_LEVEL": "INFO", "WOOFORCE_LOG_JSON": "true"}
    logs = tmp_path / "procs"
    logs.mkdir()
    ports = [free_port(), free_port()]
    collectors = [Slot(f"collector{i}", logs) for i in range(2)]
    agents = [Slot(f"agent{i}", logs) for i in range(2)]

    async def start(slot: Slot) -> None:
        if slot in collectors:
            port = ports[collectors.index(slot)]
            slot.proc = await asyncio.to_thread(start_collector, env, port, stderr=slot.log_file())
        else:
            slot.proc = start_agent(agent_env, stderr=slot.log_file(), **AGENT_KNOBS)
            await running(slot)
        slot.pids.append(slot.proc.pid)

    stats = loadgen.SendStats()
    stop = asyncio.Event()
    owners_together = 0  # samples with both agent slots holding leases at once
    versions_leased: list[set[tuple[int, int]]] = [set(), set()]  # per agent slot: (order, head seq) seen leased
    kills: list[tuple[str, int, int]] = []  # (slot, acknowledged at the kill, rows the victim held)
    t0 = time.monotonic()
    try:
        await asyncio.gather(*(start(s) for s in collectors))
        for s in agents:
            await start(s)
        urls = [f"http://127.0.0.1:{p}" for p in ports]
        load_task = asyncio.create_task(load(urls, store_id, secret, stats, stop))

        def check_alive(*, loading: bool = True) -> None:
            if loading and load_task.done():
                load_task.result()
                raise AssertionError("the load ended before the kills were done")
            for s in collectors + agents:
                assert s.proc is not None and s.proc.poll() is None, f"{s.name} exited: {s.tail()}"

        async def sample() -> dict[str, int]:
            nonlocal owners_together
            held: dict[str, int] = {}
            slots = set()
            for owner, oid, seq in await leased(db):
                held[owner] = held.get(owner, 0) + 1
                for i, s in enumerate(agents):
                    if owner_pid(owner) in s.pids:
                        slots.add(i)
                        versions_leased[i].add((oid, seq))
            owners_together += len(slots) == 2
            return held

        mark = 0
        for victim in (collectors[0], agents[0], collectors[1], agents[1]):
            # the trigger: load progress, then the victim mid-work: a collector mid-round (some of the round's
            # requests answered, some in flight to it: commits under way), an agent holding leases (mid-batch)
            mine = 0
            while True:
                check_alive()
                progressed = len(stats.acked) >= mark + STEP_EVENTS
                if victim in collectors:
                    if progressed and len(stats.acked) % N_ORDERS and stats.in_flight.get(
                            urls[collectors.index(victim)], 0) > 0:
                        break
                    if not progressed:
                        await sample()
                else:
                    held = await sample()
                    mine = sum(n for o, n in held.items() if victim.proc and owner_pid(o) == victim.proc.pid)
                    if progressed and mine > 0:
                        break
                assert time.monotonic() - t0 < DEADLINE_S, f"no trigger for {victim.name}: {progress(stats)}"
                await asyncio.sleep(0.001 if progressed else 0.02)
            victim.kill()
            kills.append((victim.name, len(stats.acked), mine))
            await start(victim)
            check_alive()
            mark = len(stats.acked)
        while len(stats.acked) < mark + STEP_EVENTS:  # the restarted processes take load too
            check_alive()
            await sample()
            assert time.monotonic() - t0 < DEADLINE_S, f"load stalled after the restarts: {progress(stats)}"
            await asyncio.sleep(0.02)
        stop.set()
        rounds = await asyncio.wait_for(load_task, 30)

        async def converged() -> bool:
            async with db.connection() as c:
                return bool(await c.fetchval("SELECT count(*) FROM outbox WHERE status = 'delivered' "
                                             "AND delivered_seq = head_seq") == N_ORDERS)
        while not await converged():
            check_alive(loading=False)
            await sample()
            assert time.monotonic() - t0 < DEADLINE_S + 10, (await db_statuses(db), warnings(agents))
            await asyncio.sleep(0.05)
        elapsed_s = time.monotonic() - t0
        for s in collectors + agents:
            s.proc.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
        for s in collectors + agents:
            rc = await asyncio.to_thread(s.proc.wait, 20)  # type: ignore[union-attr]
            assert rc == 0, f"{s.name} exited {rc}: {s.tail()}"
    finally:
        stop.set()
        for s in collectors + agents:
            s.close()

    # 0 acknowledged events lost: each is in `events`
    async with db.connection() as c:
        stored = {r["sender_id"] for r in await c.fetch("SELECT sender_id FROM events WHERE store_id = $1", store_id)}
        newest = {r["resource_id"]: r["version"] for r in await c.fetch(
            "SELECT resource_id, max(version) AS version FROM events WHERE store_id = $1 GROUP BY 1", store_id)}
        statuses = await db_statuses(db)
        # one version delivered by two agents: a lease that did not keep another agent off (a killed agent's
        # batch is never recorded, so its retry by the other agent is the only attempt on record)
        twice = await c.fetchval("SELECT count(*) FROM (SELECT 1 FROM attempts WHERE outcome = 'delivered' "
                                 "GROUP BY store_id, resource, resource_id, event_id HAVING count(*) > 1) d")
    lost = stats.acked - stored
    print(f"\nrounds={rounds} acked={len(stats.acked)} stored={len(stored)} lost={len(lost)} kills={kills} "
          f"connection_errors={stats.connection_errors} statuses={stats.statuses} both_agents_leasing="
          f"{owners_together} delivered_twice={twice} elapsed_s={elapsed_s:.1f}")
    assert lost == set(), sorted(lost)[:10]
    assert twice == 0
    assert len(stats.acked) >= 5 * STEP_EVENTS and stats.connection_errors > 0  # the kills came under load
    # ... and its order is in Salesforce at the newest version stored (the last round's)
    assert statuses == {"delivered": N_ORDERS}
    assert set(newest.values()) == {datetime.fromisoformat(woo.ts(rounds) + "+00:00")}
    orders = {r["Wooforce_Key__c"]: r for r in sf_emu.records("Order")}
    stale = [oid for oid in range(1, N_ORDERS + 1)
             if datetime.fromisoformat(orders[wooforce_key(store_id, "order", oid)]["Woo_Date_Modified__c"]
                                       .replace("+0000", "+00:00")) != newest[oid]]
    assert stale == []
    # 0 duplicate Salesforce records
    for sobject, n in (("Order", N_ORDERS), ("OrderItem", 2 * N_ORDERS), ("Account", N_CUSTOMERS),
                       ("Contact", N_CUSTOMERS), ("Product2", N_PRODUCTS), ("PricebookEntry", N_PRODUCTS)):
        keys = [r["Wooforce_Key__c"] for r in sf_emu.records(sobject)]
        assert len(keys) == len(set(keys)) == n, sobject
    # both agents did work: each slot's processes held leases on many versions (lease owners carry the pid), both
    # at the same moment, and each logged deliveries
    delivered = [sum(r["extra"].get("count", 0) for r in agent_lines(s) if r["extra"].get("action") == "sync.delivered")
                 for s in agents]
    print(f"versions leased per agent slot={[len(v) for v in versions_leased]} delivered (logs)={delivered}")
    assert all(len(v) >= N_ORDERS // 2 for v in versions_leased), [len(v) for v in versions_leased]
    assert owners_together > 0
    assert all(n > 0 for n in delivered), (delivered, [s.tail() for s in agents])
    assert [k[0] for k in kills] == ["collector0", "agent0", "collector1", "agent1"]
    assert all(held > 0 for name, _, held in kills if name.startswith("agent"))  # killed mid-batch


async def db_statuses(db: Database) -> dict[str, int]:
    async with db.connection() as c:
        return {r["status"]: r["n"] for r in await c.fetch("SELECT status, count(*) AS n FROM outbox GROUP BY 1")}


def test_compose_scales_the_agent_and_takes_a_managed_database():
    """README's `docker compose up --scale agent=N`: nothing in the agent service is one-per-host; the database URL
    can come from .env (a managed Postgres)."""
    import yaml  # type: ignore[import-untyped]

    compose = yaml.safe_load((Path(__file__).parents[2] / "docker-compose.yml").read_text())
    agent = compose["services"]["agent"]
    assert "container_name" not in agent and "ports" not in agent
    for name in ("migrate", "collector", "agent"):
        url = compose["services"][name]["environment"]["WOOFORCE_DATABASE_URL"]
        assert url.startswith("${WOOFORCE_DATABASE_URL:-postgresql://"), name
