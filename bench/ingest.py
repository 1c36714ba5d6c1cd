"""Ingest benchmark: the real collector (embedded Postgres, durable commits) against a no-op aiohttp handler.

    python -m bench.ingest [--duration-s 10] [--concurrency 64] [--events-per-request 10]

Both servers run as subprocesses and get the same pre-signed load over keep-alive connections, in
the same run. Prints events/s, p50/p99 request latency, the ratio collector/no-op, and the
collector's peak RSS; writes bench/results/ingest.json.
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
    elapsed = time.perf_counter() - t0
    return {"requests": len(latencies), "elapsed_s": elapsed, "statuses": statuses,
            "p50_ms": pct(latencies, 50) * 1000, "p99_ms": pct(latencies, 99) * 1000}


def run(args) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="wf-bench-", dir="/tmp"))
    env = {**os.environ, "WOOFORCE_DATA_DIR": str(tmp), "WOOFORCE_LOG_LEVEL": "WARNING"}
    env.pop("WOOFORCE_DATABASE_URL", None)
    # register a store (embedded Postgres under tmp)
    out = subprocess.run([sys.executable, "-m", "shared.cli", "stores", "add", "--name", "bench", "--json"],
                         env=env, capture_output=True, text=True, check=True).stdout
    store = json.loads(out)
    results = {}
    for per_request in args.events_per_request:
        results[per_request] = _pair(args, env, store, per_request)
    return {"benchmark": "ingest", "machine": machine(), "params": vars(args), "results": results,
            "target_ratio": 0.5}


def _pair(args, env, store, per_request: int) -> dict:
    results = {}
    for name in ("noop", "collector"):
        port = _free_port()
        cmd = ([sys.executable, "-m", "bench.noop_server", str(port)] if name == "noop"
               else [sys.executable, "-m", "shared.cli", "collector", "--port", str(port)])
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_ready(f"http://127.0.0.1:{port}/readyz", proc)
            factory = RequestFactory(per_request, store["signing_secret"], f"{name}-{per_request}-{time.time_ns()}")
            url = f"http://127.0.0.1:{port}/v1/stores/{store['store_id']}/events"
            asyncio.run(load(url, factory, concurrency=args.concurrency, duration_s=1))  # warm-up
            with RssSampler(proc.pid) as rss:
                r = asyncio.run(load(url, factory, concurrency=args.concurrency, duration_s=args.duration_s))
            r["events_per_s"] = r["requests"] * per_request / r["elapsed_s"]
            r["peak_rss_mib"] = rss.peak_mib
            results[name] = r
        finally:
            proc.terminate()
            proc.wait(15)
    results["ratio"] = results["collector"]["events_per_s"] / results["noop"]["events_per_s"]
    return results


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--duration-s", type=float, default=10)
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--events-per-request", type=int, nargs="+", default=[1, 10],
                   help="1 = native-webhook style, 10 = plugin batches")
    args = p.parse_args(argv)
    res = run(args)
    print(f"{'events/req':>10} {'server':<10} {'events/s':>10} {'req p50 ms':>11} {'req p99 ms':>11} "
          f"{'peak RSS MiB':>13}  statuses")
    for per_request, pair in res["results"].items():
        for name in ("noop", "collector"):
            r = pair[name]
            print(f"{per_request:>10} {name:<10} {r['events_per_s']:>10.0f} {r['p50_ms']:>11.1f} {r['p99_ms']:>11.1f} "
                  f"{r['peak_rss_mib']:>13.1f}  {r['statuses']}")
        print(f"{per_request:>10} ratio collector/no-op: {pair['ratio']:.2f} (target >= 0.5)")
    print(f"saved {save('ingest', res)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
