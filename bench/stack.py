"""The pieces the end-to-end benchmarks share: an embedded Postgres under /tmp, a store connected to the
Salesforce emulator (client credentials + ca_file, as ``wooforce demo`` wires it), and real ``wooforce``
subprocesses (collector, agent) configured through ``WOOFORCE_*`` variables."""
from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

CLIENT_ID, CLIENT_SECRET = "wooforce-bench", "bench-client-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


class Stack:
    """``async with Stack("lag") as st``: embedded Postgres (migrated), a master key, a StoreManager."""

    def __init__(self, name: str, *, database_url: str | None = None):
        self.tmp = Path(tempfile.mkdtemp(prefix=f"wf-{name}-", dir="/tmp"))
        self.dsn = database_url
        self.procs: dict[str, subprocess.Popen] = {}

    async def __aenter__(self) -> Stack:
        from cryptography.fernet import Fernet

        from shared import embedded_pg, migrations
        from shared.crypto import Vault
        from shared.db import Database
        from shared.settings import Settings
        from shared.stores import StoreManager

        self.dsn = self.dsn or await asyncio.to_thread(embedded_pg.start, self.tmp)
        self.master_key = Fernet.generate_key().decode()
        self.settings = Settings(_env_file=None, data_dir=self.tmp, database_url=self.dsn, log_level="WARNING",
                                 master_key=self.master_key)
        self.db = await Database(self.dsn, min_size=1, max_size=4, statement_timeout_ms=1_800_000).open()
        await migrations.migrate(self.db)
        async with self.db.connection() as c:
            self.postgres_version = await c.fetchval("SHOW server_version")
        self.stores = StoreManager(self.db, Vault.from_settings(self.settings), cache_ttl_s=0)
        return self

    async def __aexit__(self, *exc) -> None:
        for name in list(self.procs):
            self.stop(name)
        await self.db.close()

    async def add_store(self, name: str, sf_emu=None) -> tuple[str, str]:
        """A store (no WooCommerce connection: only webhooks feed it) delivering to ``sf_emu``; (id, secret)."""
        row, secret = await self.stores.add(name)
        if sf_emu is not None:
            sf_emu.register_client_credentials(CLIENT_ID, CLIENT_SECRET)
            await self.stores.set_salesforce(row["id"], {
                "instance_url": sf_emu.url, "auth": "client_credentials", "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET, "ca_file": str(sf_emu.ca_path)})
        return row["id"], secret

    def env(self, **settings) -> dict[str, str]:
        env = {**os.environ, "WOOFORCE_DATABASE_URL": self.dsn, "WOOFORCE_MASTER_KEY": self.master_key,
               "WOOFORCE_DATA_DIR": str(self.tmp), "WOOFORCE_LOG_LEVEL": "WARNING",
               # only what the benchmark drives: no reconciler, alerts or Salesforce polling in between
               "WOOFORCE_RECONCILE_INTERVAL_S": "86400", "WOOFORCE_ALERT_INTERVAL_S": "3600",
               "WOOFORCE_JOBS_POLL_INTERVAL_S": "3600", "WOOFORCE_SF_POLL_INTERVAL_S": "86400"}
        env.update({f"WOOFORCE_{k.upper()}": str(v) for k, v in settings.items()})
        return env

    def spawn(self, name: str, args: list[str], **settings) -> subprocess.Popen:
        log = open(self.tmp / f"{name}.out", "ab")
        proc = subprocess.Popen([sys.executable, "-m", "cli", *args], env=self.env(**settings), stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        self.procs[name] = proc
        return proc

    def stop(self, name: str) -> int | None:
        proc = self.procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return None if proc is None else proc.returncode
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait(5)

    def check_alive(self) -> None:
        for name, p in self.procs.items():
            if p.poll() is not None:
                tail = (self.tmp / f"{name}.out").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{name} exited with {p.returncode}: {tail}")

    async def outbox_status(self) -> dict[str, int]:
        async with self.db.connection() as c:
            return {r["status"]: r["n"] for r in await c.fetch("SELECT status, count(*) AS n FROM outbox GROUP BY 1")}
