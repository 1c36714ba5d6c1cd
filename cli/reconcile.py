"""``wooforce backfill``, ``wooforce sync`` and ``wooforce reconcile`` (registered by ``cli/main.py``)."""
from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from cli.common import with_stores

if TYPE_CHECKING:
    from shared.settings import Settings
    from shared.stores import StoreManager

RESOURCE_CHOICES = ["orders", "products", "customers"]
SYNC_RESOURCES = {"order": "order", "orders": "order", "product": "product", "products": "product",
                  "customer": "customer", "customers": "customer"}


def parse_since(value: str) -> datetime:
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError("expected a date (2026-01-31) or a date-time (2026-01-31T12:00:00Z)") from None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


async def cmd_backfill(stores: StoreManager, args: argparse.Namespace, settings: Settings) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

    from agent.leases import new_owner
    from agent.reconcile.backfill import Backfill, job_params

    params = job_params(args.since, args.resource, args.force)
    with Progress(TextColumn("{task.description:<10}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  disable=args.json, transient=False) as bar:
        tasks: dict[str, TaskID] = {}

        def on_progress(resource: str, done: int, total: int) -> None:
            if resource not in tasks:
                tasks[resource] = bar.add_task(resource, total=total)
            bar.update(tasks[resource], completed=done, total=total)

        backfill = Backfill(stores.db, stores, settings, owner=new_owner(), on_progress=on_progress)
        job_id = await backfill.find_or_create(args.store, params, requested_by="cli")
        progress = await backfill.run(job_id)
    summary = {"job_id": job_id, "requests": backfill.requests,
               **{f"{k}_seen": v.get("seen", 0) for k, v in progress.items()},
               **{f"{k}_enqueued": v.get("enqueued", 0) for k, v in progress.items()}}
    print(json.dumps(summary, indent=2) if args.json else "  ".join(f"{k}={v}" for k, v in summary.items()))
    return 0


async def cmd_sync(stores: StoreManager, args: argparse.Namespace, settings: Settings) -> int:
    from agent.reconcile.backfill import sync_entity

    event_id = await sync_entity(stores.db, stores, settings, args.store, SYNC_RESOURCES[args.resource], args.id)
    print(json.dumps({"event_id": event_id}) if args.json else
          f"{args.resource} {args.id} queued for delivery (event {event_id})")
    return 0


async def cmd_reconcile(stores: StoreManager, args: argparse.Namespace, settings: Settings) -> int:
    from agent.reconcile.reconciler import Reconciler

    if not args.report_only:
        report = await Reconciler(stores.db, stores, settings).run_store(args.store, force=True)
        if report is None:
            print("another agent is reconciling this store right now", file=sys.stderr)
            return 1
    runs = [dict(r) for r in await stores.db.fetch("reconcile_runs", args.store, args.last)]
    if args.json:
        print(json.dumps(runs, indent=2, default=str))
    else:
        for r in runs:
            print(f"{r['started_at']:%Y-%m-%d %H:%M:%S}  {r['outcome']:<11} requests={r['requests']:<4} "
                  f"missing={json.dumps(r['missing'])} checked={json.dumps(r['checked'])}"
                  + (f"  error={r['error']}" if r["error"] else ""))
    return 0 if not runs or runs[0]["outcome"] == "ok" else 1


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add the commands to the ``wooforce`` subparsers ``sub``."""
    b = sub.add_parser("backfill", help="import a store's history from WooCommerce (resumable: run again to continue)")
    b.add_argument("--store", required=True, help="the store's id")
    b.add_argument("--since", type=parse_since, help="only records modified after this date (orders, products)")
    b.add_argument("--resource", action="append", choices=RESOURCE_CHOICES, help="repeatable; default: all")
    b.add_argument("--force", action="store_true", help="re-send versions Wooforce has already seen")
    b.add_argument("--json", action="store_true", help="machine-readable output")
    b.set_defaults(func=with_stores(cmd_backfill))

    s = sub.add_parser("sync", help="re-send one entity now (fetched from WooCommerce): `sync --store S order 123`")
    s.add_argument("--store", required=True, help="the store's id")
    s.add_argument("resource", choices=sorted(SYNC_RESOURCES), help="the resource")
    s.add_argument("id", type=int, help="the WooCommerce id")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.set_defaults(func=with_stores(cmd_sync))

    r = sub.add_parser("reconcile", help="reconcile a store now and print its gap report")
    r.add_argument("--store", required=True, help="the store's id")
    r.add_argument("--last", type=int, default=10, help="runs shown")
    r.add_argument("--report-only", action="store_true", help="only print the gap report")
    r.add_argument("--json", action="store_true", help="machine-readable output")
    r.set_defaults(func=with_stores(cmd_reconcile))
