"""``wooforce import --store S --from salesforce --resource products|customers [--dry-run]`` (registered by
``cli/main.py``): load a Salesforce catalogue or customer list marked for the store into it, as a resumable
``jobs`` row (run again to continue; the agent runs the ones the console starts)."""
from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from cli.common import with_stores

if TYPE_CHECKING:
    from shared.settings import Settings
    from shared.stores import StoreManager


async def cmd_import(stores: StoreManager, args: argparse.Namespace, settings: Settings) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from agent.leases import new_owner
    from agent.twoway.imports import Importer
    from shared.jobs import import_params

    params = import_params(args.resource, args.dry_run)
    with Progress(TextColumn("{task.description:<10}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  disable=args.json, transient=False) as bar:
        task = bar.add_task(args.resource, total=None)

        def on_progress(p: dict[str, Any]) -> None:
            bar.update(task, completed=p["done"], total=p["total"])

        importer = Importer(stores.db, stores, settings, owner=new_owner(), on_progress=on_progress)
        job_id = await importer.find_or_create(args.store, params, requested_by="cli")
        progress = await importer.run(job_id)
    row = await stores.db.fetchrow("job_get", job_id)
    status = row["status"] if row else "unknown"
    keys = ("would_link", "would_create") if args.dry_run else ("created", "linked")
    summary = {"job_id": job_id, "status": status, "total": progress["total"], "done": progress["done"],
               **{k: progress[k] for k in keys}, "failed": len(progress["failed"])}
    if args.json:
        print(json.dumps({**summary, "failures": progress["failed"]}, indent=2))
    else:
        print("  ".join(f"{k}={v}" for k, v in summary.items()))
        for f in progress["failed"]:
            print(f"  failed {f['sf_id']}: {f['error']}")
        if status != "done":
            print("the import stopped early (WooCommerce or Salesforce unreachable): run it again to continue")
    return 0 if status == "done" and not progress["failed"] else 1


def add_commands(sub: argparse._SubParsersAction) -> None:
    i = sub.add_parser("import", help="load records marked for the store in Salesforce (Woo_Store__c) into the store: "
                                      "matched by SKU / email first, else created; resumable")
    i.add_argument("--store", required=True, help="the store's id")
    i.add_argument("--from", dest="source", required=True, choices=["salesforce"], help="where the records are")
    i.add_argument("--resource", required=True, choices=["products", "customers"], help="what to import")
    i.add_argument("--dry-run", action="store_true", help="only count what would be linked or created")
    i.add_argument("--json", action="store_true", help="machine-readable output")
    i.set_defaults(func=with_stores(cmd_import))
