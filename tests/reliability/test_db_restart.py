"""Postgres goes away under the collector: 503 with Retry-After, nothing half-stored, recovery without restart."""
from __future__ import annotations

import asyncio

import pytest
from aiohttp.test_utils import TestClient, TestServer

from collector.app import create_app
from shared import migrations
from shared.crypto import Vault
from shared.db import Database
from shared.stores import StoreManager
from tests.integration.conftest import body_of, event

pytestmark = pytest.mark.reliability



async def test_restart_answers_503_then_recovers(own_pg, settings):
    from shared.signing import sign_headers

    dsn, server = own_pg
    db = await Database(dsn, min_size=1, max_size=4, connect_timeout_s=1).open()
    await migrations.migrate(db)
    row, secret = await StoreManager(db, Vault.from_settings(settings)).add("Restart shop")
    sid = row["id"]
    app = create_app(settings, db=db)
    async with TestClient(TestServer(app)) as client:
        async def post(i: int):
            body = body_of(event(i, eid=f"r{i}"))
            return await client.post(f"/v1/stores/{sid}/events", data=body, headers=sign_headers(secret, "m", body))

        assert (await post(1)).status == 202
        await asyncio.to_thread(server.stop)
        r = await post(2)
        assert r.status == 503
        assert r.headers["Retry-After"] == str(settings.retry_after_s)
        assert (await r.json())["error"]["code"] == "database_unavailable"
        assert (await client.get("/readyz")).status == 503
        await asyncio.to_thread(server.start)
        # the pool replaces its dead connections: no restart of the collector
        for _ in range(50):
            r = await post(3)
            if r.status == 202:
                break
            await asyncio.sleep(0.1)
        assert r.status == 202
        assert (await client.get("/readyz")).status == 200
    async with db.connection() as conn:
        stored = sorted(r["sender_id"] for r in await conn.fetch("SELECT sender_id FROM events"))
    await db.close()
    assert stored == ["r1", "r3"]  # the 503 stored nothing
