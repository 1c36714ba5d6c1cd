"""Liveness, readiness (checks the database) and Prometheus metrics."""
from __future__ import annotations

import asyncio

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from collector import keys
from shared.errors import DatabaseUnavailable, WooforceError


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    try:
        await asyncio.wait_for(request.app[keys.DB].fetchval("ping"), timeout=2)
    except (TimeoutError, WooforceError) as exc:
        code = "database_unavailable" if isinstance(exc, DatabaseUnavailable | TimeoutError) else "database_error"
        return web.json_response({"status": "unavailable", "error": {"code": code, "message": str(exc) or code}},
                                 status=503, headers={"Retry-After": str(request.app[keys.SETTINGS].retry_after_s)})
    undecryptable = request.app[keys.STORES].undecryptable
    if undecryptable:  # a store written with another master key: its signed events cannot be verified
        store_id, message = next(iter(undecryptable.items()))
        return web.json_response({"status": "unavailable", "error": {
            "code": "master_key_mismatch", "message": f"store {store_id}: {message}",
            "stores": sorted(undecryptable)}}, status=503)
    return web.json_response({"status": "ok"})


async def metrics(request: web.Request) -> web.Response:
    m = request.app[keys.METRICS]
    try:  # the agent's per-store flush window (sf_budget); the ingest metrics are served without it
        rows = await asyncio.wait_for(request.app[keys.DB].fetch("metrics_flush_windows"), timeout=2)
        m.set_flush_windows([(r["store_id"], float(r["flush_window_s"])) for r in rows])
    except (TimeoutError, WooforceError):
        pass
    return web.Response(body=m.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})
