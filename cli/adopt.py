"""``wooforce salesforce matches | resolve | adopt`` (issue 17, registered by ``cli/main.py``): the review list of
records the org already had, an operator's pick, and the preview of what the first delivery will adopt.

``adopt --dry-run`` reads the store (WooCommerce REST: customers, products and their variations, page by page) and
looks every never-written customer and product up in the org the way the delivery will (``agent.delivery.adopt``:
Contacts by email, Product2 by SKU then ProductCode, one SOQL per 200 keys, 25 in one Composite call), then says
how many would be matched (an existing record adopted), created, or sent to review under the store's
``match_ambiguous`` policy. It writes nothing, here or in Salesforce. Guest buyers are not counted: they come with
orders.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cli.common import print_out, with_stores

if TYPE_CHECKING:
    from shared.settings import Settings
    from shared.stores import StoreManager

KINDS = ("customer", "product")
OUTCOMES = ("known", "matched", "created", "review")


@with_stores
async def cmd_matches(stores: StoreManager, args: argparse.Namespace, settings: Settings) -> int:
    from collector.console.service import CLI, ConsoleManager

    rows = await ConsoleManager(stores.db).matches(CLI, args.store, None if args.status == "all" else args.status)
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
        return 0
    if not rows:
        print(f"no {'' if args.status == 'all' else args.status + ' '}matches for store {args.store}")
    for r in rows:
        print(f"{r['key']}  {r['kind']}  {r['reason']}  {r['status']}"
              + (f"  decision={r['decision']} by {r['decided_by']}" if r["decision"] else ""))
        for c in r["candidates"]:
            matched_by = c.get("Email") if r["kind"] == "customer" else \
                f"sku={c.get('StockKeepingUnit') or ''} code={c.get('ProductCode') or ''}"
            print(f"    {c.get('Id')}  {c.get('Name') or ''}  {matched_by or ''}  created {c.get('CreatedDate') or ''}"
                  f"  key={c.get('key') or 'none'}")
    if rows and args.status == "open":
        print("pick one: wooforce salesforce resolve --store S --key KEY --pick ID|create")
    return 0


@with_stores
async def cmd_resolve(stores: StoreManager, args: argparse.Namespace, settings: Settings) -> int:
    from collector.console.service import CLI, ConsoleManager

    res = await ConsoleManager(stores.db).resolve_match(CLI, args.store, args.key, args.pick)
    if args.json:
        print_out(res, True)
    else:
        what = "a new record will be created" if args.pick == "create" else f"{args.pick} will be used"
        print(f"{args.key}: {what} on its next delivery ({len(res['replayed'])} dead row(s) back to pending)")
    return 0


async def preview(stores: StoreManager, settings: Settings, store_id: str,
                  on_progress: Callable[[str, int, int | None], None] | None = None) -> dict[str, Any]:
    """What the first delivery would do with the store's customers and products (module doc); nothing is written.
    ``on_progress(what, done, total)``: customers / products read, org lookups made."""
    from agent.admin import store_org
    from agent.delivery.adopt import decide_all, lookup_soqls, lookups, policy, wanted
    from agent.delivery.plan import STANDARD_PRICEBOOK_KEY, Plan, Unit
    from agent.reconcile import records as W
    from agent.reconcile.backfill import EPOCH
    from agent.salesforce import in_thread
    from agent.woocommerce import WooClient
    from shared.mapping import key as entity_key

    progress = on_progress or (lambda what, done, total: None)
    store, mapping, sf = await store_org(stores, settings, store_id)
    wc = WooClient.for_store(store, timeout_s=settings.wc_timeout_s, max_retries=settings.wc_max_retries,
                             retry_backoff_s=settings.wc_retry_backoff_s)
    per_page = settings.wc_per_page
    wc_calls: Counter[str] = Counter()
    read: dict[str, list[dict]] = {"customer": [], "product": []}
    async with wc:
        for kind, path in (("customer", "customers"), ("product", "products")):
            page, total = 1, None
            while True:
                before = wc.requests
                got = await wc.list(path, {"orderby": "id", "order": "asc", "per_page": per_page, "page": page})
                wc_calls[path] += wc.requests - before
                total = got.total if total is None else total
                records = got.records
                if kind == "product":
                    for parent in list(records):
                        before = wc.requests
                        records += await W.variations_of(wc, parent, EPOCH, per_page=per_page)
                        wc_calls["variations"] += wc.requests - before
                read[kind] += W.without_drafts(kind, records)
                progress(path, len(read[kind]), max(total, len(read[kind])))
                if len(got.records) < per_page:
                    break
                page += 1
    db = stores.db
    row = await db.fetch("lookup_sf_records", store_id, ["Pricebook2"], [STANDARD_PRICEBOOK_KEY])
    if row:
        pricebook = row[0]["sf_id"]
    else:
        found_pb = await in_thread(sf.query, "SELECT Id FROM Pricebook2 WHERE IsStandard = true LIMIT 1")
        pricebook = found_pb[0]["Id"] if found_pb else ""
    plan = Plan(mapping, set(), {store_id: pricebook})
    units = [(kind, r) for kind in KINDS for r in read[kind]]
    for i, (kind, r) in enumerate(units):
        plan.add_unit(Unit(index=i, store_id=store_id, resource=kind, resource_id=int(r["id"]), event_id="",
                           version=None, seq=0, attempts=0, action="updated", payload=r))
    owned = {(sobject, k) for (sobject, k) in plan.records}
    rows = await db.fetch("lookup_sf_records", store_id, [s for s, _ in owned], [k for _, k in owned])
    plan.known = {(store_id, r["sobject"], r["wooforce_key"]) for r in rows}
    wants = wanted(plan, store_id)
    prior = {r["wooforce_key"]: dict(r) for r in await db.fetch("sf_matches_for_keys", store_id,
                                                                 [w.key for w in wants])}
    look = [w for w in wants if w.key not in prior or prior[w.key]["status"] == "open"]
    soqls = lookup_soqls(look, pricebook)
    lookup_calls = 0
    progress("org lookups", 0, max(1, -(-len(soqls) // 25)) if soqls else 0)

    async def call(fn: Callable[..., Any], *a: Any) -> Any:
        nonlocal lookup_calls
        result = await in_thread(fn, *a)
        lookup_calls += 1
        progress("org lookups", lookup_calls, None)
        return result

    found: dict[str, list[dict]] = {"c": [], "p": [], "e": []}
    for k, records in await lookups(call, sf, soqls):
        found[k] += records
    pol = policy(mapping)
    decisions = {d.want.key: d for d in decide_all(wants, found, pol, prior)}
    counts = {kind: dict.fromkeys(OUTCOMES, 0) for kind in KINDS}
    want_of = {w.key: w for w in wants}
    for kind, r in units:
        k = entity_key(store_id, kind, r["id"])
        sobjects = ("Contact", "Account") if kind == "customer" else ("Product2", "PricebookEntry")
        if any((store_id, s, k) in plan.known for s in sobjects):
            outcome = "known"
        elif k not in want_of:
            outcome = "created"  # no email / SKU to match by
        elif (d := decisions.get(k)) is None:  # decided and applied before
            outcome = "created" if prior[k]["decision"] == "create" else "matched"
        elif d.hold:
            outcome = "review"
        elif d.take is not None or (not d.applied and d.review is None and _keyed(found, want_of[k])):
            outcome = "matched"
        else:
            outcome = "created"
        counts[kind][outcome] += 1
    return {"store_id": store_id, "policy": pol, "customers": counts["customer"], "products": counts["product"],
            "api_calls": {"woocommerce": sum(wc_calls.values()), "woocommerce_by_path": dict(wc_calls),
                          "salesforce": sf.calls, "salesforce_lookups": lookup_calls, "soql_queries": len(soqls)}}


def _keyed(found: dict[str, list[dict]], want: Any) -> bool:
    """The org holds a record with the entity's own key already (the upsert updates it: nothing is created)."""
    from shared.mapping import KEY_FIELD

    return any(r.get(KEY_FIELD) == want.key for r in found["c" if want.kind == "customer" else "p"])


@with_stores
async def cmd_adopt(stores: StoreManager, args: argparse.Namespace, settings: Settings) -> int:
    if not args.dry_run:
        print("wooforce: the adoption itself happens on delivery (the agent); --dry-run previews it", file=sys.stderr)
        return 2
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description:<12}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  disable=args.json, transient=False) as bar:
        tasks: dict[str, TaskID] = {}

        def on_progress(what: str, done: int, total: int | None) -> None:
            if what not in tasks:
                tasks[what] = bar.add_task(what, total=total)
            bar.update(tasks[what], completed=done, total=total)  # None: the total stays

        report = await preview(stores, settings, args.store, on_progress)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    for plural in ("customers", "products"):
        c = report[plural]
        print(f"{plural}: {c['matched']} would be matched (existing records adopted), {c['created']} created, "
              f"{c['review']} sent to review" + (f"; {c['known']} already in Salesforce" if c["known"] else ""))
    calls = report["api_calls"]
    print(f"policy for ambiguous matches: {report['policy']} (mapping option match_ambiguous)")
    print(f"API calls: WooCommerce {calls['woocommerce']} ("
          + ", ".join(f"{k} {v}" for k, v in calls["woocommerce_by_path"].items())
          + f"), Salesforce {calls['salesforce']} ({calls['soql_queries']} SOQL queries in "
          f"{calls['salesforce_lookups']} calls); nothing was changed")
    return 0


def add_commands(sf_sub: argparse._SubParsersAction) -> None:
    """Add the commands to ``wooforce salesforce``'s subparsers ``sf_sub``."""
    m = sf_sub.add_parser("matches", help="the review list: customers/products matching several records the org "
                          "already has (or one keyed elsewhere), with their candidates")
    m.add_argument("--store", required=True, help="the store's id")
    m.add_argument("--status", default="open", choices=["open", "decided", "applied", "all"],
                   help="which rows (default open: waiting for a pick)")
    m.add_argument("--json", action="store_true", help="machine-readable output")
    m.set_defaults(func=cmd_matches)
    r = sf_sub.add_parser("resolve", help="pick the record to use for an open match (or create a new one); "
                          "the agent applies it on the next delivery")
    r.add_argument("--store", required=True, help="the store's id")
    r.add_argument("--key", required=True, help="the entity's Wooforce key, as `salesforce matches` lists it")
    r.add_argument("--pick", required=True, help="a candidate's Salesforce Id, or create")
    r.add_argument("--json", action="store_true", help="machine-readable output")
    r.set_defaults(func=cmd_resolve)
    a = sf_sub.add_parser("adopt", help="before the first delivery: how many customers and products would be "
                          "matched to records the org has, created, or sent to review")
    a.add_argument("--store", required=True, help="the store's id")
    a.add_argument("--dry-run", action="store_true", help="read the store and the org, change nothing (required)")
    a.add_argument("--json", action="store_true", help="machine-readable output")
    a.set_defaults(func=cmd_adopt)
