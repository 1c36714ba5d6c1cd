"""The console's commands: ``wooforce operators``, ``tokens``, ``outbox list|show`` (added to the delivery's
``outbox`` group), ``erase``, ``audit``, ``alerts``, ``retention`` (registered by ``cli/main.py``).

They call the same manager as the console pages and the admin API, acting as the local ``cli`` admin; every
write is audited (actor ``cli``).
"""
from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from cli.common import open_db, print_out
from collector.console.service import CLI, ROLES, ConsoleManager, OutboxFilter
from shared.jobs import ErasureState
from shared.settings import Settings


def _run(fn: Callable[[ConsoleManager, argparse.Namespace, Settings], Awaitable[int]],
         ) -> Callable[[Settings, argparse.Namespace], int]:
    """Open the database (migrating like the other commands), run ``fn(manager, args, settings)``."""
    def run(settings: Settings, args: argparse.Namespace) -> int:
        import asyncio

        async def main() -> int:
            db = await open_db(settings)
            try:
                from shared.crypto import Vault
                from shared.stores import StoreManager

                stores = StoreManager(db, Vault.from_settings(settings))
                return await fn(ConsoleManager(db, replay_batch=settings.console_replay_batch, stores=stores,
                                               mapping_file=settings.mapping_file), args, settings)
            finally:
                await db.close()

        return asyncio.run(main())

    return run


def _out(obj: Any, as_json: bool) -> None:
    print_out(obj, as_json)


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("password (10+ characters): ")
    if getpass.getpass("again: ") != first:
        raise SystemExit("wooforce: the passwords differ")
    return first


@_run
async def cmd_operators_add(m: ConsoleManager, args: argparse.Namespace, settings: Settings) -> int:
    row = await m.add_operator(CLI, args.email, _password(args), args.role, args.store)
    _out({"operator_id": row["id"], "email": row["email"], "role": row["role"], "store_id": row["store_id"]}, args.json)
    return 0


@_run
async def cmd_operators_list(m: ConsoleManager, args: argparse.Namespace, settings: Settings) -> int:
    _out(await m.list_operators(CLI), args.json)
    return 0


@_run
async def cmd_tokens_create(m: ConsoleManager, args: argparse.Namespace, settings: Settings) -> int:
    token, row = await m.create_token(CLI, args.email, args.name, args.expires_days)
    _out({"token_id": row["id"], "token": token, "expires_at": row["expires_at"]}, args.json)
    if not args.json:
        print("\nKeep the token: it is shown only now (only its hash is stored).", file=sys.stderr)
    return 0


@_run
async def cmd_tokens_list(m: ConsoleManager, args: argparse.Namespace, settings: Settings) -> int:
    _out(await m.list_tokens(CLI), args.json)
    return 0


@_run
async def cmd_tokens_revoke(m: ConsoleManager, args: argparse.Namespace, settings: Settings) -> int:
    await m.revoke_token(CLI, args.token_id)
    print(f"{args.token_id} revoked")
    return 0


def _filter(args: argparse.Namespace) -> OutboxFilter:
    return OutboxFilter.parse({"store": args.store, "resource": args.resource, "status": args.status,
                               "error_code": args.error_code, "since": args.since, "until": args.until, "q": args.q})


@_run
async def cmd_outbox_list(m: ConsoleManager, args: argparse.Namespace, settings: Settings) -> int:
    rows, cursor = await m.outbox_page(CLI, _filter(args), cursor=args.cursor, limit=args.limit)
    keep = ("store_id", "resource", "resource_id", "status", "attempts", "last_error_code", "sf_id", "updated_at")
    _out([{k: r[k] for k in keep} for r in rows] if not args.json else {"items": rows, "next_cursor": cursor},
         args.json)
    if cursor and not args.json:
        print(f"\nmore: --cursor {cursor}", file=sys.stderr)
    return 0


@_run
async def cmd_outbox_show(m: ConsoleManager, args: argparse.Namespace, settings: Settings) -> int:
    data = await m.entity(CLI, args.store_id, args.resource, args.resource_id)
    if args.json:
        _out(data, True)
        return 0
    o = data["outbox"] or {}
    for k in ("status", "attempts", "sf_id", "available_at", "delivered_at", "last_error_code", "last_error"):
        print(f"{k}: {o.get(k)}")
    print("timeline:")
    for t in data["timeline"]:
        if t["kind"] == "event":
            changed = ", ".join(d["path"] for d in (t["diff"] or [])[:8])
            print(f"  {t['at']:%Y-%m-%d %H:%M:%S} event {t['id']} {t['action']} source={t['source']}"
                  + (f" changed: {changed}" if changed else ""))
        else:
            print(f"  {t['at']:%Y-%m-%d %H:%M:%S} attempt {t['outcome']} http={t['status_code']} "
                  f"sf_id={t['sf_id']} {t['error_code'] or ''}")
    return 0


@_run
async def cmd_outbox_unfreeze(m: ConsoleManager, args: argparse.Namespace, settings: Settings) -> int:
    res = await m.unfreeze_entity(CLI, args.store, args.resource, args.id, args.destination,
                                  tolerance_s=settings.timestamp_tolerance_s)
    if args.json:
        _out(res, True)
    elif res["unfrozen"]:
        print(f"unfrozen: head version {res['was']} -> {res['head_version']}; the next update will be delivered")
    else:
        print("not frozen: the entity's version is not in the future (nothing changed)")
    return 0


@_run
async def cmd_outbox_replay_filtered(m: ConsoleManager, args: argparse.Namespace, settings: Settings) -> int:
    f = _filter(args)
    count = await m.replay_count(CLI, f)
    if not args.yes:
        print(f"{count} entities would go back to pending; run again with --yes to replay them", file=sys.stderr)
        return 2 if count else 0
    replay = await m.start_replay(CLI, f)
    done = await m.run_replay(CLI, replay["id"], f, replay["started_at"])
    _out({"replay_id": replay["id"], "replayed": done}, args.json)
    return 0


@_run
async def cmd_erase(m: ConsoleManager, args: argparse.Namespace, settings: Settings) -> int:
    if not args.yes:
        print("refusing to erase personal data without --yes", file=sys.stderr)
        return 2
    res = await m.erase_customer(CLI, args.email, store_id=args.store, salesforce=args.salesforce)
    job_ids: list[str] = res.get("salesforce_jobs") or []
    if job_ids:
        print("salesforce erasure jobs: " + " ".join(job_ids), file=sys.stderr)
    if not job_ids or args.no_wait:
        _out(res, args.json)
        return 0
    jobs = await _wait_for_erasures(m, job_ids, args.poll_interval_s)
    res["salesforce"] = _overall(jobs)
    res["salesforce_report"] = jobs
    _out(res, args.json)
    return 0 if res["salesforce"] == ErasureState.DONE else 1


async def _wait_for_erasures(m: ConsoleManager, job_ids: list[str],
                             poll_interval_s: float) -> list[dict[str, Any]]:
    """Poll the erasure jobs until each has finished, printing a line whenever one's progress changes."""
    import asyncio

    shown: dict[str, tuple[str, int, int, int]] = {}
    while True:
        jobs = await m.erasure_jobs(CLI, job_ids)
        for j in jobs:
            line = (j["state"], j["progress"]["erased"], j["progress"]["records"], len(j["progress"]["failed"]))
            if shown.get(j["job_id"]) != line:
                shown[j["job_id"]] = line
                print(f"{j['job_id']}: {line[0]}, {line[1]}/{line[2]} records erased, {line[3]} failed"
                      + (f" ({j['error']})" if j["error"] else ""), file=sys.stderr)
        if all(j["result"] is not None for j in jobs):
            return jobs
        await asyncio.sleep(poll_interval_s)  # another process (the agent) does the work: nothing to await


def _overall(jobs: list[dict[str, Any]]) -> str:
    states = {j["state"] for j in jobs}
    for worst in (ErasureState.FAILED, ErasureState.PARTIAL):
        if worst in states:
            return worst.value
    return ErasureState.DONE.value


@_run
async def cmd_audit(m: ConsoleManager, args: argparse.Namespace, settings: Settings) -> int:
    _out(await m.audit_entries(CLI, action=args.action, limit=args.limit), args.json)
    return 0


@_run
async def cmd_alerts_evaluate(m: ConsoleManager, args: argparse.Namespace, settings: Settings) -> int:
    from shared.alerts import evaluate_alerts

    _out(await evaluate_alerts(m.db, settings), args.json)
    return 0


@_run
async def cmd_alerts_list(m: ConsoleManager, args: argparse.Namespace, settings: Settings) -> int:
    from shared.alerts import list_alerts

    _out(await list_alerts(m.db, args.status), args.json)
    return 0


@_run
async def cmd_retention_purge(m: ConsoleManager, args: argparse.Namespace, settings: Settings) -> int:
    from shared.alerts import purge_payloads

    _out({"purged": await purge_payloads(m.db, settings)}, args.json)
    return 0


def _filters(sp: argparse.ArgumentParser, *, store_required: bool = False) -> None:
    sp.add_argument("--store", required=store_required, help="only this store (its id)")
    sp.add_argument("--resource", choices=["order", "customer", "product"], help="only this resource")
    sp.add_argument("--status", choices=["pending", "leased", "delivered", "retrying", "dead"], help="only this status")
    sp.add_argument("--error-code", help="only rows whose last Salesforce error code is this")
    sp.add_argument("--since", help="updated at or after (ISO date/time)")
    sp.add_argument("--until", help="updated before (ISO date/time)")
    sp.add_argument("--q", help="WooCommerce id, Salesforce Id or customer email")


def add_commands(sub: argparse._SubParsersAction, outbox_sub: argparse._SubParsersAction) -> None:
    """Register the console's commands on the top-level parser and the existing ``outbox`` group."""
    def cmd(parent: argparse._SubParsersAction, name: str, func: Callable[[Settings, argparse.Namespace], int],
            help_: str) -> argparse.ArgumentParser:
        sp: argparse.ArgumentParser = parent.add_parser(name, help=help_)
        sp.add_argument("--json", action="store_true", help="machine-readable output")
        sp.set_defaults(func=func)
        return sp

    ops = sub.add_parser("operators", help="console operator accounts").add_subparsers(
        dest="operators_command", required=True, metavar="ACTION")
    add = cmd(ops, "add", cmd_operators_add, "add an operator (asks for the password)")
    add.add_argument("--email", required=True, help="the operator's email (their sign-in)")
    add.add_argument("--role", required=True, choices=list(ROLES),
                     help="viewer reads, operator replays, admin also erases and manages")
    add.add_argument("--store", help="limit to this store (the store's own staff)")
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    cmd(ops, "list", cmd_operators_list, "list operators")

    tok = sub.add_parser("tokens", help="API tokens for scripts").add_subparsers(
        dest="tokens_command", required=True, metavar="ACTION")
    tc = cmd(tok, "create", cmd_tokens_create, "create an API token acting as an operator (shown once)")
    tc.add_argument("--email", required=True, help="the operator the token acts as (its role and store)")
    tc.add_argument("--name", required=True, help="what the token is for")
    tc.add_argument("--expires-days", type=int, help="expire after this many days (default: never)")
    cmd(tok, "list", cmd_tokens_list, "list API tokens")
    cmd(tok, "revoke", cmd_tokens_revoke, "revoke an API token").add_argument("token_id",
                                                                            help="the token's id (tokens list)")

    ol = cmd(outbox_sub, "list", cmd_outbox_list, "browse the outbox (filters, newest first, keyset pages)")
    _filters(ol)
    ol.add_argument("--limit", type=int, default=50, help="rows per page (default 50)")
    ol.add_argument("--cursor", help="the next page (printed after a full page)")
    osh = cmd(outbox_sub, "show", cmd_outbox_show, "one entity: status, events, attempts, diffs")
    osh.add_argument("store_id", help="the store's id")
    osh.add_argument("resource", choices=["order", "customer", "product"], help="the resource")
    osh.add_argument("resource_id", type=int, help="the WooCommerce id")
    ouf = cmd(outbox_sub, "unfreeze", cmd_outbox_unfreeze,
              "clear an entity frozen by a version in the future, so its next update is delivered (audited)")
    ouf.add_argument("--store", required=True, help="the store's id")
    ouf.add_argument("--resource", required=True, choices=["order", "customer", "product"], help="the resource")
    ouf.add_argument("--id", required=True, type=int, help="the WooCommerce id")
    ouf.add_argument("--destination", choices=["salesforce", "woocommerce"], default="salesforce",
                     help="the outbox destination (default salesforce)")
    orf = cmd(outbox_sub, "replay-filtered", cmd_outbox_replay_filtered,
              "replay every dead/retrying/delivered row matching the filters (audited; --yes to do it)")
    _filters(orf)
    orf.add_argument("--yes", action="store_true", help="replay without asking to confirm the count")

    er = cmd(sub, "erase", cmd_erase, "erase one customer's personal data (GDPR; audited)")
    er.add_argument("--email", required=True, help="the customer's email")
    er.add_argument("--store", help="only in this store (default: every store)")
    er.add_argument("--salesforce", action="store_true", help="also blank the records Wooforce wrote to Salesforce "
                    "(agent jobs: waits for them, printing progress; exit 1 if one failed or was partial)")
    er.add_argument("--no-wait", action="store_true", help="with --salesforce: print the job ids and return at once")
    er.add_argument("--poll-interval-s", type=float, default=1.0, help="how often to look at the jobs while waiting")
    er.add_argument("--yes", action="store_true", help="confirm: erasure cannot be undone")

    au = cmd(sub, "audit", cmd_audit, "show the audit log (newest first)")
    au.add_argument("--action", help="only this action (e.g. outbox.replay)")
    au.add_argument("--limit", type=int, default=50, help="at most this many entries (default 50)")

    al = sub.add_parser("alerts", help="alerts").add_subparsers(dest="alerts_command", required=True, metavar="ACTION")
    cmd(al, "evaluate", cmd_alerts_evaluate, "evaluate alerts once and notify")
    cmd(al, "list", cmd_alerts_list, "alert state").add_argument("--status", choices=["firing", "resolved"],
                                                                           help="only alerts in this state")
    ret = sub.add_parser("retention", help="data retention").add_subparsers(
        dest="retention_command", required=True, metavar="ACTION")
    cmd(ret, "purge", cmd_retention_purge, "purge delivered payloads older than RETENTION_DELIVERED_PAYLOAD_DAYS")
