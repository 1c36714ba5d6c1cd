"""Ingest benchmark: the real collector (embedded Postgres, durable commits) against a no-op aiohttp handler.

    python -m bench.ingest [--duration-s 10] [--concurrency 64] [--events-per-request 10]

Both servers run as subprocesses and get the same pre-signed load over keep-alive connections, in
the same run, in alternating rounds (so a machine that slows down mid-run weighs on both alike).
Prints events/s, p50/p99 request latency, the ratio collector/no-op (overall and per round), and the
collector's peak RSS; writes bench/results/ingest.json. A third, diagnostic server
(bench/collector_nodb.py: the collector with its group commit answering without writing) shows
the ceiling the collector's own Python work leaves before any database cost (--no-floor skips it).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from bench.common import RssSampler, machine, pct, save, wait_ready
from shared.signing import sign_headers


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RequestFactory:
    """Unique, signed requests from a pre-serialised template: a few microseconds each, the same for both servers."""

    def __init__(self, per_request: int, secret: str, prefix: str):
        self.secret, self.prefix, self.per_request, self.n = secret, prefix, per_request, 0
        event = {"id": "@ID@", "type": "order.updated", "occurred_at": "2026-11-22T15:35:24Z", "resource_id": 999999,
                 "data": {"id": 999999, "status": "processing", "currency": "USD", "total": "123.45",
                          "date_modified_gmt": "2026-11-22T15:35:24",
                          "billing": {"first_name": "Jane", "last_name": "Doe", "email": "jane@example.com",
                                      "address_1": "1 Main St", "city": "San Francisco", "country": "US"},
                          "line_items": [{"id": k, "product_id": 25 + k, "quantity": 1, "total": "10.00",
                                          "sku": f"SKU-{k}", "name": "Rig Widget"} for k in range(3)]}}
        self.template = json.dumps(event)

    def next(self) -> tuple[bytes, dict]:
        parts = []
        for _ in range(self.per_request):
            self.n += 1
            parts.append(self.template.replace("@ID@", f"{self.prefix}-{self.n}").replace("999999", str(self.n)))
        body = ('{"events": [' + ", ".join(parts) + "]}").encode()
        return body, {**sign_headers(self.secret, f"msg_{self.prefix}_{self.n}", body), "Content-Type": "application/json"}


async def load(url: str, factory: RequestFactory, *, concurrency: int, duration_s: float) -> dict:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    deadline = time.perf_counter() + duration_s
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)

    async def worker(session: aiohttp.ClientSession) -> None:
        while time.perf_counter() < deadline:
            body, headers = factory.next()
            t0 = time.perf_counter()
            async with session.post(url, data=body, headers=headers) as r:
                await r.read()
                statuses[r.status] = statuses.get(r.status, 0) + 1
            latencies.append(time.perf_counter() - t0)

    t0 = time.perf_counter()
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return {"requests": len(latencies), "elapsed_s": time.perf_counter() - t0, "statuses": statuses,
            "latencies": latencies}


def _summary(runs: list[dict], per_request: int) -> dict:
    """One server's rounds added up: events/s over all of them, latency percentiles over every request."""
    latencies = [x for r in runs for x in r["latencies"]]
    statuses: dict[int, int] = {}
    for r in runs:
        for code, n in r["statuses"].items():
            statuses[code] = statuses.get(code, 0) + n
    requests_ = sum(r["requests"] for r in runs)
    elapsed = sum(r["elapsed_s"] for r in runs)
    return {"requests": requests_, "elapsed_s": elapsed, "statuses": statuses,
            "events_per_s": requests_ * per_request / elapsed,
            "p50_ms": pct(latencies, 50) * 1000, "p99_ms": pct(latencies, 99) * 1000}


def run(args) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="wf-bench-", dir="/tmp"))
    env = {**os.environ, "WOOFORCE_DATA_DIR": str(tmp), "WOOFORCE_LOG_LEVEL": "WARNING"}
    env.pop("WOOFORCE_DATABASE_URL", None)
    # register a store (embedded Postgres under tmp)
    out = subprocess.run([sys.executable, "-m", "cli", "stores", "add", "--name", "bench", "--json"],
                         env=env, capture_output=True, text=True, check=True).stdout
    store = json.loads(out)
    results = {}
    for per_request in args.events_per_request:
        results[per_request] = _pair(args, env, store, per_request)
    return {"benchmark": "ingest", "machine": machine(), "params": vars(args), "results": results,
            "target_ratio": 0.5}


def _pair(args, env, store, per_request: int) -> dict:
    """Both servers up at once; ``rounds`` alternating bursts (noop first, then collector first, ...), so a
    machine that slows down or speeds up mid-run weighs on both sides alike."""
    names = ("noop", "collector", "no_database") if args.floor else ("noop", "collector")
    commands = {"noop": ["bench.noop_server"], "collector": ["cli", "collector", "--port"],
                "no_database": ["bench.collector_nodb"]}
    procs, urls, factories, rounds = {}, {}, {}, {name: [] for name in names}
    try:
        for name in names:
            port = _free_port()
            procs[name] = subprocess.Popen([sys.executable, "-m", *commands[name], str(port)], env=env,
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            wait_ready(f"http://127.0.0.1:{port}/readyz", procs[name])
            factories[name] = RequestFactory(per_request, store["signing_secret"],
                                             f"{name}-{per_request}-{time.time_ns()}")
            urls[name] = f"http://127.0.0.1:{port}/v1/stores/{store['store_id']}/events"
            asyncio.run(load(urls[name], factories[name], concurrency=args.concurrency, duration_s=1))  # warm-up
        with RssSampler(procs["collector"].pid) as rss:
            for i in range(args.rounds):
                for name in (names if i % 2 == 0 else names[::-1]):
                    rounds[name].append(asyncio.run(load(urls[name], factories[name], concurrency=args.concurrency,
                                                         duration_s=args.duration_s / args.rounds)))
    finally:
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            proc.wait(15)
    results = {name: _summary(runs, per_request) for name, runs in rounds.items()}
    results["collector"]["peak_rss_mib"] = rss.peak_mib
    results["ratio"] = results["collector"]["events_per_s"] / results["noop"]["events_per_s"]
    results["round_ratios"] = [c["requests"] / c["elapsed_s"] / (n["requests"] / n["elapsed_s"])
                               for c, n in zip(rounds["collector"], rounds["noop"])]
    if args.floor:
        results["no_database_ratio"] = results["no_database"]["events_per_s"] / results["noop"]["events_per_s"]
    return results


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--duration-s", type=float, default=10)
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--rounds", type=int, default=4, help="alternating bursts per server (duration split among them)")
    p.add_argument("--no-floor", dest="floor", action="store_false",
                   help="skip the diagnostic collector without database (bench/collector_nodb.py)")
    p.add_argument("--events-per-request", type=int, nargs="+", default=[1, 10],
                   help="1 = native-webhook style, 10 = plugin batches")
    args = p.parse_args(argv)
    res = run(args)
    print(f"{'events/req':>10} {'server':<11} {'events/s':>10} {'req p50 ms':>11} {'req p99 ms':>11} "
          f"{'peak RSS MiB':>13}  statuses")
    for per_request, pair in res["results"].items():
        for name in ("noop", "collector", "no_database"):
            if name not in pair:
                continue
            r = pair[name]
            print(f"{per_request:>10} {name:<11} {r['events_per_s']:>10.0f} {r['p50_ms']:>11.1f} {r['p99_ms']:>11.1f} "
                  f"{r.get('peak_rss_mib', float('nan')):>13.1f}  {r['statuses']}")
        rounds = ", ".join(f"{x:.2f}" for x in pair["round_ratios"])
        print(f"{per_request:>10} ratio collector/no-op: {pair['ratio']:.2f} (target >= 0.5; rounds: {rounds})")
        if "no_database_ratio" in pair:
            print(f"{per_request:>10} ratio without database/no-op: {pair['no_database_ratio']:.2f} (the ceiling the "
                  f"collector's own Python work leaves)")
    print(f"saved {save('ingest', res)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
