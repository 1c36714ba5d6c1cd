"""Drain benchmark: the agent delivering a backlog to the Salesforce emulator, against one upsert call per record.

``python -m bench.drain`` builds a backlog of 10,000 order events (3 line items each, 2,000 customers, 500
products: 12,500 outbox rows, ~45,000 Salesforce records) in an embedded Postgres, starts the Salesforce
emulator as its own process (HTTPS, 100 ms latency per call) and lets the agent's Deliverer drain it.
It prints Salesforce API calls per 1,000 order events and records/s, then does the same for the naive
strategy (one single-record upsert call per record, same concurrency) on a sample, extrapolated: the naive
strategy's call count is exactly one per record, only its speed is sampled.
``--model`` drains the same backlog into the store's data model (issue 18: the mapping's [options], the org's
features turned on in the emulator); ``--model all`` runs every model and prints one row each.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

import requests

from bench.common import machine, save

CLIENT = "bench-agent:bench-secret"


def _start_emulator(tmp: Path, latency_ms: float) -> tuple[subprocess.Popen, dict]:
    proc = subprocess.Popen([sys.executable, "-m", "emulators.salesforce", "--port", "0", "--ca-out",
                             str(tmp / "ca.pem"), "--latency-ms", str(latency_ms), "--daily-api-max", "5000000",
                             "--client-credentials", CLIENT], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True)
    line = proc.stdout.readline()
    if not line:
        raise RuntimeError("emulator did not start")
    return proc, json.loads(line)


def _emulator_stats(info: dict) -> dict:
    s = requests.Session()
    s.trust_env = False
    return s.get(info["control"] + "stats", verify=info["ca_path"], timeout=30).json()


SOBJECTS = ("Account", "Contact", "Product2", "PricebookEntry", "Order", "OrderItem", "Lead", "Opportunity",
            "OpportunityLineItem", "OpportunityContactRole")
# --model: the store's mapping [options] and the emulator org's features
MODELS = {
    "default": ({}, {}),
    "person_account": ({"customer_model": "person_account"}, {"person_accounts": True}),
    "opportunity": ({"order_model": "opportunity"}, {}),
    "opportunity+person_account": ({"order_model": "opportunity", "customer_model": "person_account"},
                                   {"person_accounts": True}),
    "lead_for_guests": ({"lead_for_guests": True}, {}),
}


def _org_features(info: dict, features: dict) -> None:
    if features:
        s = requests.Session()
        s.trust_env = False
        s.post(info["control"] + "config", json=features, verify=info["ca_path"], timeout=30).raise_for_status()


class FirstWrite:
    """Time from the drain's start to the first of our records stored in Salesforce (emulator stats, polled)."""

    def __init__(self, info: dict, baseline: int, interval_s: float = 0.1):
        import threading

        self.info, self.baseline, self.interval_s = info, baseline, interval_s
        self.first_s: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._t0 = 0.0

    def start(self, t0: float) -> None:
        self._t0 = t0
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set() and self.first_s is None:
            counts = _emulator_stats(self.info)["record_counts"]
            if sum(counts.get(s, 0) for s in SOBJECTS) > self.baseline:
                self.first_s = time.perf_counter() - self._t0
                return
            self._stop.wait(self.interval_s)


async def _backlog(feeder, store_id: str, args) -> int:
    from tests.support import woo

    rnd = random.Random(42)
    events = [feeder.event(store_id, "customer", woo.customer(c)) for c in range(1, args.customers + 1)]
    events += [feeder.event(store_id, "product", woo.product(p, price=f"{rnd.randint(5, 99)}.00"))
               for p in range(1, args.products + 1)]
    for o in range(1, args.orders + 1):
        products = tuple(rnd.sample(range(1, args.products + 1), args.items))
        doc = woo.order(o, customer_id=rnd.randint(1, args.customers), products=products)
        events.append(feeder.event(store_id, "order", doc))
    for i in range(0, len(events), 2000):
        await feeder.put_events(events[i:i + 2000])
    return len(events)


async def run(args) -> dict:
    from agent.delivery.engine import Deliverer
    from shared import embedded_pg, migrations
    from shared.crypto import Vault
    from shared.db import Database
    from shared.settings import Settings
    from shared.stores import StoreManager
    from tests.support.woo import Feeder

    tmp = Path(tempfile.mkdtemp(prefix="wf-drain-", dir="/tmp"))
    dsn = args.database_url or await asyncio.to_thread(embedded_pg.start, tmp)
    emu, info = _start_emulator(tmp, args.latency_ms)
    options, features = MODELS[args.model]
    _org_features(info, features)
    try:
        extra = {} if args.bulk_threshold is None else {"sf_bulk_threshold_records": args.bulk_threshold}
        settings = Settings(_env_file=None, data_dir=tmp, database_url=dsn, log_level="WARNING",
                            master_key=__import__("cryptography.fernet").fernet.Fernet.generate_key().decode(),
                            sf_concurrency=args.concurrency, **extra)
        db = await Database(dsn, min_size=2, max_size=10).open()
        await migrations.migrate(db)
        stores = StoreManager(db, Vault.from_settings(settings), cache_ttl_s=0)
        row, _ = await stores.add("bench")
        cid, secret = CLIENT.split(":")
        conn = {"instance_url": info["url"], "auth": "client_credentials", "client_id": cid,
                "client_secret": secret, "ca_file": info["ca_path"]}
        if options:
            (tmp / "mapping.toml").write_text("[options]\n" + "".join(f"{k} = {json.dumps(v)}\n"
                                                                        for k, v in options.items()))
            conn["mapping_file"] = str(tmp / "mapping.toml")
        await stores.set_salesforce(row["id"], conn)
        n_events = await _backlog(Feeder(db), row["id"], args)
        start = _emulator_stats(info)
        before = start["api_usage"]
        deliverer = Deliverer(db, stores, settings)
        watch = FirstWrite(info, sum(start["record_counts"].get(s, 0) for s in SOBJECTS))
        t0 = time.perf_counter()
        watch.start(t0)
        stats = await deliverer.drain()
        elapsed = time.perf_counter() - t0
        watch.stop()
        after = _emulator_stats(info)
        calls = after["api_usage"] - before
        async with db.connection() as c:
            statuses = {r["status"]: r["n"] for r in await c.fetch("SELECT status, count(*) AS n FROM outbox GROUP BY 1")}
        agent = {"model": args.model, "events": n_events, "order_events": args.orders, "api_calls": calls,
                 "records": stats.records,
                 "elapsed_s": round(elapsed, 2), "records_per_s": round(stats.records / elapsed),
                 "calls_per_1000_order_events": round(calls / args.orders * 1000, 2),
                 "bulk_threshold_records": settings.sf_bulk_threshold_records,
                 "first_write_s": None if watch.first_s is None else round(watch.first_s, 2),
                 "bulk_jobs": after["by_endpoint"].get("bulk2.create", 0),
                 "outbox": statuses, "endpoints": after["by_endpoint"], "record_counts": after["record_counts"]}
        # naive: one single-record upsert per record, same concurrency, on a sample of the same records
        client = await deliverer.client(row["id"])
        naive = await asyncio.to_thread(_naive, client, deliverer.base_mapping, args, stats.records)
        deliverer.close()
        await db.close()
    finally:
        emu.terminate()
        emu.wait(10)
    return {"benchmark": "drain", "machine": machine(), "params": vars(args), "agent": agent, "naive": naive,
            "targets": {"calls_per_1000_order_events_max": 10, "records_per_s_min": 1000}}


def _naive(client, mapping, args, full_records: int) -> dict:
    """Upsert each record with its own call (PATCH /sobjects/{T}/Wooforce_Key__c/{key}), dependencies first."""
    from agent.delivery.plan import LEVELS, Plan, Unit
    from shared.mapping import KEY_FIELD
    from tests.support import woo

    pricebook = client.query("SELECT Id FROM Pricebook2 WHERE IsStandard = true LIMIT 1")[0]["Id"]
    plan = Plan(mapping, set(), {"naive": pricebook})
    rnd = random.Random(7)
    n_orders = args.naive_sample_orders
    for o in range(1, n_orders + 1):
        doc = woo.order(o, customer_id=0, email_n=rnd.randint(1, 10**6),
                        products=tuple(rnd.sample(range(1, args.products + 1), args.items)))
        plan.add_unit(Unit(o, "naive", "order", o, "evt", None, 1, 0, "updated", doc))
    recs = sorted(plan.records.values(), key=lambda r: LEVELS[r.sobject])
    before = client.calls

    def one(rec) -> int:
        body = {k: v for k, v in rec.fields.items() if k not in ("attributes", KEY_FIELD)}
        return client.request("PATCH", f"/sobjects/{rec.sobject}/{KEY_FIELD}/{quote(rec.key, safe='')}",
                              json=body).status
    t0 = time.perf_counter()
    with ThreadPoolExecutor(args.concurrency) as pool:
        for level in sorted({LEVELS[r.sobject] for r in recs}):
            list(pool.map(one, [r for r in recs if LEVELS[r.sobject] == level]))
    elapsed = time.perf_counter() - t0
    calls = client.calls - before
    rps = len(recs) / elapsed
    return {"sample_order_events": n_orders, "sample_records": len(recs), "sample_calls": calls,
            "sample_elapsed_s": round(elapsed, 2), "records_per_s": round(rps),
            "extrapolated": True, "calls_for_full_backlog": full_records,
            "calls_per_1000_order_events": round(full_records / args.orders * 1000),
            "estimated_full_drain_s": round(full_records / rps)}


def _all_models(args) -> int:
    rows = []
    for model in MODELS:
        res = asyncio.run(run(argparse.Namespace(**{**vars(args), "model": model, "database_url": None})))
        rows.append(res["agent"])
    print(f"backlog: {args.orders} orders x {args.items} items, {args.customers} customers, {args.products} products; "
          f"latency {args.latency_ms:g} ms/call, concurrency {args.concurrency}")
    print(f"{'model':<28} {'records':>8} {'API calls':>10} {'calls/1000 order events':>24} {'records/s':>10} "
          f"{'elapsed s':>10}  outbox")
    ok = True
    for a in rows:
        print(f"{a['model']:<28} {a['records']:>8} {a['api_calls']:>10} {a['calls_per_1000_order_events']:>24} "
              f"{a['records_per_s']:>10} {a['elapsed_s']:>10}  {a['outbox']}")
        ok = ok and a["calls_per_1000_order_events"] <= 10 and a["records_per_s"] >= 1000 \
            and set(a["outbox"]) == {"delivered"}
    print("targets (<= 10 calls/1000 order events, >= 1000 records/s, all delivered) for every model:",
          "met" if ok else "NOT met")
    print("saved", save("drain_models", {"benchmark": "drain_models", "machine": machine(), "params": vars(args),
                                         "models": rows}))
    return 0 if ok else 1


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--orders", type=int, default=10_000)
    p.add_argument("--items", type=int, default=3)
    p.add_argument("--customers", type=int, default=2_000)
    p.add_argument("--products", type=int, default=500)
    p.add_argument("--latency-ms", type=float, default=100)
    p.add_argument("--concurrency", type=int, default=10)
    p.add_argument("--naive-sample-orders", type=int, default=100)
    p.add_argument("--bulk-threshold", type=int, default=None, help="WOOFORCE_SF_BULK_THRESHOLD_RECORDS (default: "
                   "the setting's default)")
    p.add_argument("--database-url", default=os.environ.get("WOOFORCE_DATABASE_URL"))
    p.add_argument("--model", choices=[*MODELS, "all"], default="default",
                   help="the store's data model (mapping [options]); all: each model in turn, one row each")
    args = p.parse_args(argv)
    from loguru import logger

    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    if args.model == "all":
        return _all_models(args)
    res = asyncio.run(run(args))
    a, n = res["agent"], res["naive"]
    print(f"backlog: {a['events']} events ({a['order_events']} orders x {args.items} items, {args.customers} customers, "
          f"{args.products} products) -> {a['records']} Salesforce records; latency {args.latency_ms:g} ms/call, "
          f"concurrency {args.concurrency}")
    print(f"{'strategy':<28} {'API calls':>10} {'calls/1000 order events':>24} {'records/s':>10} {'elapsed s':>10}")
    print(f"{'agent (composite+bulk)':<28} {a['api_calls']:>10} {a['calls_per_1000_order_events']:>24} "
          f"{a['records_per_s']:>10} {a['elapsed_s']:>10}")
    print(f"{'naive (1 upsert/record)*':<28} {n['calls_for_full_backlog']:>10} {n['calls_per_1000_order_events']:>24} "
          f"{n['records_per_s']:>10} {n['estimated_full_drain_s']:>10}")
    print(f"* naive measured on a sample of {n['sample_order_events']} order events ({n['sample_records']} records, "
          f"{n['sample_calls']} calls, {n['sample_elapsed_s']} s) and extrapolated: one call per record is exact, "
          f"the speed and full elapsed time are estimates.")
    print(f"bulk threshold {a['bulk_threshold_records']} records: {a['bulk_jobs']} Bulk API 2.0 jobs, first record "
          f"written after {a['first_write_s']} s")
    print(f"ratio: {n['calls_per_1000_order_events'] / max(a['calls_per_1000_order_events'], 0.01):.0f}x fewer calls, "
          f"{a['records_per_s'] / max(n['records_per_s'], 1):.1f}x faster; outbox after drain: {a['outbox']}")
    ok = a["calls_per_1000_order_events"] <= 10 and a["records_per_s"] >= 1000 and set(a["outbox"]) == {"delivered"}
    print("targets (<= 10 calls/1000 order events, >= 1000 records/s, all delivered):", "met" if ok else "NOT met")
    print("saved", save("drain", res))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
