"""Draft orders (checkout-draft, auto-draft, draft) are not orders (issue 14, problem 1): the collector answers
their plugin events and native webhooks "ignored" and stores nothing; the same order once placed goes through."""
from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from shared.models import DRAFT_ORDER_STATUSES, event_from_wc_webhook, is_draft_order
from shared.signing import wc_signature
from tests.integration.conftest import body_of, count, event

pytestmark = pytest.mark.integration


def test_draft_statuses():
    assert DRAFT_ORDER_STATUSES == {"checkout-draft", "auto-draft", "draft"}
    assert is_draft_order({"status": "checkout-draft"}) and not is_draft_order({"status": "pending"})
    assert not is_draft_order({"status": "draft"}, "product")  # a product draft is another matter


@pytest.mark.parametrize("status", sorted(DRAFT_ORDER_STATUSES))
async def test_plugin_events_of_a_draft_are_ignored_and_the_placed_order_accepted(client, db, store, status):
    draft, product = event(41, status=status, eid="d"), event(9, type_="product.updated", eid="p")
    body = body_of(draft, product)
    r = await client.post(f"/v1/stores/{store.id}/events", data=body, headers=store.signed(body))
    assert r.status == 202
    res = await r.json()
    assert res["accepted"] == 1 and res["ignored"] == 1
    assert {x["id"]: x["status"] for x in res["results"]} == {"p": "accepted", "d": "ignored"}
    async with db.connection() as conn:
        assert await conn.fetchval("SELECT count(*) FROM events WHERE resource = 'order'") == 0
    placed = body_of(event(41, status="processing", eid="placed", modified="2026-11-22T15:36:00"))
    r = await client.post(f"/v1/stores/{store.id}/events", data=placed, headers=store.signed(placed, "msg_2"))
    assert r.status == 202 and (await r.json())["results"][0]["status"] == "accepted"
    async with db.connection() as conn:
        assert await conn.fetchval("SELECT count(*) FROM outbox WHERE resource = 'order' AND resource_id = 41") == 1


async def test_a_batch_of_drafts_only_stores_nothing(client, db, store):
    body = body_of(event(41, status="checkout-draft", eid="a"), event(42, status="auto-draft", eid="b"))
    r = await client.post(f"/v1/stores/{store.id}/events", data=body, headers=store.signed(body))
    assert r.status == 200
    res = await r.json()
    assert (res["accepted"], res["duplicates"], res["ignored"]) == (0, 0, 2)
    assert await count(db, "events") == 0 and await count(db, "outbox") == 0


async def test_native_webhook_of_a_checkout_draft_is_ignored(client, db, store):
    # what the real store sends while a shopper edits an open checkout: order.updated, status checkout-draft
    raw = json.dumps({"id": 77, "status": "checkout-draft", "date_modified_gmt": "2026-11-22T15:35:24",
                      "line_items": []}).encode()
    headers = {"X-WC-Webhook-Topic": "order.updated", "X-WC-Webhook-Delivery-ID": "9",
               "X-WC-Webhook-Signature": wc_signature(store.wc_webhook_secret, raw),
               "Content-Type": "application/json"}
    r = await client.post(f"/v1/stores/{store.id}/woocommerce", data=raw, headers=headers)
    assert r.status == 200
    assert await r.json() == {"accepted": 0, "duplicates": 0, "ignored": True, "reason": "draft order"}
    assert await count(db, "events") == 0
    assert event_from_wc_webhook("order.created", {"id": 77, "status": "draft"}, store_id="s", delivery_id=None,
                                 received_at=datetime.now(UTC)) is None
