"""Admin API handlers (``/api/v1/...``): thin JSON wrappers over :mod:`collector.console.service`.

Authenticated by ``Authorization: Bearer wf_...`` (scripts) or the console's session cookie, in which case
every state-changing request must carry the session's ``X-CSRF-Token``.
"""
from __future__ import annotations

import asyncio
from decimal import Decimal
from importlib import resources
from typing import Any

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler

from collector import keys
from collector.console.service import AuthFailed, Forbidden, InvalidInput, OutboxFilter, Principal, csrf_ok, parse_time
from collector.errors import ApiError
from collector.webauth import (
    CSRF_HEADER,
    SAFE_METHODS,
    bearer_principal,
    client_ip,
    manager,
    principal,
    session_principal,
)
from shared import alerts
from shared.errors import NotFound


def _default(obj):
    if isinstance(obj, Decimal):
        return float(obj)
    if isinstance(obj, (bytes, memoryview)):
        return bytes(obj).hex()
    raise TypeError


def json_response(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body, default=_default), status=status, content_type="application/json")


@web.middleware
async def api_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path == "/api/v1/openapi.yaml":
        return await handler(request)
    try:
        p = await bearer_principal(request)
    except web.HTTPUnauthorized as exc:
        raise ApiError(401, "unauthorized", exc.reason) from None
    if p is None:
        p = await session_principal(request)
        if p is not None and request.method not in SAFE_METHODS and not csrf_ok(p.csrf_token,
                                                                                 request.headers.get(CSRF_HEADER)):
            raise ApiError(403, "csrf_failed", f"missing or wrong {CSRF_HEADER} header")
    if p is None:
        raise ApiError(401, "unauthorized", "sign in or send Authorization: Bearer wf_...")
    request["principal"] = p
    try:
        return await handler(request)
    except Forbidden as exc:
        raise ApiError(403, exc.code, exc.message) from None
    except NotFound as exc:
        raise ApiError(404, "not_found", exc.message) from None
    except (InvalidInput, AuthFailed) as exc:
        raise ApiError(422, exc.code, exc.message) from None


async def _json(request: web.Request) -> dict:
    if not request.can_read_body:
        return {}
    settings = request.config_dict[keys.SETTINGS]
    try:
        async with asyncio.timeout(settings.http_body_timeout_s):
            raw = await request.read()
    except TimeoutError:
        raise ApiError(408, "body_timeout", "the request body was not received in time") from None
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "invalid_json", f"body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", "body must be a JSON object")
    return body


def _invalid(field: str, message: str) -> ApiError:
    return ApiError(422, "invalid_input", f"{field} {message}", fields=[{"field": field, "message": message}])


def _opt(body: dict, name: str, kind: type | tuple[type, ...], what: str) -> Any:
    """``body[name]`` when present and not null, of ``kind`` (422 naming the field otherwise)."""
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise _invalid(name, f"must be {what}")
    return value


def _text(value: Any, field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _invalid(field, "must be a string")
    if "\x00" in value:
        raise _invalid(field, "must not contain NUL characters")
    return value


def _filter(body: dict) -> OutboxFilter:
    """The body's ``filter`` object: string values only (a number or a list there was a 500)."""
    raw = _opt(body, "filter", dict, "an object")
    raw = raw or {}
    for key, value in raw.items():
        _text(value, f"filter.{key}")
    return OutboxFilter.parse(raw)


def _query(request: web.Request) -> dict[str, str]:
    for key, value in request.query.items():
        _text(value, key)
    return dict(request.query)


def _entity(request: web.Request) -> tuple[str, str, int, str]:
    m = request.match_info
    try:
        rid = int(m["resource_id"])
    except ValueError:
        raise ApiError(404, "not_found", "resource id must be a number") from None
    return m["store_id"], m["resource"], rid, request.query.get("destination", "salesforce")


async def openapi(request: web.Request) -> web.Response:
    text = resources.files("collector").joinpath("openapi.yaml").read_text()
    return web.Response(text=text, content_type="application/yaml")


async def me(request: web.Request) -> web.Response:
    p = principal(request)
    return json_response({"email": p.email, "role": p.role, "store_id": p.store_id, "via": p.via})


async def dashboard(request: web.Request) -> web.Response:
    hours = int(request.query.get("hours", "24")) if request.query.get("hours", "24").isdigit() else 24
    return json_response(await manager(request).dashboard(principal(request), request.query.get("store") or None,
                                                          hours=max(1, min(hours, 24 * 31))))


async def outbox_list(request: web.Request) -> web.Response:
    f = OutboxFilter.parse(_query(request))
    limit = request.query.get("limit", "")
    settings = request.config_dict[keys.SETTINGS]
    page_size = int(limit) if limit.isdigit() else settings.console_page_size
    rows, cursor = await manager(request).outbox_page(principal(request), f, cursor=request.query.get("cursor"),
                                                      limit=page_size)
    return json_response({"items": rows, "next_cursor": cursor})


async def outbox_show(request: web.Request) -> web.Response:
    store_id, resource, rid, dest = _entity(request)
    return json_response(await manager(request).entity(principal(request), store_id, resource, rid, dest))


async def outbox_replay(request: web.Request) -> web.Response:
    store_id, resource, rid, dest = _entity(request)
    return json_response(await manager(request).replay_entity(principal(request), store_id, resource, rid, dest,
                                                              ip=client_ip(request)))


async def outbox_sync(request: web.Request) -> web.Response:
    store_id, resource, rid, dest = _entity(request)
    return json_response(await manager(request).sync_entity(principal(request), store_id, resource, rid, dest,
                                                            ip=client_ip(request)))


async def replay_preview(request: web.Request) -> web.Response:
    body = await _json(request)
    f = _filter(body)
    count = await manager(request).replay_count(principal(request), f)
    return json_response({"count": count, "filter": f.describe()})


def launch_replay(request: web.Request, p: Principal, f: OutboxFilter, replay: dict) -> None:
    """Run a bulk replay in the background (tracked, so shutdown waits for it)."""
    tasks = request.config_dict[keys.BACKGROUND]
    task = asyncio.create_task(manager(request).run_replay(p, replay["id"], f, replay["started_at"]))
    tasks.add(task)
    task.add_done_callback(tasks.discard)


async def replay_start(request: web.Request) -> web.Response:
    """Start a bulk replay. ``expected_count`` (optional): refuse if the filter now matches a different number."""
    body = await _json(request)
    p = principal(request)
    f = _filter(body)
    m = manager(request)
    expected = _opt(body, "expected_count", int, "an integer")
    if expected is not None:
        count = await m.replay_count(p, f)
        if count != expected:
            raise ApiError(409, "count_changed", f"the filter now matches {count} rows, not {expected}")
    replay = await m.start_replay(p, f, ip=client_ip(request))
    launch_replay(request, p, f, replay)
    return json_response(replay, status=202)


async def replay_get(request: web.Request) -> web.Response:
    return json_response(await manager(request).get_replay(principal(request), request.match_info["replay_id"]))


async def store_resync(request: web.Request) -> web.Response:
    body = await _json(request)
    since_text = _text(body.get("since"), "since")
    since = parse_time(since_text, "since") if since_text else None
    resources = _opt(body, "resources", list, "a list of orders, products, customers")
    if resources is not None:
        for i, r in enumerate(resources):
            _text(r, f"resources[{i}]")
    res = await manager(request).resync_store(principal(request), request.match_info["store_id"], since,
                                              resources, ip=client_ip(request))
    return json_response(res, status=202)


async def matches_list(request: web.Request) -> web.Response:
    """The store's review list of ambiguous matches (``status``: open by default, or decided, applied, all)."""
    status = _text(request.query.get("status"), "status") or "open"
    limit = request.query.get("limit", "")
    if limit and not limit.isdigit():
        raise _invalid("limit", "must be a positive integer")
    rows = await manager(request).matches(principal(request), request.match_info["store_id"],
                                          None if status == "all" else status, int(limit) if limit else 500)
    return json_response({"items": rows})


async def match_resolve(request: web.Request) -> web.Response:
    """An operator's pick for one open match: ``{"pick": "<a candidate's Id>" | "create"}``; the agent applies it."""
    body = await _json(request)
    pick = _text(body.get("pick"), "pick")
    if not pick:
        raise _invalid("pick", "is required: a candidate's Salesforce Id or create")
    return json_response(await manager(request).resolve_match(principal(request), request.match_info["store_id"],
                                                              request.match_info["key"], pick,
                                                              ip=client_ip(request)))


async def erasure(request: web.Request) -> web.Response:
    """Erase locally now; with ``salesforce``, the Salesforce part is queued as agent jobs (never waited on)."""
    body = await _json(request)
    email = body.get("email")
    if not isinstance(email, str) or "@" not in email:
        raise _invalid("email", "is required: a customer's email address")
    _text(email, "email")
    store_id = _text(body.get("store_id"), "store_id")
    salesforce = _opt(body, "salesforce", bool, "true or false")
    res = await manager(request).erase_customer(principal(request), email, store_id=store_id,
                                                salesforce=bool(salesforce), ip=client_ip(request))
    return json_response(res)


async def erasure_get(request: web.Request) -> web.Response:
    """A Salesforce erasure job: status, progress, result, error (admin; 404 for another store's job)."""
    return json_response(await manager(request).erasure_job(principal(request), request.match_info["job_id"]))


async def audit(request: web.Request) -> web.Response:
    before = request.query.get("before_id", "")
    rows = await manager(request).audit_entries(principal(request), action=request.query.get("action") or None,
                                                before_id=int(before) if before.isdigit() else None)
    return json_response({"items": rows})


async def alert_list(request: web.Request) -> web.Response:
    p = principal(request)
    rows = await alerts.list_alerts(request.config_dict[keys.DB], request.query.get("status") or None)
    return json_response({"items": [r for r in rows if not p.store_id or r["store_id"] == p.store_id]})


def create_api_app() -> web.Application:
    app = web.Application(middlewares=[api_auth])
    r = app.router
    r.add_get("/openapi.yaml", openapi)
    r.add_get("/me", me)
    r.add_get("/dashboard", dashboard)
    r.add_get("/outbox", outbox_list)
    r.add_get("/outbox/{store_id}/{resource}/{resource_id}", outbox_show)
    r.add_post("/outbox/{store_id}/{resource}/{resource_id}/replay", outbox_replay)
    r.add_post("/outbox/{store_id}/{resource}/{resource_id}/sync", outbox_sync)
    r.add_post("/replays/preview", replay_preview)
    r.add_post("/replays", replay_start)
    r.add_get("/replays/{replay_id}", replay_get)
    r.add_post("/stores/{store_id}/resync", store_resync)
    r.add_get("/stores/{store_id}/matches", matches_list)
    r.add_post("/stores/{store_id}/matches/{key}", match_resolve)
    r.add_post("/erasures", erasure)
    r.add_get("/erasures/{job_id}", erasure_get)
    r.add_get("/audit", audit)
    r.add_get("/alerts", alert_list)
    return app
