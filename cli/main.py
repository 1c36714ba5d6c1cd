"""``wooforce``: the one entry point, a subcommand per process and per admin task."""
from __future__ import annotations

import argparse
import asyncio
import errno
import os
import socket
import ssl
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cli import adopt as adopt_cli
from cli import console as console_cli
from cli import imports as imports_cli
from cli import reconcile as reconcile_cli
from cli.common import open_db, print_out, print_storage, storage, with_stores
from shared.errors import ConfigError, DatabaseError, DatabaseUnavailable, NotFound, WooforceError
from shared.settings import Settings, load_settings

# SQLSTATEs of a connection the server refused for who we are or what we asked for: class 28 (invalid authorization:
# unknown role, wrong password, pg_hba) and 3D000 (no such database); the DSN is wrong, like an unreachable server
DSN_REJECTED_SQLSTATES = ("28", "3D000")

if TYPE_CHECKING:
    from shared.stores import StoreManager

# -- processes -----------------------------------------------------------------------------

def cmd_collector(settings: Settings, args: argparse.Namespace) -> int:
    from aiohttp import web

    from collector.app import create_app

    host = args.host or settings.collector_host
    port = settings.collector_port if args.port is None else args.port
    tls = _tls_context(settings)
    sock = _listen(host, port)  # before anything starts: a taken port is a clear error, not a late traceback
    print_storage(settings)
    scheme = "https" if tls else "http"
    print(f"wooforce collector listening on {scheme}://{host}:{sock.getsockname()[1]}", file=sys.stderr, flush=True)
    # run_app turns SIGINT/SIGTERM into a graceful shutdown: in-flight requests finish and
    # the group committer drains before the database closes.
    web.run_app(create_app(settings), sock=sock, print=None, access_log=None, shutdown_timeout=10, ssl_context=tls)
    return 0


def _tls_context(settings: Settings) -> ssl.SSLContext | None:
    """HTTPS from WOOFORCE_TLS_CERT_FILE / WOOFORCE_TLS_KEY_FILE (validated as a pair); a certificate and key that
    do not load or do not match are a ConfigError."""
    if settings.tls_cert_file is None or settings.tls_key_file is None:
        return None
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        ctx.load_cert_chain(settings.tls_cert_file, settings.tls_key_file)
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(f"WOOFORCE_TLS_CERT_FILE / WOOFORCE_TLS_KEY_FILE: cannot load the certificate and key "
                          f"({exc}); both must be PEM and the key must match the certificate") from None
    return ctx


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``; a port in use (or a host not of this machine) is a ConfigError."""
    try:
        family, kind, proto, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                          flags=socket.AI_PASSIVE)[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as aiohttp does (restart over TIME_WAIT)
        sock.bind(addr)
        sock.listen(1024)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(f"port {port} on {host} is already in use (another collector?): stop that process, "
                              "or choose another port with --port or WOOFORCE_COLLECTOR_PORT") from None
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(False)
    return sock


def cmd_agent(settings: Settings, args: argparse.Namespace) -> int:
    from agent.app import run_agent

    print_storage(settings)
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

    if args.env_file is None:
        print(Fernet.generate_key().decode())
        return 0
    path = Path(args.env_file)
    lines = path.read_text().splitlines() if path.exists() else []
    if any(line.strip().removeprefix("export ").startswith("WOOFORCE_MASTER_KEY=") for line in lines):
        print(f"{path} already holds WOOFORCE_MASTER_KEY: kept (a new key could not decrypt the stored secrets)",
              file=sys.stderr)
        return 0
    line = f"WOOFORCE_MASTER_KEY={Fernet.generate_key().decode()}\n"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # only its owner may read the key
        with os.fdopen(fd, "w") as fh:
            fh.write(line)
    else:
        with path.open("a") as fh:
            fh.write(("\n" if lines and not path.read_text().endswith("\n") else "") + line)
    print(f"wrote a new WOOFORCE_MASTER_KEY to {path}: keep this file (and a copy of the key somewhere safe)",
          file=sys.stderr)
    return 0


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    from cli.demo import DemoOptions, run

    opts = DemoOptions(duration_s=None if args.duration == 0 else args.duration, changes_per_s=args.changes_per_s,
                       drop_share=args.drop_share, seed=args.seed, port=args.port, orders=args.orders,
                       products=args.products, customers=args.customers, sf_port=args.sf_port, wc_port=args.wc_port,
                       keep_console=args.keep_console, dead_letter=args.dead_letter)
    return run(settings, opts)


# -- stores --------------------------------------------------------------------------------

@with_stores
async def cmd_stores_add(stores: StoreManager, args: argparse.Namespace, settings: Settings) -> int:
    wc = None
    if args.wc_webhook_secret or args.wc_key:
        wc = {"consumer_key": args.wc_key, "consumer_secret": args.wc_secret,
              "webhook_secret": args.wc_webhook_secret, "auth": args.wc_auth}
    await stores.check_keys()  # never add a store under another master key than the stored ones
    row, secret = await stores.add(args.name, wc_url=args.wc_url, wc_credentials=wc)
    await _audit(stores, "store.add", row["id"], {"name": args.name, "wc_url": args.wc_url,
                                                  "wc_credentials": sorted(k for k, v in (wc or {}).items() if v)})
    print_out({"store_id": row["id"], "name": row["name"], "signing_secret": secret,
               **_connect_fields(settings, row["id"], secret)}, args.json)
    if not args.json:
        print("\nKeep the signing secret: it is shown only now. Paste the connection string into the plugin "
              "(WooCommerce > Wooforce); `wooforce stores show ID --connect` prints it again.", file=sys.stderr)
    return 0


def _connect_fields(settings: Settings, store_id: str, secret: str) -> dict:
    """``connection_string`` for the plugin, or why there is none (WOOFORCE_PUBLIC_URL unset)."""
    from cli.connection import connection_string

    if settings.public_url is None:
        print("wooforce: no connection string: set WOOFORCE_PUBLIC_URL to the collector's address as stores reach "
              "it (https://...)", file=sys.stderr)
        return {}
    return {"collector_url": settings.public_url,
            "connection_string": connection_string(settings.public_url, store_id, secret)}


@with_stores
async def cmd_stores_list(stores: StoreManager, args: argparse.Namespace, settings: Settings) -> int:
    rows = await stores.list()
    print_storage(settings)
    if not rows:  # an empty database is worth saying: the operator may be looking at the wrong one
        print(f"wooforce: no stores in {storage(settings)}", file=sys.stderr)
    print_out(rows, args.json)
    return 0


@with_stores
async def cmd_stores_show(stores: StoreManager, args: argparse.Namespace, settings: Settings) -> int:
    s = await stores.get(args.store_id)
    wc = s["wc_credentials"] or {}
    print_out({"store_id": s["id"], "name": s["name"], "status": s["status"], "wc_url": s["wc_url"],
            "wc_keys": "set" if wc.get("consumer_key") else "not set",
            "wc_webhook_secret": "set" if wc.get("webhook_secret") else "not set",
            "salesforce": (f"{s['sf_credentials'].get('auth')} {s['sf_credentials'].get('instance_url')}"
                           if s["sf_credentials"] else "not set"),
            "signing_secrets_valid": sum(1 for e in s["signing_secrets"] if not e.get("expires_at")) ,
            "keys_status": s["keys_status"], "created_at": s["created_at"],
            **(_connect_fields(settings, s["id"], _current_secret(s["signing_secrets"])) if args.connect else {})},
            args.json)
    return 0


def _current_secret(entries: list[dict]) -> str:
    """The newest signing secret that does not expire (the one a rotation issued last)."""
    current = [e for e in entries if not e.get("expires_at")]
    if not current:
        raise ConfigError("this store has no current signing secret: issue one with `wooforce stores rotate-secret`")
    return str(current[0]["secret"])


@with_stores
async def cmd_stores_rotate(stores: StoreManager, args: argparse.Namespace, settings: Settings) -> int:
    grace = settings.secret_rotation_grace_s if args.grace_s is None else args.grace_s
    secret = await stores.rotate_secret(args.store_id, grace_s=grace)
    await _audit(stores, "store.rotate_secret", args.store_id, {"grace_s": grace})
    print_out({"store_id": args.store_id, "signing_secret": secret, "previous_valid_for_s": grace,
               **_connect_fields(settings, args.store_id, secret)}, args.json)
    return 0


@with_stores
async def cmd_stores_set_wc(stores: StoreManager, args: argparse.Namespace, settings: Settings) -> int:
    await stores.set_woocommerce(args.store_id, url=args.url, consumer_key=args.key, consumer_secret=args.secret,
                                 webhook_secret=args.webhook_secret, auth=args.auth)
    await _audit(stores, "store.set_woocommerce", args.store_id, {"url": args.url, "auth": args.auth, "changed": [
        k for k in ("key", "secret", "webhook_secret") if getattr(args, k) is not None]})
    print(f"WooCommerce connection of {args.store_id} updated")
    return 0


@with_stores
async def cmd_stores_set_sf(stores: StoreManager, args: argparse.Namespace, settings: Settings) -> int:
    changes: dict[str, Any] = {k[3:]: v for k, v in vars(args).items() if k.startswith("sf_") and v is not None}
    if "private_key_file" in changes:  # the key's content is stored (encrypted), never the path
        changes["private_key"] = _read_key(changes.pop("private_key_file"))
    conn = await stores.salesforce_after(args.store_id, changes)  # validated (exit 2), nothing stored yet
    if args.test:
        from shared.errors import SalesforcePermanent, SalesforceRetryable

        try:
            signed_in = await _sign_in(conn, settings)
        except (SalesforcePermanent, SalesforceRetryable) as exc:
            print(f"wooforce: Salesforce sign-in failed: {exc.message}\n  nothing was stored", file=sys.stderr)
            return 1
        print_out(signed_in, args.json)
    await stores.set_salesforce(args.store_id, changes)
    await _audit(stores, "store.set_salesforce", args.store_id, {
        "changed": sorted(changes), "auth": conn["auth"], "instance_url": conn["instance_url"], "tested": args.test})
    print(f"Salesforce connection of {args.store_id} updated ({conn['auth']}, {conn['instance_url']})",
          file=sys.stderr if args.json else sys.stdout)
    return 0


def _read_key(name: str) -> str:
    path = Path(name).expanduser()
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"invalid Salesforce connection:\n  --private-key-file: cannot read {path.resolve()}: "
                          f"{getattr(exc, 'strerror', None) or exc}") from None


async def _sign_in(conn: dict, settings: Settings) -> dict:
    """Sign in with ``conn`` for real and read /limits: the org id and today's API usage."""
    from agent.salesforce import SalesforceClient

    client = SalesforceClient(conn, api_version=settings.sf_api_version, timeout_s=settings.sf_timeout_s)
    try:
        await asyncio.to_thread(client.login)
        await asyncio.to_thread(client.limits)  # its Sforce-Limit-Info header (or body) sets the budget
    finally:
        client.close()
    used, max_ = client.budget.used, client.budget.max
    usage = f"{used} of {max_} daily API requests ({used / max_:.1%})" if used is not None and max_ else "unknown"
    return {"signed_in": "ok", "org_id": client.org_id, "user_id": client.user_id,
            "instance_url": client.instance_url, "api_usage": usage, "api_used": used, "api_max": max_}


async def _audit(stores: StoreManager, action: str, store_id: str, params: dict | None = None) -> None:
    """Store changes made here are audited like the console's (actor ``cli``); ``params`` never hold secrets."""
    from collector.console.service import CLI, ConsoleManager

    await ConsoleManager(stores.db).audit(CLI, action, store_id=store_id, target=store_id, params=params)


@with_stores
async def cmd_stores_status(stores: StoreManager, args: argparse.Namespace, settings: Settings) -> int:
    await stores.set_status(args.store_id, args.status)
    await _audit(stores, "store.enable" if args.status == "active" else "store.disable", args.store_id)
    print(f"{args.store_id} is {args.status}")
    return 0


@with_stores
async def cmd_stores_remove(stores: StoreManager, args: argparse.Namespace, settings: Settings) -> int:
    if not args.yes:
        print("refusing to remove a store and all its events without --yes", file=sys.stderr)
        return 2
    await stores.remove(args.store_id)
    await _audit(stores, "store.remove", args.store_id)
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
        for sobject in report.get("missing_objects", []):
            print(f"{sobject}: the org has no such object (create it with its fields, or change the mapping option "
                  "that writes it)")
        for sobject, fields in report["missing"].items():
            print(f"{sobject}: missing {', '.join(fields)}")
        for sobject, fields in report["not_writable"].items():
            print(f"{sobject}: not writable by the integration user: {', '.join(fields)}")
        for sobject in report["key_not_external_id"]:
            print(f"{sobject}: Wooforce_Key__c must be an External ID (unique)")
        for sobject in report["key_not_unique"]:
            print(f"{sobject}: Wooforce_Key__c is an External ID but not Unique: two records can share a key and "
                  "upserts then fail (300 Multiple Choices, DUPLICATE_EXTERNAL_ID); tick Unique on the field")
        org = report["org"]
        print(f"org: Person Accounts {'on' if org['person_accounts'] else 'off'}, "
              + (f"multi-currency ({', '.join(org['currencies'])})" if org["multi_currency"] else "one currency")
              + "; models allowed: customer_model " + " or ".join(report["models_allowed"]["customer_model"])
              + ", order_model " + " or ".join(report["models_allowed"]["order_model"]))
        for problem in report["model_problems"]:
            print(problem)
        print("the org has every field the mapping writes" if report["ok"] else
              "fix the fields above (Setup > Object Manager), or drop them from your mapping file")
    return 0 if report["ok"] else 1


@with_stores
async def cmd_salesforce_setup(stores: StoreManager, args: argparse.Namespace, settings: Settings) -> int:
    from agent.setup import PERMISSION_SET, salesforce_setup

    report = await salesforce_setup(stores, settings, args.store, dry_run=args.dry_run)
    if not args.dry_run and report.changed:
        await _audit(stores, "salesforce.setup", args.store, {"created": report.created,
                                                             "grants": len(report.grants)})
    if args.json:
        print_out(report.as_dict(), True)
        return 0 if report.ok else 1
    verb = "would create" if args.dry_run else "created"
    for item in report.create if args.dry_run else [{"field": f, "type": ""} for f in report.created]:
        print(f"{verb} {item['field']} {item['type']}".rstrip())
    for w in report.wrong:
        print(f"{w['field']}: exists as {w['have']}, Wooforce needs {w['want']}: left as it is (fix or delete it in "
              "Setup > Object Manager, or drop it from your mapping file)")
    if report.permission_set != "present":
        print(f"{'would create' if args.dry_run else 'created'} permission set {PERMISSION_SET}")
    if report.grants:
        print(f"{'would grant' if args.dry_run else 'granted'} read/edit on {len(report.grants)} fields in "
              f"{PERMISSION_SET}")
    if report.assignment != "present":
        print(f"{'would assign' if args.dry_run else 'assigned'} {PERMISSION_SET} to the integration user "
              f"{report.user_id}")
    for e in report.errors:
        print(f"error: {e.get('field') or PERMISSION_SET}: {e['message']} ({e['code']}: {e['salesforce']})")
    planned = report.create or report.grants or report.permission_set != "present" or report.assignment != "present"
    if args.dry_run:
        print("nothing to change" if not planned and report.ok else "dry run: nothing was changed")
    elif not report.changed:
        print("nothing to change: every field and the permission set are in place" if report.ok else
              "nothing was changed")
    print(f"API calls: {sum(report.api_calls.values())} ({', '.join(f'{k} {v}' for k, v in report.api_calls.items())})")
    return 0 if report.ok else 1


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
    c.add_argument("--host", help="address to listen on (default WOOFORCE_COLLECTOR_HOST)")
    c.add_argument("--port", type=int, help="port to listen on (default WOOFORCE_COLLECTOR_PORT)")
    c.set_defaults(func=cmd_collector)

    a = sub.add_parser("agent", help="run the scheduler: delivery to Salesforce, reconciliation, backfills")
    a.add_argument("--once", action="store_true", help="run every job once, then exit")
    a.set_defaults(func=cmd_agent)

    m = sub.add_parser("migrate", help="apply database migrations")
    m.add_argument("--check", action="store_true", help="only check that the schema is up to date")
    m.set_defaults(func=cmd_migrate)

    kg = sub.add_parser("keygen", help="print a new master key for WOOFORCE_MASTER_KEY (or keep one in a .env file)")
    kg.add_argument("--env-file", metavar="PATH", help="write WOOFORCE_MASTER_KEY=... into this file (created 0600) "
                    "unless it already holds one, which is kept; docker compose reads .env")
    kg.set_defaults(func=cmd_keygen)
    d = sub.add_parser("demo", help="run everything locally against emulators; report on Ctrl-C or --duration")
    d.add_argument("--duration", type=float, default=60, help="seconds of traffic before the report (0: until Ctrl-C)")
    d.add_argument("--changes-per-s", type=float, default=5.0, help="store changes per second")
    d.add_argument("--drop-share", type=float, default=0.3, help="share of webhooks the store drops")
    d.add_argument("--seed", type=int, default=7, help="random seed of the store's history and traffic")
    d.add_argument("--port", type=int, default=8080,
                   help="collector (and console) port; exit 2 if it is taken (0: any free port)")
    d.add_argument("--sf-port", type=int, default=0, help="Salesforce emulator port (default 0: any free port)")
    d.add_argument("--wc-port", type=int, default=0, help="WooCommerce emulator port (default 0: any free port)")
    d.add_argument("--keep-console", action="store_true",
                   help="after the report, keep the console (collector, agent, emulators) up until Ctrl-C")
    d.add_argument("--dead-letter", action="store_true",
                   help="a Salesforce validation rule refuses one order: a dead letter to inspect and replay")
    d.add_argument("--orders", type=int, default=40, help="orders in the store's history")
    d.add_argument("--products", type=int, default=15, help="products in the store's history")
    d.add_argument("--customers", type=int, default=25, help="customers in the store's history")
    d.set_defaults(func=cmd_demo)

    s = sub.add_parser("stores", help="manage stores (tenants)")
    ssub = s.add_subparsers(dest="stores_command", required=True, metavar="ACTION")

    def store_cmd(name: str, func: Callable[[Settings, argparse.Namespace], int], help_: str, *,
                  with_id: bool = True) -> argparse.ArgumentParser:
        sp = ssub.add_parser(name, help=help_)
        if with_id:
            sp.add_argument("store_id", help="the store's id (st_...; see stores list)")
        sp.add_argument("--json", action="store_true", help="machine-readable output")
        sp.set_defaults(func=func)
        return sp

    add = store_cmd("add", cmd_stores_add, "register a store; prints its id and signing secret", with_id=False)
    add.add_argument("--name", required=True, help="the store's display name")
    add.add_argument("--wc-url", help="the store's base URL, e.g. https://shop.example")
    add.add_argument("--wc-key", help="WooCommerce REST consumer key (ck_...)")
    add.add_argument("--wc-secret", help="WooCommerce REST consumer secret (cs_...)")
    add.add_argument("--wc-webhook-secret", help="secret of native WooCommerce webhooks")
    add.add_argument("--wc-auth", default="auto", choices=["auto", "basic", "query", "oauth1"],
                     help="how to send the REST API keys (auto: basic over HTTPS, oauth1 over HTTP)")
    store_cmd("list", cmd_stores_list, "list stores", with_id=False)
    show = store_cmd("show", cmd_stores_show, "show one store (no secrets unless --connect)")
    show.add_argument("--connect", action="store_true",
                      help="also print the plugin's connection string (it holds the signing secret)")
    rot = store_cmd("rotate-secret", cmd_stores_rotate,
                    "issue a new signing secret; the old stays valid for a grace period")
    rot.add_argument("--grace-s", type=int, help="seconds the previous secret stays valid (default from settings)")
    wc = store_cmd("set-woocommerce", cmd_stores_set_wc, "set the WooCommerce URL, REST keys and webhook secret")
    wc.add_argument("--url", required=True, help="the store's base URL (https://shop.example)")
    wc.add_argument("--key", help="REST API consumer key (ck_...)")
    wc.add_argument("--secret", help="REST API consumer secret (cs_...)")
    wc.add_argument("--webhook-secret", help="secret of the store's native webhooks")
    wc.add_argument("--auth", default="auto", choices=["auto", "basic", "query", "oauth1"],
                    help="how to send the REST API keys (auto: basic over HTTPS, oauth1 over HTTP)")
    sf = store_cmd("set-salesforce", cmd_stores_set_sf, "set (or change some options of) the Salesforce connection; "
                   "options not given keep their stored value")
    sf.add_argument("--instance-url", dest="sf_instance_url", help="https://YOUR-DOMAIN.my.salesforce.com")
    sf.add_argument("--auth", dest="sf_auth", choices=["jwt", "client_credentials"],
                    help="sign-in flow (default for a new connection: client_credentials)")
    sf.add_argument("--client-id", dest="sf_client_id", help="the connected app's consumer key (both flows)")
    sf.add_argument("--client-secret", dest="sf_client_secret", help="the consumer secret (client_credentials)")
    sf.add_argument("--username", dest="sf_username", help="the integration user (jwt)")
    sf.add_argument("--private-key-file", dest="sf_private_key_file",
                    help="PEM RSA key signing the JWT (jwt); its content is stored encrypted, not the path")
    sf.add_argument("--login-url", dest="sf_login_url",
                    help="https://login.salesforce.com (default) or https://test.salesforce.com (sandbox)")
    sf.add_argument("--ca-file", dest="sf_ca_file", help="CA bundle to trust (the local emulator's)")
    sf.add_argument("--mapping-file", dest="sf_mapping_file", help="this store's TOML mapping overrides")
    sf.add_argument("--test", action="store_true", help="sign in for real first and print the org id and API usage; "
                    "nothing is stored if that fails")
    for name, status in (("disable", "disabled"), ("enable", "active")):
        store_cmd(name, cmd_stores_status, f"{name} a store").set_defaults(status=status)
    rm = store_cmd("remove", cmd_stores_remove, "delete a store and everything stored for it")
    rm.add_argument("--yes", action="store_true", help="confirm: deletes the store's events, outbox and history")
    sf_p = sub.add_parser("salesforce", help="Salesforce org checks")
    sf_sub = sf_p.add_subparsers(dest="salesforce_command", required=True, metavar="ACTION")
    chk = sf_sub.add_parser("check", help="list the fields the mapping writes that the org lacks (describe calls)")
    chk.add_argument("--store", required=True, help="the store's id")
    chk.add_argument("--json", action="store_true", help="machine-readable output")
    chk.set_defaults(func=cmd_salesforce_check)
    st = sf_sub.add_parser("setup", help="create the custom fields the mapping writes and a permission set granting "
                           "the integration user access to them (Tooling API); changes nothing that exists")
    st.add_argument("--store", required=True, help="the store's id")
    st.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    st.add_argument("--json", action="store_true", help="machine-readable output")
    st.set_defaults(func=cmd_salesforce_setup)
    adopt_cli.add_commands(sf_sub)  # matches, resolve, adopt --dry-run (records the org already has)

    ob = sub.add_parser("outbox", help="browse, show and replay outbox rows")
    ob_sub = ob.add_subparsers(dest="outbox_command", required=True, metavar="ACTION")
    rp = ob_sub.add_parser("replay", help="move dead letters back to pending (after fixing their cause)")
    dl = ob_sub.add_parser("dead", help="list dead letters (newest first)")
    for sp in (rp, dl):
        sp.add_argument("--store", required=True, help="the store's id")
        sp.add_argument("--resource", choices=["order", "customer", "product"], help="only this resource")
        sp.add_argument("--json", action="store_true", help="machine-readable output")
    rp.add_argument("--error-code", help="only rows that failed with this Salesforce error code")
    rp.add_argument("--id", type=int, action="append", help="only this WooCommerce id (repeatable)")
    rp.set_defaults(func=cmd_outbox_replay)
    dl.add_argument("--limit", type=int, default=100, help="at most this many rows (default 100)")
    dl.set_defaults(func=cmd_outbox_dead)
    console_cli.add_commands(sub, ob_sub)  # operators, tokens, outbox list|show, erase, audit, alerts, retention
    reconcile_cli.add_commands(sub)  # backfill, sync, reconcile
    imports_cli.add_commands(sub)  # import --from salesforce
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
    except DatabaseError as exc:
        if not (exc.sqlstate or "").startswith(DSN_REJECTED_SQLSTATES):
            print(f"wooforce: {exc.message}", file=sys.stderr)
            return 1
        print(f"wooforce: the database refused the connection: {exc.message}\n  check the database name, role and "
              "password in WOOFORCE_DATABASE_URL (postgresql://ROLE:PASSWORD@HOST:5432/DATABASE)", file=sys.stderr)
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
