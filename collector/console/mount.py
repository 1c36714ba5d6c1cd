"""Mounts the support console and the admin API on the collector (:func:`setup_console`)."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from aiohttp import web

from collector import keys
from collector.api.handlers import create_api_app
from collector.console.service import ConsoleManager
from collector.console.views import create_console_app


def setup_console(app: web.Application) -> None:
    app[keys.BACKGROUND] = set()
    app.cleanup_ctx.append(_console_ctx)
    app.add_subapp("/console", create_console_app())
    app.add_subapp("/api/v1", create_api_app())


async def _console_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    app[keys.CONSOLE] = ConsoleManager(app[keys.DB], session_ttl_s=settings.console_session_ttl_s,
                                       replay_batch=settings.console_replay_batch, stores=app[keys.STORES],
                                       mapping_file=settings.mapping_file)
    yield
    background = app[keys.BACKGROUND]
    tasks = list(background)
    if tasks:  # bulk replays in flight: let them finish their batches (each batch is one transaction)
        await asyncio.wait(tasks, timeout=10)
        for t in tasks:
            t.cancel()
