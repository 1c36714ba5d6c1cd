"""The plugin's sync buttons (issue 17): an entity's sync state and Sync now over signed requests, per store; and the
store-wide extras of /health (the last reconcile, the console's link)."""
from __future__ import annotations

import json
from datetime import UTC, datetime

from aiohttp.test_utils import TestClient, TestServer

from collector.app import create_app
from shared.signing import sign_headers
from tests.integration.conftest import body_of, event

SF_ERROR = json.dumps([{
    "sobject": "Order", "key": "k", "code": "REQUIRED_FIELD_MISSING", "dependency": False,
    "message": json.dumps([{"statusCode": "REQUIRED_FIELD_MISSING", "message": "Required fields are missing: "
                            "[EffectiveDate]", "fields": ["EffectiveDate"]}])}])


async def signed_post(client, store, path: str, body: bytes = b"{}", msg_id: str = "msg_test"):
    return await client.post(f"/v1/stores/{store.id}/{path}", data=body, headers=store.signed(body, msg_id=msg_id))


async def state(client, store, resource: str, rid: int) -> dict:
    r = await signed_post(client, store, f"entities/{resource}/{rid}/state")
    assert r.status == 200, await r.text()
    return await r.json()


async def sync(client, store, resource: str, rid: int, msg_id: str = "msg_sync") -> dict:
    r = await signed_post(client, store, f"entities/{resource}/{rid}/sync", msg_id=msg_id)
    assert r.status == 202, await r.text()
    return await r.json()


async def send(client, store, rid: int) -> None:
    body = body_of(event(rid))
    r = await client.post(f"/v1/stores/{store.id}/events", data=body, headers=store.signed(body, msg_id=f"e{rid}"))
    assert r.status == 202


async def set_row(db, store, rid: int, sql: str, *args) -> None:
    async with db.connection() as conn:
        await conn.execute(f"UPDATE outbox SET {sql} WHERE store_id = $1 AND resource_id = $2", store.id, rid, *args)


async def test_each_state_with_the_error_as_text(client, db, store):
    assert (await state(client, store, "order", 41))["state"] == "not_synced"
    await send(client, store, 41)
    s = await state(client, store, "order", 41)
    assert (s["state"], s["status"], s["error"], s["sf_id"]) == ("waiting", "pending", None, None)

    await set_row(db, store, 41, "status = 'retrying', attempts = 2, available_at = now() + interval '5 minutes', "
                  "last_error_code = 'REQUIRED_FIELD_MISSING', last_error = $3", SF_ERROR)
    s = await state(client, store, "order", 41)
    assert (s["state"], s["attempts"], s["error_code"]) == ("waiting", 2, "REQUIRED_FIELD_MISSING")
    assert s["error"] == "REQUIRED_FIELD_MISSING: Required fields are missing: [EffectiveDate] (fields: EffectiveDate)"
    assert s["retry_at"] and s["errors"][0]["sobject"] == "Order"

    await set_row(db, store, 41, "status = 'dead'")
    s = await state(client, store, "order", 41)
    assert s["state"] == "failed" and s["error"].startswith("REQUIRED_FIELD_MISSING: ") and s["retry_at"] is None

    at = datetime(2026, 11, 22, 15, 40, tzinfo=UTC)
    await set_row(db, store, 41, "status = 'delivered', sf_id = '801000000000001AAA', delivered_at = $3, "
                  "last_error = NULL, last_error_code = NULL", at)
    s = await state(client, store, "order", 41)
    assert (s["state"], s["sf_id"], s["delivered_at"], s["error"]) == (
        "synced", "801000000000001AAA", "2026-11-22T15:40:00+00:00", None)


async def test_sync_now_makes_the_row_due_again(client, db, store):
    await send(client, store, 42)
    await set_row(db, store, 42, "status = 'dead', attempts = 8, available_at = now() + interval '1 day'")
    out = await sync(client, store, "order", 42)
    assert (out["queued"], out["job_id"], out["state"]["state"], out["state"]["attempts"]) == (
        "outbox", None, "waiting", 0)
    async with db.connection() as conn:
        row = await conn.fetchrow("SELECT status, available_at <= now() AS due FROM outbox WHERE store_id = $1",
                                  store.id)
        assert (row["status"], row["due"]) == ("pending", True)
        assert await conn.fetchval("SELECT count(*) FROM jobs") == 0
    await set_row(db, store, 42, "status = 'delivered', sf_id = '801000000000002AAA', delivered_at = now()")
    out = await sync(client, store, "order", 42, msg_id="msg_again")
    assert out["state"]["status"] == "pending" and out["state"]["sf_id"] == "801000000000002AAA"


async def test_sync_now_of_an_entity_without_a_row_is_a_sync_job(client, db, store):
    out = await sync(client, store, "product", 77)
    assert out["queued"] == "job" and out["state"]["state"] == "waiting"
    job = await db.fetchrow("job_get", out["job_id"])
    assert (job["kind"], job["params"], job["status"], job["requested_by"]) == (
        "sync", {"resource": "product", "resource_id": 77}, "requested", "store:plugin")
    again = await sync(client, store, "product", 77, msg_id="msg_click2")  # a second click: the open job
    assert again["job_id"] == out["job_id"]
    async with db.connection() as conn:
        assert await conn.fetchval("SELECT count(*) FROM jobs") == 1
        await conn.execute("UPDATE jobs SET status = 'failed', error = 'product 77 does not exist in the store' "
                           "WHERE id = $1", out["job_id"])
    s = await state(client, store, "product", 77)
    assert (s["state"], s["error"], s["job"]["status"]) == ("failed", "product 77 does not exist in the store",
                                                            "failed")
    replay = await sync(client, store, "product", 77)  # the first request replayed: the job it made
    assert replay["job_id"] == out["job_id"]
    newer = await sync(client, store, "product", 77, msg_id="msg_click3")
    assert newer["job_id"] != out["job_id"] and newer["state"]["state"] == "waiting"


async def test_states_of_a_list_in_one_call(client, db, store):
    await send(client, store, 43)
    body = json.dumps({"entities": [{"resource": "order", "id": 43}, {"resource": "order", "id": 44},
                                    {"resource": "customer", "id": 43}]}).encode()
    r = await signed_post(client, store, "entities/state", body)
    assert r.status == 200
    got = (await r.json())["entities"]
    assert [(e["resource"], e["id"], e["state"]) for e in got] == [
        ("order", 43, "waiting"), ("order", 44, "not_synced"), ("customer", 43, "not_synced")]
    for bad in ({"entities": []}, {"entities": [{"resource": "coupon", "id": 1}]},
                {"entities": [{"resource": "order", "id": 0}]}, {"entities": [{"resource": "order", "id": True}]},
                {"entities": [{"resource": "order", "id": i} for i in range(1, 102)]}, [1]):
        r = await signed_post(client, store, "entities/state", json.dumps(bad).encode())
        assert r.status == 422, bad
    for path in ("entities/coupon/1/state", "entities/order/abc/sync", "entities/order/0/sync"):
        r = await signed_post(client, store, path)
        assert r.status == 422, path
    async with db.connection() as conn:
        assert await conn.fetchval("SELECT count(*) FROM jobs") == 0


async def test_signature_required_and_stores_isolated(client, db, store, stores):
    await send(client, store, 45)
    for path in ("entities/order/45/state", "entities/order/45/sync", "entities/state"):
        r = await client.post(f"/v1/stores/{store.id}/{path}", data=b"{}",
                              headers={"Content-Type": "application/json"})
        assert r.status == 401, path
    other, other_secret = await stores.add("Other shop")
    wrong = {**sign_headers(other_secret, "msg_x", b"{}"), "Content-Type": "application/json"}
    r = await client.post(f"/v1/stores/{store.id}/entities/order/45/sync", data=b"{}", headers=wrong)
    assert r.status == 401
    await set_row(db, store, 45, "status = 'delivered', sf_id = '801000000000003AAA', delivered_at = now()")

    def signed_other(body: bytes = b"{}", msg_id: str = "msg_o") -> dict[str, str]:
        return {**sign_headers(other_secret, msg_id, body), "Content-Type": "application/json"}

    r = await client.post(f"/v1/stores/{other['id']}/entities/order/45/state", data=b"{}", headers=signed_other())
    s = await r.json()
    assert (s["state"], s["sf_id"]) == ("not_synced", None)  # store A's order 45 is not store B's
    r = await client.post(f"/v1/stores/{other['id']}/entities/order/45/sync", data=b"{}", headers=signed_other())
    assert r.status == 202 and (await r.json())["queued"] == "job"
    async with db.connection() as conn:
        assert await conn.fetchval("SELECT status FROM outbox WHERE store_id = $1", store.id) == "delivered"
        assert await conn.fetchval("SELECT store_id FROM jobs") == other["id"]
    assert (await state(client, store, "order", 45))["state"] == "synced"  # B's job is not A's state


async def test_health_gives_the_last_reconcile_and_the_console_link(db, store, settings):
    app = create_app(settings.model_copy(update={"public_url": "https://collector.example"}), db=db)
    async with TestClient(TestServer(app)) as client:
        h = await (await signed_post(client, store, "health")).json()
        assert h["last_reconcile"] is None
        assert h["console_url"] == f"https://collector.example/console/outbox?store={store.id}"
        await db.execute("reconcile_insert_run", "run_00000000000000000000000001", store.id,
                         datetime(2026, 11, 22, 15, 0, tzinfo=UTC), 120, "auth_failed", 1, {}, {}, {},
                         "401 woocommerce_rest_cannot_view", None)
        h = await (await signed_post(client, store, "health", msg_id="msg_h2")).json()
        assert h["last_reconcile"] == {"started_at": "2026-11-22T15:00:00+00:00", "outcome": "auth_failed",
                                       "error": "401 woocommerce_rest_cannot_view"}
