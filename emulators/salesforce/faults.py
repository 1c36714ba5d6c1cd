"""Fault injection, switchable at run time from Python (``emu.faults.add(...)``) or over HTTP
(``POST /_emulator/faults``).

Kinds:
- ``latency``: sleep ``latency_ms`` before handling.
- ``unavailable``: 503 SERVER_UNAVAILABLE.
- ``request_limit``: 403 REQUEST_LIMIT_EXCEEDED ("TotalRequests Limit exceeded.", the daily limit, or ``message``:
  ``errors.CONCURRENT_LIMIT_MSG`` for the concurrent long-running request limit), on the REST API and, with
  ``path_contains="/services/oauth2/token"``, on the sign-in.
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

Fault windows triggered by calls, not by time: ``after=<id>`` keeps a fault waiting (listed, not firing) until
fault ``id`` (which needs ``times``) has used up its hits, then arms it; ``sequence(step, step, ...)`` chains
windows that way (``sequence({"kind": "unavailable", "times": 10}, {"kind": "timeout", "times": 2})``: 10 calls
get 503, the next 2 hang). ``opened_at`` / ``closed_at`` (``time.monotonic()``) tell when a fault armed and when
it was used up or removed; ``done`` says it is over. Removing a fault ends it (what waits on it arms); removing a
waiting fault passes its place in the chain on to what waits on it.
"""
from __future__ import annotations

import itertools
import random
import threading
import time
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
    after: int | None = None  # arm only once fault ``after`` has used up its ``times``
    hits: int = 0
    opened_at: float | None = None  # time.monotonic() when armed
    closed_at: float | None = None  # time.monotonic() when used up or removed
    id: int = field(default_factory=lambda: next(_ids))

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; one of {sorted(KINDS)}")
        if self.phase not in ("before", "after"):
            raise ValueError("phase is 'before' or 'after'")

    @property
    def armed(self) -> bool:
        return self.times is None or self.hits < self.times

    @property
    def done(self) -> bool:
        return self.closed_at is not None

    def to_dict(self) -> dict:
        return asdict(self)


class Faults:
    def __init__(self, rng: random.Random):
        self.rng = rng
        self.active: list[Fault] = []
        self.waiting: list[Fault] = []  # faults with ``after``: armed when that fault ends
        self._ended: set[int] = set()
        self._lock = threading.Lock()  # faults are switched from test/benchmark threads too

    def add(self, kind: str, **kw) -> Fault:
        """Arm a fault, e.g. ``add("unavailable", times=2)``, ``add("lock_row", probability=0.1)``;
        ``add("timeout", times=2, after=first.id)`` arms once ``first`` is used up."""
        fault = Fault(kind=kind, **kw)
        with self._lock:
            if fault.after is None or fault.after in self._ended:
                self._arm(fault)
            else:
                before = next((f for f in (*self.active, *self.waiting) if f.id == fault.after), None)
                if before is None:
                    raise ValueError(f"fault {fault.after} (after) is unknown")
                if before.times is None:
                    raise ValueError(f"fault {fault.after} (after) has no 'times': it would never end")
                self.waiting.append(fault)
            self._prune()
        return fault

    def sequence(self, *steps: dict) -> list[Fault]:
        """Fault windows one after the other, each armed when the one before has used up its ``times``:
        ``sequence({"kind": "unavailable", "times": 10}, {"kind": "timeout", "times": 2, "hang_s": 5})``."""
        if any(s.get("times") is None for s in steps[:-1]):
            raise ValueError("every step but the last needs 'times' (when it ends, the next one starts)")
        out: list[Fault] = []
        for step in steps:
            kw = dict(step)
            out.append(self.add(kw.pop("kind"), **kw, **({"after": out[-1].id} if out else {})))
        return out

    def listed(self) -> list[Fault]:
        """Armed faults, then waiting ones."""
        with self._lock:
            return [*self.active, *self.waiting]

    def remove(self, fault_id: int) -> None:
        with self._lock:
            for f in self.waiting:
                if f.id == fault_id:  # its followers take its place in the chain
                    self.waiting.remove(f)
                    for g in self.waiting:
                        if g.after == fault_id:
                            g.after = f.after
                    f.closed_at = time.monotonic()
                    return
            for f in self.active:
                if f.id == fault_id:
                    self.active.remove(f)
                    self._end(f)
            self._prune()

    def clear(self) -> None:
        with self._lock:
            self.active, self.waiting = [], []
            self._ended.clear()

    def _arm(self, f: Fault) -> None:
        f.opened_at = time.monotonic()
        self.active.append(f)

    def _end(self, f: Fault) -> None:
        f.closed_at = time.monotonic()
        self._ended.add(f.id)
        for g in [g for g in self.waiting if g.after == f.id]:
            self.waiting.remove(g)
            self._arm(g)

    def _prune(self) -> None:
        """Drop used-up faults and arm what waited on them (a follower may be used up already: times=0)."""
        while spent := [f for f in self.active if not f.armed]:
            self.active = [f for f in self.active if f.armed]
            for f in spent:
                self._end(f)

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
            self._prune()
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
                self._prune()
            return hit
        return lock
