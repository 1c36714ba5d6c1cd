"""Typed application keys for the collector app (all in one place)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from collector.batcher import GroupCommitter
    from collector.metrics import Metrics
    from shared.console import ConsoleManager
    from shared.db import Database
    from shared.outbox import OutboxManager
    from shared.settings import Settings
    from shared.stores import StoreManager

SETTINGS = web.AppKey("settings", "Settings")
DB = web.AppKey("db", "Database")
STORES = web.AppKey("stores", "StoreManager")
OUTBOX = web.AppKey("outbox", "OutboxManager")
COMMITTER = web.AppKey("committer", "GroupCommitter")
METRICS = web.AppKey("metrics", "Metrics")
CONSOLE = web.AppKey("console", "ConsoleManager")
BACKGROUND = web.AppKey("background", set)  # running bulk replays (awaited at shutdown)
