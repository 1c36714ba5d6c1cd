"""Outbox browser (filters, search, keyset pagination), entity timeline, replay and manual sync."""
from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from collector.console.service import CLI, ConsoleManager, InvalidInput, OutboxFilter
from shared.outbox import OutboxManager
from tests.support.console import add_attempt, add_operator, order_event, outbox_row, seed_orders, sign_in

pytestmark = pytest.mark.integration


@pytest.fixture
def console(db) -> ConsoleManager:
    return ConsoleManager(db, replay_batch=7)


async def test_keyset_pagination_visits_every_row_once_in_order_even_with_equal_timestamps(console, db, store, stores):
    other, _ = await stores.add("Second")
    await seed_orders(db, store.id, range(1, 121))
    await seed_orders(db, other["id"], range(1, 41))
    async with db.connection() as conn:  # many ties on updated_at: the tie-breakers must do the work
        await conn.execute("UPDATE outbox SET updated_at = '2026-11-22T10:00:00Z' WHERE resource_id % 3 = 0")
        await conn.execute("UPDATE outbox SET updated_at = '2026-11-22T09:00:00Z' WHERE resource_id % 3 = 1")
    seen, cursor, pages = [], None, 0
    while True:
        rows, cursor = await console.outbox_page(CLI, OutboxFilter.parse({}), cursor=cursor, limit=13)
        seen += rows
        pages += 1
        if cursor is None:
            break
    keys = [(r["updated_at"], r["store_id"], r["resource"], r["resource_id"]) for r in seen]
    assert len(keys) == 160 == len(set(keys))
    assert keys == sorted(keys, reverse=True)
    assert pages == 13
    # a filter paginates the same way
    dead = OutboxFilter.parse({"store": store.id})
    rows, cursor = await console.outbox_page(CLI, dead, limit=100)
    rest, end = await console.outbox_page(CLI, dead, cursor=cursor, limit=100)
    assert len(rows) + len(rest) == 120 and end is None


async def test_filters_and_search_by_woocommerce_id_salesforce_id_and_hashed_email(console, db, store):
    await seed_orders(db, store.id, [1, 2, 3], status="dead", error_code="FIELD_CUSTOM_VALIDATION_EXCEPTION")
    await seed_orders(db, store.id, [4], status="dead", error_code="REQUIRED_FIELD_MISSING")
    await seed_orders(db, store.id, [5], email="Bob@Example.com")
    async with db.connection() as conn:
        await conn.execute("UPDATE outbox SET status = 'delivered', sf_id = '801000000000001AAA' WHERE resource_id = 5")
    page = lambda **kw: console.outbox_page(CLI, OutboxFilter.parse(kw))  # noqa: E731
    rows, _ = await page(status="dead", error_code="FIELD_CUSTOM_VALIDATION_EXCEPTION")
    assert sorted(r["resource_id"] for r in rows) == [1, 2, 3]
    assert [r["resource_id"] for r in (await page(q="#4"))[0]] == [4]
    assert [r["resource_id"] for r in (await page(q="801000000000001AAA"))[0]] == [5]
    assert [r["resource_id"] for r in (await page(q=" bob@example.COM "))[0]] == [5]
    assert sorted(r["resource_id"] for r in (await page(q="jane@example.com"))[0]) == [1, 2, 3, 4]
    assert (await page(resource="product"))[0] == []
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert (await page(since=future))[0] == []
    assert len((await page(until=future))[0]) == 5
    with pytest.raises(InvalidInput):
        OutboxFilter.parse({"status": "lost"})
    with pytest.raises(InvalidInput):
        OutboxFilter.parse({"q": "drop table"})
    async with db.connection() as conn:  # only the hash is stored
        assert await conn.fetchval("SELECT count(*) FROM entity_emails") == 5
        assert "bob" not in str(await conn.fetch("SELECT * FROM entity_emails"))


async def test_outbox_page_shows_no_personal_data(client, console, db, store):
    await add_operator(console, "ann@example.com", "viewer")
    await seed_orders(db, store.id, [1, 2], status="dead", error_code="X")
    await add_attempt(db, store.id, 1)
    await sign_in(client, "ann@example.com")
    html = await (await client.get("/console/outbox?q=jane%40example.com")).text()
    assert "order #1" in html and "order #2" in html
    html_no_q = await (await client.get("/console/outbox")).text()
    for pii in ("jane@example.com", "Jane", "Doe", "555 0100", "Main St"):
        assert pii not in html_no_q
    api = await (await client.get("/api/v1/outbox")).text()
    assert "jane" not in api.lower() and "Main St" not in api


async def test_timeline_shows_events_attempts_sf_id_and_a_masked_diff(client, console, db, store):
    await add_operator(console, "ann@example.com", "viewer")
    await OutboxManager(db).ingest([order_event(store.id, 9, modified="2026-11-22T10:00:00", status="pending")])
    await OutboxManager(db).ingest([order_event(store.id, 9, modified="2026-11-22T11:00:00", status="processing")])
    await add_attempt(db, store.id, 9, outcome="retrying", summary={"Status": "Draft", "Total": 10})
    await add_attempt(db, store.id, 9, outcome="delivered", error_code=None, summary={"Status": "Activated", "Total": 10})
    async with db.connection() as conn:
        await conn.execute("UPDATE outbox SET status = 'delivered', sf_id = '801000000000009AAA' WHERE resource_id = 9")
    data = await console.entity(CLI, store.id, "order", 9)
    assert [e["kind"] for e in data["timeline"]].count("event") == 2
    assert [e["kind"] for e in data["timeline"]].count("attempt") == 2
    newest = data["events"][0]
    assert {"path": "status", "old": "pending", "new": "processing"} in newest["diff"]
    assert newest["payload"]["billing"]["email"] == "•••"
    # both attempts sent the head version: what was sent is its Salesforce fields, unchanged between them
    assert data["attempts"][0]["sent"] == newest["salesforce"] and data["attempts"][0]["sent_diff"] == []
    # what the agent sends to Salesforce for each version (its mapping), diffed, personal data masked
    assert {"path": "Order.Woo_Status__c", "old": "pending", "new": "processing"} in newest["salesforce_diff"]
    assert "jane@example.com" not in str(newest["salesforce"]) and "Jane" not in str(newest["salesforce"])
    await sign_in(client, "ann@example.com")
    html = await (await client.get(f"/console/outbox/{store.id}/order/9")).text()
    assert "801000000000009AAA" in html and "source <b>plugin</b>" in html and "processing" in html
    assert "jane@example.com" not in html
    assert (await client.get(f"/console/outbox/{store.id}/order/12345")).status == 404


async def test_bulk_replay_is_idempotent_and_leaves_pending_and_leased_rows_alone(console, db, store):
    await seed_orders(db, store.id, range(1, 21), status="dead", error_code="FIELD_CUSTOM_VALIDATION_EXCEPTION")
    await seed_orders(db, store.id, [21], status="dead", error_code="OTHER")
    await seed_orders(db, store.id, [30])  # pending
    await seed_orders(db, store.id, [31], status="leased")
    f = OutboxFilter.parse({"store": store.id, "error_code": "FIELD_CUSTOM_VALIDATION_EXCEPTION"})
    assert await console.replay_count(CLI, f) == 20
    r = await console.start_replay(CLI, f)
    assert await console.run_replay(CLI, r["id"], f, r["started_at"]) == 20  # in batches of 7
    got = await console.get_replay(CLI, r["id"])
    assert (got["status"], got["total"], got["replayed"]) == ("done", 20, 20)
    rows = [await outbox_row(db, store.id, i) for i in range(1, 21)]
    assert {(x["status"], x["attempts"]) for x in rows} == {("pending", 0)}
    before = {i: (await outbox_row(db, store.id, i))["updated_at"] for i in (30, 31)}
    # twice: nothing more happens (the rows are pending now), so the newest version is sent once
    f2 = OutboxFilter.parse({"store": store.id})
    r2 = await console.start_replay(CLI, f2)
    assert r2["total"] == 1  # only the other dead row
    assert await console.run_replay(CLI, r2["id"], f2, r2["started_at"]) == 1
    r3 = await console.start_replay(CLI, f2)
    assert await console.run_replay(CLI, r3["id"], f2, r3["started_at"]) == 0
    assert (await outbox_row(db, store.id, 31))["status"] == "leased"
    assert {i: (await outbox_row(db, store.id, i))["updated_at"] for i in (30, 31)} == before
    assert (await console.replay_entity(CLI, store.id, "order", 1))["replayed"] == 0


async def test_bulk_replay_over_http_shows_the_count_then_progress(client, console, db, store):
    await add_operator(console, "op@example.com", "operator")
    await seed_orders(db, store.id, range(1, 11), status="dead", error_code="FIELD_CUSTOM_VALIDATION_EXCEPTION")
    csrf = await sign_in(client, "op@example.com")
    confirm = await client.get(f"/console/replays/new?store={store.id}&status=dead")
    html = await confirm.text()
    assert "<strong>10</strong> entities" in html
    await seed_orders(db, store.id, [11], status="dead", error_code="X")  # the selection changes meanwhile
    resp = await client.post("/console/replays", data={"csrf_token": csrf, "store": store.id, "status": "dead",
                                                       "expected_count": "10"}, allow_redirects=False)
    assert resp.status == 409 and "changed from 10 to 11" in await resp.text()
    resp = await client.post("/console/replays", data={"csrf_token": csrf, "store": store.id, "status": "dead",
                                                       "expected_count": "11"}, allow_redirects=False)
    assert resp.status == 302
    url = resp.headers["Location"]
    for _ in range(200):
        page = await (await client.get(url)).text()
        if 'id="replay-status">done' in page:
            break
        await asyncio.sleep(0.02)
    assert 'id="replay-progress">11 / 11' in page
    api = await client.get("/api/v1" + url.removeprefix("/console"))
    assert (await api.json())["replayed"] == 11


async def test_send_now_and_store_resync(console, db, store):
    await seed_orders(db, store.id, [1], status="retrying")
    async with db.connection() as conn:
        await conn.execute("UPDATE outbox SET available_at = now() + interval '1 hour'")
    res = await console.sync_entity(CLI, store.id, "order", 1)
    assert res == {"status": "retrying", "queued": True}
    row = await outbox_row(db, store.id, 1)
    assert row["available_at"] <= datetime.now(UTC) and row["attempts"] == 3
    job = await console.resync_store(CLI, store.id, datetime(2026, 11, 1, tzinfo=UTC), ["orders"])
    async with db.connection() as conn:
        j = await conn.fetchrow("SELECT * FROM jobs WHERE id = $1", job["job_id"])
    assert j["kind"] == "backfill" and j["params"] == {"since": "2026-11-01T00:00:00+00:00", "resources": ["orders"]}
    assert j["requested_by"] == "operator:cli"
    with pytest.raises(InvalidInput):
        await console.resync_store(CLI, store.id, None, ["coupons"])


async def test_dashboard_counts_lag_and_optional_tables(client, console, db, store):
    await add_operator(console, "ann@example.com", "viewer")
    await seed_orders(db, store.id, [1, 2], status="dead", error_code="X")
    await seed_orders(db, store.id, [3, 4, 5])
    async with db.connection() as conn:
        await conn.execute("UPDATE outbox SET status = 'delivered', delivered_event_id = head_event_id, "
                           "delivered_at = now() + interval '2 seconds' WHERE resource_id IN (4, 5)")
    await add_attempt(db, store.id, 1)
    d = await console.dashboard(CLI, store.id)
    assert d["backlog"] == 1 and d["totals"]["dead"] == 2 and d["totals"]["delivered"] == 2
    assert d["lag"]["delivered"] == 2 and 1.5 < d["lag"]["p95_s"] < 10
    assert d["outcomes"][0]["outcome"] == "dead"
    assert d["budget"] == [] and d["reconcile_runs"] == []  # tables exist (0002/0003), nothing yet
    await sign_in(client, "ann@example.com")
    html = await (await client.get("/console/")).text()
    assert '<svg' in html and 'id="dead">2<' in html
    api = await (await client.get(f"/api/v1/dashboard?store={store.id}")).json()
    assert api["totals"]["dead"] == 2
