"""aiohttp app: ``create_app(org, faults, settings)``; the REST API, the token endpoint and the control API."""
from __future__ import annotations

import asyncio
import json
import time
from urllib.parse import parse_qsl

from aiohttp import web
from aiohttp.typedefs import Handler
from loguru import logger

from . import bulk2, composite, oauth, tooling  # noqa: F401 - registers composite/bulk2/tooling routes
from .api import Call, Resp, dispatch, versions
from .control import setup_control_routes
from .dml import Ctx
from .errors import invalid_session, limit_exceeded, server_unavailable
from .faults import Faults
from .keys import FAULTS, ORG, SETTINGS, STOPPING, TASKS
from .state import OrgState

JSON_CT = "application/json;charset=UTF-8"


def _json(status: int, body, headers: dict | None = None) -> web.Response:
    if body is None:
        return web.Response(status=status, headers=headers)
    return web.Response(status=status, text=json.dumps(body), headers={"Content-Type": JSON_CT, **(headers or {})})


def _limit_header(org: OrgState) -> dict:
    return {"Sforce-Limit-Info": f"api-usage={org.api_usage}/{org.daily_api_max}"}


async def _hang(app: web.Application, seconds: float) -> None:
    try:
        await asyncio.wait_for(app[STOPPING].wait(), timeout=seconds)
    except TimeoutError:
        pass


async def _pre_faults(request: web.Request, path: str) -> web.Response | None:
    """Latency, timeout, 503, REQUEST_LIMIT_EXCEEDED and session expiry faults (before processing)."""
    app, faults, org = request.app, request.app[FAULTS], request.app[ORG]
    delay_ms = app[SETTINGS]["latency_ms"] + sum(f.latency_ms for f in faults.pick(request.method, path,
                                                                                  {"latency"}))
    if delay_ms:
        await asyncio.sleep(delay_ms / 1000)
    for f in faults.pick(request.method, path, {"timeout", "unavailable", "request_limit", "expire_sessions"}):
        if f.kind == "timeout":
            await _hang(app, f.hang_s)
            return _json(503, server_unavailable().body())
        if f.kind == "unavailable":
            return _json(503, server_unavailable().body(), _retry_after(f))
        if f.kind == "request_limit":
            # the same envelope on the REST API and on the token call (path_contains="/services/oauth2/token")
            return _json(403, limit_exceeded(f.message).body(), {**_limit_header(org), **_retry_after(f)})
        if f.kind == "expire_sessions":
            org.expire_sessions()
    return None


async def _post_faults(request: web.Request, path: str) -> web.Response | None:
    for f in request.app[FAULTS].pick(request.method, path, {"timeout", "unavailable"}, phase="after"):
        if f.kind == "timeout":
            await _hang(request.app, f.hang_s)
        return _json(503, server_unavailable().body(), _retry_after(f))
    return None


def _retry_after(f) -> dict:
    return {"Retry-After": str(f.retry_after)} if f.retry_after is not None else {}


async def versions_handler(request: web.Request) -> web.Response:
    return _json(200, versions())


def _schedule_bulk(app: web.Application):
    def schedule(job) -> None:
        task = asyncio.get_running_loop().create_task(
            bulk2.process_job(app[ORG], job, app[SETTINGS].get("bulk_chunk_delay_s", 0.0)))
        app[TASKS].add(task)
        task.add_done_callback(app[TASKS].discard)
        job.task = task
    return schedule


async def api_handler(request: web.Request) -> web.Response:
    org, faults = request.app[ORG], request.app[FAULTS]
    version, tail = request.match_info["ver"], request.match_info.get("tail", "")
    path = f"/services/data/v{version}/{tail}"
    started = time.perf_counter()
    org.stats["requests"] += 1
    if (early := await _pre_faults(request, path)) is not None:
        return early
    auth = request.headers.get("Authorization", "")
    scheme, _, token = auth.partition(" ")
    token = token.strip() if scheme.lower() in ("bearer", "oauth") else ""
    session = org.session(token) if token else None
    if session is None:
        org.stats["unauthorized"] += 1
        return _json(401, invalid_session().body(), _limit_header(org))
    if org.api_usage >= org.daily_api_max:
        org.stats["limit_exceeded"] += 1
        return _json(403, limit_exceeded().body(), _limit_header(org))
    org.api_usage += 1
    body_text = await request.text()
    call = Call(method=request.method, path="/" + tail.rstrip("/") if tail.strip("/") else "", version=version,
                ctx=Ctx(session.user_id, float(version), faults.lock_hook(request.method, path)),
                query=dict(parse_qsl(request.query_string, keep_blank_values=True)), body_text=body_text,
                headers={k.lower(): v for k, v in request.headers.items()})
    org.acting_user = session.user_id  # field-level security applies to this caller (dispatch never awaits)
    try:
        name, resp = dispatch(org, call)
    finally:
        org.acting_user = None
    org.commit()
    org.stats[f"api.{name}"] += 1
    logger.bind(action="sf_emulator.request", duration_ms=round((time.perf_counter() - started) * 1000, 1)).trace(
        "{} {} -> {}", request.method, name, resp.status)
    if (late := await _post_faults(request, path)) is not None:
        return late
    return _render(org, resp)


def _render(org: OrgState, resp: Resp) -> web.Response:
    headers = {**resp.headers, **_limit_header(org)}
    if resp.content_type == "text/csv":
        return web.Response(status=resp.status, text=resp.body, headers={"Content-Type": "text/csv", **headers})
    return _json(resp.status, resp.body, headers)


async def token_handler(request: web.Request) -> web.Response:
    org = request.app[ORG]
    if (early := await _pre_faults(request, "/services/oauth2/token")) is not None:
        return early
    form = dict(await request.post())
    status, body = oauth.token(org, {k: str(v) for k, v in form.items()}, request.app[SETTINGS]["instance_url"])
    org.stats["oauth.token" if status == 200 else "oauth.token_failed"] += 1
    return _json(status, body, {"Cache-Control": "no-store"})


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/services/data", versions_handler)
    app.router.add_get("/services/data/", versions_handler)
    app.router.add_route("*", r"/services/data/v{ver:\d+\.\d}", api_handler, name="api_root")
    app.router.add_route("*", r"/services/data/v{ver:\d+\.\d}/{tail:.*}", api_handler)
    app.router.add_post("/services/oauth2/token", token_handler)
    setup_control_routes(app)


async def _lifecycle(app: web.Application):
    app[STOPPING] = asyncio.Event()
    app[ORG].bulk_scheduler = _schedule_bulk(app)
    yield
    app[STOPPING].set()
    for task in list(app[TASKS]):
        task.cancel()
    await asyncio.gather(*app[TASKS], return_exceptions=True)


URI_MAX_BYTES = 16_384  # Salesforce answers 414 to a longer request URI (Help article 000386264)


@web.middleware
async def uri_limit(request: web.Request, handler: Handler) -> web.StreamResponse:
    if len(request.raw_path.encode()) > URI_MAX_BYTES:
        # the body of Salesforce's 414 is not documented; the status is what clients act on
        return web.Response(status=414, text="URI Too Long")
    return await handler(request)


def create_app(org: OrgState, faults: Faults, settings: dict) -> web.Application:
    app = web.Application(client_max_size=160 * 1024 * 1024, middlewares=[uri_limit])
    app[ORG], app[FAULTS], app[TASKS] = org, faults, set()
    for key, default in (("latency_ms", 0.0), ("instance_url", ""), ("bulk_chunk_delay_s", 0.0)):
        settings.setdefault(key, default)
    app[SETTINGS] = settings  # shared with SalesforceEmulator: changes apply at run time
    app.cleanup_ctx.append(_lifecycle)
    setup_routes(app)
    return app
