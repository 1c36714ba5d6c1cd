"""End-to-end lag: from the WooCommerce change to the Salesforce write, at a steady order rate.

    python -m bench.lag [--rate 50] [--duration-s 60] [--poll-interval-s 0.2] [--sf-latency-ms 100]

The WooCommerce emulator (in this process) creates and updates orders at ``--rate`` changes/s and sends each change
in the plugin's signed format (the plugin batches what queued while a request was in flight) to a real collector
subprocess; a real ``wooforce agent`` subprocess (poll interval ``--poll-interval-s``) delivers to the Salesforce
emulator (its own thread, HTTPS, ``--sf-latency-ms`` per call).

Times, all from one clock with sub-second precision (WooCommerce's ``date_modified`` has 1 s resolution, so it only
identifies versions):
- change: a store listener stamps each change as it is made;
- committed (the baseline, ingest leg alone): the collector's 2xx for the request carrying the change (it answers
  only after the commit);
- Salesforce write: the emulator's store of the ``Order`` record, with its ``Woo_Date_Modified__c``. A change counts
  as written by the first write of that order at or after the change carrying its version or a newer one (a newer
  version includes it: newest wins).
Prints p50/p95/p99 of both legs and their ratio; writes bench/results/lag.json.
"""
from __future__ import annotations

import argparse
import asyncio
import bisect
import sys
import time
from datetime import UTC, datetime

from bench.common import machine, pct, save, wait_ready
from bench.stack import Stack, free_port, load_average

MIX = {"order.create": 60, "order.update": 40}


def _epoch(text: str | None) -> float | None:
    if not text:
        return None
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


class Probe:
    """Change, commit and Salesforce-write times, joined per order version."""

    def __init__(self, store_id: str):
        self.store_id = store_id
        self.changes: list[tuple[int, int, float, float]] = []  # (seq, order id, t_change, version epoch)
        self.acked: dict[int, float] = {}  # change seq -> t of the collector's 2xx
        self.writes: dict[str, list[tuple[float, float]]] = {}  # Wooforce key -> [(t_write, version epoch)]
        self.recording = False

    def on_change(self, change) -> None:
        if self.recording and change.resource == "order" and change.event in ("created", "updated"):
            self.changes.append((change.seq, change.resource_id, time.time(),
                                 _epoch(change.payload.get("date_modified_gmt") + "+00:00")))

    def wrap_dispatcher(self, dispatcher) -> None:
        send = dispatcher._send

        async def timed(target, batch):
            await send(target, batch)
            t = time.time()
            for rec in batch:
                if rec.status == "delivered":
                    self.acked.setdefault(rec.seq, t)
        dispatcher._send = timed

    def wrap_org(self, state) -> None:
        put = state.put

        def timed(sobject, record):
            put(sobject, record)
            if sobject == "Order":
                key = record.get("Wooforce_Key__c") or ""
                self.writes.setdefault(key, []).append((time.time(), _epoch(record.get("Woo_Date_Modified__c"))))
        state.put = timed

    def lags(self) -> tuple[list[float], list[float], int]:
        ingest, e2e, missing = [], [], 0
        for seq, oid, t_change, version in self.changes:
            if seq in self.acked:
                ingest.append(self.acked[seq] - t_change)
            writes = self.writes.get(f"{self.store_id}:order:{oid}", [])
            i = bisect.bisect_left(writes, (t_change, float("-inf")))
            t_write = next((t for t, v in writes[i:] if v is not None and v >= version), None)
            if t_write is None:
                missing += 1
            else:
                e2e.append(t_write - t_change)
        return ingest, e2e, missing

    def written(self) -> int:
        return sum(1 for _, oid, t, v in self.changes
                   if any(tw >= t and (vw or 0) >= v for tw, vw in self.writes.get(f"{self.store_id}:order:{oid}", [])))


def _summary(values: list[float]) -> dict:
    return {"n": len(values), **{f"p{p}_ms": round(pct(values, p) * 1000, 1) for p in (50, 95, 99)},
            "max_ms": round(max(values, default=float("nan")) * 1000, 1)}


async def run(args) -> dict:
    from emulators.salesforce import SalesforceEmulator
    from emulators.woocommerce import WooCommerceEmulator

    load_start = load_average()
    async with Stack("lag", database_url=args.database_url) as st:
        sf = SalesforceEmulator(ca_path=st.tmp / "sf-ca.pem", latency_ms=args.sf_latency_ms,
                                daily_api_max=5_000_000, seed=7).start_in_thread()
        try:
            async with WooCommerceEmulator() as wc:
                wc.seed(orders=args.seed_orders, products=50, customers=200, seed=7, days=0.5)
                store_id, secret = await st.add_store("lag", sf)
                probe = Probe(store_id)
                wc.store.listeners.append(probe.on_change)
                probe.wrap_dispatcher(wc.dispatcher)
                probe.wrap_org(sf.state)
                port = free_port()
                collector = st.spawn("collector", ["collector", "--port", str(port)])
                st.spawn("agent", ["agent"], agent_poll_interval_s=args.poll_interval_s, sf_concurrency=10,
                         agent_retry_schedule_s="[1, 2, 5]")
                await asyncio.to_thread(wait_ready, f"http://127.0.0.1:{port}/readyz", collector)
                wc.configure_webhooks(f"http://127.0.0.1:{port}", store_id, mode="plugin", store_secret=secret,
                                      batch_max=args.batch_max)
                # warm-up (connections, Salesforce login, first customers/products), not measured
                wc.start_traffic(changes_per_s=args.rate, seed=3, mix=dict(MIX), max_ops=int(args.rate * 3))
                await wc.traffic.wait_done(60)
                await _settle(st, wc, 60)
                api_before = sf.api_calls
                probe.recording = True
                t0 = time.monotonic()
                wc.start_traffic(changes_per_s=args.rate, seed=11, mix=dict(MIX),
                                 max_ops=int(args.rate * args.duration_s))
                while wc.traffic.running:
                    st.check_alive()
                    await asyncio.sleep(0.5)
                traffic_s = time.monotonic() - t0
                probe.recording = False
                settled = await _settle(st, wc, args.settle_timeout_s, probe=probe)
                api_calls = sf.api_calls - api_before
                outbox = await st.outbox_status()
                st.stop("agent")
                st.stop("collector")
        finally:
            sf.stop_in_thread()
    ingest, e2e, missing = probe.lags()
    ing, end = _summary(ingest), _summary(e2e)
    ratio = {f"p{p}": round(end[f"p{p}_ms"] / ing[f"p{p}_ms"], 1) if ing[f"p{p}_ms"] else None for p in (50, 95, 99)}
    return {"benchmark": "lag", "machine": {**machine(), "postgres": st.postgres_version},
            "load_average_start": load_start, "params": vars(args),
            "order_changes": len(probe.changes), "achieved_rate_per_s": round(len(probe.changes) / traffic_s, 1),
            "dispatcher": wc.dispatcher.summary(), "settled": settled, "not_written": missing,
            "outbox": outbox, "salesforce_api_calls": api_calls,
            "ingest_leg": ing, "end_to_end": end, "ratio_end_to_end_over_ingest": ratio,
            "target": {"end_to_end_p95_ms_max": 5000}}


async def _settle(st: Stack, wc, timeout_s: float, probe: Probe | None = None) -> bool:
    """Every change sent, nothing left to deliver (and, with ``probe``, every measured change written)."""
    deadline = time.monotonic() + timeout_s
    await wc.dispatcher.wait_idle(timeout_s)
    while time.monotonic() < deadline:
        st.check_alive()
        s = await st.outbox_status()
        if not any(s.get(k) for k in ("pending", "leased", "retrying")) and \
                (probe is None or probe.written() == len(probe.changes)):
            return True
        await asyncio.sleep(0.25)
    return False


def print_table(res: dict) -> None:
    ing, end, ratio = res["ingest_leg"], res["end_to_end"], res["ratio_end_to_end_over_ingest"]
    p = res["params"]
    print(f"{res['order_changes']} order changes at {res['achieved_rate_per_s']}/s for {p['duration_s']:g} s "
          f"(target rate {p['rate']:g}/s); agent poll {p['poll_interval_s']:g} s, "
          f"Salesforce {p['sf_latency_ms']:g} ms/call; "
          f"load average at start {res['load_average_start']}")
    print(f"{'leg':<40} {'n':>6} {'p50 ms':>9} {'p95 ms':>9} {'p99 ms':>9} {'max ms':>9}")
    for name, s in (("ingest: change -> committed (baseline)", ing), ("end to end: change -> Salesforce write", end)):
        print(f"{name:<40} {s['n']:>6} {s['p50_ms']:>9} {s['p95_ms']:>9} {s['p99_ms']:>9} {s['max_ms']:>9}")
    print(f"{'ratio end-to-end / ingest':<40} {'':>6} {ratio['p50']!s:>9} {ratio['p95']!s:>9} {ratio['p99']!s:>9}")
    print(f"not written: {res['not_written']}   outbox: {res['outbox']}   Salesforce API calls: "
          f"{res['salesforce_api_calls']}   webhooks: {res['dispatcher']}")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rate", type=float, default=50, help="order changes per second")
    p.add_argument("--duration-s", type=float, default=60)
    p.add_argument("--poll-interval-s", type=float, default=0.2, help="WOOFORCE_AGENT_POLL_INTERVAL_S")
    p.add_argument("--sf-latency-ms", type=float, default=100)
    p.add_argument("--batch-max", type=int, default=20, help="plugin: events per request when a backlog queued")
    p.add_argument("--seed-orders", type=int, default=500)
    p.add_argument("--settle-timeout-s", type=float, default=60)
    p.add_argument("--database-url", default=None)
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    from loguru import logger

    logger.remove()
    logger.add(sys.stderr, level="ERROR")
    res = asyncio.run(run(args))
    print_table(res)
    print("saved", save("lag", res))
    return 0 if res["not_written"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
