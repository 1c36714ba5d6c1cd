from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from aiohttp.test_utils import TestClient, TestServer

from collector.app import create_app
from shared.crypto import Vault
from shared.signing import sign_headers
from shared.stores import StoreManager


@dataclass
class StoreFixture:
    id: str
    secret: str
    wc_webhook_secret: str

    def signed(self, body: bytes, msg_id: str = "msg_test", timestamp: int | None = None) -> dict[str, str]:
        return {**sign_headers(self.secret, msg_id, body, timestamp), "Content-Type": "application/json"}


@pytest.fixture
def stores(db, settings) -> StoreManager:
    return StoreManager(db, Vault.from_settings(settings), cache_ttl_s=0)


@pytest.fixture
async def store(stores) -> StoreFixture:
    row, secret = await stores.add("Test shop", wc_url="https://shop.example",
                                   wc_credentials={"webhook_secret": "fixture-secret"})
    return StoreFixture(row["id"], secret, "fixture-secret")


@pytest.fixture
async def client(db, settings):
    app = create_app(settings, db=db)
    async with TestClient(TestServer(app)) as c:
        yield c


async def count(db, table: str) -> int:
    async with db.connection() as conn:
        return await conn.fetchval(f"SELECT count(*) FROM {table}")  # test helper: fixed table names only


def event(rid: int = 34, *, type_: str = "order.updated", eid: str | None = None, modified: str = "2026-11-22T15:35:24",
          **data) -> dict:
    d = {"id": rid, "status": "processing", "date_modified_gmt": modified, **data}
    if type_.endswith(".deleted"):
        d = {"id": rid}
    return {"id": eid or f"wp_{type_}_{rid}_{modified}", "type": type_, "occurred_at": "2026-11-22T15:35:24Z",
            "resource_id": rid, "data": d}


def body_of(*events: dict) -> bytes:
    return json.dumps({"events": list(events)}).encode()
