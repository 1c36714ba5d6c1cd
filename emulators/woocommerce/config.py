"""Emulator settings (all optional; the defaults match the captured store)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class EmulatorConfig:
    timezone: str = "America/Los_Angeles"
    # "is this request https?": None = from the transport (and X-Forwarded-Proto when trust_forwarded_proto)
    assume_https: bool | None = None
    trust_forwarded_proto: bool = False
    public_url: str | None = None  # home URL used in bodies/links; default: the emulator's own URL
    api_latency_ms: int = 0  # injected REST latency
    api_error_share: float = 0.0  # share of REST requests answered with api_error_status
    api_error_status: int = 503
