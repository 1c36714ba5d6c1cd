"""Who is calling the console and the admin API: session cookie (console, with CSRF) or API token (scripts)."""
from __future__ import annotations

from aiohttp import web

from collector import keys
from collector.console.service import ConsoleManager, Principal

SESSION_COOKIE = "wf_session"
LOGIN_CSRF_COOKIE = "wf_login_csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "X-CSRF-Token"


def manager(request: web.Request) -> ConsoleManager:
    return request.config_dict[keys.CONSOLE]


def client_ip(request: web.Request) -> str | None:
    return request.remote


def principal(request: web.Request) -> Principal:
    p: Principal = request["principal"]
    return p


async def session_principal(request: web.Request) -> Principal | None:
    return await manager(request).session(request.cookies.get(SESSION_COOKIE))


async def bearer_principal(request: web.Request) -> Principal | None:
    """``None`` without an Authorization header; raises 401 for a wrong one."""
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    p = await manager(request).token_principal(token.strip()) if scheme.lower() == "bearer" else None
    if p is None:
        raise web.HTTPUnauthorized(reason="invalid or revoked API token")
    return p


def set_session_cookie(response: web.StreamResponse, request: web.Request, token: str) -> None:
    settings = request.config_dict[keys.SETTINGS]
    response.set_cookie(SESSION_COOKIE, token, max_age=settings.console_session_ttl_s, httponly=True,
                        samesite="Lax", secure=settings.console_cookie_secure, path="/")


def security_headers(response: web.StreamResponse) -> None:
    response.headers.setdefault("Content-Security-Policy",
                                "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("Cache-Control", "no-store")
