"""Typed aiohttp app keys of the Salesforce emulator app."""
from __future__ import annotations

from aiohttp import web

from .faults import Faults
from .state import OrgState

ORG = web.AppKey("org", OrgState)
FAULTS = web.AppKey("faults", Faults)
SETTINGS = web.AppKey("settings", dict)  # latency_ms, instance_url, bulk_chunk_delay_s
TASKS = web.AppKey("tasks", set)
STOPPING = web.AppKey("stopping", object)  # asyncio.Event set on shutdown (releases hung requests)
