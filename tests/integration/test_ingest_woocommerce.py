"""Native WooCommerce webhooks, replayed byte for byte from the deliveries captured on WooCommerce 10.0.2."""
from __future__ import annotations

import json

import pytest

from shared.signing import wc_signature
from tests import fixtures
from tests.integration.conftest import count

pytestmark = pytest.mark.integration

INDEX = fixtures.load("woocommerce/webhooks/index.json")
DELIVERIES = [d for d in INDEX["deliveries"] if d["topic"] != "ping"]
PINGS = [d for d in INDEX["deliveries"] if d["topic"] == "ping"]


def delivery(name: str) -> dict:
    return fixtures.load(f"woocommerce/webhooks/{name}")


async def post(client, store_id: str, d: dict):
    headers = {k: v for k, v in d["headers"].items() if k not in ("Host", "Content-Length", "Connection")}
    return await client.post(f"/v1/stores/{store_id}/woocommerce", data=d["raw_body"].encode(), headers=headers)


async def test_every_captured_delivery_verifies_and_lands(client, db, store):
    synced = [d for d in DELIVERIES if not d["topic"].startswith("coupon.")]
    for meta in synced:
        r = await post(client, store.id, delivery(meta["file"]))
        assert r.status in (200, 202), (meta["file"], await r.text())
    async with db.connection() as conn:
        rows = await conn.fetch("SELECT resource, resource_id, action FROM events")
    # every entity that had a delivery is in the outbox exactly once
    entities = {(m["topic"].split(".")[0], m["resource_id"]) for m in synced}
    assert {(r["resource"], r["resource_id"]) for r in rows} == entities
    assert await count(db, "outbox") == len(entities)


async def test_created_and_updated_with_identical_bodies_store_one_event(client, db, store):
    created, updated = delivery("order.created-1.json"), delivery("order.updated-1.json")
    assert json.loads(created["raw_body"]) == json.loads(updated["raw_body"])
    r1, r2 = await post(client, store.id, created), await post(client, store.id, updated)
    assert (r1.status, r2.status) == (202, 200)
    assert (await r2.json())["results"][0]["status"] == "duplicate"
    assert await count(db, "events") == 1


async def test_trash_delivery_carries_only_the_id_and_becomes_trashed(client, db, store):
    d = delivery("order.deleted-1.json")
    assert json.loads(d["raw_body"]) == {"id": 39}
    assert (await post(client, store.id, d)).status == 202
    async with db.connection() as conn:
        row = await conn.fetchrow("SELECT resource, action, resource_id FROM events")
    assert dict(row) == {"resource": "order", "action": "trashed", "resource_id": 39}
    # the same delivery again is a duplicate
    assert (await post(client, store.id, d)).status == 200


async def test_reserialised_json_does_not_verify(client, db, store):
    d = delivery("order.created-1.json")
    assert "\\/" in d["raw_body"] or "\\u" in d["raw_body"]
    d = {**d, "raw_body": json.dumps(json.loads(d["raw_body"]))}
    r = await post(client, store.id, d)
    assert r.status == 401 and (await r.json())["error"]["code"] == "bad_signature"
    assert await count(db, "events") == 0


@pytest.mark.parametrize("meta", PINGS[:3], ids=lambda m: m["file"])
async def test_unsigned_ping_is_answered_200_and_stores_nothing(client, db, store, meta):
    r = await post(client, store.id, delivery(meta["file"]))
    assert r.status == 200 and (await r.json())["ping"] is True
    assert await count(db, "events") == 0


async def test_unsynced_topic_is_acknowledged_but_not_stored(client, db, store):
    r = await post(client, store.id, delivery("coupon.created-1.json"))
    assert r.status == 200 and (await r.json())["ignored"] is True
    assert await count(db, "events") == 0


async def test_wrong_secret_and_missing_signature_are_401(client, db, store, stores):
    d = delivery("product.created-1.json")
    forged = {**d, "headers": {**d["headers"], "X-WC-Webhook-Signature": wc_signature("wrong", d["raw_body"].encode())}}
    assert (await post(client, store.id, forged)).status == 401
    unsigned = {**d, "headers": {k: v for k, v in d["headers"].items() if k != "X-WC-Webhook-Signature"}}
    r = await post(client, store.id, unsigned)
    assert r.status == 401 and (await r.json())["error"]["code"] == "missing_signature"
    other, _ = await stores.add("No webhook secret")
    r = await post(client, other["id"], d)
    assert r.status == 401 and (await r.json())["error"]["code"] == "no_webhook_secret"
    assert await count(db, "events") == 0


async def test_signed_but_malformed_body_is_422(client, db, store):
    raw = b'{"name": "no id"}'
    headers = {"X-WC-Webhook-Topic": "order.updated", "X-WC-Webhook-Signature": wc_signature("fixture-secret", raw)}
    r = await client.post(f"/v1/stores/{store.id}/woocommerce", data=raw, headers=headers)
    assert r.status == 422 and (await r.json())["error"]["fields"][0]["field"] == "body.id"
    assert await count(db, "events") == 0
