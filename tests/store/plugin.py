"""The Wooforce plugin in the real store: activated, pointed at a collector, and put back (deactivated, settings and
spool gone) so that the session's other cases see a store without it. Also a collector on a fixed port that can be
stopped and started again (an outage the plugin must ride out), and the plugin's events as the collector stored
them."""
from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp.test_utils import TestServer

from collector.app import create_app
from tests.store.realstore import RealStore
from tests.support.procs import free_port


async def php(store: RealStore, code: str) -> str:
    """PHP inside the store (WordPress loaded, a request of its own: its shutdown hooks run) off the event loop."""
    return await asyncio.to_thread(store.php_eval, code)


async def activate(store: RealStore, collector_url: str, store_id: str, secret: str) -> None:
    """Activate Wooforce (its activation hook: the spool table and the minute sweep) and configure it."""
    await asyncio.to_thread(store.php_install, "wooforce")
    settings = json.dumps({"collector_url": collector_url.rstrip("/"), "store_id": store_id, "secret": secret})
    await php(store, f"update_option('wooforce_settings', json_decode('{settings}', true), true);"
                     "delete_option('wooforce_status');")


async def deactivate(store: RealStore) -> None:
    """Wooforce off again, its settings, status and spool rows gone (the table stays, as a deactivation leaves it)."""
    await php(store, "require_once ABSPATH . 'wp-admin/includes/plugin.php';"
                     "deactivate_plugins('wooforce/wooforce.php');"
                     "delete_option('wooforce_settings'); delete_option('wooforce_status');"
                     "global $wpdb; $wpdb->query(\"DELETE FROM {$wpdb->prefix}wooforce_spool\");")


class Collector:
    """The real collector app on one port of 127.0.0.1 for the whole case: ``stop()`` is an outage (connections
    refused), ``start()`` brings it back at the same URL."""

    def __init__(self, settings: Any, db: Any) -> None:
        self.settings, self.db = settings, db
        self.port = free_port()
        self.server: TestServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self.server = TestServer(create_app(self.settings, db=self.db), host="127.0.0.1", port=self.port)
        await self.server.start_server()

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.close()
            self.server = None


async def plugin_events(db: Any, store_id: str) -> list[dict[str, Any]]:
    """The plugin's events the collector stored for the store, in arrival order."""
    async with db.connection() as conn:
        return [dict(r) for r in await conn.fetch(
            "SELECT resource, resource_id, action, sender_id, seq FROM events WHERE store_id = $1 "
            "AND source = 'plugin' ORDER BY seq", store_id)]


def per_entity(events: list[dict[str, Any]]) -> Counter[tuple[str, int]]:
    return Counter((e["resource"], int(e["resource_id"])) for e in events)


async def wait_for_events(db: Any, store_id: str, expected: Counter[tuple[str, int]], store: RealStore, *,
                          timeout_s: float, what: str,
                          tick: Callable[[], Awaitable[None]] | None = None) -> float:
    """Kick the store's cron runner until the plugin's stored events count exactly ``expected`` per entity; fails at
    once when an entity has more than expected or one not expected at all. Seconds it took."""
    t0 = time.monotonic()
    deadline = t0 + timeout_s
    while True:
        got = per_entity(await plugin_events(db, store_id))
        extra = {k: (n, expected.get(k, 0)) for k, n in got.items() if n > expected.get(k, 0)}
        assert not extra, f"{what}: more events than changes (entity: (stored, changes)): {extra}"
        if got == expected:
            return time.monotonic() - t0
        if time.monotonic() > deadline:
            missing = {k: (got.get(k, 0), n) for k, n in expected.items() if got.get(k, 0) != n}
            raise AssertionError(f"{what}: after {timeout_s:.0f} s, (stored, changes) per entity: {missing}")
        if tick is not None:
            await tick()
        await asyncio.to_thread(store.run_cron)


async def wait_cron(store: RealStore, *, runs: int = 1) -> None:
    """``runs`` full passes of the store's cron runner (WP-Cron events and Action Scheduler) from now."""
    await asyncio.to_thread(store.run_cron, runs=runs)
