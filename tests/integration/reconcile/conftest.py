"""Fixtures for the reconciler tests: the WooCommerce emulator as a real HTTP server, a store pointing at it."""
from __future__ import annotations

import ssl
from dataclasses import dataclass

import pytest

from agent.reconcile.reconciler import Reconciler
from emulators.woocommerce import WooCommerceEmulator
from shared.settings import Settings

FAST = dict(wc_max_retries=0, wc_retry_backoff_s=0.0, wc_timeout_s=10.0, reconcile_overlap_s=60,
            customer_sweep_pages_per_run=0, id_sweep_ids_per_run=0)


@dataclass
class Shop:
    wc: WooCommerceEmulator
    store_id: str
    ck: str
    cs: str

    @property
    def store(self):
        return self.wc.store

    def requests(self, path: str = "") -> int:
        if not path:
            return self.wc.requests_total
        return self.wc.requests_by_path.get(f"GET /wp-json/wc/v3/{path}", 0)


def tuned(settings: Settings, **kw) -> Settings:
    return settings.model_copy(update={**FAST, **kw})


@pytest.fixture
async def wc():
    async with WooCommerceEmulator() as emulator:
        yield emulator


@pytest.fixture
async def shop(wc, stores) -> Shop:
    ck, cs = wc.add_api_key("read")
    row, _ = await stores.add("Emulated shop", wc_url=wc.url,
                              wc_credentials={"consumer_key": ck, "consumer_secret": cs, "auth": "auto"})
    return Shop(wc, row["id"], ck, cs)


@pytest.fixture
def make_reconciler(db, stores, settings):
    def make(**kw) -> Reconciler:
        ssl_ctx = kw.pop("ssl", None)
        return Reconciler(db, stores, tuned(settings, **kw), ssl=ssl_ctx)
    return make


def ca_context(wc: WooCommerceEmulator) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(wc.ca_path))


async def heads(db, store_id: str, resource: str) -> dict[int, tuple]:
    """{resource_id: (head_version, action, source)} of the outbox."""
    async with db.connection() as conn:
        rows = await conn.fetch(
            "SELECT o.resource_id, o.head_version, e.action, e.source FROM outbox o JOIN events e "
            "ON e.id = o.head_event_id WHERE o.store_id = $1 AND o.resource = $2", store_id, resource)
    return {r["resource_id"]: (r["head_version"], r["action"], r["source"]) for r in rows}


async def event_count(db, store_id: str) -> int:
    async with db.connection() as conn:
        return await conn.fetchval("SELECT count(*) FROM events WHERE store_id = $1", store_id)
