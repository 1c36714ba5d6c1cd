"""Request counters (and optional injected REST faults) of the emulator."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class Stats:
    requests_total: int = 0
    by_path: Counter = field(default_factory=Counter)  # "GET /wp-json/wc/v3/orders" (ids collapsed to {id})
    by_status: Counter = field(default_factory=Counter)
    auth_failures: int = 0

    def as_dict(self) -> dict:
        return {"requests_total": self.requests_total, "requests_by_path": dict(self.by_path),
                "requests_by_status": {str(k): v for k, v in self.by_status.items()}, "auth_failures": self.auth_failures}

    def reset(self) -> None:
        self.requests_total = 0
        self.by_path.clear()
        self.by_status.clear()
        self.auth_failures = 0
