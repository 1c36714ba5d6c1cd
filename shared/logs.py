"""Structured logging with loguru.

Every line carries a stable ``action`` (``ingest.accepted``, ``delivery.attempt`` ...). Files are JSON
lines, rotated and retained per settings; lines whose action starts with ``sync.`` also go to
``sync-results.log`` (the store owner's log of sync results). Never pass customer PII or URLs that
carry credentials; :func:`redact_url` strips them.
"""
from __future__ import annotations

import re
import sys
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from loguru import logger

from shared.settings import Settings

if TYPE_CHECKING:
    from loguru import Record

_SENSITIVE_PARAMS = re.compile(
    r"^(consumer_key|consumer_secret|oauth_.*|access_token|client_secret|password|token|key|secret)$", re.I)


def redact_url(url: str) -> str:
    """Drop userinfo and credential query parameters from ``url``."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    query = urlencode([(k, "REDACTED" if _SENSITIVE_PARAMS.match(k) else v)
                       for k, v in parse_qsl(parts.query, keep_blank_values=True)])
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def _human(record: Record) -> str:
    action = str(record["extra"].get("action", "-"))
    extras = " ".join(f"{k}={v}" for k, v in record["extra"].items() if k not in ("action", "process_name"))
    head = "{time:YYYY-MM-DD HH:mm:ss.SSS} | {level:<7} | " + action.replace("{", "{{").replace("}", "}}")
    tail = " | " + extras.replace("{", "{{").replace("}", "}}") if extras else ""
    return head + " | {message}" + tail + "\n{exception}"


def setup_logging(settings: Settings, process_name: str, *, to_files: bool = True) -> None:
    logger.remove()
    logger.configure(extra={"action": "-", "process_name": process_name})
    if settings.log_json:
        logger.add(sys.stderr, level=settings.log_level, serialize=True)
    else:
        logger.add(sys.stderr, level=settings.log_level, format=_human)
    if to_files:
        path = settings.logs_path
        path.mkdir(parents=True, exist_ok=True)
        common: dict[str, Any] = {"serialize": True, "rotation": settings.log_rotation,
                                  "retention": settings.log_retention, "compression": "gz", "enqueue": True,
                                  "level": settings.log_level}
        logger.add(path / f"{process_name}.log", **common)
        logger.add(path / "sync-results.log",
                   filter=lambda r: str(r["extra"].get("action", "")).startswith("sync."), **common)
