"""The plugin's signed status endpoints (issue 21): /health (the store's whole path to Salesforce, link by link, from
what the delivery agent and the reconciler recorded) and /jobs/{id} (its resync's progress)."""
from __future__ import annotations

import json

from tests.integration.conftest import body_of, event

SF = {"auth": "client_credentials", "instance_url": "https://org.example.my.salesforce.com",
      "client_id": "cid", "client_secret": "csecret"}


async def health(client, store) -> dict:
    body = b"{}"
    r = await client.post(f"/v1/stores/{store.id}/health", data=body, headers=store.signed(body))
    assert r.status == 200, await r.text()
    out = await r.json()
    out["by_id"] = {c["id"]: c for c in out["checks"]}
    return out


async def test_health_follows_the_salesforce_connection_the_agent_recorded(client, db, store, stores):
    h = await health(client, store)
    assert h["connected"] is False
    assert [c["id"] for c in h["checks"]] == ["signature", "salesforce", "woocommerce_keys", "webhooks", "delivery"]
    assert h["by_id"]["signature"]["status"] == "ok"
    assert h["by_id"]["salesforce"]["status"] == "not_configured"
    assert h["by_id"]["woocommerce_keys"]["status"] == "not_configured"  # a webhook secret, but no REST keys
    assert h["by_id"]["webhooks"]["status"] == "configured"

    body = body_of(event(7))
    r = await client.post(f"/v1/stores/{store.id}/events", data=body, headers=store.signed(body))
    assert r.status == 202
    h = await health(client, store)
    assert h["by_id"]["delivery"] == {"id": "delivery", "status": "waiting", "backlog": 1, "dead": 0,
                                      "last_delivered_at": None,
                                      "oldest_waiting_s": h["by_id"]["delivery"]["oldest_waiting_s"]}

    await stores.set_salesforce(store.id, SF)
    h = await health(client, store)
    assert h["by_id"]["salesforce"]["status"] == "not_tried" and h["connected"] is False
    assert h["by_id"]["delivery"]["status"] == "waiting"

    await db.execute("sf_connection_record", [store.id], ["invalid_grant"], ["authentication failure"])
    h = await health(client, store)
    sf = h["by_id"]["salesforce"]
    assert (sf["status"], sf["error_code"], sf["error"]) == ("failing", "invalid_grant", "authentication failure")
    assert sf["failing_since"] and h["connected"] is False

    await db.execute("sf_connection_record", [store.id], [None], [None])
    async with db.connection() as conn:
        await conn.execute("UPDATE outbox SET status = 'delivered', delivered_at = now(), updated_at = now() "
                           "WHERE store_id = $1", store.id)
    h = await health(client, store)
    assert h["connected"] is True and h["by_id"]["salesforce"]["status"] == "ok"
    assert h["by_id"]["delivery"]["status"] == "ok" and h["by_id"]["delivery"]["backlog"] == 0
    assert h["by_id"]["delivery"]["last_delivered_at"]


async def test_health_reports_rest_keys_and_dead_letters(client, db, store, stores):
    await stores.set_woocommerce(store.id, url="https://shop.example", consumer_key="ck_x", consumer_secret="cs_x",
                                 webhook_secret=None, auth="basic")
    assert (await health(client, store))["by_id"]["woocommerce_keys"]["status"] == "unknown"
    await db.execute("update_store_keys_status", store.id, "failed", "401 woocommerce_rest_cannot_view")
    keys = (await health(client, store))["by_id"]["woocommerce_keys"]
    assert (keys["status"], keys["error"]) == ("failed", "401 woocommerce_rest_cannot_view")

    body = body_of(event(8))
    await client.post(f"/v1/stores/{store.id}/events", data=body, headers=store.signed(body))
    async with db.connection() as conn:
        await conn.execute("UPDATE outbox SET status = 'dead' WHERE store_id = $1", store.id)
    delivery = (await health(client, store))["by_id"]["delivery"]
    assert (delivery["status"], delivery["dead"], delivery["backlog"]) == ("dead", 1, 0)


async def test_health_and_jobs_are_signed_and_per_store(client, db, store, stores):
    for path in ("health", "jobs/job_00000000000000000000000000"):
        r = await client.post(f"/v1/stores/{store.id}/{path}", data=b"{}", headers={"Content-Type": "application/json"})
        assert r.status == 401, path
    body = json.dumps({"resources": ["orders"]}).encode()
    r = await client.post(f"/v1/stores/{store.id}/resync", data=body, headers=store.signed(body, msg_id="msg_r1"))
    job_id = (await r.json())["job_id"]

    r = await client.post(f"/v1/stores/{store.id}/jobs/{job_id}", data=b"{}", headers=store.signed(b"{}"))
    assert r.status == 200
    job = await r.json()
    assert (job["job_id"], job["kind"], job["status"], job["error"]) == (job_id, "backfill", "requested", None)
    assert job["params"]["resources"] == ["orders"]
    async with db.connection() as conn:  # what the agent's backfill does when it cannot run
        await conn.execute("UPDATE jobs SET status = 'failed', error = $2 WHERE id = $1", job_id,
                           "the store has no WooCommerce URL or REST keys")
    job = await (await client.post(f"/v1/stores/{store.id}/jobs/{job_id}", data=b"{}",
                                   headers=store.signed(b"{}"))).json()
    assert (job["status"], job["error"]) == ("failed", "the store has no WooCommerce URL or REST keys")

    other, other_secret = await stores.add("Other shop")
    from shared.signing import sign_headers
    headers = {**sign_headers(other_secret, "msg_o", b"{}"), "Content-Type": "application/json"}
    r = await client.post(f"/v1/stores/{other['id']}/jobs/{job_id}", data=b"{}", headers=headers)
    assert r.status == 404 and (await r.json())["error"]["code"] == "unknown_job"
