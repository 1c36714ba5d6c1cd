"""Memory: peak RSS of the collector under full load and of the agent draining a 1,000,000-event backlog.

    python -m bench.memory [--load-s 20] [--backlog 1000000] [--drain-s 75] [--skip-collector] [--skip-agent]

Collector: a real ``wooforce collector`` subprocess; RSS sampled at idle (the baseline), then under bench.ingest's
load generator (pre-signed plugin batches, ``--concurrency`` keep-alive connections) for ``--load-s``.

Agent: one real ``wooforce agent`` subprocess delivering to the Salesforce emulator (its own process, HTTPS,
``--sf-latency-ms`` per call), sampled in three phases of the same process: idle (empty outbox), draining a
``--small-backlog`` (10,000) backlog to the end, then draining a ``--backlog`` (1,000,000) backlog for ``--drain-s``
(it cannot finish; memory must not depend on what is still waiting). Backlogs are written with generate_series
(events + outbox heads: 70 % orders with one line, 20 % customers, 10 % products).

Flat means: growth (median RSS of the last third of a phase minus the first third) near 0, and the peak with the
1,000,000 backlog close to the peak with the 10,000 one. Writes bench/results/memory.json.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

from bench.common import RssSampler, machine, save, wait_ready
from bench.stack import Stack, free_port, load_average

SENTINEL = "987654321"
# bench-only data generation (not application SQL): one statement per table, generate_series
FILL_EVENTS = """
INSERT INTO events (id, store_id, source, sender_id, dedup_key, resource, action, resource_id, occurred_at, version,
                    payload)
SELECT 'evt_' || lpad(g::text, 26, '0'), $1, 'plugin', 'm' || g, 'membench:' || g, r.resource, 'updated', g,
       now(), now() - interval '1 day' + make_interval(secs => g / 1000.0),
       replace(replace(CASE r.resource WHEN 'order' THEN $4 WHEN 'customer' THEN $5 ELSE $6 END,
                       '"customer_id": 123456789', '"customer_id": ' || (1 + g % 50000) * 10 + 7),
               $7, g::text)::json
FROM generate_series($2::bigint, $3::bigint) AS g,
     LATERAL (SELECT CASE WHEN g % 10 < 7 THEN 'order' WHEN g % 10 < 9 THEN 'customer' ELSE 'product' END
              AS resource) r
"""
FILL_OUTBOX = """
INSERT INTO outbox (store_id, destination, resource, resource_id, head_event_id, head_version, head_seq, status)
SELECT e.store_id, 'salesforce', e.resource, e.resource_id, e.id, e.version, e.seq, 'pending'
FROM events e WHERE e.dedup_key LIKE 'membench:%' AND e.resource_id BETWEEN $1 AND $2
"""


def _templates() -> tuple[str, str, str]:
    from tests.support import woo

    n = int(SENTINEL)
    order = woo.order(n, customer_id=123456789, products=(19,))
    return json.dumps(order), json.dumps(woo.customer(n)), json.dumps(woo.product(n, price="19.00"))


async def fill(st: Stack, store_id: str, first: int, last: int) -> float:
    t0 = time.perf_counter()
    async with st.db.connection() as c:
        await c.execute(FILL_EVENTS, store_id, first, last, *_templates(), SENTINEL)
        await c.execute(FILL_OUTBOX, first, last)
        await c.execute("ANALYZE outbox")
    return round(time.perf_counter() - t0, 1)


def _phase(rss: RssSampler, **extra) -> dict:
    step = max(1, round(2 / rss.interval_s))  # the RSS curve, one point per ~2 s
    return {"peak_mib": round(rss.peak_mib, 1), "growth_mib": round(rss.growth_mib(), 1),
            "samples": len(rss.samples), "series_2s_mib": [round(x) for x in rss.samples[::step]], **extra}


async def collector_phase(args) -> dict:
    from bench.ingest import RequestFactory, load

    async with Stack("mem-collector") as st:
        store_id, secret = await st.add_store("memory")
        port = free_port()
        proc = st.spawn("collector", ["collector", "--port", str(port)])
        await asyncio.to_thread(wait_ready, f"http://127.0.0.1:{port}/readyz", proc)
        url = f"http://127.0.0.1:{port}/v1/stores/{store_id}/events"
        factory = RequestFactory(args.events_per_request, secret, f"mem-{time.time_ns()}")
        await load(url, factory, concurrency=4, duration_s=1)  # warm-up: connections, store cache
        with RssSampler(proc.pid, 0.1) as idle:
            await asyncio.sleep(args.idle_s)
        with RssSampler(proc.pid, 0.1) as busy:
            r = await load(url, factory, concurrency=args.concurrency, duration_s=args.load_s)
        events = r["requests"] * args.events_per_request
        return {"idle": _phase(idle), "load": _phase(busy, events=events, events_per_s=round(events / r["elapsed_s"]),
                                                     statuses=r["statuses"]),
                "peak_over_idle": round(busy.peak_mib / idle.peak_mib, 2)}


async def agent_phase(args) -> dict:
    from bench.drain import CLIENT, _emulator_stats, _start_emulator

    async with Stack("mem-agent", database_url=args.database_url) as st:
        emu, info = _start_emulator(st.tmp, args.sf_latency_ms)
        try:
            row, _ = await st.stores.add("memory")
            store_id = row["id"]
            cid, secret = CLIENT.split(":")
            await st.stores.set_salesforce(store_id, {"instance_url": info["url"], "auth": "client_credentials",
                                                      "client_id": cid, "client_secret": secret,
                                                      "ca_file": info["ca_path"]})
            knobs = dict(kv.split("=", 1) for kv in args.agent_setting)
            proc = st.spawn("agent", ["agent"], agent_poll_interval_s=0.5, **knobs)
            await asyncio.sleep(3)  # imports, scheduler, first empty claim
            st.check_alive()
            out = {}
            with RssSampler(proc.pid, 0.2) as idle:
                await asyncio.sleep(args.idle_s)
            out["idle"] = _phase(idle)
            small = args.small_backlog
            fill_small_s = await fill(st, store_id, 1, small)
            t0 = time.monotonic()
            with RssSampler(proc.pid, 0.2) as rss:
                while time.monotonic() - t0 < args.small_timeout_s:
                    st.check_alive()
                    s = await st.outbox_status()
                    if not any(s.get(k) for k in ("pending", "leased", "retrying")):
                        break
                    await asyncio.sleep(0.5)
            out["small_backlog"] = _phase(rss, backlog=small, fill_s=fill_small_s,
                                          drain_s=round(time.monotonic() - t0, 1), outbox=await st.outbox_status())
            print(f"  agent: {small:,} backlog drained in {out['small_backlog']['drain_s']} s, "
                  f"peak {out['small_backlog']['peak_mib']} MiB; filling {args.backlog:,} ...", flush=True)
            fill_s = await fill(st, store_id, small + 1, small + args.backlog)
            before = await st.outbox_status()
            t0 = time.monotonic()
            with RssSampler(proc.pid, 0.2) as rss:
                while time.monotonic() - t0 < args.drain_s:
                    st.check_alive()
                    await asyncio.sleep(1)
            after = await st.outbox_status()
            delivered = after.get("delivered", 0) - before.get("delivered", 0)
            out["large_backlog"] = _phase(rss, backlog=args.backlog, fill_s=fill_s, drain_s=args.drain_s,
                                          delivered_in_window=delivered, outbox_after=after)
            out["sf_api_calls"] = _emulator_stats(info)["api_usage"]
            out["peak_large_over_small"] = round(out["large_backlog"]["peak_mib"] / out["small_backlog"]["peak_mib"], 2)
            out["peak_large_over_idle"] = round(out["large_backlog"]["peak_mib"] / out["idle"]["peak_mib"], 2)
            out["postgres"] = st.postgres_version
            out["settings"] = {**{k: getattr(st.settings, k) for k in ("agent_claim_batch", "sf_bulk_claim_batch",
                                                                       "sf_bulk_threshold_records", "sf_concurrency")},
                               **{k.lower(): v for k, v in knobs.items()}}
            return out
        finally:
            emu.terminate()
            emu.wait(10)


async def run(args) -> dict:
    res = {"benchmark": "memory", "machine": machine(), "params": vars(args), "load_average_start": load_average()}
    if not args.skip_collector:
        res["collector"] = await collector_phase(args)
        print(f"  collector: idle {res['collector']['idle']['peak_mib']} MiB, under load "
              f"{res['collector']['load']['peak_mib']} MiB", flush=True)
    if not args.skip_agent:
        res["load_average_agent_start"] = load_average()
        res["agent"] = await agent_phase(args)
    res["target"] = {"growth_mib_max": 20, "peak_large_over_small_max": 1.5}
    return res


def print_table(res: dict) -> None:
    print(f"load average at start {res['load_average_start']}")
    print(f"{'process / phase':<44} {'peak RSS MiB':>13} {'growth MiB':>11}  notes")
    c = res.get("collector")
    if c:
        print(f"{'collector idle (baseline)':<44} {c['idle']['peak_mib']:>13} {c['idle']['growth_mib']:>11}")
        print(f"{'collector full load':<44} {c['load']['peak_mib']:>13} {c['load']['growth_mib']:>11}  "
              f"{c['load']['events_per_s']} events/s, {c['load']['statuses']}; peak/idle {c['peak_over_idle']}")
    a = res.get("agent")
    if a:
        print(f"{'agent idle':<44} {a['idle']['peak_mib']:>13} {a['idle']['growth_mib']:>11}")
        s, lg = a["small_backlog"], a["large_backlog"]
        print(f"{'agent draining ' + format(s['backlog'], ',') + ' (baseline)':<44} {s['peak_mib']:>13} "
              f"{s['growth_mib']:>11}  drained in {s['drain_s']} s")
        print(f"{'agent draining ' + format(lg['backlog'], ',') + ' (' + format(lg['drain_s'], 'g') + ' s)':<44} "
              f"{lg['peak_mib']:>13} {lg['growth_mib']:>11}  {lg['delivered_in_window']:,} rows delivered in the "
              f"window; peak large/small {a['peak_large_over_small']}")
        print(f"agent settings: {a['settings']}")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--load-s", type=float, default=20, help="collector: seconds of full load")
    p.add_argument("--idle-s", type=float, default=5)
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--events-per-request", type=int, default=10)
    p.add_argument("--backlog", type=int, default=1_000_000)
    p.add_argument("--small-backlog", type=int, default=10_000)
    p.add_argument("--small-timeout-s", type=float, default=180)
    p.add_argument("--drain-s", type=float, default=75, help="agent: seconds of draining the large backlog")
    p.add_argument("--sf-latency-ms", type=float, default=20)
    p.add_argument("--agent-setting", action="append", default=[], metavar="NAME=VALUE",
                   help="agent setting for this run, e.g. sf_bulk_claim_batch=2000 (WOOFORCE_ prefix implied)")
    p.add_argument("--skip-collector", action="store_true")
    p.add_argument("--skip-agent", action="store_true")
    p.add_argument("--database-url", default=None)
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    from loguru import logger

    logger.remove()
    logger.add(sys.stderr, level="ERROR")
    res = asyncio.run(run(args))
    print_table(res)
    print("saved", save("memory", res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
