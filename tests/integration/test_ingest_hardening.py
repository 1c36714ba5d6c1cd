"""Ingest under hostile input (issue 15, points 5-9): one store's bad request cannot fail another's, compressed
bodies are refused before they are read, far-future versions are refused, /resync is idempotent, the body limit's
boundary, security headers on every answer, idle and slow connections timed out."""
from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer

from collector.app import create_app
from collector.batcher import GroupCommitter, UnstorableEvents
from shared.models import NewEvent
from shared.outbox import OutboxManager
from shared.signing import wc_signature
from tests.integration.conftest import StoreFixture, body_of, count, event

pytestmark = pytest.mark.integration

SECURITY_HEADERS = ("Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options", "Referrer-Policy")


@pytest.fixture
async def other_store(stores) -> StoreFixture:
    row, secret = await stores.add("Other shop", wc_url="https://other.example",
                                   wc_credentials={"webhook_secret": "other-secret"})
    return StoreFixture(row["id"], secret, "other-secret")


async def _serve(settings, db, **over):
    return TestClient(TestServer(create_app(settings.model_copy(update=over), db=db)))


async def _raw(client: TestClient, request: bytes, *, read_timeout_s: float = 10) -> tuple[int, dict, bytes]:
    """Send ``request`` as raw bytes (headers aiohttp's client would refuse); (status, headers, body)."""
    reader, writer = await asyncio.open_connection(client.host, client.port)
    try:
        writer.write(request)
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), read_timeout_s)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:] if ":" in ln)}
        body = await asyncio.wait_for(reader.readexactly(int(headers.get("content-length", "0"))), read_timeout_s)
        return status, headers, body
    finally:
        writer.close()


def _wc_request(store: StoreFixture, path_store: str, body: bytes, delivery_id: bytes) -> bytes:
    sig = wc_signature(store.wc_webhook_secret, body).encode()
    return (b"POST /v1/stores/" + path_store.encode() + b"/woocommerce HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\nX-WC-Webhook-Topic: order.updated\r\n"
            b"X-WC-Webhook-Signature: " + sig + b"\r\nX-WC-Webhook-Delivery-ID: " + delivery_id + b"\r\n"
            b"Connection: close\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


# point 5 ---------------------------------------------------------------------------------------------------------

async def test_a_bad_delivery_id_fails_only_its_own_request(client, db, store, other_store):
    """400 valid requests from store B next to bad ones from store A: every one of B's is committed (202); A's bad
    ones get a JSON 400 naming the header and store nothing."""
    async def good(i: int) -> int:
        body = body_of(event(1000 + i, eid=f"b_{i}"))
        r = await client.post(f"/v1/stores/{other_store.id}/events", data=body,
                              headers=other_store.signed(body, f"msg_{i}"))
        return r.status

    async def bad(i: int) -> tuple[int, dict, bytes]:
        body = json.dumps({"id": 500 + i, "status": "processing", "date_modified_gmt": "2026-11-22T15:35:24"}).encode()
        return await _raw(client, _wc_request(store, store.id, body, b"\xff\xfe" + str(i).encode()))

    results = await asyncio.gather(*[good(i) for i in range(400)], *[bad(i) for i in range(20)])
    goods, bads = results[:400], results[400:]
    assert goods == [202] * 400
    for status, headers, body in bads:  # type: ignore[misc]
        assert status == 400 and headers["content-type"].startswith("application/json")
        err = orjson.loads(body)["error"]
        assert err["code"] == "invalid_header" and err["fields"][0]["field"] == "X-WC-Webhook-Delivery-ID"
    async with db.connection() as conn:
        assert await conn.fetchval("SELECT count(*) FROM events WHERE store_id = $1", other_store.id) == 400
        assert await conn.fetchval("SELECT count(*) FROM events WHERE store_id = $1", store.id) == 0


def _new_event(store_id: str, rid: int, sender_id: str) -> NewEvent:
    now = datetime.now(UTC)
    return NewEvent(store_id=store_id, source="plugin", resource="order", action="updated", resource_id=rid,
                    version=now, payload_json=json.dumps({"id": rid}), dedup_key=f"id:{sender_id}",
                    sender_id=sender_id, occurred_at=now)


async def test_a_batch_that_fails_outside_the_database_is_written_one_by_one(db, store, other_store):
    """The committer's own guard: an event the driver cannot encode (a lone surrogate) that reached a batch fails
    alone, as UnstorableEvents (a 422), and its neighbours of the same batch are committed."""
    committer = GroupCommitter(db, OutboxManager(db), writers=1)
    await committer.start()
    try:
        goods = [[_new_event(other_store.id, 100 + i, f"good_{i}")] for i in range(30)]
        bad = [_new_event(store.id, 7, "bad_\udcff\udcfe")]
        # all submitted before the writer runs: one batch holds them all
        results = await asyncio.gather(*[committer.submit(e) for e in goods[:15]], committer.submit(bad),
                                       *[committer.submit(e) for e in goods[15:]], return_exceptions=True)
    finally:
        await committer.stop()
    assert isinstance(results[15], UnstorableEvents)
    oks = results[:15] + results[16:]
    assert all(isinstance(r, list) and r[0].new for r in oks), oks
    assert await count(db, "events") == 30


# point 6 ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br", "GZIP, identity"])
async def test_a_compressed_body_is_refused_with_415_before_it_is_read(client, db, store, encoding):
    import gzip

    raw = gzip.compress(body_of(event(1)))
    r = await client.post(f"/v1/stores/{store.id}/events", data=raw,
                          headers={**store.signed(raw), "Content-Encoding": encoding})
    assert r.status == 415 and r.content_type == "application/json"
    assert (await r.json())["error"]["code"] == "unsupported_content_encoding"
    r = await client.post(f"/v1/stores/{store.id}/woocommerce", data=raw, headers={"Content-Encoding": encoding})
    assert r.status == 415 and r.content_type == "application/json"
    assert await count(db, "events") == 0
    plain = body_of(event(1))
    r = await client.post(f"/v1/stores/{store.id}/events", data=plain,
                          headers={**store.signed(plain), "Content-Encoding": "identity"})
    assert r.status == 202


# point 7 ---------------------------------------------------------------------------------------------------------

async def test_far_future_versions_are_refused_on_both_ingest_paths(client, db, store):
    far = event(34, modified="9999-12-31T23:59:59")
    body = body_of(far)
    r = await client.post(f"/v1/stores/{store.id}/events", data=body, headers=store.signed(body))
    assert r.status == 422
    err = (await r.json())["error"]
    assert err["fields"][0]["field"] == "events[0].data.date_modified_gmt" and "future" in err["fields"][0]["message"]
    raw = json.dumps({"id": 34, "date_modified_gmt": "9999-12-31T23:59:59"}).encode()
    r = await client.post(f"/v1/stores/{store.id}/woocommerce", data=raw, headers={
        "X-WC-Webhook-Topic": "order.updated", "X-WC-Webhook-Signature": wc_signature(store.wc_webhook_secret, raw),
        "X-WC-Webhook-Delivery-ID": "91", "Content-Type": "application/json"})
    assert r.status == 422 and (await r.json())["error"]["fields"][0]["field"] == "body.date_modified_gmt"
    assert await count(db, "events") == 0
    # within the tolerance (a store clock a little ahead): accepted
    soon = (datetime.now(UTC) + timedelta(seconds=60)).strftime("%Y-%m-%dT%H:%M:%S")
    body = body_of(event(34, modified=soon))
    r = await client.post(f"/v1/stores/{store.id}/events", data=body, headers=store.signed(body))
    assert r.status == 202
    # and a later real update of the entity is then delivered as usual (nothing froze it)
    later = (datetime.now(UTC) + timedelta(seconds=120)).strftime("%Y-%m-%dT%H:%M:%S")
    body = body_of(event(34, modified=later))
    r = await client.post(f"/v1/stores/{store.id}/events", data=body, headers=store.signed(body, "msg_later"))
    assert r.status == 202
    async with db.connection() as conn:
        head = await conn.fetchval("SELECT head_version FROM outbox WHERE resource_id = 34")
    assert head.strftime("%Y-%m-%dT%H:%M:%S") == later


# point 8 ---------------------------------------------------------------------------------------------------------

async def test_a_replayed_resync_request_creates_no_second_job(client, db, store):
    body = json.dumps({"resources": ["orders"]}).encode()
    headers = store.signed(body, "msg_resync_1")
    first = await client.post(f"/v1/stores/{store.id}/resync", data=body, headers=headers)
    assert first.status == 202
    job_id = (await first.json())["job_id"]
    again = await asyncio.gather(*[client.post(f"/v1/stores/{store.id}/resync", data=body, headers=headers)
                                   for _ in range(5)])
    for r in again:
        assert r.status == 200
        assert await r.json() == {"job_id": job_id, "status": "requested", "duplicate": True}
    assert await count(db, "jobs") == 1
    # a new request (another webhook-id) is a new job
    r = await client.post(f"/v1/stores/{store.id}/resync", data=body, headers=store.signed(body, "msg_resync_2"))
    assert r.status == 202 and (await r.json())["job_id"] != job_id
    assert await count(db, "jobs") == 2


async def test_concurrent_copies_of_one_resync_request_create_one_job(client, db, store):
    body = json.dumps({"resources": ["products"]}).encode()
    headers = store.signed(body, "msg_resync_race")
    rs = await asyncio.gather(*[client.post(f"/v1/stores/{store.id}/resync", data=body, headers=headers)
                                for _ in range(8)])
    assert sorted(r.status for r in rs) == [200] * 7 + [202]
    assert len({(await r.json())["job_id"] for r in rs}) == 1
    assert await count(db, "jobs") == 1


# point 9 ---------------------------------------------------------------------------------------------------------

async def test_a_body_of_exactly_max_body_bytes_is_accepted(db, settings, store):
    limit = 4096
    async with await _serve(settings, db, max_body_bytes=limit) as c:
        ev = event(1)
        base = len(body_of({**ev, "data": {**ev["data"], "note": ""}}))
        exact = body_of({**ev, "data": {**ev["data"], "note": "x" * (limit - base)}})
        assert len(exact) == limit
        r = await c.post(f"/v1/stores/{store.id}/events", data=exact, headers=store.signed(exact))
        assert r.status == 202, await r.text()
        over = exact + b" "  # one byte more (still valid JSON)
        r = await c.post(f"/v1/stores/{store.id}/events", data=over, headers=store.signed(over))
        assert r.status == 413 and (await r.json())["error"]["code"] == "body_too_large"

        async def chunked(data: bytes):  # no Content-Length: the read itself enforces the limit
            yield data

        r = await c.post(f"/v1/stores/{store.id}/events", data=chunked(over), headers=store.signed(over))
        assert r.status == 413
        r = await c.post(f"/v1/stores/{store.id}/events", data=chunked(exact), headers=store.signed(exact, "m2"))
        assert r.status == 200  # accepted, as a duplicate of the first
        assert f"exceeds {limit} bytes" in (await (await c.post(
            f"/v1/stores/{store.id}/events", data=over, headers=store.signed(over))).json())["error"]["message"]


async def test_api_ingest_and_404_answers_carry_the_console_security_headers(client, store):
    answers = [await client.get("/api/v1/me"), await client.get("/api/v1/nope"), await client.get("/nowhere"),
               await client.get("/healthz"), await client.post(f"/v1/stores/{store.id}/events", data=b"{}"),
               await client.get("/console/login")]
    for r in answers:
        for h in SECURITY_HEADERS:
            assert h in r.headers, (r.url, r.status, h)
        assert r.headers["X-Frame-Options"] == "DENY" and r.headers["X-Content-Type-Options"] == "nosniff"
    assert [r.status for r in answers][:3] == [401, 401, 404]  # (an unknown API path asks for credentials first)


async def test_an_idle_keep_alive_connection_is_closed(db, settings):
    async with await _serve(settings, db, http_keepalive_timeout_s=0.5) as c:
        reader, writer = await asyncio.open_connection(c.host, c.port)
        try:
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            await writer.drain()
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            assert b" 200 " in head.split(b"\r\n")[0]
            length = int(next(ln.split(b":")[1] for ln in head.split(b"\r\n") if ln.lower().startswith(b"content-length")))
            await reader.readexactly(length)
            # the connection stays open for keep-alive, then the server closes it: EOF well within 5 s
            assert await asyncio.wait_for(reader.read(), 5) == b""
        finally:
            writer.close()


async def test_a_slow_body_gets_408(db, settings, store):
    async with await _serve(settings, db, http_body_timeout_s=0.5) as c:
        body = body_of(event(1))
        headers = "".join(f"{k}: {v}\r\n" for k, v in store.signed(body).items())
        reader, writer = await asyncio.open_connection(c.host, c.port)
        try:
            writer.write(f"POST /v1/stores/{store.id}/events HTTP/1.1\r\nHost: x\r\n{headers}"
                         f"Content-Length: {len(body)}\r\n\r\n".encode() + body[:10])
            await writer.drain()
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)  # the rest never comes
            assert head.split(b"\r\n")[0].split()[1] == b"408"
            assert b"application/json" in head
        finally:
            writer.close()
        assert await count(db, "events") == 0
