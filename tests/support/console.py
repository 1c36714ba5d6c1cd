"""Helpers for console tests: operators, seeded outbox rows, a signed-in aiohttp client."""
from __future__ import annotations

import re

from collector.console.service import CLI, ConsoleManager
from shared.models import NewEvent, events_from_body
from shared.outbox import OutboxManager

PASSWORD = "correct horse battery"


async def add_operator(console: ConsoleManager, email: str, role: str, store_id: str | None = None):
    await console.add_operator(CLI, email, PASSWORD, role, store_id)
    return await console.authenticate(email, PASSWORD)


def order_event(store_id: str, rid: int, *, email: str = "jane@example.com", modified: str = "2026-11-22T15:35:24",
                status: str = "processing") -> NewEvent:
    data = {"id": rid, "status": status, "date_modified_gmt": modified, "total": "10.00",
            "billing": {"first_name": "Jane", "last_name": "Doe", "email": email, "phone": "+1 555 0100",
                        "address_1": "1 Main St", "city": "Springfield"}}
    body = {"id": f"wp_{rid}_{modified}", "type": "order.updated", "occurred_at": "2026-11-22T15:35:24Z",
            "resource_id": rid, "data": data}
    return events_from_body(body, store_id=store_id, max_events=100)[0]


async def seed_orders(db, store_id: str, ids: range | list[int], *, status: str = "pending",
                      error_code: str | None = None, email: str = "jane@example.com") -> None:
    await OutboxManager(db).ingest([order_event(store_id, i, email=email) for i in ids])
    if status != "pending":
        async with db.connection() as conn:
            await conn.execute(
                "UPDATE outbox SET status = $2, attempts = 3, last_error_code = $3 "
                "WHERE store_id = $1 AND resource_id = ANY($4::bigint[])", store_id, status, error_code, list(ids))


async def add_attempt(db, store_id: str, rid: int, *, outcome: str = "dead", summary: dict | None = None,
                      error_code: str | None = "FIELD_CUSTOM_VALIDATION_EXCEPTION") -> None:
    from shared import ids
    async with db.connection() as conn:
        ev = await conn.fetchval("SELECT head_event_id FROM outbox WHERE store_id = $1 AND resource_id = $2",
                                 store_id, rid)
        await conn.execute(
            "INSERT INTO attempts (id, store_id, destination, resource, resource_id, event_id, started_at, duration_ms,"
            " outcome, status_code, error_code, error, request_summary) VALUES ($1, $2, 'salesforce', 'order', $3, $4,"
            " now(), 12, $5, 400, $6, $7, $8)",
            ids.new_id("attempt"), store_id, rid, ev, outcome, error_code,
            "Bill To email jane@example.com is not allowed" if error_code else None,
            summary or {"Order": {"BillingEmail__c": "jane@example.com", "Status": "Draft"}})


async def outbox_row(db, store_id: str, rid: int, resource: str = "order") -> dict:
    async with db.connection() as conn:
        return dict(await conn.fetchrow("SELECT * FROM outbox WHERE store_id = $1 AND resource = $2 AND resource_id = $3",
                                        store_id, resource, rid))


async def audit_rows(db) -> list[dict]:
    async with db.connection() as conn:
        return [dict(r) for r in await conn.fetch("SELECT * FROM audit_log ORDER BY id")]


_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


async def sign_in(client, email: str, password: str = PASSWORD) -> str:
    """Sign in through the login form; return the session's CSRF token (from the dashboard)."""
    page = await client.get("/console/login")
    token = _CSRF.search(await page.text()).group(1)
    resp = await client.post("/console/login", data={"email": email, "password": password, "csrf_token": token,
                                                       "next": "/console/"}, allow_redirects=False)
    assert resp.status == 302, await resp.text()
    dash = await client.get("/console/")
    assert dash.status == 200
    return _CSRF.search(await dash.text()).group(1)


def csrf_of(html: str) -> str:
    return _CSRF.search(html).group(1)
