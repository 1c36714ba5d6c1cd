"""WooCommerce emulator webhooks: PHP json_encode bytes, native deliveries vs fixtures, plugin format, drops,
retries, the traffic generator and the /_emulator control endpoints."""
from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from emulators.woocommerce import WooCommerceEmulator, php_json_encode
from shared.signing import generate_secret, verify, wc_signature
from tests.fixtures import fixtures_dir, load

WEBHOOK_FILES = sorted(p.name for p in (fixtures_dir() / "woocommerce" / "webhooks").glob("*.*-*.json")
                       if not p.name.startswith("ping-"))
X_HEADERS = ["User-Agent", "Content-Type", "X-WC-Webhook-Source", "X-WC-Webhook-Topic", "X-WC-Webhook-Resource",
             "X-WC-Webhook-Event", "X-WC-Webhook-Signature", "X-WC-Webhook-ID", "X-WC-Webhook-Delivery-ID"]


def hook(name: str) -> dict[str, Any]:
    return load(f"woocommerce/webhooks/{name}")


class Receiver:
    """A small collector stand-in: records every request; answers from a script of statuses (then 202)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.script: list[int] = []
        self.secret = generate_secret()
        self.got = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        self.requests.append({"path": request.path, "headers": dict(request.headers), "raw": raw})
        self.got.set()
        status = self.script.pop(0) if self.script else 202
        headers = {"Retry-After": "0"} if status == 503 else {}
        return web.json_response({} if status < 300 else {"error": {"code": "x", "message": "y"}}, status=status,
                                 headers=headers)


@pytest.fixture
async def receiver():
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/{tail:.*}", rec.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    rec.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
    yield rec
    await runner.cleanup()


@pytest.fixture
async def wc():
    async with WooCommerceEmulator() as emu:
        yield emu


# ---------------------------------------------------------------- PHP json_encode


@pytest.mark.parametrize("name", WEBHOOK_FILES)
def test_php_json_encode_reproduces_fixture_bytes(name):
    fx = hook(name)
    raw = fx["raw_body"]
    assert php_json_encode(json.loads(raw)) == raw
    assert wc_signature("fixture-secret", raw.encode()) == fx["headers"]["X-WC-Webhook-Signature"]


def test_php_json_encode_escapes():
    assert php_json_encode({"a": "x/y", "n": "Müller – ok", "e": "\U0001F600", "f": 10.8, "i": 12}) == \
        '{"a":"x\\/y","n":"M\\u00fcller \\u2013 ok","e":"\\ud83d\\ude00","f":10.8,"i":12}'


# ---------------------------------------------------------------- native deliveries


async def test_native_webhooks_match_fixture_deliveries(wc, receiver):
    wc.configure_webhooks(receiver.url, "st_test", mode="native", wc_webhook_secret="fixture-secret")
    s = wc.store
    mug = s.create_product({"name": "Nimbus Ceramic Mug", "regular_price": "12.00", "manage_stock": True, "stock_quantity": 9})
    tee = s.create_product({"name": "Orbit T-Shirt", "type": "variable",
                            "attributes": [{"name": "Size", "options": ["S"], "variation": True}]})
    var = s.create_variation(tee.id, {"regular_price": "24.00", "attributes": [{"name": "Size", "option": "S"}]})
    cust = s.create_customer({"email": "dana@example.com", "first_name": "Dana", "last_name": "Müller"})
    order = s.create_order({"customer_id": cust.id, "line_items": [{"product_id": mug.id}]})
    s.trash_order(order.id)
    s.delete_order(order.id)  # force delete: no webhook, like the real store
    await wc.dispatcher.wait_idle()
    topics = [r["headers"]["X-WC-Webhook-Topic"] for r in receiver.requests]
    assert topics == ["product.created", "product.created", "product.created", "customer.created", "customer.updated",
                      "order.created", "order.updated", "order.deleted"]
    assert {r["path"] for r in receiver.requests} == {"/v1/stores/st_test/woocommerce"}
    by_topic: dict[str, list[dict[str, Any]]] = {}
    for r in receiver.requests:
        by_topic.setdefault(r["headers"]["X-WC-Webhook-Topic"], []).append(r)
        assert wc_signature("fixture-secret", r["raw"]) == r["headers"]["X-WC-Webhook-Signature"]
        assert r["raw"].decode("ascii") == php_json_encode(json.loads(r["raw"]))  # PHP bytes: \/ and \uXXXX
        fx_headers = hook(f"{r['headers']['X-WC-Webhook-Topic']}-1.json")["headers"]
        assert set(X_HEADERS) <= set(r["headers"])
        for name in ("User-Agent", "Content-Type", "X-WC-Webhook-Resource", "X-WC-Webhook-Event", "X-WC-Webhook-ID"):
            assert r["headers"][name] == fx_headers[name], name
        assert r["headers"]["X-WC-Webhook-Source"] == f"{wc.url}/"
        assert re.fullmatch(r"[0-9a-f]{32}", r["headers"]["X-WC-Webhook-Delivery-ID"])
    created, updated = by_topic["order.created"][0], by_topic["order.updated"][0]
    assert created["raw"] == updated["raw"]  # identical bodies
    for topic, fixture in [("order.created", "order.created-2.json"), ("customer.created", "customer.created-1.json"),
                           ("product.created", "product.created-1.json")]:
        ours, theirs = json.loads(by_topic[topic][0]["raw"]), json.loads(hook(fixture)["raw_body"])
        assert set(ours) == set(theirs), topic
    ours_var = json.loads(by_topic["product.created"][2]["raw"])
    theirs_var = json.loads(hook("product.created-5.json")["raw_body"])
    assert ours_var["id"] == var.id and ours_var["type"] == "variation" and set(ours_var) == set(theirs_var)
    assert by_topic["order.deleted"][0]["raw"] == f'{{"id":{order.id}}}'.encode()
    assert "\\u00fcller" in by_topic["customer.created"][0]["raw"].decode()
    summary = wc.dispatcher.summary()
    assert summary["failed"] == 0 and summary["dropped"] == 0
    # no native topic: the parent's update on a variation create, and the permanent delete
    assert [(d.resource, d.event, d.resource_id) for d in wc.deliveries if d.status == "skipped"] == [
        ("product", "updated", tee.id), ("order", "deleted", order.id)]


async def test_native_ping_is_form_encoded_and_unsigned(wc, receiver):
    wc.configure_webhooks(receiver.url, "st_ping", mode="native", wc_webhook_secret="fixture-secret")
    assert await wc.dispatcher.ping(3) == 202
    r = receiver.requests[0]
    fx = hook("ping-order.created.json")
    assert r["raw"] == fx["raw_body"].encode()
    assert r["headers"]["Content-Type"] == fx["headers"]["Content-Type"]
    assert not any(h.startswith("X-WC-Webhook") for h in r["headers"])


# ---------------------------------------------------------------- plugin format


async def test_plugin_events_signed_batched_and_retried(wc, receiver):
    wc.configure_webhooks(receiver.url, "st_plugin", mode="plugin", store_secret=receiver.secret, retry_backoff_ms=1)
    receiver.script = [503]  # first delivery: 503 + Retry-After, then accepted
    product = wc.store.create_product({"name": "Lamp", "regular_price": "5.00"})
    await wc.dispatcher.wait_idle()
    assert len(receiver.requests) == 2 and receiver.requests[0]["raw"] == receiver.requests[1]["raw"]
    r = receiver.requests[-1]
    assert r["path"] == "/v1/stores/st_plugin/events"
    msg_id = verify([receiver.secret], {k.lower(): v for k, v in r["headers"].items()}, r["raw"])
    event = json.loads(r["raw"])
    assert event["id"] == msg_id and event["type"] == "product.created" and event["resource_id"] == product.id
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", event["occurred_at"])
    assert event["data"]["id"] == product.id
    assert set(event["data"]) == set(json.loads(hook("product.created-1.json")["raw_body"]))  # REST v3 shape
    rec = wc.deliveries[-1]
    assert (rec.status, rec.attempts, rec.http_status) == ("delivered", 2, 202)

    receiver.requests.clear()
    wc.dispatcher.target.batch_max = 100
    wc.store.trash_product(product.id)
    wc.store.delete_product(product.id)
    await wc.dispatcher.wait_idle()
    events = [e for r in receiver.requests for e in (json.loads(r["raw"]).get("events") or [json.loads(r["raw"])])]
    assert [(e["type"], e["data"]) for e in events] == [("product.trashed", {"id": product.id}),
                                                        ("product.deleted", {"id": product.id})]
    receiver.script = [400]
    wc.store.create_customer({"email": "x@example.com"})
    await wc.dispatcher.wait_idle()
    assert wc.deliveries[-1].status == "failed" and wc.deliveries[-1].attempts == 1  # 4xx: not retried


async def test_traffic_generator_drops_a_share_and_records_each_change(wc, receiver):
    wc.seed(orders=20, products=10, customers=10, seed=5)
    wc.configure_webhooks(receiver.url, "st_traffic", mode="plugin", store_secret=receiver.secret,
                          drop_share=0.3, drop_seed=11)
    wc.traffic.config.seed = 7
    import random

    ops = wc.traffic.run_ops(300, random.Random(7))
    assert len(ops) == 300 and {"order.create", "order.update", "customer.create", "product.update"} <= set(ops)
    await wc.dispatcher.wait_idle()
    summary = wc.dispatcher.summary()
    assert summary["changes"] == len(wc.deliveries) >= 300
    assert summary["delivered"] + summary["dropped"] == summary["changes"] and summary["failed"] == 0
    assert 0.2 < summary["dropped"] / summary["changes"] < 0.4
    received = {json.loads(r["raw"])["id"] for r in receiver.requests}
    assert received == {d.event_id for d in wc.deliveries if d.status == "delivered"}
    assert not received & {d.event_id for d in wc.deliveries if d.status == "dropped"}
    # every change is recorded with its resource and event; the last delivered state of a resource is current
    assert {d.resource for d in wc.deliveries} == {"order", "product", "customer"}


async def test_traffic_schedule_native_with_delay(wc, receiver):
    wc.configure_webhooks(receiver.url, "st_sched", mode="native", wc_webhook_secret="s", delay_ms=1)
    wc.start_traffic(changes_per_s=500, max_ops=40, seed=3)
    await wc.traffic.wait_done(timeout_s=10)
    await wc.dispatcher.wait_idle()
    assert wc.traffic.ops_total == 40
    sent = sum(len(d.topics) for d in wc.deliveries if d.status == "delivered")
    assert sent == len(receiver.requests) > 0


# ---------------------------------------------------------------- control endpoints


async def test_control_endpoints(wc, receiver):
    async with aiohttp.ClientSession(base_url=wc.url) as http:
        async def call(method: str, path: str, **body: Any) -> Any:
            async with http.request(method, path, json=body) as r:
                assert r.status in (200, 201), (path, await r.text())
                return await r.json()

        key = await call("POST", "/_emulator/keys", permissions="read")
        assert key["consumer_key"].startswith("ck_") and key["consumer_secret"].startswith("cs_")
        assert (await call("POST", "/_emulator/seed", orders=30, products=5, customers=5, seed=2))["orders"] == 30
        target = await call("POST", "/_emulator/webhooks", url=receiver.url, store_id="st_ctl", mode="native",
                            wc_webhook_secret="topsecret", ping=True)
        assert target["ping_status"] == 202 and target["target"]["wc_webhook_secret"] == "***"
        assert (await call("POST", "/_emulator/drop_share", drop_share=1.0))["drop_share"] == 1.0
        made = await call("POST", "/_emulator/mutate", resource="order", action="create",
                          data={"status": "processing", "line_items": []})
        await call("POST", "/_emulator/mutate", resource="order", action="trash", id=made["id"])
        await call("POST", "/_emulator/mutate", resource="order", action="restore", id=made["id"])
        ops = (await call("POST", "/_emulator/traffic/run", n=5, seed=1))["ops"]
        assert len(ops) == 5
        deliveries = await call("GET", "/_emulator/deliveries?status=dropped")
        assert deliveries["summary"]["dropped"] >= 8 and deliveries["summary"]["delivered"] == 0
        snap = await call("GET", "/_emulator/snapshot")
        assert snap["order"][str(made["id"])]["status"] == "processing" and len(snap["order"]) >= 31
        clock = await call("POST", "/_emulator/clock", offset_s=-3600)
        assert clock["offset_s"] == -3600
        async with aiohttp.ClientSession(auth=aiohttp.BasicAuth(key["consumer_key"], key["consumer_secret"])) as api:
            async with api.get(wc.api_url + "/orders") as r:
                assert r.status == 401  # http: basic ignored
        stats = await call("GET", "/_emulator/stats")
        assert stats["requests_total"] == 1 and stats["requests_by_path"] == {"GET /wp-json/wc/v3/orders": 1}
        assert stats["store"]["orders"] >= 31 and stats["clock"]["offset_s"] == -3600
        started = await call("POST", "/_emulator/traffic/start", changes_per_s=100, max_ops=3, seed=1)
        assert started["running"]
        await wc.traffic.wait_done()
        assert (await call("POST", "/_emulator/traffic/stop"))["ops_total"] >= 8
        await call("POST", "/_emulator/reset")
        assert (await call("GET", "/_emulator/stats"))["store"]["orders"] == 0


async def test_native_topics_per_operation_follow_the_capture(wc, receiver):
    """README 'Which operations sent which deliveries', operation by operation."""
    wc.configure_webhooks(receiver.url, "st_ops", mode="native", wc_webhook_secret="fixture-secret")
    s = wc.store
    lamp = s.create_product({"name": "Lamp", "regular_price": "39.99", "manage_stock": True, "stock_quantity": 20})
    cust = s.create_customer({"email": "eve@example.com"})
    await wc.dispatcher.wait_idle()

    async def topics(action) -> list[tuple[str, int]]:
        await wc.dispatcher.wait_idle()  # untracked set-up changes first
        receiver.requests.clear()
        action()
        await wc.dispatcher.wait_idle()
        return [(r["headers"]["X-WC-Webhook-Topic"], json.loads(r["raw"])["id"]) for r in receiver.requests]

    holder: dict[str, int] = {}

    def paid_order():
        holder["o"] = s.create_order({"customer_id": cust.id, "set_paid": True,
                                      "line_items": [{"product_id": lamp.id, "quantity": 2}]}).id

    assert await topics(paid_order) == [("order.created", holder["o"]), ("order.updated", holder["o"]),
                                        ("product.updated", lamp.id), ("customer.updated", cust.id)]
    o = holder["o"]
    assert await topics(lambda: s.update_order(o, {"customer_note": "x"})) == [("order.updated", o)]
    line = s.orders[o].doc["line_items"][0]["id"]
    assert await topics(lambda: s.create_refund(o, {"amount": "5.00", "line_items": [
        {"id": line, "quantity": 1, "refund_total": 5}]})) == [("product.updated", lamp.id), ("order.updated", o)]
    assert await topics(lambda: s.trash_order(o)) == [("order.deleted", o)]
    assert await topics(lambda: s.restore_order(o, via="admin")) == [("order.restored", o)]
    s.trash_order(o)
    assert await topics(lambda: s.restore_order(o, via="rest")) == []  # REST status 'restore': nothing at all
    assert s.orders[o].status == "processing"
    assert await topics(lambda: s.trash_product(lamp.id)) == [("product.deleted", lamp.id)]
    assert await topics(lambda: s.restore_product(lamp.id, via="admin")) == [("product.updated", lamp.id),
                                                                             ("product.restored", lamp.id)]
    s.trash_product(lamp.id)
    assert await topics(lambda: s.update_product(lamp.id, {"status": "publish"})) == [("product.updated", lamp.id)]
    assert await topics(lambda: s.delete_product(lamp.id)) == []
    assert await topics(lambda: s.delete_customer(cust.id)) == [("customer.deleted", cust.id)]
    with pytest.raises(Exception):
        s.trash_order(999_999)


async def test_unreachable_collector_is_retried_then_failed(wc):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    wc.configure_webhooks(dead, "st_dead", mode="plugin", store_secret=generate_secret(), max_retries=2,
                          retry_backoff_ms=1)
    wc.store.create_customer({"email": "lost@example.com"})
    await wc.dispatcher.wait_idle()
    rec = wc.deliveries[-1]
    assert (rec.status, rec.attempts, rec.http_status) == ("failed", 3, None)


async def test_post_on_an_item_updates_it(wc):
    ck, cs = wc.add_api_key()
    wc.config.assume_https = True
    cid = wc.store.create_customer({"email": "post@example.com"}).id
    async with aiohttp.ClientSession(auth=aiohttp.BasicAuth(ck, cs)) as http:
        for method, name in (("POST", "A"), ("PATCH", "B"), ("PUT", "C")):
            async with http.request(method, f"{wc.api_url}/customers/{cid}", json={"first_name": name}) as r:
                assert r.status == 200 and (await r.json())["first_name"] == name
