"""JSON error bodies ``{"error": {"code", "message"[, "fields"]}}`` for every failure the API answers."""
from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from loguru import logger

from shared.errors import DatabaseUnavailable

_REASONS = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
            408: "body_timeout",
            413: "body_too_large", 415: "unsupported_media_type", 422: "invalid_event", 429: "too_many_requests",
            503: "unavailable"}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, *, fields: list | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.fields, self.headers = status, code, message, fields, headers


def error_response(status: int, code: str, message: str, *, fields: list | None = None,
                   headers: dict[str, str] | None = None) -> web.Response:
    err: dict = {"code": code, "message": message}
    if fields:
        err["fields"] = fields
    return web.json_response({"error": err}, status=status, headers=headers)


def make_error_middleware(retry_after_s: int) -> Middleware:
    @web.middleware
    async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            encoding = request.headers.get("Content-Encoding", "").strip().lower()
            if encoding not in ("", "identity"):
                # refused before a byte of the body is read (the app never inflates bodies: app.py)
                raise ApiError(415, "unsupported_content_encoding",
                               f"Content-Encoding {encoding[:40]!r} is not accepted: send the body uncompressed")
            return await handler(request)
        except ApiError as exc:
            logger.bind(action="ingest.rejected", status=exc.status, code=exc.code,
                        path=request.match_info.route.resource.canonical if request.match_info.route.resource else "-"
                        ).info(exc.message)
            return error_response(exc.status, exc.code, exc.message, fields=exc.fields, headers=exc.headers)
        except DatabaseUnavailable as exc:
            logger.bind(action="ingest.db_unavailable").warning(str(exc))
            return error_response(503, "database_unavailable", "the database is unreachable; retry later",
                                  headers={"Retry-After": str(retry_after_s)})
        except web.HTTPRequestEntityTooLarge:
            # (the exception keeps no max_size attribute: reading exc.max_size raised AttributeError here)
            return error_response(413, "body_too_large", f"request body exceeds {request.client_max_size - 1} bytes")
        except web.HTTPException as exc:
            if exc.status < 400 or not request.path.startswith(("/v1/", "/api/")):
                raise
            return error_response(exc.status, _REASONS.get(exc.status, "error"), exc.reason, headers=None)

    return error_middleware
