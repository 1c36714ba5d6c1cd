"""Typed application keys for the collector app (all in one place)."""
from __future__ import annotations

import asyncio

from aiohttp import web

from collector.batcher import GroupCommitter
from collector.console.service import ConsoleManager
from collector.metrics import Metrics
from shared.db import Database
from shared.outbox import OutboxManager
from shared.settings import Settings
from shared.stores import StoreManager

SETTINGS = web.AppKey("settings", Settings)
DB = web.AppKey("db", Database)
STORES = web.AppKey("stores", StoreManager)
OUTBOX = web.AppKey("outbox", OutboxManager)
COMMITTER = web.AppKey("committer", GroupCommitter)
METRICS = web.AppKey("metrics", Metrics)
CONSOLE = web.AppKey("console", ConsoleManager)
BACKGROUND: web.AppKey[set[asyncio.Task[int]]] = web.AppKey("background", set)  # bulk replays (awaited at shutdown)
