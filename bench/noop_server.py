"""The baseline for bench/ingest.py: an aiohttp handler that reads the body and answers 202, storing nothing."""
from __future__ import annotations

import sys

from aiohttp import web


async def noop(request: web.Request) -> web.Response:
    await request.read()
    return web.json_response({"accepted": 0, "duplicates": 0, "results": []}, status=202)


async def ready(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def create_app() -> web.Application:
    app = web.Application(client_max_size=5 * 1024 * 1024)
    app.router.add_post("/v1/stores/{store_id}/events", noop)
    app.router.add_get("/readyz", ready)
    return app


if __name__ == "__main__":
    web.run_app(create_app(), host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
