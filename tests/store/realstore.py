"""A throwaway real store: WordPress 6.8.8 + WooCommerce 10.0.2 from the release archives in ``../shared/vendor/``,
on a MariaDB of its own (own datadir, port and socket) and PHP's built-in server, installed from PHP with HPOS on
and a read_write REST key, plus a runner doing what a real site's system cron does (due WP-Cron events and Action
Scheduler) every few seconds. ``WP_DEBUG_LOG`` is on: :meth:`RealStore.wooforce_log_problems` reads it.

Used by ``tests/store/conftest.py``; nothing here is shared with the other layers.
"""
from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import tarfile
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from agent.woocommerce import oauth1_params
from tests.support.procs import free_port, http

REPO_ROOT = Path(__file__).resolve().parents[2]
PHP_DIR = Path(__file__).resolve().parent / "php"
VENDOR_DIR = REPO_ROOT.parent / "shared" / "vendor"
PHP_EXTENSIONS = ("curl", "xml", "mbstring", "intl", "gd", "zip", "mysqli")
CRON_INTERVAL_S = 2.0
# a PHP warning, notice or deprecation in debug.log: "[03-Dec-2026 15:00:00 UTC] PHP Warning:  ..."
PHP_PROBLEM = re.compile(r"^\[[^\]]+\] PHP (?:Warning|Notice|Deprecated|Fatal error|Parse error):.*$", re.M)


def archives() -> dict[str, Path]:
    return {"WordPress": Path(os.environ.get("WOOFORCE_WORDPRESS_ARCHIVE", VENDOR_DIR / "wordpress-6.8.8.tar.xz")),
            "WooCommerce": Path(os.environ.get("WOOFORCE_WOOCOMMERCE_ARCHIVE",
                                               VENDOR_DIR / "woocommerce-10.0.2.tar.xz"))}


def missing_requirements() -> list[str]:
    """What this machine lacks to build the store, each named (empty: everything is there)."""
    missing = [f"{name} archive {path} (set WOOFORCE_{name.upper()}_ARCHIVE)"
               for name, path in archives().items() if not path.is_file()]
    for tool in ("php", "mariadbd", "mariadb-install-db", "mariadb"):
        if not shutil.which(tool) and not Path(f"/usr/sbin/{tool}").exists():
            missing.append(f"{tool} (bash wp-plugin/tests/setup-env.sh installs it)")
    if shutil.which("php"):
        have = set(subprocess.run(["php", "-m"], capture_output=True, text=True).stdout.lower().split())
        missing += [f"PHP extension {ext} (bash wp-plugin/tests/setup-env.sh installs it)"
                    for ext in PHP_EXTENSIONS if ext not in have]
    return missing


def _tool(name: str) -> str:
    return shutil.which(name) or f"/usr/sbin/{name}"


@dataclass
class RealStore:
    root: Path
    url: str = ""
    consumer_key: str = ""
    consumer_secret: str = ""
    db_port: int = 0
    setup_s: float = 0.0
    procs: list[subprocess.Popen] = field(default_factory=list)
    logs: list[Any] = field(default_factory=list)
    cron_runs: int = 0
    cron_failures: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _kick: threading.Event = field(default_factory=threading.Event)
    _ran: threading.Condition = field(default_factory=threading.Condition)
    _thread: threading.Thread | None = None

    @property
    def wp(self) -> Path:
        return self.root / "wordpress"

    @property
    def debug_log(self) -> Path:
        return self.root / "debug.log"

    @property
    def socket(self) -> Path:
        return self.root / "mysqld.sock"

    # ------------------------------------------------------------------ building

    @classmethod
    def build(cls) -> RealStore:
        t0 = time.monotonic()
        store = cls(Path(tempfile.mkdtemp(prefix="wf-store-")))
        try:
            store._unpack()
            store._start_mariadb()
            store.url = f"http://127.0.0.1:{free_port()}"
            store.consumer_key = "ck_" + secrets.token_hex(20)
            store.consumer_secret = "cs_" + secrets.token_hex(20)
            store._write_config()
            for step in ("core", "woocommerce"):
                store.php_install(step)
            store.php_install("wc-install", store.consumer_key, store.consumer_secret)
            store._start_php_server()
            store._start_cron()
        except BaseException:
            store.close()
            raise
        store.setup_s = time.monotonic() - t0
        return store

    def _unpack(self) -> None:
        a = archives()
        with tarfile.open(a["WordPress"]) as t:
            t.extractall(self.root, filter="fully_trusted")
        with tarfile.open(a["WooCommerce"]) as t:
            t.extractall(self.wp / "wp-content" / "plugins", filter="fully_trusted")
        # the plugin under test, linked (not copied): active only for the cases that want it
        (self.wp / "wp-content" / "plugins" / "wooforce").symlink_to(REPO_ROOT / "wp-plugin" / "wooforce")
        mu = self.wp / "wp-content" / "mu-plugins"
        mu.mkdir()
        shutil.copy(PHP_DIR / "allow-test-ports.php", mu)

    def _start_mariadb(self) -> None:
        datadir = self.root / "mysql"
        subprocess.run([_tool("mariadb-install-db"), "--user=root", f"--datadir={datadir}",
                        "--auth-root-authentication-method=socket", "--skip-test-db"],
                       check=True, capture_output=True, timeout=120)
        self.db_port = free_port()
        log = self._log("mariadbd.log")
        self.procs.append(subprocess.Popen(
            [_tool("mariadbd"), "--no-defaults", "--user=root", f"--datadir={datadir}", f"--socket={self.socket}",
             f"--port={self.db_port}", "--bind-address=127.0.0.1", f"--pid-file={self.root / 'mariadbd.pid'}",
             "--innodb-buffer-pool-size=64M", "--innodb-log-file-size=16M", "--skip-log-bin",
             "--innodb-flush-log-at-trx-commit=0", "--performance-schema=OFF"],
            stdout=log, stderr=log))
        deadline = time.monotonic() + 60
        while subprocess.run([_tool("mariadb-admin"), f"--socket={self.socket}", "ping"],
                             capture_output=True).returncode != 0:
            if self.procs[-1].poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("MariaDB did not start: " + (self.root / "mariadbd.log").read_text()[-2000:])
            time.sleep(0.2)
        self.sql("CREATE DATABASE wordpress CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci; "
                 "CREATE USER 'wp'@'127.0.0.1' IDENTIFIED BY 'wp'; GRANT ALL ON wordpress.* TO 'wp'@'127.0.0.1';")

    def _log(self, name: str) -> Any:
        log = (self.root / name).open("wb")
        self.logs.append(log)
        return log

    def sql(self, statement: str) -> str:
        """Run SQL as MariaDB's root over the socket; the tab-separated result, no header."""
        done = subprocess.run([_tool("mariadb"), f"--socket={self.socket}", "-uroot", "-N", "-B", "wordpress"
                               if "CREATE DATABASE" not in statement else "mysql", "-e", statement],
                              capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"SQL failed: {done.stderr}")
        return done.stdout

    def _write_config(self) -> None:
        sample = (self.wp / "wp-config-sample.php").read_text()
        head, _, tail = sample.partition("/* That's all, stop editing! Happy publishing. */")
        head = (head.replace("database_name_here", "wordpress").replace("username_here", "wp")
                .replace("password_here", "wp").replace("'localhost'", f"'127.0.0.1:{self.db_port}'"))
        head = re.sub(r"define\( '(AUTH|SECURE_AUTH|LOGGED_IN|NONCE)_(KEY|SALT)',\s*'put your unique phrase here' \);",
                      lambda m: f"define( '{m[1]}_{m[2]}', '{secrets.token_hex(32)}' );", head)
        head = head.replace("define( 'WP_DEBUG', false );", "")
        extra = f"""
define( 'WP_DEBUG', true );
define( 'WP_DEBUG_LOG', '{self.debug_log}' );
define( 'WP_DEBUG_DISPLAY', false );
define( 'WP_HOME', '{self.url}' );
define( 'WP_SITEURL', '{self.url}' );
define( 'WP_HTTP_BLOCK_EXTERNAL', true );
define( 'DISABLE_WP_CRON', true );
define( 'AUTOMATIC_UPDATER_DISABLED', true );
define( 'WP_AUTO_UPDATE_CORE', false );
define( 'FS_METHOD', 'direct' );
define( 'WP_ENVIRONMENT_TYPE', 'local' );
"""
        (self.wp / "wp-config.php").write_text(head + extra + "\n/* That's all, stop editing! Happy publishing. */"
                                               + tail)

    def _env(self) -> dict[str, str]:
        return {**os.environ, "WOOFORCE_STORE_URL": self.url}

    def php_install(self, step: str, *args: str) -> None:
        done = subprocess.run(["php", str(PHP_DIR / "install.php"), str(self.wp), step, *args], env=self._env(),
                              capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise RuntimeError(f"install step {step} failed ({done.returncode}): {done.stdout[-1500:]}"
                               f"{done.stderr[-1500:]}")

    def php_eval(self, code: str, *, timeout_s: float = 60) -> str:
        """Run PHP ``code`` inside the loaded store (a fresh process); its output."""
        script = self.root / f"eval-{secrets.token_hex(4)}.php"
        host = self.url.removeprefix("http://")
        script.write_text(f"<?php\n$_SERVER['HTTP_HOST'] = '{host}';\nrequire '{self.wp}/wp-load.php';\n{code}\n")
        try:
            done = subprocess.run(["php", str(script)], env=self._env(), capture_output=True, text=True,
                                  timeout=timeout_s)
        finally:
            script.unlink()
        if done.returncode != 0:
            raise RuntimeError(f"PHP failed ({done.returncode}): {done.stdout[-1500:]}{done.stderr[-1500:]}")
        return done.stdout

    def _start_php_server(self) -> None:
        port = int(self.url.rsplit(":", 1)[1])
        log = self._log("php-server.log")
        self.procs.append(subprocess.Popen(
            ["php", "-S", f"127.0.0.1:{port}", "-t", str(self.wp), str(PHP_DIR / "router.php")],
            env={**self._env(), "PHP_CLI_SERVER_WORKERS": "4"}, stdout=log, stderr=log, cwd=self.wp))
        deadline = time.monotonic() + 120
        with http() as s:
            while True:
                try:  # (the first request does WooCommerce's first-run work: slow on a busy machine)
                    if s.get(f"{self.url}/wp-json/", timeout=60).status_code == 200:
                        return
                except (requests.ConnectionError, requests.Timeout):
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("PHP server did not answer: " + (self.root / "php-server.log").read_text())
                time.sleep(0.1)

    # ------------------------------------------------------------------ the system cron

    def _start_cron(self) -> None:
        self._thread = threading.Thread(target=self._cron_loop, name="store-cron", daemon=True)
        self._thread.start()

    def _cron_loop(self) -> None:
        while not self._stop.is_set():
            done = subprocess.run(["php", str(PHP_DIR / "cron.php"), str(self.wp)], env=self._env(),
                                  capture_output=True, text=True, timeout=300)
            if done.returncode != 0:
                self.cron_failures.append(done.stdout[-1000:] + done.stderr[-1000:])
            with self._ran:
                self.cron_runs += 1
                self._ran.notify_all()
            self._kick.wait(CRON_INTERVAL_S)
            self._kick.clear()

    def run_cron(self, *, runs: int = 1, timeout_s: float = 60) -> None:
        """Wait until the runner has completed ``runs`` full passes that started after this call."""
        with self._ran:
            target = self.cron_runs + runs + 1  # the pass under way may have started before the change
        deadline = time.monotonic() + timeout_s
        while True:
            self._kick.set()
            with self._ran:
                if self.cron_runs >= target:
                    return
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("the store's cron runner did not run")
                self._ran.wait(min(left, 1.0))

    # ------------------------------------------------------------------ REST

    def rest(self, method: str, path: str, *, params: dict[str, Any] | None = None,
             json: Any = None, expect: tuple[int, ...] = (200, 201)) -> Any:
        """``/wp-json/wc/v3/{path}`` with OAuth 1.0a (plain http), as the agent signs it."""
        url = f"{self.url}/wp-json/wc/v3/{path}"
        query = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in (params or {}).items()}
        signed = oauth1_params(method, url, query, self.consumer_key, self.consumer_secret)
        with http() as s:
            r = s.request(method, url, params=signed, json=json, timeout=60)
        if r.status_code not in expect:
            raise AssertionError(f"{method} {path}: {r.status_code} {r.text[:1500]}")
        return r.json()

    def list_all(self, path: str, **params: Any) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        page = 1
        while True:
            got = self.rest("GET", path, params={"per_page": 100, "page": page, **params})
            out.extend(got)
            if len(got) < 100:
                return out
            page += 1

    # ------------------------------------------------------------------ logs

    def debug_lines(self) -> list[str]:
        if not self.debug_log.exists():
            return []
        return PHP_PROBLEM.findall(self.debug_log.read_text(errors="replace"))

    def wooforce_log_problems(self) -> list[str]:
        """PHP warnings, notices and deprecations that name Wooforce (its paths or its text)."""
        return [line for line in self.debug_lines() if "wooforce" in line.lower()]

    # ------------------------------------------------------------------ teardown

    def close(self) -> None:
        self._stop.set()
        self._kick.set()
        if self._thread is not None:
            self._thread.join(60)
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(10)
        for log in self.logs:
            log.close()
        if os.environ.get("WOOFORCE_STORE_KEEP") != "1":
            shutil.rmtree(self.root, ignore_errors=True)
