"""Logs: JSON lines in rotating files, a stable action on each line, sync results in their own file."""
from __future__ import annotations

import json

from loguru import logger

from shared.logs import setup_logging
from shared.settings import Settings


def test_files_get_json_lines_with_action(tmp_path):
    settings = Settings(_env_file=None, data_dir=tmp_path, log_level="INFO")
    setup_logging(settings, "collector")
    try:
        logger.bind(action="ingest.accepted", store_id="st_x").info("accepted 3 events")
        logger.bind(action="sync.delivered", store_id="st_x", resource="order").info("order delivered")
        logger.complete()
    finally:
        logger.remove()
    lines = [json.loads(ln) for ln in (tmp_path / "logs" / "collector.log").read_text().splitlines()]
    assert [ln["record"]["extra"]["action"] for ln in lines] == ["ingest.accepted", "sync.delivered"]
    assert lines[0]["record"]["extra"]["process_name"] == "collector"
    sync = [json.loads(ln) for ln in (tmp_path / "logs" / "sync-results.log").read_text().splitlines()]
    assert [ln["record"]["extra"]["action"] for ln in sync] == ["sync.delivered"]


def test_rejected_requests_log_no_payload(tmp_path):
    """The collector logs the error code for a rejected request, never the body it refused."""
    import asyncio

    from aiohttp import web
    from aiohttp.test_utils import TestClient, TestServer

    from collector.errors import ApiError, make_error_middleware

    async def handler(request):
        await request.read()
        raise ApiError(422, "invalid_event", "the body breaks the event schema")

    async def run():
        app = web.Application(middlewares=[make_error_middleware(5)])
        app.router.add_post("/v1/x", handler)
        async with TestClient(TestServer(app)) as c:
            await c.post("/v1/x", data=b'{"email": "jane.doe@example.com", "phone": "+1 555 0100"}')

    settings = Settings(_env_file=None, data_dir=tmp_path)
    setup_logging(settings, "collector")
    try:
        asyncio.run(run())
        logger.complete()
    finally:
        logger.remove()
    text = (tmp_path / "logs" / "collector.log").read_text()
    assert "invalid_event" in text
    assert "jane.doe" not in text and "555" not in text
