"""A master key that cannot decrypt the stored secrets stops the collector's start-up, and a store written later
with another key makes /readyz unavailable instead of reporting ready (issue 16, point 4)."""
from __future__ import annotations

import pytest
from aiohttp.test_utils import TestServer
from cryptography.fernet import Fernet

from collector.app import create_app
from shared.crypto import Vault
from shared.errors import ConfigError
from shared.signing import sign_headers
from shared.stores import StoreManager
from tests.integration.conftest import body_of, event

pytestmark = pytest.mark.integration


def other_key_stores(db) -> StoreManager:
    return StoreManager(db, Vault([Fernet.generate_key().decode()]), cache_ttl_s=0)


async def test_collector_refuses_to_start_with_a_key_that_cannot_decrypt(db, settings):
    await StoreManager(db, Vault.from_settings(settings)).add("Good")
    row, _ = await other_key_stores(db).add("Written with another key")
    server = TestServer(create_app(settings, db=db))
    try:
        with pytest.raises(ConfigError) as exc:
            await server.start_server()
    finally:
        await server.close()
    assert "WOOFORCE_MASTER_KEY" in exc.value.message and row["id"] in exc.value.message
    assert "1 of 2 stores" in exc.value.message


async def test_readyz_reports_a_store_the_key_cannot_decrypt(client, db, store):
    assert (await client.get("/readyz")).status == 200
    row, secret = await other_key_stores(db).add("Added under another key")
    body = body_of(event(1))
    r = await client.post(f"/v1/stores/{row['id']}/events", data=body,
                          headers={**sign_headers(secret, "msg_1", body), "Content-Type": "application/json"})
    assert r.status >= 500  # its signature cannot be verified
    ready = await client.get("/readyz")
    assert ready.status == 503
    err = (await ready.json())["error"]
    assert err["code"] == "master_key_mismatch" and err["stores"] == [row["id"]]
    assert "WOOFORCE_MASTER_KEY" in err["message"]
    await db.execute("delete_store", row["id"])  # gone: the collector is ready again once it looked it up
    await client.post(f"/v1/stores/{row['id']}/events", data=body, headers={"Content-Type": "application/json"})
    assert (await client.get("/readyz")).status == 200
