"""The admin API against its own OpenAPI document (issue 15, point 9): property-based requests from the schema
(schemathesis; valid and deliberately wrong: other types, missing fields) against a real collector app on a real
database, as an admin with a valid bearer token. No answer may be a 5xx; type-confused bodies get 422 naming the
field."""
from __future__ import annotations

import asyncio
import time

import pytest
import requests
import schemathesis
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from schemathesis.generation import GenerationMode

from collector.app import create_app
from collector.console.service import CLI, ConsoleManager
from tests.support.console import add_operator, seed_orders

pytestmark = pytest.mark.integration

EXAMPLES = 12  # per operation and mode: the whole run stays well under a minute (see the assertion below)


@pytest.fixture
async def api(db, settings, store):
    console = ConsoleManager(db)
    await add_operator(console, "admin@example.com", "admin")
    token, _ = await console.create_token(CLI, "admin@example.com", "fuzz")
    await seed_orders(db, store.id, [1, 2, 3], status="dead", error_code="FIELD_CUSTOM_VALIDATION_EXCEPTION")
    async with TestClient(TestServer(create_app(settings, db=db))) as c:
        yield c, {"Authorization": f"Bearer {token}"}, store


async def test_type_confused_bodies_get_422_naming_the_field(api):
    c, auth, store = api
    cases = [
        ("/api/v1/erasures", {"email": "a@b.c", "store_id": 5}, "store_id"),
        ("/api/v1/erasures", {"email": "a@b.c", "salesforce": "yes"}, "salesforce"),
        ("/api/v1/erasures", {"email": 7}, "email"),
        ("/api/v1/replays/preview", {"filter": "dead"}, "filter"),
        ("/api/v1/replays/preview", {"filter": [1]}, "filter"),
        ("/api/v1/replays/preview", {"filter": {"status": 5}}, "filter.status"),
        ("/api/v1/replays", {"filter": {"store": ["x"]}}, "filter.store"),
        ("/api/v1/replays", {"filter": {}, "expected_count": "3"}, "expected_count"),
        (f"/api/v1/stores/{store.id}/resync", {"resources": "orders"}, "resources"),
        (f"/api/v1/stores/{store.id}/resync", {"resources": [1]}, "resources[0]"),
        (f"/api/v1/stores/{store.id}/resync", {"since": 20260101}, "since"),
    ]
    for path, body, field in cases:
        r = await c.post(path, json=body, headers=auth)
        assert r.status == 422, (path, body, r.status, await r.text())
        err = (await r.json())["error"]
        assert err["fields"][0]["field"] == field, (path, body, err)
        assert field in err["message"]


def _fuzz(base_url: str, auth: dict[str, str]) -> list[str]:
    """Every operation of openapi.yaml, positive and negative; the 5xx answers found (as text)."""
    schema = schemathesis.openapi.from_url(f"{base_url}/api/v1/openapi.yaml")
    failures: list[str] = []
    session = requests.Session()
    session.trust_env = False
    for result in schema.get_all_operations():
        op = result.ok()
        for mode in GenerationMode:
            @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                      suppress_health_check=list(HealthCheck))
            @given(case=op.as_strategy(generation_mode=mode))
            def check(case) -> None:
                headers = {**(case.headers or {}), **auth}
                resp = case.call(base_url=f"{base_url}/api/v1", session=session, headers=headers, timeout=10)
                if resp.status_code >= 500:
                    failures.append(f"{case.method} {case.formatted_path} {mode.value} query={case.query} "
                                    f"body={case.body!r} -> {resp.status_code} {resp.text[:200]}")

            check()
    return failures


async def test_the_whole_api_answers_no_5xx_to_generated_requests(api):
    c, auth, _ = api
    t0 = time.monotonic()
    failures = await asyncio.to_thread(_fuzz, str(c.make_url("")).rstrip("/"), auth)
    elapsed_s = time.monotonic() - t0
    assert not failures, "\n".join(failures[:20])
    print(f"schemathesis run: {elapsed_s:.1f} s")
    assert elapsed_s < 60
