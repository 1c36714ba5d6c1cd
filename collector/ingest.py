"""Ingest handlers: verify raw bytes first, then parse, validate, and commit before answering."""
from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web
from loguru import logger
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator

from collector import keys
from collector.errors import ApiError
from shared import ids
from shared.errors import DatabaseError
from shared.models import InvalidEvent, NewEvent, event_from_wc_webhook, events_from_body
from shared.signing import SignatureError, verify, verify_wc
from shared.stores import StoreAuth

_PING_BODY = re.compile(rb"^webhook_id=\d+$")


def parse_json(raw: bytes) -> Any:
    """Strict RFC 8259 (no NaN, UTF-8 only, nesting capped at 1024 levels)."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "invalid_json", f"body is not valid JSON: {exc}") from None


def json_response(body: Any, status: int = 200, headers: dict | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, headers=headers, content_type="application/json")


async def store_auth(request: web.Request) -> StoreAuth:
    store_id = request.match_info["store_id"]
    auth = await request.app[keys.STORES].auth(store_id)
    if auth is None:
        raise ApiError(404, "unknown_store", f"no store with id {store_id!r}")
    if not auth.active:
        raise ApiError(403, "store_disabled", "this store is disabled")
    return auth


async def read_body(request: web.Request) -> bytes:
    limit = request.app[keys.SETTINGS].max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, "body_too_large", f"request body exceeds {limit} bytes")
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise ApiError(413, "body_too_large", f"request body exceeds {limit} bytes") from None


def check_signature(request: web.Request, auth: StoreAuth, raw: bytes) -> str:
    try:
        return verify(auth.signing_secrets, request.headers, raw,
                      tolerance_s=request.app[keys.SETTINGS].timestamp_tolerance_s)
    except SignatureError as exc:
        raise ApiError(401, exc.code, exc.message) from None


async def signed_json(request: web.Request) -> tuple[StoreAuth, object]:
    """The common prelude of signed endpoints: store, size, signature over raw bytes, JSON."""
    auth = await store_auth(request)
    raw = await read_body(request)
    check_signature(request, auth, raw)
    return auth, parse_json(raw)


async def _commit(request: web.Request, events: list[NewEvent], source: str) -> web.Response:
    metrics = request.app[keys.METRICS]
    try:
        results = await request.app[keys.COMMITTER].submit(events)
    except DatabaseError as exc:
        if exc.is_data_error:
            raise ApiError(422, "unstorable_event", "the database refused this payload") from None
        raise
    accepted = sum(r.new for r in results)
    duplicates = len(results) - accepted
    metrics.events.labels(source, "accepted").inc(accepted)
    metrics.events.labels(source, "duplicate").inc(duplicates)
    body = {
        "accepted": accepted,
        "duplicates": duplicates,
        "results": [{"id": e.sender_id, "status": "accepted" if r.new else "duplicate", "event_id": r.event_id}
                    for e, r in zip(events, results)],
    }
    return json_response(body, status=202 if accepted else 200)


async def post_events(request: web.Request) -> web.Response:
    """``POST /v1/stores/{store_id}/events``: plugin-format events, Standard Webhooks signed."""
    t0 = time.perf_counter()
    auth, body = await signed_json(request)
    try:
        events = events_from_body(body, store_id=auth.id, max_events=request.app[keys.SETTINGS].max_batch_events)
    except InvalidEvent as exc:
        raise ApiError(422, "invalid_event", "the body breaks the event schema", fields=exc.fields) from None
    resp = await _commit(request, events, "plugin")
    request.app[keys.METRICS].latency.labels("events").observe(time.perf_counter() - t0)
    return resp


async def post_woocommerce(request: web.Request) -> web.Response:
    """``POST /v1/stores/{store_id}/woocommerce``: a native WooCommerce webhook delivery."""
    t0 = time.perf_counter()
    auth = await store_auth(request)
    raw = await read_body(request)
    signature = request.headers.get("X-WC-Webhook-Signature")
    if signature is None and _PING_BODY.match(raw.strip()):
        # WooCommerce saves a webhook only after its unsigned, form-encoded ping got a 2xx
        logger.bind(action="ingest.wc_ping", store_id=auth.id).info("WooCommerce webhook ping")
        return json_response({"ok": True, "ping": True})
    if not auth.wc_webhook_secret:
        raise ApiError(401, "no_webhook_secret",
                       "this store has no WooCommerce webhook secret: set it with `wooforce stores set-woocommerce`")
    try:
        verify_wc([auth.wc_webhook_secret], signature, raw)
    except SignatureError as exc:
        raise ApiError(401, exc.code, exc.message) from None
    topic = request.headers.get("X-WC-Webhook-Topic", "")
    if not topic:
        raise ApiError(422, "invalid_event", "X-WC-Webhook-Topic header is required",
                       fields=[{"field": "X-WC-Webhook-Topic", "message": "required"}])
    body = parse_json(raw)
    try:
        event = event_from_wc_webhook(topic, body, store_id=auth.id,
                                      delivery_id=request.headers.get("X-WC-Webhook-Delivery-ID"),
                                      received_at=datetime.now(UTC))
    except InvalidEvent as exc:
        raise ApiError(422, "invalid_event", "the webhook body breaks the expected shape", fields=exc.fields) from None
    if event is None:
        return json_response({"accepted": 0, "duplicates": 0, "ignored": True,
                                  "reason": f"topic {topic!r} is not synced"})
    resp = await _commit(request, [event], "webhook")
    request.app[keys.METRICS].latency.labels("woocommerce").observe(time.perf_counter() - t0)
    return resp


async def post_ping(request: web.Request) -> web.Response:
    """``POST /v1/stores/{store_id}/ping``: a signed connectivity check (the plugin's Test connection)."""
    auth, _ = await signed_json(request)
    return json_response({"ok": True, "store_id": auth.id, "store_name": auth.name,
                              "server_time": datetime.now(UTC).isoformat(timespec="seconds")})


class ResyncRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    since: AwareDatetime | None = None
    resources: list[str] = Field(default_factory=lambda: ["orders", "products", "customers"], min_length=1)

    @field_validator("resources")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        bad = [r for r in v if r not in ("orders", "products", "customers")]
        if bad:
            raise ValueError(f"unknown resources {bad}; use orders, products, customers")
        return v


async def post_resync(request: web.Request) -> web.Response:
    """``POST /v1/stores/{store_id}/resync``: a signed request for a backfill of this store."""
    auth, body = await signed_json(request)
    try:
        req = ResyncRequest.model_validate(body if body is not None else {})
    except ValidationError as exc:
        fields = [{"field": ".".join(map(str, e["loc"])) or "body", "message": e["msg"]} for e in exc.errors()]
        raise ApiError(422, "invalid_request", "the resync request is invalid", fields=fields) from None
    params = {"since": req.since.isoformat() if req.since else None, "resources": req.resources}
    row = await request.app[keys.DB].fetchrow("insert_job", ids.new_id("job"), auth.id, "backfill", params,
                                              "store:plugin")
    assert row is not None  # INSERT ... RETURNING
    logger.bind(action="ingest.resync_requested", store_id=auth.id, job_id=row["id"]).info("resync requested")
    return json_response({"job_id": row["id"], "status": row["status"]}, status=202)
