"""Console pages: sign-in, dashboard, outbox browser, entity timeline, replay, resync, erasure, audit, alerts,
matches (the review list of records the org already had).

Every page needs a session (cookie ``wf_session``: HttpOnly, SameSite=Lax); every POST needs the session's
CSRF token (form field ``csrf_token`` or header ``X-CSRF-Token``). The work is done by :mod:`collector.console.service`.
"""
from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp_jinja2
import jinja2
from aiohttp import web
from aiohttp.typedefs import Handler
from loguru import logger

from collector import keys
from collector.api.handlers import launch_replay
from collector.console.charts import outcomes_chart
from collector.console.service import STATUSES, AuthFailed, Forbidden, InvalidInput, OutboxFilter, csrf_ok, parse_time
from collector.webauth import (
    CSRF_HEADER,
    LOGIN_CSRF_COOKIE,
    SAFE_METHODS,
    SESSION_COOKIE,
    client_ip,
    manager,
    principal,
    security_headers,
    session_principal,
    set_session_cookie,
)
from shared import alerts
from shared.errors import NotFound
from shared.models import RESOURCES

STATIC = Path(__file__).parent / "static"
PUBLIC = ("/console/login", "/console/static/")


def _render(request: web.Request, template: str, ctx: dict, status: int = 200) -> web.Response:
    p = request.get("principal")
    names: dict[str, str] = request.get("store_names", {})
    base = {"me": p, "csrf_token": p.csrf_token if p else None, "path": request.path,
            "store_name": lambda sid: names.get(sid, sid) if sid else ""}
    return aiohttp_jinja2.render_template(template, request, {**base, **ctx}, status=status)


def fmt_time(d: datetime | None) -> str:
    """A timestamp as the console shows it: in UTC, saying so."""
    if d is None:
        return ""
    return (d.astimezone(UTC) if d.tzinfo else d.replace(tzinfo=UTC)).strftime("%Y-%m-%d %H:%M:%S UTC")


def _age(seconds: float) -> str:
    if seconds < 90:
        return f"{max(seconds, 0):.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def sync_banner(d: dict, waiting_since: datetime | None, now: datetime) -> dict[str, Any]:
    """The store owner's question, answered: is it in sync, and since when not? From the dashboard's backlog and
    dead-letter counts and when the oldest change not yet in Salesforce arrived."""
    backlog, dead = int(d["backlog"]), int(d["totals"].get("dead", 0))
    if not backlog and not dead:
        return {"in_sync": True, "text": "In sync: nothing waiting to go to Salesforce."}
    parts = []
    if backlog:
        parts.append(f"{backlog} change{'s' if backlog != 1 else ''} waiting")
    if dead:
        parts.append(f"{dead} dead letter{'s' if dead != 1 else ''} (Salesforce refused: replay once fixed)")
    since = "" if waiting_since is None else \
        f" since {fmt_time(waiting_since)} ({_age((now - waiting_since).total_seconds())} ago)"
    return {"in_sync": False, "text": f"Not in sync{since}: " + "; ".join(parts) + "."}


def _error_page(request: web.Request, status: int, message: str) -> web.Response:
    return _render(request, "error.html", {"status": status, "message": message}, status=status)


@web.middleware
async def console_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith(PUBLIC):
        resp = await handler(request)
        security_headers(resp)
        return resp
    p = await session_principal(request)
    if p is None:
        if request.method in SAFE_METHODS:
            raise web.HTTPFound("/console/login?" + urlencode({"next": request.path_qs}))
        return _error_page(request, 401, "Your session expired: sign in again.")
    request["principal"] = p
    request["store_names"] = {r["id"]: r["name"] for r in await manager(request).store_names(p)}
    if request.method not in SAFE_METHODS:
        form = await request.post()
        given = form.get("csrf_token") or request.headers.get(CSRF_HEADER)
        if not csrf_ok(p.csrf_token, given if isinstance(given, str) else None):
            logger.bind(action="console.csrf_refused", path=request.path).warning("CSRF token missing or wrong")
            return _error_page(request, 403, "The form's security token is missing or wrong. Reload and try again.")
    try:
        resp = await handler(request)
    except Forbidden as exc:
        resp = _error_page(request, 403, exc.message)
    except NotFound as exc:
        resp = _error_page(request, 404, exc.message)
    except InvalidInput as exc:
        resp = _error_page(request, 422, exc.message)
    security_headers(resp)
    return resp


# -- sign-in -----------------------------------------------------------------------------------

async def login_form(request: web.Request) -> web.Response:
    token = secrets.token_urlsafe(24)  # login CSRF: double-submit cookie (there is no session yet)
    resp = _render(request, "login.html", {"login_csrf": token, "next": request.query.get("next", "/console/"),
                                           "error": None})
    resp.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="Strict", path="/console/login",
                    secure=request.config_dict[keys.SETTINGS].console_cookie_secure)
    return resp


LOGIN_MAX_FAILURES = 5        # per email (20 per client address: offices share one) ...
LOGIN_WINDOW_S = 15 * 60      # ... within this window, then sign-in is refused until it passes
_failures: dict[str, list[float]] = {}


def _throttled(keys_: list[str]) -> bool:
    now = time.monotonic()
    for k in keys_:
        recent = [t for t in _failures.get(k, []) if now - t < LOGIN_WINDOW_S]
        _failures[k] = recent
        if len(recent) >= LOGIN_MAX_FAILURES * (4 if k.startswith("ip:") else 1):
            return True
    return False


def _failed(keys_: list[str]) -> None:
    if len(_failures) > 100_000:
        _failures.clear()
    for k in keys_:
        _failures.setdefault(k, []).append(time.monotonic())


async def login(request: web.Request) -> web.Response:
    form = await request.post()
    nxt = str(form.get("next") or "/console/")
    if not nxt.startswith("/console/") or nxt.startswith("//"):
        nxt = "/console/"
    if not csrf_ok(request.cookies.get(LOGIN_CSRF_COOKIE), str(form.get("csrf_token") or "")):
        return _error_page(request, 403, "The sign-in form expired. Reload and try again.")
    m = manager(request)
    throttle_keys = ["email:" + str(form.get("email", "")).strip().lower(), f"ip:{client_ip(request)}"]
    if _throttled(throttle_keys):
        logger.bind(action="console.login_throttled").warning("sign-in throttled")
        return _error_page(request, 429, "Too many failed sign-ins: try again in a few minutes.")
    try:
        p = await m.authenticate(str(form.get("email", "")), str(form.get("password", "")))
    except AuthFailed:
        _failed(throttle_keys)
        logger.bind(action="console.login_failed").info("sign-in refused")
        token = secrets.token_urlsafe(24)
        resp = _render(request, "login.html", {"login_csrf": token, "next": nxt, "error": "Wrong email or password."},
                       status=401)
        resp.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="Strict", path="/console/login")
        return resp
    token, _ = await m.create_session(p, client_ip(request))
    logger.bind(action="console.login", operator_id=p.operator_id).info("signed in")
    resp = web.HTTPFound(nxt)
    set_session_cookie(resp, request, token)
    resp.del_cookie(LOGIN_CSRF_COOKIE, path="/console/login")
    raise resp


async def logout(request: web.Request) -> web.Response:
    await manager(request).end_session(request.cookies.get(SESSION_COOKIE))
    resp = web.HTTPFound("/console/login")
    resp.del_cookie(SESSION_COOKIE, path="/")
    raise resp


# -- pages -------------------------------------------------------------------------------------

async def dashboard(request: web.Request) -> web.Response:
    p = principal(request)
    store = request.query.get("store") or None
    data = await manager(request).dashboard(p, store)
    since = await manager(request).waiting_since(p, store)
    return _render(request, "dashboard.html", {"d": data, "store": store, "chart": outcomes_chart(data["outcomes"]),
                                               "sync": sync_banner(data, since, datetime.now(UTC)),
                                               "stores": await manager(request).store_names(p),
                                               "msg": request.query.get("msg")})


async def outbox(request: web.Request) -> web.Response:
    p = principal(request)
    f = OutboxFilter.parse(request.query)
    settings = request.config_dict[keys.SETTINGS]
    rows, cursor = await manager(request).outbox_page(p, f, cursor=request.query.get("cursor"),
                                                      limit=settings.console_page_size)
    params = f.as_params()
    return _render(request, "outbox.html", {
        "rows": rows, "f": f, "params": params, "stores": await manager(request).store_names(p),
        "resources": RESOURCES, "statuses": STATUSES,
        "next_url": "/console/outbox?" + urlencode({**params, "cursor": cursor}) if cursor else None,
        "first_url": "/console/outbox?" + urlencode(params) if request.query.get("cursor") else None,
        "replay_url": "/console/replays/new?" + urlencode(params),
    })


def _entity_args(request: web.Request) -> tuple[str, str, int, str]:
    m = request.match_info
    try:
        rid = int(m["resource_id"])
    except ValueError:
        raise NotFound("no such entity") from None
    return m["store_id"], m["resource"], rid, request.query.get("destination", "salesforce")


async def entity(request: web.Request) -> web.Response:
    store_id, resource, rid, dest = _entity_args(request)
    data = await manager(request).entity(principal(request), store_id, resource, rid, dest)
    return _render(request, "entity.html", {"e": data, "store_id": store_id, "resource": resource, "rid": rid,
                                            "dest": dest, "msg": request.query.get("msg")})


async def entity_action(request: web.Request) -> web.Response:
    store_id, resource, rid, dest = _entity_args(request)
    m, p = manager(request), principal(request)
    if request.match_info["action"] == "replay":
        res = await m.replay_entity(p, store_id, resource, rid, dest, ip=client_ip(request))
        msg = "Replayed: back to pending." if res["replayed"] else "Nothing to replay (already pending or leased)."
    else:
        res = await m.sync_entity(p, store_id, resource, rid, dest, ip=client_ip(request))
        msg = "Queued to be sent now." if res["queued"] else "Being delivered right now (leased)."
    raise web.HTTPFound(f"/console/outbox/{store_id}/{resource}/{rid}?" + urlencode({"destination": dest, "msg": msg}))


async def replay_new(request: web.Request) -> web.Response:
    p = principal(request)
    f = OutboxFilter.parse(request.query)
    manager(request).require(p, "operator")
    count = await manager(request).replay_count(p, f)
    return _render(request, "replay_confirm.html", {"count": count, "params": f.as_params(), "f": f})


async def replay_create(request: web.Request) -> web.Response:
    p = principal(request)
    form = await request.post()
    f = OutboxFilter.parse(form)
    m = manager(request)
    expected = str(form.get("expected_count", ""))
    count = await m.replay_count(p, f)
    if expected.isdigit() and int(expected) != count:
        return _render(request, "replay_confirm.html", {"count": count, "params": f.as_params(), "f": f,
                                                        "changed": int(expected)}, status=409)
    replay = await m.start_replay(p, f, ip=client_ip(request))
    launch_replay(request, p, f, replay)
    raise web.HTTPFound(f"/console/replays/{replay['id']}")


async def replay_show(request: web.Request) -> web.Response:
    r = await manager(request).get_replay(principal(request), request.match_info["replay_id"])
    return _render(request, "replay.html", {"r": r, "outbox_url": "/console/outbox?" + urlencode(
        {k: v for k, v in r["filter"].items() if k != "q" or not str(v).startswith("email:")})})


async def resync(request: web.Request) -> web.Response:
    form = await request.post()
    store_id = request.match_info["store_id"]
    since = parse_time(str(form.get("since") or "") or None, "since")
    res = await manager(request).resync_store(principal(request), store_id, since, None, ip=client_ip(request))
    raise web.HTTPFound("/console/?" + urlencode({"store": store_id, "msg": f"Resync requested: job {res['job_id']}"}))


async def erase_form(request: web.Request) -> web.Response:
    manager(request).require(principal(request), "admin")
    return _render(request, "erase.html", {"result": None})


async def erase(request: web.Request) -> web.Response:
    form = await request.post()
    email = str(form.get("email") or "")
    if "@" not in email:
        raise InvalidInput("enter the customer's email address")
    m, p = manager(request), principal(request)
    res = await m.erase_customer(p, email, store_id=str(form.get("store") or "") or None,
                                 salesforce=form.get("salesforce") == "on", ip=client_ip(request))
    jobs = await m.erasure_jobs(p, res.get("salesforce_jobs") or [])
    return _render(request, "erase.html", {"result": res, "jobs": jobs})


async def erasure_show(request: web.Request) -> web.Response:
    """One Salesforce erasure job's state; the page refreshes itself until the job has finished."""
    job = await manager(request).erasure_job(principal(request), request.match_info["job_id"])
    return _render(request, "erasure.html", {"job": job, "finished": job["result"] is not None})


async def reconcile_run(request: web.Request) -> web.Response:
    run = await manager(request).reconcile_run(principal(request), request.match_info["run_id"])
    return _render(request, "reconcile_run.html", {"run": run})


async def audit(request: web.Request) -> web.Response:
    before = request.query.get("before_id", "")
    rows = await manager(request).audit_entries(principal(request), action=request.query.get("action") or None,
                                                before_id=int(before) if before.isdigit() else None)
    return _render(request, "audit.html", {"rows": rows})


async def alert_list(request: web.Request) -> web.Response:
    p = principal(request)
    rows = [r for r in await alerts.list_alerts(request.config_dict[keys.DB])
            if not p.store_id or r["store_id"] == p.store_id]
    return _render(request, "alerts.html", {"rows": rows})


def _sf_time(value: Any) -> datetime | None:
    """A Salesforce datetime (``2026-12-03T16:11:04.000+0000``) for the console's UTC display; None if unreadable."""
    try:
        return datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


async def matches(request: web.Request) -> web.Response:
    """The store's open matches, each with its candidates side by side and a pick form per candidate."""
    p, m = principal(request), manager(request)
    stores = await m.store_names(p)
    store = request.query.get("store") or p.store_id or (stores[0]["id"] if len(stores) == 1 else None)
    rows = await m.matches(p, store) if store else []
    for row in rows:
        for c in row["candidates"]:
            c["created_at"] = _sf_time(c.get("CreatedDate"))
            c["partner"] = c.get("AccountId") or c.get("PricebookEntryId")
    return _render(request, "matches.html", {"rows": rows, "store": store, "stores": stores,
                                             "msg": request.query.get("msg")})


async def match_resolve(request: web.Request) -> web.Response:
    form = await request.post()
    store_id = request.match_info["store_id"]
    pick = str(form.get("pick") or "")
    res = await manager(request).resolve_match(principal(request), store_id, str(form.get("key") or ""), pick,
                                               ip=client_ip(request))
    what = "a new record will be created" if pick == "create" else f"{pick} will be used"
    msg = f"Picked: {what} on the next delivery ({len(res['replayed'])} dead row(s) back to pending)."
    raise web.HTTPFound("/console/matches?" + urlencode({"store": store_id, "msg": msg}))


def _short(value: Any, n: int = 80) -> str:
    s = "" if value is None else str(value)
    return s if len(s) <= n else s[: n - 1] + "…"


def create_console_app() -> web.Application:
    app = web.Application(middlewares=[console_auth])
    env = aiohttp_jinja2.setup(app, loader=jinja2.PackageLoader("collector.console", "templates"), autoescape=True)
    env.filters["short"] = _short
    env.filters["dt"] = fmt_time
    env.filters["secs"] = lambda s: "–" if s is None else (f"{s:.1f} s" if s < 120 else f"{s / 60:.1f} min")
    env.globals["urlencode"] = urlencode
    r = app.router
    r.add_get("/login", login_form)
    r.add_post("/login", login)
    r.add_post("/logout", logout)
    r.add_get("/", dashboard)
    r.add_get("/outbox", outbox)
    r.add_get("/outbox/{store_id}/{resource}/{resource_id}", entity)
    r.add_post("/outbox/{store_id}/{resource}/{resource_id}/{action:replay|sync}", entity_action)
    r.add_get("/replays/new", replay_new)
    r.add_post("/replays", replay_create)
    r.add_get("/replays/{replay_id}", replay_show)
    r.add_post("/stores/{store_id}/resync", resync)
    r.add_get("/erase", erase_form)
    r.add_post("/erase", erase)
    r.add_get("/erasures/{job_id}", erasure_show)
    r.add_get("/reconcile/{run_id}", reconcile_run)
    r.add_get("/audit", audit)
    r.add_get("/alerts", alert_list)
    r.add_get("/matches", matches)
    r.add_post("/matches/{store_id}/resolve", match_resolve)
    r.add_static("/static", STATIC)
    return app
