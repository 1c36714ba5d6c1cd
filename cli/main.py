"""``wooforce``: the one entry point, a subcommand per process and per admin task."""
from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from cli import console as console_cli
from cli import reconcile as reconcile_cli
from cli.common import open_db, print_out, with_stores
from shared.errors import ConfigError, DatabaseUnavailable, NotFound, WooforceError
from shared.settings import Settings, load_settings

if TYPE_CHECKING:
    from shared.stores import StoreManager

# -- processes -----------------------------------------------------------------------------

def cmd_collector(settings: Settings, args: argparse.Namespace) -> int:
    from aiohttp import web

    from collector.app import create_app

    host = args.host or settings.collector_host
    port = settings.collector_port if args.port is None else args.port
    print(f"wooforce collector listening on http://{host}:{port}", file=sys.stderr, flush=True)
    # run_app turns SIGINT/SIGTERM into a graceful shutdown: in-flight requests finish and
    # the group committer drains before the database closes.
    web.run_app(create_app(settings), host=host, port=port, print=None, access_log=None, shutdown_timeout=10)
    return 0


def cmd_agent(settings: Settings, args: argparse.Namespace) -> int:
    from agent.app import run_agent

    return asyncio.run(run_agent(settings, once=args.once))


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    async def main() -> int:
        from shared import migrations

        if args.check:
            from shared.db import Database, resolve_dsn

            checked = await Database.from_settings(settings, await resolve_dsn(settings)).open()
            try:
                await migrations.check(checked)
            finally:
                await checked.close()
            print("schema is up to date")
            return 0
        db = await open_db(settings, migrate=True)
        versions = sorted(await migrations.applied(db))
        await db.close()
        print(f"schema at version {versions[-1] if versions else 0}")
        return 0

    return asyncio.run(main())


def cmd_keygen(settings: Settings, args: argparse.Namespace) -> int:
    from cryptography.fernet import Fernet

    print(Fernet.generate_key().decode())
    return 0


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    from cli.demo import DemoOptions, run

    opts = DemoOptions(duration_s=None if args.duration == 0 else args.duration, changes_per_s=args.changes_per_s,
                       drop_share=args.drop_share, seed=args.seed, port=args.port, orders=args.orders,
                       products=args.products, customers=args.customers)
    return run(settings, opts)


# -- stores --------------------------------------------------------------------------------

@with_stores
async def cmd_stores_add(stores: StoreManager, args: argparse.Namespace, settings: Settings) -> int:
    wc = None
    if args.wc_webhook_secret or args.wc_key:
        wc = {"consumer_key": args.wc_key, "consumer_secret": args.wc_secret,
              "webhook_secret": args.wc_webhook_secret, "auth": args.wc_auth}
    row, secret = await stores.add(args.name, wc_url=args.wc_url, wc_credentials=wc)
    print_out({"store_id": row["id"], "name": row["name"], "signing_secret": secret}, args.json)
    if not args.json:
        print("\nKeep the signing secret: it is shown only now. Put store id and secret in the plugin's settings.",
              file=sys.stderr)
    return 0


@with_stores
async def cmd_stores_list(stores: StoreManager, args: argparse.Namespace, settings: Settings) -> int:
    print_out(await stores.list(), args.json)
    return 0


@with_stores
async def cmd_stores_show(stores: StoreManager, args: argparse.Namespace, settings: Settings) -> int:
    s = await stores.get(args.store_id)
    wc = s["wc_credentials"] or {}
    print_out({"store_id": s["id"], "name": s["name"], "status": s["status"], "wc_url": s["wc_url"],
            "wc_keys": "set" if wc.get("consumer_key") else "not set",
            "wc_webhook_secret": "set" if wc.get("webhook_secret") else "not set",
            "salesforce": "set" if s["sf_credentials"] else "not set",
            "signing_secrets_valid": sum(1 for e in s["signing_secrets"] if not e.get("expires_at")) ,
            "keys_status": s["keys_status"], "created_at": s["created_at"]}, args.json)
    return 0


@with_stores
async def cmd_stores_rotate(stores: StoreManager, args: argparse.Namespace, settings: Settings) -> int:
    grace = settings.secret_rotation_grace_s if args.grace_s is None else args.grace_s
    secret = await stores.rotate_secret(args.store_id, grace_s=grace)
    print_out({"store_id": args.store_id, "signing_secret": secret, "previous_valid_for_s": grace}, args.json)
    return 0


@with_stores
async def cmd_stores_set_wc(stores: StoreManager, args: argparse.Namespace, settings: Settings) -> int:
    await stores.set_woocommerce(args.store_id, url=args.url, consumer_key=args.key, consumer_secret=args.secret,
                                 webhook_secret=args.webhook_secret, auth=args.auth)
    print(f"WooCommerce connection of {args.store_id} updated")
    return 0


@with_stores
async def cmd_stores_set_sf(stores: StoreManager, args: argparse.Namespace, settings: Settings) -> int:
    conn = {k: v for k, v in vars(args).items() if k.startswith("sf_") and v is not None}
    await stores.set_salesforce(args.store_id, {k[3:]: v for k, v in conn.items()})
    print(f"Salesforce connection of {args.store_id} updated")
    return 0


@with_stores
async def cmd_stores_status(stores: StoreManager, args: argparse.Namespace, settings: Settings) -> int:
    await stores.set_status(args.store_id, args.status)
    print(f"{args.store_id} is {args.status}")
    return 0


@with_stores
async def cmd_stores_remove(stores: StoreManager, args: argparse.Namespace, settings: Settings) -> int:
    if not args.yes:
        print("refusing to remove a store and all its events without --yes", file=sys.stderr)
        return 2
    await stores.remove(args.store_id)
    print(f"{args.store_id} removed")
    return 0


# -- delivery (Salesforce) -----------------------------------------------------------------

@with_stores
async def cmd_salesforce_check(stores: StoreManager, args: argparse.Namespace, settings: Settings) -> int:
    from agent.admin import check_salesforce

    report = await check_salesforce(stores, settings, args.store)
    if args.json:
        print_out(report, True)
    else:
        for sobject, fields in report["missing"].items():
            print(f"{sobject}: missing {', '.join(fields)}")
        for sobject, fields in report["not_writable"].items():
            print(f"{sobject}: not writable by the integration user: {', '.join(fields)}")
        for sobject in report["key_not_external_id"]:
            print(f"{sobject}: Wooforce_Key__c must be an External ID (unique)")
        print("the org has every field the mapping writes" if report["ok"] else
              "fix the fields above (Setup > Object Manager), or drop them from your mapping file")
    return 0 if report["ok"] else 1


@with_stores
async def cmd_outbox_replay(stores: StoreManager, args: argparse.Namespace, settings: Settings) -> int:
    from agent.admin import replay_dead

    replayed = await replay_dead(stores.db, args.store, resource=args.resource, error_code=args.error_code,
                                 resource_ids=args.id or None)
    from collector.console.service import CLI, ConsoleManager  # every write is audited (console issue)
    await ConsoleManager(stores.db).audit(CLI, "outbox.replay_dead", store_id=args.store, target=args.store, params={
        "resource": args.resource, "error_code": args.error_code, "ids": args.id}, result={"replayed": len(replayed)})
    print_out({"store_id": args.store, "replayed": len(replayed)}, args.json)
    return 0


@with_stores
async def cmd_outbox_dead(stores: StoreManager, args: argparse.Namespace, settings: Settings) -> int:
    from agent.admin import list_dead

    print_out(await list_dead(stores.db, args.store, resource=args.resource, limit=args.limit), args.json)
    return 0


# -- parser --------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="wooforce", description="Keep Salesforce in step with WooCommerce stores.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    c = sub.add_parser("collector", help="run the ingest service (HTTP)")
    c.add_argument("--host")
    c.add_argument("--port", type=int)
    c.set_defaults(func=cmd_collector)

    a = sub.add_parser("agent", help="run the scheduler: delivery to Salesforce, reconciliation, backfills")
    a.add_argument("--once", action="store_true", help="run every job once, then exit")
    a.set_defaults(func=cmd_agent)

    m = sub.add_parser("migrate", help="apply database migrations")
    m.add_argument("--check", action="store_true", help="only check that the schema is up to date")
    m.set_defaults(func=cmd_migrate)

    sub.add_parser("keygen", help="print a new master key for WOOFORCE_MASTER_KEY").set_defaults(func=cmd_keygen)
    d = sub.add_parser("demo", help="run everything locally against emulators; report on Ctrl-C or --duration")
    d.add_argument("--duration", type=float, default=60, help="seconds of traffic before the report (0: until Ctrl-C)")
    d.add_argument("--changes-per-s", type=float, default=5.0, help="store changes per second")
    d.add_argument("--drop-share", type=float, default=0.3, help="share of webhooks the store drops")
    d.add_argument("--seed", type=int, default=7)
    d.add_argument("--port", type=int, default=8080, help="collector port (a free one if taken)")
    d.add_argument("--orders", type=int, default=40, help="orders in the store's history")
    d.add_argument("--products", type=int, default=15)
    d.add_argument("--customers", type=int, default=25)
    d.set_defaults(func=cmd_demo)

    s = sub.add_parser("stores", help="manage stores (tenants)")
    ssub = s.add_subparsers(dest="stores_command", required=True, metavar="ACTION")

    def store_cmd(name: str, func: Callable[[Settings, argparse.Namespace], int], help_: str, *,
                  with_id: bool = True) -> argparse.ArgumentParser:
        sp = ssub.add_parser(name, help=help_)
        if with_id:
            sp.add_argument("store_id")
        sp.add_argument("--json", action="store_true", help="machine-readable output")
        sp.set_defaults(func=func)
        return sp

    add = store_cmd("add", cmd_stores_add, "register a store; prints its id and signing secret", with_id=False)
    add.add_argument("--name", required=True)
    add.add_argument("--wc-url", help="the store's base URL, e.g. https://shop.example")
    add.add_argument("--wc-key", help="WooCommerce REST consumer key (ck_...)")
    add.add_argument("--wc-secret", help="WooCommerce REST consumer secret (cs_...)")
    add.add_argument("--wc-webhook-secret", help="secret of native WooCommerce webhooks")
    add.add_argument("--wc-auth", default="auto", choices=["auto", "basic", "query", "oauth1"])
    store_cmd("list", cmd_stores_list, "list stores", with_id=False)
    store_cmd("show", cmd_stores_show, "show one store (no secrets)")
    rot = store_cmd("rotate-secret", cmd_stores_rotate,
                    "issue a new signing secret; the old stays valid for a grace period")
    rot.add_argument("--grace-s", type=int, help="seconds the previous secret stays valid (default from settings)")
    wc = store_cmd("set-woocommerce", cmd_stores_set_wc, "set the WooCommerce URL, REST keys and webhook secret")
    wc.add_argument("--url", required=True)
    wc.add_argument("--key")
    wc.add_argument("--secret")
    wc.add_argument("--webhook-secret")
    wc.add_argument("--auth", default="auto", choices=["auto", "basic", "query", "oauth1"])
    sf = store_cmd("set-salesforce", cmd_stores_set_sf, "set the Salesforce connection")
    sf.add_argument("--instance-url", dest="sf_instance_url", required=True)
    sf.add_argument("--auth", dest="sf_auth", choices=["jwt", "client_credentials"], default="client_credentials")
    sf.add_argument("--client-id", dest="sf_client_id")
    sf.add_argument("--client-secret", dest="sf_client_secret")
    sf.add_argument("--username", dest="sf_username")
    sf.add_argument("--private-key-file", dest="sf_private_key_file")
    sf.add_argument("--login-url", dest="sf_login_url")
    sf.add_argument("--ca-file", dest="sf_ca_file", help="CA bundle to trust (the local emulator's)")
    sf.add_argument("--mapping-file", dest="sf_mapping_file", help="this store's TOML mapping overrides")
    for name, status in (("disable", "disabled"), ("enable", "active")):
        store_cmd(name, cmd_stores_status, f"{name} a store").set_defaults(status=status)
    rm = store_cmd("remove", cmd_stores_remove, "delete a store and everything stored for it")
    rm.add_argument("--yes", action="store_true")
    sf_p = sub.add_parser("salesforce", help="Salesforce org checks")
    sf_sub = sf_p.add_subparsers(dest="salesforce_command", required=True, metavar="ACTION")
    chk = sf_sub.add_parser("check", help="list the fields the mapping writes that the org lacks (describe calls)")
    chk.add_argument("--store", required=True)
    chk.add_argument("--json", action="store_true")
    chk.set_defaults(func=cmd_salesforce_check)

    ob = sub.add_parser("outbox", help="browse, show and replay outbox rows")
    ob_sub = ob.add_subparsers(dest="outbox_command", required=True, metavar="ACTION")
    rp = ob_sub.add_parser("replay", help="move dead letters back to pending (after fixing their cause)")
    dl = ob_sub.add_parser("dead", help="list dead letters (newest first)")
        for sobject in report["key_not_unique"]:
            print(f"{sobject}: Wooforce_Key__c is an External ID but not Unique: two records can share a key and "
                  "upserts then fail (300 Multiple Choices, DUPLICATE_EXTERNAL_ID); tick Unique on the field")
    for sp in (rp, dl):
        sp.add_argument("--store", required=True)
        sp.add_argument("--resource", choices=["order", "customer", "product"])
        sp.add_argument("--json", action="store_true")
    rp.add_argument("--error-code", help="only rows that failed with this Salesforce error code")
    rp.add_argument("--id", type=int, action="append", help="only this WooCommerce id (repeatable)")
    rp.set_defaults(func=cmd_outbox_replay)
    dl.add_argument("--limit", type=int, default=100)
    dl.set_defaults(func=cmd_outbox_dead)
    console_cli.add_commands(sub, ob_sub)  # operators, tokens, outbox list|show, erase, audit, alerts, retention
    reconcile_cli.add_commands(sub)  # backfill, sync, reconcile
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
        from shared.logs import setup_logging

        setup_logging(settings, args.command, to_files=args.command in ("collector", "agent"))
        code: int = args.func(settings, args)
        return code
    except ConfigError as exc:
        print(f"wooforce: {exc.message}", file=sys.stderr)
        return 2
    except DatabaseUnavailable as exc:
        print(f"wooforce: {exc.message}\n  check WOOFORCE_DATABASE_URL, or unset it to use the embedded Postgres",
              file=sys.stderr)
        return 3
    except NotFound as exc:
        print(f"wooforce: {exc.message}", file=sys.stderr)
        return 4
    except WooforceError as exc:
        print(f"wooforce: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
