"""The ingest contract: every answer in the table, and a rejected request stores nothing."""
from __future__ import annotations

import json
import time

import pytest

from tests.integration.conftest import body_of, count, event

pytestmark = pytest.mark.integration


async def test_new_event_is_committed_before_202(client, db, store):
    body = body_of(event(34))
    r = await client.post(f"/v1/stores/{store.id}/events", data=body, headers=store.signed(body))
    assert r.status == 202
    res = await r.json()
    assert res["accepted"] == 1 and res["duplicates"] == 0
    assert res["results"][0]["event_id"].startswith("evt_")
    # the answer came after the commit: a fresh connection sees the row and its outbox entry
    async with db.connection() as conn:
        row = await conn.fetchrow("SELECT e.resource, e.action, e.source, o.status FROM events e "
                                  "JOIN outbox o ON o.head_event_id = e.id WHERE e.id = $1", res["results"][0]["event_id"])
    assert dict(row) == {"resource": "order", "action": "updated", "source": "plugin", "status": "pending"}


async def test_single_event_body_is_accepted(client, db, store):
    body = json.dumps(event(7, type_="customer.created")).encode()
    r = await client.post(f"/v1/stores/{store.id}/events", data=body, headers=store.signed(body))
    assert r.status == 202
    assert await count(db, "events") == 1


async def test_duplicate_answers_200_and_stores_no_copy(client, db, store):
    body = body_of(event(34))
    first = await (await client.post(f"/v1/stores/{store.id}/events", data=body, headers=store.signed(body))).json()
    r = await client.post(f"/v1/stores/{store.id}/events", data=body, headers=store.signed(body, "msg_retry"))
    assert r.status == 200
    again = await r.json()
    assert again["duplicates"] == 1 and again["results"][0]["status"] == "duplicate"
    assert again["results"][0]["event_id"] == first["results"][0]["event_id"]
    assert await count(db, "events") == 1


async def test_batch_mixing_new_and_duplicate(client, db, store):
    a, b = event(1, eid="a"), event(2, eid="b")
    await client.post(f"/v1/stores/{store.id}/events", data=body_of(a), headers=store.signed(body_of(a)))
    body = body_of(a, b, b)
    r = await client.post(f"/v1/stores/{store.id}/events", data=body, headers=store.signed(body))
    assert r.status == 202
    assert [x["status"] for x in (await r.json())["results"]] == ["duplicate", "accepted", "duplicate"]
    assert await count(db, "events") == 2


async def test_outbox_points_at_newest_version_whatever_the_arrival_order(client, db, store):
    new = event(5, eid="new", modified="2026-11-22T10:00:05", status="completed")
    old = event(5, eid="old", modified="2026-11-22T10:00:01", status="pending")
    for ev in (new, old):
        body = body_of(ev)
        assert (await client.post(f"/v1/stores/{store.id}/events", data=body, headers=store.signed(body))).status == 202
    async with db.connection() as conn:
        head = await conn.fetchval("SELECT e.sender_id FROM outbox o JOIN events e ON e.id = o.head_event_id "
                                   "WHERE o.resource_id = 5")
    assert head == "new"
    assert await count(db, "outbox") == 1



@pytest.mark.parametrize("mutate, status, code", [
    (lambda s, b, h: (s, b, {k: v for k, v in h.items() if k != "webhook-signature"}), 401, "missing_signature"),
    (lambda s, b, h: (s, b, {**h, "webhook-signature": "v1,AAAA"}), 401, "bad_signature"),
    (lambda s, b, h: (s, b + b" ", h), 401, "bad_signature"),
    (lambda s, b, h: ("st_00000000000000000000000000", b, h), 404, "unknown_store"),
])
async def test_rejections_store_nothing(client, db, store, mutate, status, code):
    body = body_of(event(34))
    path_store, body, headers = mutate(store.id, body, store.signed(body))
    r = await client.post(f"/v1/stores/{path_store}/events", data=body, headers=headers)
    assert r.status == status
    assert (await r.json())["error"]["code"] == code
    assert await count(db, "events") == 0 and await count(db, "outbox") == 0


@pytest.mark.parametrize("offset_s, code", [(-301, "stale_timestamp"), (301, "future_timestamp")])
async def test_timestamp_tolerance(client, db, store, offset_s, code):
    body = body_of(event(34))
    r = await client.post(f"/v1/stores/{store.id}/events", data=body,
                          headers=store.signed(body, timestamp=int(time.time()) + offset_s))
    assert r.status == 401 and (await r.json())["error"]["code"] == code
    ok = await client.post(f"/v1/stores/{store.id}/events", data=body,
                           headers=store.signed(body, timestamp=int(time.time()) + offset_s // 2))
    assert ok.status == 202


async def test_body_over_limit_is_413(client, db, store, settings):
    body = body_of(event(34, note="x" * settings.max_body_bytes))
    r = await client.post(f"/v1/stores/{store.id}/events", data=body, headers=store.signed(body))
    assert r.status == 413 and (await r.json())["error"]["code"] == "body_too_large"
    assert await count(db, "events") == 0


@pytest.mark.parametrize("raw", [b"{not json", b"\xff\xfe\x00", b"NaN", b'{"events": [1, 2,]}', b"[" * 100_000])
async def test_invalid_json_is_400(client, db, store, raw):
    r = await client.post(f"/v1/stores/{store.id}/events", data=raw, headers=store.signed(raw))
    assert r.status == 400 and (await r.json())["error"]["code"] == "invalid_json"
    assert await count(db, "events") == 0


@pytest.mark.parametrize("payload, field", [
    ({"events": []}, "events"),
    ({"events": [{**event(1), "type": "order.exploded"}]}, "events[0].type"),
    ({"events": [{**event(1), "resource_id": "1"}]}, "events[0].resource_id"),
    ({"events": [{**event(1), "occurred_at": "2026-11-22T15:35:24"}]}, "events[0].occurred_at"),
    ({"events": [{**event(1), "data": {"id": 2}}]}, "events[0]"),
    ({"events": [{**event(1), "extra": 1}]}, "events[0].extra"),
    ({"events": [event(1), {**event(2), "id": ""}]}, "events[1].id"),
    ({"events": [event(1, note="a\u0000b")]}, "events[0].data"),
    ({"events": [event(1, date_modified_gmt="yesterday")]}, "events[0].data.date_modified_gmt"),
    ({"events": [event(i, eid=f"e{i}") for i in range(1, 102)]}, "events"),
    ([1, 2, 3], "body"),
])
async def test_schema_violation_is_422_naming_the_field(client, db, store, payload, field):
    body = json.dumps(payload).encode()
    r = await client.post(f"/v1/stores/{store.id}/events", data=body, headers=store.signed(body))
    assert r.status == 422
    err = (await r.json())["error"]
    assert err["code"] == "invalid_event"
    assert any(f["field"] == field for f in err["fields"]), err["fields"]
    assert await count(db, "events") == 0


async def test_one_bad_event_rejects_the_whole_batch(client, db, store):
    body = json.dumps({"events": [event(1), {**event(2), "type": "nope"}]}).encode()
    r = await client.post(f"/v1/stores/{store.id}/events", data=body, headers=store.signed(body))
    assert r.status == 422
    assert await count(db, "events") == 0


async def test_rotation_keeps_two_secrets_valid(client, db, store, stores):
    new_secret = await stores.rotate_secret(store.id, grace_s=3600)
    from shared.signing import sign_headers

    for i, secret in enumerate((store.secret, new_secret)):
        body = body_of(event(100 + i, eid=f"rot{i}"))
        r = await client.post(f"/v1/stores/{store.id}/events", data=body, headers=sign_headers(secret, "m", body))
        assert r.status == 202, await r.text()
    # a grace of 0 retires the old secrets at once
    newest = await stores.rotate_secret(store.id, grace_s=0)
    body = body_of(event(200, eid="after"))
    r = await client.post(f"/v1/stores/{store.id}/events", data=body, headers=sign_headers(new_secret, "m", body))
    assert r.status == 401
    r = await client.post(f"/v1/stores/{store.id}/events", data=body, headers=sign_headers(newest, "m", body))
    assert r.status == 202


async def test_cross_store_signature_is_refused(client, db, store, stores):
    other, _ = await stores.add("Other shop")
    body = body_of(event(1))
    r = await client.post(f"/v1/stores/{other['id']}/events", data=body, headers=store.signed(body))
    assert r.status == 401
    assert await count(db, "events") == 0


async def test_disabled_store_is_refused(client, db, store, stores):
    await stores.set_status(store.id, "disabled")
    body = body_of(event(1))
    r = await client.post(f"/v1/stores/{store.id}/events", data=body, headers=store.signed(body))
    assert r.status == 403 and (await r.json())["error"]["code"] == "store_disabled"


async def test_ping_and_resync(client, db, store):
    body = b'{"ping": true}'
    r = await client.post(f"/v1/stores/{store.id}/ping", data=body, headers=store.signed(body))
    assert r.status == 200 and (await r.json())["store_id"] == store.id
    body = json.dumps({"since": "2026-01-01T00:00:00Z", "resources": ["orders"]}).encode()
    r = await client.post(f"/v1/stores/{store.id}/resync", data=body, headers=store.signed(body))
    assert r.status == 202
    job_id = (await r.json())["job_id"]
    async with db.connection() as conn:
        job = await conn.fetchrow("SELECT kind, params, status FROM jobs WHERE id = $1", job_id)
    assert job["kind"] == "backfill" and job["params"]["resources"] == ["orders"] and job["status"] == "requested"
    bad = json.dumps({"resources": ["coupons"]}).encode()
    r = await client.post(f"/v1/stores/{store.id}/resync", data=bad, headers=store.signed(bad))
    assert r.status == 422
    r = await client.post(f"/v1/stores/{store.id}/resync", data=body, headers={})
    assert r.status == 401


async def test_health_endpoints(client, store):
    assert (await client.get("/healthz")).status == 200
    r = await client.get("/readyz")
    assert r.status == 200 and (await r.json())["status"] == "ok"
    body = body_of(event(1))
    await client.post(f"/v1/stores/{store.id}/events", data=body, headers=store.signed(body))
    r = await client.post(f"/v1/stores/{store.id}/events", data=body, headers={})  # unsigned: 401
    assert r.status == 401
    metrics = await (await client.get("/metrics")).text()
    assert 'wooforce_ingest_events_total{result="accepted",source="plugin"} 1.0' in metrics
    assert 'wooforce_ingest_requests_total{endpoint="events",status="202"} 1.0' in metrics
    assert 'wooforce_ingest_requests_total{endpoint="events",status="401"} 1.0' in metrics
    assert "/healthz" not in metrics and 'endpoint="metrics"' not in metrics  # only the ingest API is counted


async def test_unknown_route_and_method_get_json_errors(client, store):
    r = await client.get(f"/v1/stores/{store.id}/events")
    assert r.status == 405 and (await r.json())["error"]["code"] == "method_not_allowed"
    r = await client.post("/v1/nothing-here")
    assert r.status == 404 and "error" in await r.json()
