"""Fault injection, switchable at run time from Python (``emu.faults.add(...)``) or over HTTP
(``POST /_emulator/faults``).

Kinds:
- ``latency``: sleep ``latency_ms`` before handling.
- ``unavailable``: 503 SERVER_UNAVAILABLE.
- ``request_limit``: 403 REQUEST_LIMIT_EXCEEDED ("TotalRequests Limit exceeded." or ``message``).
- ``expire_sessions``: drop every session; this request (and later ones with old tokens) get 401.
- ``timeout``: hang ``hang_s`` (default 3600) so the client times out.
- ``lock_row``: UNABLE_TO_LOCK_ROW for single records: a whole request fails (400) for single-record
  endpoints; in collections/composite/bulk the error is per record.

``times``: how many hits before the fault disarms (None = forever); for ``lock_row`` a hit is one
record. ``probability``: share of matching requests (records for ``lock_row``) hit. ``phase``:
``before`` (default) fails without processing; ``after`` processes the request (writes commit) and
then returns the fault (only ``unavailable`` and ``timeout``) - the nasty "did it commit?" case.
``path_contains`` / ``method`` restrict which API requests match. ``retry_after`` adds a ``Retry-After`` header
to ``unavailable`` and ``request_limit`` answers (an API gateway in front of the org may send one).
"""
from __future__ import annotations

import itertools
import random
import threading
from dataclasses import asdict, dataclass, field

KINDS = {"latency", "unavailable", "request_limit", "expire_sessions", "timeout", "lock_row"}
_ids = itertools.count(1)


@dataclass
class Fault:
    kind: str
    times: int | None = None
    probability: float = 1.0
    latency_ms: float = 0.0
    hang_s: float = 3600.0
    phase: str = "before"
    path_contains: str | None = None
    method: str | None = None
    message: str | None = None
    retry_after: str | None = None  # unavailable / request_limit: a Retry-After header (seconds or an HTTP-date)
    hits: int = 0
    id: int = field(default_factory=lambda: next(_ids))

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; one of {sorted(KINDS)}")
        if self.phase not in ("before", "after"):
            raise ValueError("phase is 'before' or 'after'")

    @property
    def armed(self) -> bool:
        return self.times is None or self.hits < self.times

    def to_dict(self) -> dict:
        return asdict(self)


class Faults:
    def __init__(self, rng: random.Random):
        self.rng = rng
        self.active: list[Fault] = []
        self._lock = threading.Lock()  # faults are switched from test/benchmark threads too

    def add(self, kind: str, **kw) -> Fault:
        """Arm a fault, e.g. ``add("unavailable", times=2)``, ``add("lock_row", probability=0.1)``."""
        fault = Fault(kind=kind, **kw)
        with self._lock:
            self.active.append(fault)
        return fault

    def remove(self, fault_id: int) -> None:
        with self._lock:
            self.active = [f for f in self.active if f.id != fault_id]

    def clear(self) -> None:
        with self._lock:
            self.active = []

    def _take(self, f: Fault) -> bool:
        if not f.armed or self.rng.random() >= f.probability:
            return False
        f.hits += 1
        return True

    def pick(self, method: str, path: str, kinds: set[str], phase: str = "before") -> list[Fault]:
        """Request-level faults that fire for this request (each consumes one hit)."""
        with self._lock:
            out = [f for f in self.active
                   if f.kind in kinds and f.phase == phase and self._match(f, method, path) and self._take(f)]
            self.active = [f for f in self.active if f.armed]
        return out

    def _match(self, f: Fault, method: str, path: str) -> bool:
        return (f.path_contains is None or f.path_contains in path) and (f.method is None or
                                                                        f.method.upper() == method.upper())

    def lock_hook(self, method: str, path: str):
        """Per-record UNABLE_TO_LOCK_ROW decision function for one request."""
        def lock() -> bool:
            with self._lock:
                hit = any(self._take(f) for f in self.active
                          if f.kind == "lock_row" and self._match(f, method, path))
                self.active = [f for f in self.active if f.armed]
            return hit
        return lock
