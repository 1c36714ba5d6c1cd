"""Reconciler benchmark: WooCommerce requests per run for a large store with few changes, against the naive
strategy (list every order, product and customer each run), measured in the same run.

    python -m bench.reconcile [--orders 50000] [--changes 20] [--products 200] [--customers 2000]

The WooCommerce emulator (in process, plain http + OAuth 1.0a, as a small store behind a proxy) is seeded; a
backfill imports everything into the outbox (embedded Postgres under /tmp), a first reconciler run sets the
cursors; then ``--changes`` traffic operations happen with no webhook at all, and one reconciler run must find
them. Prints requests per run (changes-driven part and paced sweeps), what it found, and the naive figure;
writes bench/results/reconcile.json.
"""
from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from pathlib import Path

from bench.common import machine, save


async def naive_requests(client, per_page: int) -> int:
    """Page through every order, product and customer (what a poller without cursors must do each run)."""
    before = client.requests
    for path in ("orders", "products", "customers"):
        page = 1
        while True:
            got = await client.list(path, {"per_page": per_page, "page": page})
            if len(got.records) < per_page:
                break
            page += 1
    return client.requests - before


async def run(args) -> dict:
    from loguru import logger

    from agent.reconcile.backfill import Backfill, job_params
    from agent.reconcile.reconciler import Reconciler
    from agent.woocommerce import WooClient
    from emulators.woocommerce import WooCommerceEmulator
    from shared import embedded_pg, migrations
    from shared.crypto import Vault
    from shared.db import Database
    from shared.settings import Settings
    from shared.stores import StoreManager

    logger.remove()
    logger.add(lambda m: None, level="ERROR")
    tmp = Path(tempfile.mkdtemp(prefix="wf-bench-rec-", dir="/tmp"))
    dsn = await asyncio.to_thread(embedded_pg.start, tmp)
    settings = Settings(_env_file=None, data_dir=tmp, database_url=dsn, wc_max_retries=0)
    db = await Database(dsn, min_size=1, max_size=4).open()
    try:
        await migrations.migrate(db)
        stores = StoreManager(db, Vault.from_settings(settings), cache_ttl_s=0)
        async with WooCommerceEmulator() as wc:
            t0 = time.perf_counter()
            wc.seed(orders=args.orders, products=args.products, customers=args.customers, days=365, seed=7)
            seed_s = time.perf_counter() - t0
            ck, cs = wc.add_api_key("read")
            row, _ = await stores.add("bench", wc_url=wc.url,
                                      wc_credentials={"consumer_key": ck, "consumer_secret": cs, "auth": "auto"})
            store_id = row["id"]
            t0 = time.perf_counter()
            backfill = Backfill(db, stores, settings, owner="bench")
            await backfill.run(await backfill.find_or_create(store_id, job_params(None, None)))
            backfill_s, backfill_requests = time.perf_counter() - t0, backfill.requests
            reconciler = Reconciler(db, stores, settings)
            await reconciler.run_store(store_id, force=True)  # first run: sets the cursors
            # the changes (no webhook target configured: nothing but the reconciler can find them)
            wc.store.clock.advance(5)
            ops = wc.traffic.run_ops(args.changes, random.Random(3))
            before, by_path = wc.requests_total, wc.requests_by_path
            t0 = time.perf_counter()
            report = await reconciler.run_store(store_id, force=True)
            run_ms = (time.perf_counter() - t0) * 1000
            assert report is not None and report.outcome == "ok", report and report.error
            measured = wc.requests_total - before
            breakdown = {k.replace("GET /wp-json/wc/v3/", ""): v - by_path.get(k, 0)
                         for k, v in wc.requests_by_path.items() if v - by_path.get(k, 0)}
            async with WooClient(wc.url, ck, cs) as client:
                t0 = time.perf_counter()
                naive = await naive_requests(client, settings.wc_per_page)
                naive_ms = (time.perf_counter() - t0) * 1000
    finally:
        await db.close()
    paced = {k: v for k, v in report.checked.items() if k == "customer" or k.endswith(".ids")}
    return {
        "benchmark": "reconcile", "machine": machine(), "params": vars(args),
        "store": {"orders": args.orders, "products": args.products, "customers": args.customers},
        "seed_s": round(seed_s, 1), "backfill": {"s": round(backfill_s, 1), "requests": backfill_requests},
        "changes": {"operations": ops, "found": dict(report.missing)},
        "reconciler": {"requests": measured, "reported_requests": report.requests, "run_ms": round(run_ms),
                       "by_path": breakdown, "paced_checks": paced, "checked": dict(report.checked)},
        "naive": {"requests": naive, "run_ms": round(naive_ms)},
        "ratio_naive_over_reconciler": round(naive / max(measured, 1), 1),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--orders", type=int, default=50_000)
    p.add_argument("--changes", type=int, default=20)
    p.add_argument("--products", type=int, default=200)
    p.add_argument("--customers", type=int, default=2_000)
    args = p.parse_args()
    result = asyncio.run(run(args))
    r, n = result["reconciler"], result["naive"]
    print(f"store: {args.orders} orders, {args.products} products, {args.customers} customers; "
          f"{args.changes} changes since the last run, no webhooks")
    print(f"  reconciler: {r['requests']:>5} requests/run  ({r['run_ms']} ms)   found {result['changes']['found']}")
    print(f"              by path: {r['by_path']}")
    print(f"              paced sweeps (customer page, id sweeps) checked: {r['paced_checks']}")
    print(f"  naive full listing: {n['requests']:>5} requests/run  ({n['run_ms']} ms)")
    print(f"  ratio naive/reconciler: {result['ratio_naive_over_reconciler']}x")
    print(f"  (backfill of the whole store: {result['backfill']['requests']} requests, {result['backfill']['s']} s)")
    print(f"results: {save('reconcile', result)}")


if __name__ == "__main__":
    main()
