"""Ingest handlers: verify raw bytes first, then parse, validate, and commit before answering."""
from __future__ import annotations

import asyncio
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from aiohttp import web
from loguru import logger
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator

from collector import keys
from collector.batcher import UnstorableEvents
from collector.errors import ApiError
from shared import ids
from shared.errors import DatabaseError
from shared.models import InvalidEvent, NewEvent, event_from_wc_webhook, events_from_body, is_draft_order
from shared.signing import SignatureError, verify, verify_wc
from shared.stores import StoreAuth

_PING_BODY = re.compile(rb"^webhook_id=\d+$")
# what a sender's id (a header or the JSON id) may hold: printable ASCII, as SenderId in shared.models
_HEADER_ID = re.compile(r"[\x21-\x7e]{1,200}")


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
    """The raw body, at most ``MAX_BODY_BYTES`` (413 above), read within ``HTTP_BODY_TIMEOUT_S`` (408 after).
    A compressed body was already refused with 415 (:mod:`collector.errors`), before any of it was read."""
    settings = request.app[keys.SETTINGS]
    limit = settings.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, "body_too_large", f"request body exceeds {limit} bytes")
    return await read_limited(request, limit, settings.http_body_timeout_s)


async def read_limited(request: web.Request, limit: int, timeout_s: float) -> bytes:
    try:
        async with asyncio.timeout(timeout_s):
            raw = await request.read()
    except TimeoutError:
        raise ApiError(408, "body_timeout", f"the request body was not received within {timeout_s:g} s") from None
    except web.HTTPRequestEntityTooLarge:
        raise ApiError(413, "body_too_large", f"request body exceeds {limit} bytes") from None
    if len(raw) > limit:  # (the app's client_max_size is one byte above the limit: exactly the limit is accepted)
        raise ApiError(413, "body_too_large", f"request body exceeds {limit} bytes")
    return raw


def max_version(request: web.Request) -> datetime:
    """The newest entity version accepted now: a later one would freeze the entity (no real update could outrank
    it), so it is refused."""
    return datetime.now(UTC) + timedelta(seconds=request.app[keys.SETTINGS].timestamp_tolerance_s)


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


def _encodable(events: list[NewEvent]) -> None:
    """Refuse, before it joins a group commit, a request whose texts the database driver could not encode (a lone
    surrogate): it would otherwise fail in the middle of a batch shared with other requests."""
    for e in events:
        for name, text in (("id", e.sender_id), ("dedup_key", e.dedup_key)):
            if text is None:
                continue
            try:
                text.encode()
            except UnicodeEncodeError:
                raise ApiError(400, "invalid_event", f"the event's {name} is not valid UTF-8",
                               fields=[{"field": name, "message": "not valid UTF-8"}]) from None


async def _commit(request: web.Request, events: list[NewEvent], source: str) -> web.Response:
    metrics = request.app[keys.METRICS]
    _encodable(events)
    # a draft order's event is answered "ignored" and not stored (a draft is not an order: shared.models)
    drafts = [e for e in events if e.draft]
    if drafts:
        events = [e for e in events if not e.draft]
    try:
        results = await request.app[keys.COMMITTER].submit(events) if events else []
    except UnstorableEvents:
        raise ApiError(422, "unstorable_event", "these events cannot be stored") from None
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
                    for e, r in zip(events, results)]
        + [{"id": e.sender_id, "status": "ignored", "reason": "draft order"} for e in drafts],
    }
    if drafts:
        body["ignored"] = len(drafts)
    return json_response(body, status=202 if accepted else 200)


async def post_events(request: web.Request) -> web.Response:
    """``POST /v1/stores/{store_id}/events``: plugin-format events, Standard Webhooks signed."""
    t0 = time.perf_counter()
    auth, body = await signed_json(request)
    try:
        events = events_from_body(body, store_id=auth.id, max_events=request.app[keys.SETTINGS].max_batch_events,
                                  max_version=max_version(request))
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
    delivery_id = request.headers.get("X-WC-Webhook-Delivery-ID")
    if delivery_id is not None and not _HEADER_ID.fullmatch(delivery_id):
        # (a header that is not UTF-8 arrives with surrogate escapes, which the database driver cannot encode)
        raise ApiError(400, "invalid_header", "X-WC-Webhook-Delivery-ID must be 1-200 printable ASCII characters",
                       fields=[{"field": "X-WC-Webhook-Delivery-ID", "message": "must be 1-200 printable ASCII "
                                "characters"}])
    body = parse_json(raw)
    try:
        event = event_from_wc_webhook(topic, body, store_id=auth.id, delivery_id=delivery_id,
                                      received_at=datetime.now(UTC), max_version=max_version(request))
    except InvalidEvent as exc:
        raise ApiError(422, "invalid_event", "the webhook body breaks the expected shape", fields=exc.fields) from None
    if event is None:
        reason = "draft order" if is_draft_order(body, topic.partition(".")[0]) else f"topic {topic!r} is not synced"
        return json_response({"accepted": 0, "duplicates": 0, "ignored": True, "reason": reason})
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
    """``POST /v1/stores/{store_id}/resync``: a signed request for a backfill of this store. Idempotent on its
    ``webhook-id``: the same signed request again (a replay within the signature's tolerance, a retry) answers
    200 with the job the first one created."""
    auth = await store_auth(request)
    raw = await read_body(request)
    msg_id = check_signature(request, auth, raw)
    body = parse_json(raw)
    try:
        req = ResyncRequest.model_validate(body if body is not None else {})
    except ValidationError as exc:
        fields = [{"field": ".".join(map(str, e["loc"])) or "body", "message": e["msg"]} for e in exc.errors()]
        raise ApiError(422, "invalid_request", "the resync request is invalid", fields=fields) from None
    params = {"since": req.since.isoformat() if req.since else None, "resources": req.resources}
    db = request.app[keys.DB]
    row = None
    for _ in range(2):  # no row: a concurrent copy of this request committed after the statement began; read it
        row = await db.fetchrow("insert_job_once", ids.new_id("job"), auth.id, "backfill", params, "store:plugin",
                                msg_id)
        if row is not None:
            break
    assert row is not None  # the job was inserted, or a committed one holds this request id
    if not row["new"]:
        logger.bind(action="ingest.resync_duplicate", store_id=auth.id, job_id=row["id"]).info(
            "resync request seen before; no new job")
        return json_response({"job_id": row["id"], "status": row["status"], "duplicate": True})
    logger.bind(action="ingest.resync_requested", store_id=auth.id, job_id=row["id"]).info("resync requested")
    return json_response({"job_id": row["id"], "status": row["status"]}, status=202)
