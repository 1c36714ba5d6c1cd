"""The console as support staff read it (issue 16, points 8-11): Salesforce errors as text, attempts as what was sent
and what changed, timelines as diffs with unchanged fields folded, gap reports as tables, store names, time zones,
a favicon and the dashboard's "in sync?" answer."""
from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest

from collector.console.service import CLI, ConsoleManager
from collector.console.service.outbox import gap_report, readable_errors
from collector.console.views import sync_banner
from shared import ids
from shared.outbox import OutboxManager
from tests.support.console import add_operator, order_event, seed_orders, sign_in

pytestmark = pytest.mark.integration

# what agent/delivery/engine.py stores for a dead order: its failed records, each message Salesforce's error list
SF_ERRORS = [{"statusCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION", "message": "Orders above 100 need approval",
              "fields": ["Woo_Total__c"]}]
ENGINE_ERROR = json.dumps([
    {"sobject": "Order", "key": "st:order:7", "code": "FIELD_CUSTOM_VALIDATION_EXCEPTION",
     "message": json.dumps(SF_ERRORS), "dependency": False},
    {"sobject": "OrderItem", "key": "st:order:7:item:1", "code": "INVALID_FIELD",
     "message": "Foreign key external ID: st:order:7 not found for field Wooforce_Key__c", "dependency": True}])


@pytest.fixture
def console(db) -> ConsoleManager:
    return ConsoleManager(db)


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


async def _attempt(db, store_id: str, rid: int, event_id: str, *, at: datetime, outcome: str, code: str | None,
                   error: str | None, summary: dict) -> None:
    async with db.connection() as conn:
        await conn.execute(
            "INSERT INTO attempts (id, store_id, destination, resource, resource_id, event_id, started_at, duration_ms,"
            " outcome, status_code, error_code, error, request_summary) VALUES ($1, $2, 'salesforce', 'order', $3, $4,"
            " $5, 12, $6, 400, $7, $8, $9)", ids.new_id("attempt"), store_id, rid, event_id, at, outcome, code, error,
            summary)


async def _dead_order_with_two_attempts(db, store_id: str) -> None:
    """Order 7: version 1 (total 10) tried and retried, version 2 (total 150) refused by a validation rule."""
    await OutboxManager(db).ingest([order_event(store_id, 7, modified="2026-11-22T10:00:00")])
    v2 = order_event(store_id, 7, modified="2026-11-22T11:00:00")
    v2.payload_json = v2.payload_json.replace('"total":"10.00"', '"total":"150.00"')
    assert '"150.00"' in v2.payload_json
    await OutboxManager(db).ingest([v2])
    async with db.connection() as conn:
        evs = [r["id"] for r in await conn.fetch("SELECT id FROM events WHERE resource_id = 7 ORDER BY seq")]
        await conn.execute("UPDATE outbox SET status = 'dead', attempts = 2, last_error_code = $1, last_error = $2, "
                           "available_at = '2026-11-22T12:00:00Z' WHERE resource_id = 7",
                           "FIELD_CUSTOM_VALIDATION_EXCEPTION", ENGINE_ERROR)
    t0 = datetime(2026, 11, 22, 10, 0, 5, tzinfo=UTC)
    summary = {"calls": ["composite"], "records": {"Order": 1, "OrderItem": 1}, "api_calls_in_batch": 98765}
    await _attempt(db, store_id, 7, evs[0], at=t0, outcome="retrying", code="UNABLE_TO_LOCK_ROW",
                   error=json.dumps([{"sobject": "Order", "key": "st:order:7", "code": "UNABLE_TO_LOCK_ROW",
                                      "message": json.dumps([{"statusCode": "UNABLE_TO_LOCK_ROW",
                                                              "message": "unable to obtain exclusive access",
                                                              "fields": []}]), "dependency": False}]),
                   summary=summary)
    await _attempt(db, store_id, 7, evs[1], at=t0 + timedelta(hours=1), outcome="dead",
                   code="FIELD_CUSTOM_VALIDATION_EXCEPTION", error=ENGINE_ERROR, summary=summary)


def test_readable_errors_unpack_the_engines_nested_json_and_a_text_cut_short():
    errs = readable_errors(ENGINE_ERROR)
    assert errs[0] == {"code": "FIELD_CUSTOM_VALIDATION_EXCEPTION", "fields": ["Woo_Total__c"],
                       "message": "Orders above 100 need approval", "sobject": "Order", "key": "st:order:7",
                       "dependency": False, "count": 1}
    lines = json.loads(ENGINE_ERROR)
    twice = readable_errors(json.dumps([*lines, {**lines[1], "key": "st:order:7:item:2"}]))
    assert len(twice) == 2 and twice[1]["count"] == 2  # the same error of two order lines: shown once
    assert errs[1]["dependency"] and errs[1]["code"] == "INVALID_FIELD"
    cut = ENGINE_ERROR[:260]  # the engine keeps 8000 characters: a long list ends mid-way
    assert readable_errors(cut)[0]["message"] == "Orders above 100 need approval"
    assert readable_errors(cut)[0]["fields"] == ["Woo_Total__c"]
    assert readable_errors("Salesforce is down") == [{"code": None, "fields": [], "message": "Salesforce is down",
                                                      "sobject": None, "key": None, "dependency": False,
                                                      "count": 1}]
    assert readable_errors(None) == []


async def test_a_dead_letter_shows_the_salesforce_error_as_text_and_attempts_as_what_was_sent(client, console, db,
                                                                                           store):
    await add_operator(console, "ann@example.com", "viewer")
    await _dead_order_with_two_attempts(db, store.id)
    await sign_in(client, "ann@example.com")
    html = await (await client.get(f"/console/outbox/{store.id}/order/7")).text()
    last_error = _text(html.split('id="last-error"')[1].split("</dd>")[0])
    assert "FIELD_CUSTOM_VALIDATION_EXCEPTION on Woo_Total__c (Order): Orders above 100 need approval" in last_error
    assert "statusCode" not in html and "\\&#34;" not in html and '\\"' not in html  # no escaped JSON anywhere
    assert "Next attempt" not in html  # a dead row has none
    text = _text(html)
    assert "sent 1 Order, 1 OrderItem · via composite" in text
    assert "api_calls_in_batch" not in html and "98765" not in html  # internal counters hidden
    assert "Order.Woo_Total__c" in text and "Opportunity." not in text  # only what the store's order model sends
    # the dead attempt sent version 2: its changes against the first attempt, the rest folded away
    diff = html.split('class="diff attempt-diff"')[1].split("</table>")[0]
    assert "<td>Order.Woo_Total__c</td><td>10.0</td><td>150.0</td>" in diff and "Woo_Status__c" not in diff
    assert re.search(r"<summary>\d+ unchanged fields sent as before</summary>", html)


async def test_retrying_rows_still_show_their_next_attempt(client, console, db, store):
    await add_operator(console, "ann@example.com", "viewer")
    await seed_orders(db, store.id, [3], status="retrying", error_code="UNABLE_TO_LOCK_ROW")
    await sign_in(client, "ann@example.com")
    html = await (await client.get(f"/console/outbox/{store.id}/order/3")).text()
    assert 'id="next-attempt"' in html and " UTC<" in html


async def test_the_timeline_shows_changed_fields_first_and_folds_the_unchanged(client, console, db, store):
    await add_operator(console, "ann@example.com", "viewer")
    await _dead_order_with_two_attempts(db, store.id)
    data = await console.entity(CLI, store.id, "order", 7)
    newest = data["events"][0]
    assert newest["diff"] == [{"path": "date_modified_gmt", "old": "2026-11-22T10:00:00", "new": "2026-11-22T11:00:00"},
                              {"path": "total", "old": "10.00", "new": "150.00"}]
    assert {"path": "status", "value": "processing"} in newest["unchanged"]
    await sign_in(client, "ann@example.com")
    html = await (await client.get(f"/console/outbox/{store.id}/order/7")).text()
    event = html.split("event <code>")[1].split("</li>")[0]  # newest first
    changed = event.split('<details class="unchanged">')[0]
    assert ">total<" in changed and "150.00" in changed and ">status<" not in changed
    folded = event.split('<details class="unchanged">')[1].split("</details>")[0]
    assert re.search(r"<summary>\d+ unchanged fields</summary>", folded) and ">status<" in folded


async def test_gap_reports_are_tables_per_resource_with_links_to_the_entities(client, console, db, store):
    await add_operator(console, "ann@example.com", "viewer")
    run_id = ids.new_id("run")
    async with db.connection() as conn:
        await conn.execute(
            "INSERT INTO reconcile_runs (id, store_id, started_at, duration_ms, outcome, requests, checked, missing,"
            " missing_ids) VALUES ($1, $2, now(), 420, 'ok', 6, $3, $4, $5)", run_id, store.id,
            {"order": 20, "order.trash": 2, "order.ids": 100, "customer": 50, "product": 4},
            {"order.created": 2, "order.updated": 1, "order.trashed": 1, "customer.deleted": 1},
            {"order": [34, 35, 36, 37], "customer": [9]})
    rows = gap_report(await console.reconcile_run(CLI, run_id))
    assert [r["resource"] for r in rows] == ["order", "customer", "product"]
    assert rows[0]["checked_total"] == 122 and rows[0]["missing"]["created"] == 2 and rows[0]["missing_total"] == 4
    await sign_in(client, "ann@example.com")
    dash = await (await client.get("/console/")).text()
    assert f'href="/console/reconcile/{run_id}"' in dash and "{'order'" not in dash  # no raw dict
    html = await (await client.get(f"/console/reconcile/{run_id}")).text()
    table = html.split('id="gap-report"')[1].split("</table>")[0]
    order_row = _text(table.split("<tr><td>orders</td>")[1].split("</tr>")[0])
    assert order_row.split()[:6] == ["122", "20", "changed", "since", "the", "last"]
    assert "2 1 0 1 0" in order_row  # created, updated, deleted, trashed, restored
    assert f'href="/console/outbox/{store.id}/order/35"' in table
    assert f'href="/console/outbox/{store.id}/customer/9"' in table
    assert "Test shop" in html and "{'order'" not in html
    assert (await client.get(f"/console/reconcile/{ids.new_id('run')}")).status == 404


async def test_store_names_time_zones_and_the_favicon(client, console, db, store):
    await add_operator(console, "ann@example.com", "viewer")
    await seed_orders(db, store.id, [1], status="dead", error_code="X")
    icon = await client.get("/console/static/favicon.svg")  # public: the sign-in page shows it too
    assert icon.status == 200 and icon.content_type == "image/svg+xml" and b"<svg" in await icon.read()
    login = await (await client.get("/console/login")).text()
    assert '<link rel="icon" href="/console/static/favicon.svg"' in login
    await sign_in(client, "ann@example.com")
    outbox = await (await client.get("/console/outbox")).text()
    row = outbox.split('<tbody>')[1]
    assert "Test shop" in row and f">{store.id}<" not in row
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", row)
    alerts = await (await client.get("/console/alerts")).text()
    assert alerts  # renders with the names helper


def test_sync_banner_wording():
    now = datetime(2026, 11, 22, 14, 5, tzinfo=UTC)
    empty = {"backlog": 0, "totals": {"dead": 0}}
    assert sync_banner(empty, None, now) == {"in_sync": True, "text": "In sync: nothing waiting to go to Salesforce."}
    busy = {"backlog": 12, "totals": {"dead": 2}}
    text = sync_banner(busy, now - timedelta(minutes=3), now)["text"]
    assert text.startswith("Not in sync since 2026-11-22 14:02:00 UTC (3 min ago): 12 changes waiting; 2 dead")
    assert sync_banner({"backlog": 0, "totals": {"dead": 1}}, now - timedelta(hours=5), now)["text"].startswith(
        "Not in sync since 2026-11-22 09:05:00 UTC (5.0 h ago): 1 dead letter ")


async def test_the_dashboard_answers_is_my_store_in_sync_and_since_when(client, console, db, store):
    await add_operator(console, "ann@example.com", "viewer")
    await sign_in(client, "ann@example.com")
    html = await (await client.get("/console/")).text()
    assert _text(html.split('id="sync-state"')[1].split("</p>")[0]).endswith("In sync: nothing waiting to go to "
                                                                             "Salesforce.")
    await seed_orders(db, store.id, [1, 2, 3])
    await seed_orders(db, store.id, [4], status="dead", error_code="X")
    async with db.connection() as conn:
        await conn.execute("UPDATE events SET received_at = now() - interval '3 minutes' WHERE resource_id = 2")
    assert (datetime.now(UTC) - await console.waiting_since(CLI)).total_seconds() > 170
    html = await (await client.get("/console/")).text()
    banner = _text(html.split('id="sync-state"')[1].split("</p>")[0])
    assert re.search(r"Not in sync since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(3 min ago\): 3 changes waiting; "
                     r"1 dead letter", banner), banner
    # the top of the page: before the cards
    assert html.index('id="sync-state"') < html.index('class="cards"')
