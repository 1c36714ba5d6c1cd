"""aiohttp application factory of the WooCommerce emulator."""
from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from . import keys as K
from .api import count_requests, setup_routes
from .auth import KeyRing
from .config import EmulatorConfig
from .control import setup_control_routes
from .delivery import Dispatcher
from .stats import Stats
from .store import Store
from .traffic import TrafficGenerator


def create_app(store: Store | None = None, config: EmulatorConfig | None = None, keyring: KeyRing | None = None) -> web.Application:
    config = config or EmulatorConfig()
    store = store or Store(tz=config.timezone)
    app = web.Application(middlewares=[count_requests], client_max_size=32 * 1024 * 1024)
    app[K.CONFIG] = config
    app[K.STORE] = store
    app[K.KEYRING] = keyring or KeyRing()
    app[K.STATS] = Stats()
    app[K.DISPATCHER] = Dispatcher(store.base_url, store.clock)
    app[K.TRAFFIC] = TrafficGenerator(store)
    app.cleanup_ctx.append(_delivery_ctx)
    setup_control_routes(app)
    setup_routes(app)
    return app


async def _delivery_ctx(app: web.Application) -> AsyncIterator[None]:
    dispatcher, store = app[K.DISPATCHER], app[K.STORE]
    await dispatcher.start()
    store.listeners.append(dispatcher.on_change)
    yield
    await app[K.TRAFFIC].stop()
    store.listeners.remove(dispatcher.on_change)
    await dispatcher.stop()
