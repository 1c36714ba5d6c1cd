"""Dashboard freshness (issue 16): store change (the event's version, date_modified_gmt) -> written to Salesforce,
as percentiles per store and in total; the age of the oldest change not yet in Salesforce; the Salesforce
connection's state per store. Computed on controlled data: events with known versions and delivery times."""
from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from collector.console.service import CLI, ConsoleManager
from shared.outbox import OutboxManager
from tests.support.console import add_operator, order_event, sign_in

pytestmark = pytest.mark.integration


def at(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S")


async def delivered(db, store_id: str, rid: int, version: datetime, freshness_s: float, source: str = "plugin"):
    """An entity changed at ``version`` and written to Salesforce ``freshness_s`` later."""
    ev = order_event(store_id, rid, modified=at(version))
    await OutboxManager(db).ingest([dataclasses.replace(ev, source=source)])
    async with db.connection() as c:
        await c.execute("UPDATE outbox SET status = 'delivered', delivered_event_id = head_event_id, "
                        "delivered_version = head_version, delivered_seq = head_seq, "
                        "delivered_at = head_version + make_interval(secs => $3), updated_at = now() "
                        "WHERE store_id = $1 AND resource_id = $2", store_id, rid, freshness_s)


async def waiting(db, store_id: str, rid: int, version: datetime, *, paused: bool = False):
    await OutboxManager(db).ingest([order_event(store_id, rid, modified=at(version))])
    if paused:  # a failing sign-in pushed it ahead: it waits all the same
        async with db.connection() as c:
            await c.execute("UPDATE outbox SET available_at = now() + interval '5 seconds' "
                            "WHERE store_id = $1 AND resource_id = $2", store_id, rid)


@pytest.fixture
async def shops(db, stores):
    a, _ = await stores.add("Alpha shop")
    b, _ = await stores.add("Beta shop")
    c, _ = await stores.add("Gamma shop")
    for s in (a, b):  # connected to Salesforce; Gamma is not
        await stores.set_salesforce(s["id"], {"instance_url": "https://shop.my.salesforce.com",
                                              "auth": "client_credentials", "client_id": "app", "client_secret": "x"})
    async with db.connection() as conn:
        await conn.execute("UPDATE stores SET created_at = now() - interval '1 day'")
        await conn.execute("INSERT INTO sf_connection (store_id, status, error_code, error, failing_since, failures) "
                           "VALUES ($1, 'failing', 'auth_failed', 'Salesforce login refused: invalid_client_id: "
                           "client identifier invalid', '2026-12-01T10:00:00Z', 7)", a["id"])
        await conn.execute("INSERT INTO sf_connection (store_id, status, last_ok_at) VALUES ($1, 'ok', now())",
                           b["id"])
    return a["id"], b["id"], c["id"]


async def test_freshness_percentiles_and_oldest_waiting_change_per_store_and_in_total(db, shops, client):
    a, b, c = shops
    now = datetime.now(UTC).replace(microsecond=0)
    base = now - timedelta(hours=1)
    for i, f in enumerate([1, 2, 3, 10]):
        await delivered(db, a, 1 + i, base + timedelta(minutes=i), f)
    await delivered(db, a, 9, base - timedelta(days=300), 86400 * 300, source="backfill")  # a re-send: not a change
    for i, f in enumerate([4, 6]):
        await delivered(db, b, 1 + i, base + timedelta(minutes=i), f)
    oldest_a, oldest_b = now - timedelta(seconds=300), now - timedelta(seconds=120)
    await waiting(db, a, 10, oldest_a)
    await waiting(db, a, 11, now - timedelta(seconds=50))
    await waiting(db, b, 20, oldest_b, paused=True)

    console = ConsoleManager(db)
    d = await console.dashboard(CLI)
    f = d["freshness"]
    assert f["sample"] == 6  # the backfill is left out
    assert (f["p50_s"], f["p90_s"], f["p95_s"], f["p99_s"]) == pytest.approx((3.5, 8.0, 9.0, 9.8))
    assert f["oldest_undelivered_at"] == oldest_a and f["waiting"] == 3
    assert 300 <= f["oldest_undelivered_s"] < 330
    by = {s["id"]: s for s in d["stores"]}
    fa, fb, fc = by[a]["freshness"], by[b]["freshness"], by[c]["freshness"]
    assert fa["sample"] == 4 and (fa["p50_s"], fa["p90_s"], fa["p95_s"], fa["p99_s"]) == pytest.approx(
        (2.5, 7.9, 8.95, 9.79))
    assert fb["sample"] == 2 and (fb["p50_s"], fb["p95_s"], fb["p99_s"]) == pytest.approx((5.0, 5.9, 5.98))
    assert (fa["oldest_undelivered_at"], fa["waiting"]) == (oldest_a, 2)
    assert (fb["oldest_undelivered_at"], fb["waiting"]) == (oldest_b, 1)  # paused, counted all the same
    assert 120 <= fb["oldest_undelivered_s"] < 150
    assert (fc["sample"], fc["p95_s"], fc["oldest_undelivered_s"], fc["waiting"]) == (0, None, None, 0)
    # the Salesforce connection's state next to the WooCommerce keys
    sa, sb, sc = by[a]["sf_connection"], by[b]["sf_connection"], by[c]["sf_connection"]
    assert (sa["state"], sa["error_code"], sa["failing_since"]) == (
        "failing", "auth_failed", datetime(2026, 12, 1, 10, tzinfo=UTC))
    assert "invalid_client_id" in sa["error"]
    assert (sb["state"], sb["error"]) == ("ok", None) and sc["state"] == "not configured"
    # a store filter gives that store's figures as the total
    only_b = await console.dashboard(CLI, b)
    assert only_b["freshness"]["sample"] == 2 and only_b["freshness"]["p50_s"] == pytest.approx(5.0)
    assert only_b["freshness"]["oldest_undelivered_at"] == oldest_b

    # the same in GET /api/v1/dashboard and on the page
    await add_operator(console, "ann@example.com", "viewer")
    await sign_in(client, "ann@example.com")
    api = await (await client.get("/api/v1/dashboard")).json()
    assert api["freshness"]["p95_s"] == pytest.approx(9.0) and api["freshness"]["waiting"] == 3
    api_a = next(s for s in api["stores"] if s["id"] == a)
    assert api_a["sf_connection"]["state"] == "failing" and api_a["freshness"]["p99_s"] == pytest.approx(9.79)
    html = await (await client.get("/console/")).text()
    assert "Freshness (store change → Salesforce" in html and "p95 9.0 s" in html
    assert 'class="sf-failing"><strong>failing</strong> since 2026-12-01 10:00:00 UTC' in html
    assert "auth_failed: Salesforce login refused" in html
    assert 'class="sf-ok">ok<' in html and 'class="sf-not-configured">not configured<' in html
    assert "oldest change not in Salesforce: <strong>5.0 min</strong>" in html
