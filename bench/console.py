"""Console benchmark: the outbox browser over 1,000,000 outbox rows (+ 1,000,000 events).

    python -m bench.console [--rows 1000000] [--loads 50] [--database-url postgresql://...]

Fills an embedded Postgres (or the given one) with generate_series in SQL (20 stores, orders/customers/products,
90 % delivered, the rest pending/retrying/dead with Salesforce error codes, customer email hashes), then loads
the real console page (``GET /console/outbox``, signed-in session, through the collector's HTTP handler) ``--loads``
times per scenario and reports p50/p95 against the unfiltered first page measured in the same run.
Target: filtered p95 < 200 ms. Writes bench/results/console.json.
"""
from __future__ import annotations

import argparse
import asyncio
import atexit
import shutil
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

import aiohttp

from bench.common import machine, pct, save

STORES = 20
# bench-only data generation (not application SQL): one statement per table, generate_series
FILL_EVENTS = """
INSERT INTO events (id, store_id, source, sender_id, dedup_key, resource, action, resource_id, occurred_at, version,
                    payload, received_at)
SELECT 'evt_' || lpad(g::text, 26, '0'), s.ids[1 + g % $2], 'plugin', 'b' || g, 'bench:' || g,
       CASE WHEN g % 10 < 7 THEN 'order' WHEN g % 10 < 9 THEN 'customer' ELSE 'product' END, 'updated', g,
       now() - make_interval(secs => g * 2.5), now() - make_interval(secs => g * 2.5),
       json_build_object('id', g, 'status', 'processing', 'total', '42.00',
                         'billing', json_build_object('email', 'customer' || (g % 50000) || '@example.com')),
       now() - make_interval(secs => g * 2.5)
FROM generate_series(1, $1) AS g, (SELECT array_agg(id ORDER BY id) AS ids FROM stores) AS s
"""
FILL_OUTBOX = """
INSERT INTO outbox (store_id, destination, resource, resource_id, head_event_id, head_version, head_seq, status,
                    attempts, available_at, delivered_event_id, delivered_at, sf_id, last_error_code, last_error,
                    created_at, updated_at)
SELECT e.store_id, 'salesforce', e.resource, e.resource_id, e.id, e.version, e.seq, st.status,
       CASE WHEN st.status IN ('dead', 'retrying') THEN 3 ELSE 0 END, e.received_at,
       CASE WHEN st.status = 'delivered' THEN e.id END,
       CASE WHEN st.status = 'delivered' THEN e.received_at + interval '3 seconds' END,
       CASE WHEN st.status = 'delivered' THEN '801' || lpad(e.resource_id::text, 12, '0') || 'AAA' END,
       CASE WHEN st.status = 'dead' THEN (ARRAY['FIELD_CUSTOM_VALIDATION_EXCEPTION', 'REQUIRED_FIELD_MISSING',
            'INVALID_CROSS_REFERENCE_KEY'])[1 + e.resource_id % 3]
            WHEN st.status = 'retrying' THEN 'UNABLE_TO_LOCK_ROW' END,
       CASE WHEN st.status IN ('dead', 'retrying') THEN 'bench error' END,
       e.received_at, e.received_at + interval '3 seconds'
FROM events e, LATERAL (SELECT CASE WHEN e.resource_id % 100 < 90 THEN 'delivered' WHEN e.resource_id % 100 < 95
                                    THEN 'pending' WHEN e.resource_id % 100 < 97 THEN 'retrying'
                                    ELSE 'dead' END AS status) st
WHERE e.dedup_key LIKE 'bench:%'
"""
FILL_EMAILS = """
INSERT INTO entity_emails (store_id, email_sha256, resource, resource_id)
SELECT store_id, sha256(convert_to('customer' || (resource_id % 50000) || '@example.com', 'UTF8')), resource, resource_id
FROM events WHERE resource = 'order' AND dedup_key LIKE 'bench:%'
ON CONFLICT DO NOTHING
"""


async def fill(db, rows: int) -> dict:
    from collector.console.service import CLI, ConsoleManager
    t = {}
    async with db.connection() as conn:
        for name, sql, args in (("events", FILL_EVENTS, (rows, STORES)), ("outbox", FILL_OUTBOX, ()),
                                ("entity_emails", FILL_EMAILS, ())):
            t0 = time.perf_counter()
            await conn.execute(sql, *args)
            t[f"fill_{name}_s"] = round(time.perf_counter() - t0, 1)
            print(f"  {name}: {t[f'fill_{name}_s']} s", flush=True)
        await conn.execute("ANALYZE events")
        await conn.execute("ANALYZE outbox")
        await conn.execute("ANALYZE entity_emails")
        await conn.execute("VACUUM outbox")  # visibility map, as autovacuum would have done on a live table
    await ConsoleManager(db).add_operator(CLI, "bench@example.com", "bench password!", "viewer")
    return t


async def measure(session: aiohttp.ClientSession, url: str, loads: int) -> dict:
    times = []
    for i in range(loads + 3):
        t0 = time.perf_counter()
        async with session.get(url) as resp:
            body = await resp.read()
            assert resp.status == 200, (resp.status, body[:300])
        if i >= 3:  # warm-up: prepared statements, caches
            times.append((time.perf_counter() - t0) * 1000)
    return {"p50_ms": round(pct(times, 50), 1), "p95_ms": round(pct(times, 95), 1), "max_ms": round(max(times), 1),
            "bytes": len(body)}


async def run(args) -> dict:
    from aiohttp.test_utils import TestServer
    from cryptography.fernet import Fernet

    from collector.app import create_app
    from collector.console.service import ConsoleManager
    from shared import embedded_pg, migrations
    from shared.crypto import Vault
    from shared.db import Database
    from shared.settings import Settings
    from shared.stores import StoreManager

    tmp = Path(tempfile.mkdtemp(prefix="wf-console-", dir="/tmp"))
    # ~3 GB of data: the embedded server deletes its data directory at exit (registered first, runs last)
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    dsn = args.database_url or await asyncio.to_thread(
        lambda: embedded_pg.start(tmp, cleanup_mode="delete"))
    settings = Settings(_env_file=None, data_dir=tmp, database_url=dsn, log_level="WARNING",
                        master_key=Fernet.generate_key().decode(), store_cache_ttl_s=0)
    db = await Database(dsn, min_size=2, max_size=10, statement_timeout_ms=1_800_000).open()  # the fill is long
    try:
        await migrations.migrate(db)
        stores = StoreManager(db, Vault.from_settings(settings))
        async with db.connection() as conn:
            have = await conn.fetchval("SELECT count(*) FROM outbox")
        if have < args.rows:
            print(f"filling {args.rows:,} outbox rows + events ...", flush=True)
            for i in range(STORES):
                await stores.add(f"bench store {i}")
            timings = await fill(db, args.rows)
        else:
            timings = {"reused_rows": have}
        async with db.connection() as conn:
            store = await conn.fetchval("SELECT min(id) FROM stores")
            n = await conn.fetchval("SELECT count(*) FROM outbox")
        m = ConsoleManager(db)
        p = await m.authenticate("bench@example.com", "bench password!")
        token, _ = await m.create_session(p, "127.0.0.1")
        server = TestServer(create_app(settings, db=db), host="127.0.0.1")
        await server.start_server()
        base = str(server.make_url("/console/outbox"))
        email = "customer4242@example.com"
        scenarios = {
            "unfiltered (baseline)": {},
            "store + dead + error code": {"store": store, "status": "dead",
                                          "error_code": "FIELD_CUSTOM_VALIDATION_EXCEPTION"},
            "status dead (all stores)": {"status": "dead"},
            "error code (all stores)": {"error_code": "REQUIRED_FIELD_MISSING"},
            "store + resource order": {"store": store, "resource": "order"},
            "store + retrying + last 7 days": {"store": store, "status": "retrying",
                                               "since": time.strftime("%Y-%m-%d", time.gmtime(time.time() - 7 * 86400))},
            "search: customer email": {"q": email},
            "search: WooCommerce id": {"q": "424242"},
            "search: Salesforce Id": {"q": "801000000424240AAA"},
        }
        results = {}
        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(cookie_jar=jar, cookies={"wf_session": token}) as s:
            for name, params in scenarios.items():
                results[name] = await measure(s, base + ("?" + urlencode(params) if params else ""), args.loads)
                print(f"  {name:34s} p50 {results[name]['p50_ms']:7.1f} ms   p95 {results[name]['p95_ms']:7.1f} ms",
                      flush=True)
            # page 20 of a filtered listing (keyset: as fast as page 1)
            url = base + "?" + urlencode({"status": "dead"})
            for _ in range(19):
                async with s.get(url) as resp:
                    html = await resp.text()
                nxt = html.split('id="next-page"')[0].rsplit('href="', 1)[1].split('"')[0].replace("&amp;", "&")
                url = str(server.make_url(nxt))
            results["status dead, page 20 (keyset)"] = await measure(s, url, args.loads)
            print(f"  {'status dead, page 20 (keyset)':34s} p95 {results['status dead, page 20 (keyset)']['p95_ms']:7.1f} ms")
            results["dashboard (all stores)"] = await measure(s, str(server.make_url("/console/")), max(5, args.loads // 5))
            print(f"  {'dashboard (all stores)':34s} p95 {results['dashboard (all stores)']['p95_ms']:7.1f} ms")
        await server.close()
        # where the dashboard's time goes (one call each, after the warm loads above)
        dash = {}
        for name, args_ in (("console_dash_counts", (None, None)), ("console_dash_delivered", (None, None, 24)),
                            ("console_dash_lag", (None, None, 24, 5000)), ("console_dash_outcomes", (None, None, 24)),
                            ("console_dash_stores", (None, None)), ("console_dash_reconcile", (None, None, 10))):
            t0 = time.perf_counter()
            await db.fetch(name, *args_)
            dash[name] = round((time.perf_counter() - t0) * 1000, 1)
        print("  dashboard queries (ms):", dash, flush=True)
        results["dashboard (all stores)"]["queries_ms"] = dash
        base_p95 = results["unfiltered (baseline)"]["p95_ms"]
        filtered = {k: v for k, v in results.items() if k not in ("unfiltered (baseline)", "dashboard (all stores)")}
        worst = max(v["p95_ms"] for v in filtered.values())
        for v in results.values():
            v["p95_vs_baseline"] = round(v["p95_ms"] / base_p95, 2) if base_p95 else None
        return {"machine": machine(), "outbox_rows": n, "loads": args.loads, **timings, "scenarios": results,
                "worst_filtered_p95_ms": worst, "target_p95_ms": 200, "ok": worst < 200}
    finally:
        await db.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--loads", type=int, default=50)
    ap.add_argument("--database-url")
    args = ap.parse_args()
    result = asyncio.run(run(args))
    path = save("console", result)
    print(f"worst filtered p95: {result['worst_filtered_p95_ms']} ms (target < 200 ms); "
          f"unfiltered p95: {result['scenarios']['unfiltered (baseline)']['p95_ms']} ms -> {path}")


if __name__ == "__main__":
    main()
