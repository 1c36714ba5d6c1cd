"""WooCommerce emulator: the store's webhooks (``GET/PUT /webhooks``) as the captured store shows them, and a webhook
disabled after more than 5 consecutive failed deliveries, as a real WooCommerce 10.0.2 store does (issue 14,
problem 3): its topic's changes are then not sent at all until it is re-activated."""
from __future__ import annotations

import aiohttp
import pytest
from aiohttp import web

from emulators.woocommerce import WooCommerceEmulator, oauth1_url
from tests.fixtures import load

pytestmark = pytest.mark.integration


async def rest(wc: WooCommerceEmulator, method: str, path: str, creds: tuple[str, str], params: dict | None = None,
               body: dict | None = None) -> tuple[int, object, dict]:
    url = oauth1_url(method, f"{wc.api_url}/{path}", params or {}, *creds)
    async with aiohttp.ClientSession() as s, s.request(method, url, json=body) as r:
        return r.status, await r.json(), dict(r.headers)


@pytest.fixture
async def collector():
    """A collector stand-in that answers 503 while ``down``."""
    state = {"down": False, "got": 0}

    async def handle(request: web.Request) -> web.Response:
        await request.read()
        state["got"] += 1
        return web.Response(status=503 if state["down"] else 202)

    app = web.Application()
    app.router.add_post("/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    state["url"] = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    yield state
    await runner.cleanup()


async def test_webhooks_list_has_the_captured_shape(collector):
    real = load("woocommerce/rest/webhooks-list.json")
    async with WooCommerceEmulator() as wc:
        reader = wc.add_api_key("read")
        wc.configure_webhooks(collector["url"], "st_x", mode="native", wc_webhook_secret="s")
        status, body, headers = await rest(wc, "GET", "webhooks", reader)
        assert status == 200 and isinstance(body, list) and len(body) == 10  # default page size, as captured
        assert (headers["X-WP-Total"], headers["X-WP-TotalPages"]) == ("12", "2") and 'rel="next"' in headers["Link"]
        assert [set(w) for w in body] == [set(real["body"][0])] * 10
        status, body, _ = await rest(wc, "GET", "webhooks", reader, {"per_page": 100})
        assert isinstance(body, list)
        by_topic = {w["topic"]: w for w in body}
        for w in real["body"]:  # hooks, resource/event as on the real store
            mine = by_topic[w["topic"]]
            assert (mine["hooks"], mine["resource"], mine["event"]) == (w["hooks"], w["resource"], w["event"])
        assert {w["delivery_url"] for w in body} == {f"{collector['url']}/v1/stores/st_x/woocommerce"}
        assert {w["status"] for w in body} == {"active"}


async def test_more_than_five_failed_deliveries_disable_the_webhook_until_reactivated(collector):
    async with WooCommerceEmulator() as wc:
        reader, writer = wc.add_api_key("read"), wc.add_api_key("read_write")
        order = wc.store.create_order({"status": "processing", "billing": {"email": "a@example.com"}})
        wc.configure_webhooks(collector["url"], "st_x", mode="native", wc_webhook_secret="s", max_retries=0)
        collector["down"] = True  # a short collector outage during 8 order edits
        for n in range(8):
            wc.store.clock.advance(1)
            wc.store.update_order(order.id, {"customer_note": f"edit {n}"})
            await wc.dispatcher.wait_idle(10)
        statuses = [d.status for d in wc.deliveries][-8:]
        # WC_Webhook::failed_delivery(): counts 6 failures, the 7th disables it; the 8th change is not sent
        assert statuses == ["failed"] * 7 + ["disabled"] and collector["got"] == 7
        _, body, _ = await rest(wc, "GET", "webhooks", reader, {"per_page": 100})
        assert isinstance(body, list)
        state = {w["topic"]: w["status"] for w in body}
        assert state.pop("order.updated") == "disabled" and set(state.values()) == {"active"}
        collector["down"] = False  # the collector is back: WooCommerce does not turn it back on by itself
        wc.store.update_order(order.id, {"customer_note": "after the outage"})
        await wc.dispatcher.wait_idle(10)
        assert wc.deliveries[-1].status == "disabled" and collector["got"] == 7
        # a read-only key may not re-activate it; a read_write key may (PUT status active, as webhook-activate.json)
        status, _, _ = await rest(wc, "PUT", "webhooks/4", reader, body={"status": "active"})
        assert status == 401
        status, hook, _ = await rest(wc, "PUT", "webhooks/4", writer, body={"status": "active"})
        assert status == 200 and isinstance(hook, dict) and hook["status"] == "active"
        assert set(hook) == set(load("woocommerce/rest/webhook-activate.json")["body"])
        assert (await rest(wc, "PUT", "webhooks/4", writer, body={"status": "sleeping"}))[0] == 400
        wc.store.clock.advance(1)
        wc.store.update_order(order.id, {"customer_note": "sent again"})
        await wc.dispatcher.wait_idle(10)
        assert wc.deliveries[-1].status == "delivered" and collector["got"] == 8
