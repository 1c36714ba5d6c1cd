"""Helpers shared by the benchmarks: processes, percentiles, RSS, result tables."""
from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import time
from pathlib import Path

import psutil
import requests

RESULTS_DIR = Path(__file__).parent / "results"


def machine() -> dict:
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
            "memory_gib": round(psutil.virtual_memory().total / 2**30, 1)}


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    k = min(len(values) - 1, max(0, round(p / 100 * (len(values) - 1))))
    return values[k]


def wait_ready(url: str, proc: subprocess.Popen, timeout_s: float = 60) -> None:
    s = requests.Session()
    s.trust_env = False
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}")
        try:
            if s.get(url, timeout=1).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} not ready after {timeout_s}s")


class RssSampler:
    """Samples a process tree's RSS in a thread; ``peak_mib`` is the highest sum seen."""

    def __init__(self, pid: int, interval_s: float = 0.1):
        import threading

        self.proc = psutil.Process(pid)
        self.interval_s = interval_s
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.samples.append(self.proc.memory_info().rss / 2**20)
            except psutil.Error:
                return
            self._stop.wait(self.interval_s)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def peak_mib(self) -> float:
        return max(self.samples, default=float("nan"))

    def growth_mib(self) -> float:
        """Median RSS of the last third minus the first third: ~0 when memory stays flat."""
        n = len(self.samples) // 3
        if n < 2:
            return float("nan")
        return statistics.median(self.samples[-n:]) - statistics.median(self.samples[:n])


def save(name: str, result: dict) -> Path:
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(result, indent=2))
    return path
