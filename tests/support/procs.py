"""Run Wooforce processes (``wooforce collector`` ...) as real subprocesses for crash tests."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from typing import IO

import requests


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http() -> requests.Session:
    s = requests.Session()
    s.trust_env = False
    return s


@contextmanager
def collector_process(env: dict[str, str], *, port: int | None = None, timeout_s: float = 20):
    port = port or free_port()
    proc = start_collector(env, port, timeout_s=timeout_s)
    try:
        yield proc, f"http://127.0.0.1:{port}"
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


def start_collector(env: dict[str, str], port: int, *, timeout_s: float = 20,
                    stderr: IO[bytes] | int = subprocess.PIPE) -> subprocess.Popen:
    """Start ``wooforce collector`` on ``port`` and wait for /readyz; ``stderr``: a file for long runs (an unread
    pipe fills up and blocks the process once it logs enough)."""
    full_env = {**os.environ, **env, "WOOFORCE_COLLECTOR_PORT": str(port)}
    proc = subprocess.Popen([sys.executable, "-m", "cli", "collector"], env=full_env,
                            stdout=subprocess.DEVNULL, stderr=stderr)
    deadline = time.monotonic() + timeout_s
    with http() as s:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                err = proc.stderr.read().decode()[-2000:] if proc.stderr else "(stderr went to a file)"
                raise RuntimeError(f"collector exited with {proc.returncode}: {err}")
            try:
                if s.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    return proc
            except requests.ConnectionError:
                pass
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("collector did not become ready")


def start_agent(env: dict[str, str], *, stderr: IO[bytes] | int = subprocess.PIPE, **settings: object) -> subprocess.Popen:
    """Start ``wooforce agent``; ``settings`` become ``WOOFORCE_<NAME>`` variables (``agent_lease_s=2``)."""
    extra = {f"WOOFORCE_{k.upper()}": str(v) for k, v in settings.items()}
    return subprocess.Popen([sys.executable, "-m", "cli", "agent"], env={**os.environ, **env, **extra},
                            stdout=subprocess.DEVNULL, stderr=stderr)
