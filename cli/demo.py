"""``wooforce demo``: the whole system on one machine, against emulators, in one command.

Starts the embedded Postgres (a fresh ``wooforce_demo`` database), the Salesforce emulator (HTTPS)
and a WooCommerce emulator store (seeded history, then live traffic with a share of its webhooks
dropped), then the real collector and agent as subprocesses. Shows live progress; on Ctrl-C,
SIGTERM or after ``--duration`` it stops the traffic, lets the agent settle (a reconciler pass
catches what the dropped webhooks missed), stops every process cleanly and prints a
reconciliation report. Exit code 0 only if Salesforce matches the store (apart from what ``--dead-letter``
refuses on purpose), 2 when a port it was told to use is taken.

It creates a console operator (an admin) and prints its email and password; with ``--keep-console`` the collector,
agent and emulators stay up after the report until Ctrl-C, so the console can be explored. ``--dead-letter`` adds a
Salesforce validation rule that refuses one order: a dead letter to open and replay in the console.
"""
from __future__ import annotations

import asyncio
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.live import Live
from rich.table import Table

from emulators.convergence import ConvergenceReport, compare
from shared import embedded_pg, migrations
from shared.crypto import Vault
from shared.db import Database
from shared.settings import Settings
from shared.stores import StoreManager

CLIENT_ID, CLIENT_SECRET = "wooforce-demo", "demo-client-secret"
WEBHOOK_SECRET = "demo-webhook-secret"
DEMO_DB = "wooforce_demo"
DEMO_OPERATOR = "demo@wooforce.test"
DEAD_LETTER_RULE = "Demo_Credit_Approval"
DEAD_LETTER_MESSAGE = "This order needs credit approval before it can be booked"


class PortTaken(Exception):
    """A port the demo was told to use is in use (exit 2)."""


@dataclass
class DemoOptions:
    duration_s: float | None = 60.0
    changes_per_s: float = 5.0
    drop_share: float = 0.3
    seed: int = 7
    orders: int = 40
    products: int = 15
    customers: int = 25
    port: int = 8080
    reconcile_interval_s: int = 10
    settle_timeout_s: float = 120.0
    sf_latency_ms: int = 20
    sf_port: int = 0
    wc_port: int = 0
    keep_console: bool = False
    dead_letter: bool = False


def _free_port(preferred: int, option: str = "--port") -> int:
    """``preferred`` if it is free (0: any free port); :class:`PortTaken` naming ``option`` if it is in use."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", preferred))
        except OSError:
            raise PortTaken(f"port {preferred} is taken: choose another with {option} (0 picks a free one)") from None
        port: int = s.getsockname()[1]
        return port


def _pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


class Demo:
    def __init__(self, settings: Settings, opts: DemoOptions, console: Console | None = None):
        self.settings, self.opts = settings, opts
        self.console = console or Console(stderr=False)
        self.data_dir = Path(settings.data_dir) / "demo"
        self.procs: dict[str, subprocess.Popen] = {}
        self.stop = asyncio.Event()
        self.started = time.monotonic()
        self.traffic_started = time.time()
        self.rejected_order: int | None = None  # --dead-letter: the order Salesforce refuses

    # -- setup ---------------------------------------------------------------------------

    async def _database(self) -> str:
        admin = await asyncio.to_thread(embedded_pg.start, self.data_dir, db_name="postgres")
        import asyncpg

        conn = await asyncpg.connect(admin)
        try:
            await conn.execute(f"DROP DATABASE IF EXISTS {DEMO_DB} WITH (FORCE)")
            await conn.execute(f"CREATE DATABASE {DEMO_DB}")
        finally:
            await conn.close()
        return embedded_pg.dsn_for(embedded_pg.server_for(self.data_dir), DEMO_DB)

    def _env(self) -> dict[str, str]:
        key = self.settings.master_key.get_secret_value() if self.settings.master_key else \
            (self.data_dir / "master.key").read_text().strip()
        return {**os.environ, "WOOFORCE_DATABASE_URL": self.dsn, "WOOFORCE_MASTER_KEY": key,
                "WOOFORCE_DATA_DIR": str(self.data_dir), "WOOFORCE_LOG_LEVEL": "WARNING",
                "WOOFORCE_AGENT_POLL_INTERVAL_S": "1",
                "WOOFORCE_RECONCILE_INTERVAL_S": str(self.opts.reconcile_interval_s),
                "WOOFORCE_RECONCILE_OVERLAP_S": "5", "WOOFORCE_JOBS_POLL_INTERVAL_S": "1",
                "WOOFORCE_CUSTOMER_SWEEP_PAGES_PER_RUN": "5", "WOOFORCE_ID_SWEEP_IDS_PER_RUN": "500",
                "WOOFORCE_AGENT_RETRY_SCHEDULE_S": "[1, 2, 5, 10, 30]", "WOOFORCE_ALERT_INTERVAL_S": "3600"}

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen:
        log = open(self.data_dir / f"{name}.out", "ab")
        proc = subprocess.Popen([sys.executable, "-m", "cli", *args], env=self._env(), stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        self.procs[name] = proc
        return proc

    async def _wait_http(self, url: str, timeout_s: float = 60) -> None:
        import aiohttp

        deadline = time.monotonic() + timeout_s
        async with aiohttp.ClientSession() as s:
            while time.monotonic() < deadline:
                for name, p in self.procs.items():
                    if p.poll() is not None:
                        raise RuntimeError(f"{name} exited with {p.returncode}; see {self.data_dir}/{name}.out")
                try:
                    async with s.get(url, timeout=aiohttp.ClientTimeout(total=1)) as r:
                        if r.status == 200:
                            return
                except (TimeoutError, aiohttp.ClientError):
                    pass
                await asyncio.sleep(0.2)
        raise RuntimeError(f"{url} did not become ready")

    # -- run -----------------------------------------------------------------------------

    async def run(self) -> int:
        from emulators.salesforce import SalesforceEmulator
        from emulators.woocommerce import WooCommerceEmulator

        port = _free_port(self.opts.port)  # before anything starts: a taken port is a usage error
        for option, wanted in (("--sf-port", self.opts.sf_port), ("--wc-port", self.opts.wc_port)):
            if wanted:
                _free_port(wanted, option)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        out = self.console
        out.print("[bold]Wooforce demo[/bold]: starting the embedded Postgres and the emulators ...")
        self.dsn = await self._database()
        sf = SalesforceEmulator(ca_path=self.data_dir / "salesforce-ca.pem", latency_ms=self.opts.sf_latency_ms,
                                seed=self.opts.seed, port=self.opts.sf_port)
        wc = WooCommerceEmulator(port=self.opts.wc_port)
        await sf.start()
        await wc.start()
        self.sf, self.wc = sf, wc
        try:
            sf.register_client_credentials(CLIENT_ID, CLIENT_SECRET)
            wc.seed(orders=self.opts.orders, products=self.opts.products, customers=self.opts.customers,
                    seed=self.opts.seed, days=0.5)
            ck, cs = wc.add_api_key("read_write")
            self.db = await Database(self.dsn, min_size=1, max_size=4).open()
            await migrations.migrate(self.db)
            vault = Vault.from_settings(self.settings.model_copy(update={"data_dir": self.data_dir}))
            stores = StoreManager(self.db, vault)
            row, _secret = await stores.add("Demo shop", wc_url=wc.url, wc_credentials={
                "consumer_key": ck, "consumer_secret": cs, "auth": "auto", "webhook_secret": WEBHOOK_SECRET})
            self.store_id = row["id"]
            await stores.set_salesforce(self.store_id, {"instance_url": sf.url, "auth": "client_credentials",
                                                        "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                                                        "ca_file": str(sf.ca_path)})
            password = await self._operator()
            self.rejected_order = self._dead_letter_rule() if self.opts.dead_letter else None
            # import the seeded history, as the plugin's Resync button would
            from shared import ids

            await self.db.fetchrow("insert_job", ids.new_id("job"), self.store_id, "backfill",
                                   {"since": None, "resources": ["products", "customers", "orders"]}, "demo")
            self.collector_url = f"http://127.0.0.1:{port}"
            self._spawn("collector", ["collector", "--port", str(port)])
            self._spawn("agent", ["agent"])
            await self._wait_http(f"{self.collector_url}/readyz")
            wc.configure_webhooks(self.collector_url, self.store_id, mode="native", wc_webhook_secret=WEBHOOK_SECRET,
                                  drop_share=self.opts.drop_share, drop_seed=self.opts.seed)
            self.traffic_started = time.time()  # lag counts changes made during the demo, not seeded history
            wc.start_traffic(changes_per_s=self.opts.changes_per_s, seed=self.opts.seed)
            out.print(f"collector  {self.collector_url}   (console: {self.collector_url}/console)", soft_wrap=True)
            out.print(f"console sign-in: email {DEMO_OPERATOR}  password {password}", soft_wrap=True)
            if self.rejected_order is not None:
                out.print(f"dead letter: Salesforce refuses order {self.rejected_order} (validation rule "
                          f"{DEAD_LETTER_RULE}, --dead-letter)")
            out.print(f"salesforce {sf.url}   woocommerce {wc.url}   store {self.store_id}", soft_wrap=True)
            out.print(f"traffic: {self.opts.changes_per_s}/s, {self.opts.drop_share:.0%} of webhooks dropped; "
                      f"logs in {self.data_dir}.  Ctrl-C stops and reports.\n")
            await self._live()
            out.print("\nstopping traffic; letting the agent settle (reconciler pass + drain) ...")
            await wc.stop_traffic()
            await wc.dispatcher.wait_idle(30)
            settled = await self._settle()
            if not self.opts.keep_console:
                self._stop_processes()
            report = compare(wc.store, sf.records, self.store_id)
            code = await self._report(report, settled)
            if self.opts.keep_console:
                self.stop.clear()
                out.print(f"console stays up: {self.collector_url}/console  (email {DEMO_OPERATOR}  "
                          f"password {password}); Ctrl-C stops it", soft_wrap=True)
                await self.stop.wait()
                self._stop_processes()
            return code
        finally:
            self._stop_processes(kill=True)
            if getattr(self, "db", None):
                await self.db.close()
            await wc.stop()
            await sf.stop()

    async def _operator(self) -> str:
        """A console admin for the demo; returns its password (new each run)."""
        from collector.console.service import CLI, ConsoleManager

        password = secrets.token_urlsafe(12)
        await ConsoleManager(self.db).add_operator(CLI, DEMO_OPERATOR, password, "admin")
        return password

    def _dead_letter_rule(self) -> int:
        """A Salesforce validation rule that refuses the store's first order (a dead letter); returns its id."""
        order_id = min(self.wc.store.orders)
        self.sf.add_validation_rule("Order", DEAD_LETTER_RULE, DEAD_LETTER_MESSAGE, error_field="Woo_Total__c",
                                    condition={"field": "Wooforce_Key__c", "op": "eq",
                                               "value": f"{self.store_id}:order:{order_id}"})
        return order_id

    async def _counts(self) -> dict:
        async with self.db.connection() as conn:
            status = {r["status"]: r["n"] for r in await conn.fetch(
                "SELECT status, count(*) AS n FROM outbox WHERE store_id = $1 GROUP BY status", self.store_id)}
            events = await conn.fetchval("SELECT count(*) FROM events WHERE store_id = $1", self.store_id)
            lags = [r["lag"] for r in await conn.fetch(
                "SELECT extract(epoch FROM delivered_at - head_version)::float8 AS lag FROM outbox "
                "WHERE store_id = $1 AND status = 'delivered' AND delivered_seq = head_seq "
                "AND head_version >= to_timestamp($2) ORDER BY delivered_at DESC LIMIT 2000",
                self.store_id, self.traffic_started)]
        summary = self.wc.dispatcher.summary()
        return {"events": events, "status": status, "lags": lags, "api_calls": self.sf.api_calls,
                "webhooks_sent": summary.get("delivered", 0), "webhooks_dropped": summary.get("dropped", 0)}

    def _table(self, c: dict) -> Table:
        t = Table(title=f"Wooforce demo: {time.monotonic() - self.started:.0f}s", show_header=True)
        for col in ("events in", "delivered", "pending", "retrying", "dead", "lag p50 s", "lag p95 s",
                    "SF API calls", "webhooks sent/dropped"):
            t.add_column(col, justify="right")
        s = c["status"]
        p50, p95 = _pct(c["lags"], 50), _pct(c["lags"], 95)
        t.add_row(str(c["events"]), str(s.get("delivered", 0)), str(s.get("pending", 0) + s.get("leased", 0)),
                  str(s.get("retrying", 0)), str(s.get("dead", 0)), "-" if p50 is None else f"{p50:.1f}",
                  "-" if p95 is None else f"{p95:.1f}", str(c["api_calls"]),
                  f"{c['webhooks_sent']}/{c['webhooks_dropped']}")
        return t

    async def _live(self) -> None:
        deadline = None if self.opts.duration_s is None else time.monotonic() + self.opts.duration_s
        interactive = self.console.is_terminal
        last_line = 0.0
        with Live(self._table(await self._counts()), console=self.console, refresh_per_second=2,
                  transient=False) if interactive else _NoLive() as live:
            while not self.stop.is_set() and (deadline is None or time.monotonic() < deadline):
                for name, p in self.procs.items():
                    if p.poll() is not None:
                        raise RuntimeError(f"{name} exited with {p.returncode}; see {self.data_dir}/{name}.out")
                counts = await self._counts()
                if interactive:
                    live.update(self._table(counts))
                elif time.monotonic() - last_line >= 5:
                    s = counts["status"]
                    self.console.print(f"[{time.monotonic() - self.started:5.0f}s] events={counts['events']} "
                                       f"delivered={s.get('delivered', 0)} "
                                       f"pending={s.get('pending', 0) + s.get('leased', 0)} "
                                       f"retrying={s.get('retrying', 0)} dead={s.get('dead', 0)} "
                                       f"api_calls={counts['api_calls']}")
                    last_line = time.monotonic()
                try:
                    await asyncio.wait_for(self.stop.wait(), 1.0)
                except TimeoutError:
                    pass

    async def _settle(self) -> bool:
        """Wait for a reconciler run that started after the traffic stopped, then for an empty backlog."""
        t_stop = time.time()
        deadline = time.monotonic() + self.opts.settle_timeout_s
        while time.monotonic() < deadline:
            async with self.db.connection() as conn:
                reconciled = await conn.fetchval(
                    "SELECT count(*) FROM reconcile_runs WHERE store_id = $1 AND outcome = 'ok' "
                    "AND started_at > to_timestamp($2)", self.store_id, t_stop)
                backlog = await conn.fetchval(
                    "SELECT count(*) FROM outbox WHERE store_id = $1 AND status IN ('pending', 'leased', 'retrying')",
                    self.store_id)
                jobs = await conn.fetchval("SELECT count(*) FROM jobs WHERE store_id = $1 AND status IN "
                                           "('requested', 'running')", self.store_id)
            if reconciled and not backlog and not jobs:
                return True
            await asyncio.sleep(1)
        return False

    def _stop_processes(self, kill: bool = False) -> None:
        for name in ("agent", "collector"):
            p = self.procs.get(name)
            if p is None or p.poll() is not None:
                continue
            p.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
            if not kill:
                self.console.print(f"stopped {name} (pid {p.pid}, exit code {p.returncode})")

    async def _report(self, report: ConvergenceReport, settled: bool) -> int:
        c = await self._counts()
        out = self.console
        t = Table(title="Reconciliation report: WooCommerce store vs Salesforce")
        for col in ("object", "store", "Salesforce", "mismatches", "note"):
            t.add_column(col)
        for o in report.objects:
            t.add_row(o.name, str(o.store), str(o.salesforce), str(len(o.mismatches)), o.note)
        out.print(t)
        for o in report.objects:
            for m in o.mismatches[:10]:
                out.print(f"  mismatch: {m}")
        for d in report.duplicates[:10]:
            out.print(f"  duplicate in Salesforce: {d}")
        s = c["status"]
        p50, p95, p99 = (_pct(c["lags"], p) for p in (50, 95, 99))
        fmt = lambda v: "-" if v is None else f"{v:.1f}s"  # noqa: E731
        out.print(f"events received: {c['events']}   delivered: {s.get('delivered', 0)}   dead: {s.get('dead', 0)}   "
                  f"webhooks dropped by the store: {c['webhooks_dropped']}")
        out.print(f"Salesforce API calls used: {c['api_calls']}   lag (WooCommerce change -> Salesforce write): "
                  f"p50 {fmt(p50)}  p95 {fmt(p95)}  p99 {fmt(p99)}")
        if not settled:
            out.print("[yellow]the agent did not settle within the timeout; "
                      "the report may show work in flight[/yellow]")
        out.print(f"mismatches: {report.mismatch_count}")
        expected = {f"order {self.rejected_order} missing"} if self.rejected_order is not None else set()
        found = {m for o in report.objects for m in o.mismatches}
        if expected and found == expected and not report.duplicates:
            out.print(f"[green]Salesforce matches the store[/green] except order {self.rejected_order}, refused on "
                      f"purpose (--dead-letter): find it in the console's dead letters.")
            return 0
        if report.converged:
            out.print("[green]Salesforce matches the store.[/green]")
            return 0
        out.print("[red]Salesforce does not match the store.[/red]")
        return 1


class _NoLive:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update(self, *_):
        pass


def run(settings: Settings, opts: DemoOptions) -> int:
    async def main() -> int:
        demo = Demo(settings, opts)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, demo.stop.set)
        return await demo.run()

    random.seed(opts.seed)
    try:
        return asyncio.run(main())
    except PortTaken as exc:
        print(f"wooforce demo: {exc}", file=sys.stderr)
        return 2
