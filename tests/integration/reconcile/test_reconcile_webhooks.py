"""The reconciler watches the store's native webhooks (issue 14, problem 3): WooCommerce disables a webhook after
more than 5 consecutive failed deliveries (a short collector outage) and never turns it back on. Each run reads
``GET /webhooks`` (one request), re-activates what WooCommerce disabled when the keys are read_write, reports the
rest (read-only keys, paused, wrong delivery URL, missing topic), raises the ``webhooks`` alert and shows it on the
dashboard, in the gap report and in the plugin's health check. Through the WooCommerce emulator (which disables
webhooks as the real store does) and the real collector."""
from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient, TestServer

from collector.app import create_app
from collector.console.service import CLI, ConsoleManager
from shared.alerts import evaluate_alerts, list_alerts
from shared.signing import sign_headers

pytestmark = pytest.mark.integration

SECRET = "hook-secret"


async def add_store(stores, wc, permissions: str, name: str = "Hooked shop") -> tuple[str, str]:
    """The store's id and its signing secret (the plugin's)."""
    ck, cs = wc.add_api_key(permissions)
    row, secret = await stores.add(name, wc_url=wc.url, wc_credentials={
        "consumer_key": ck, "consumer_secret": cs, "auth": "auto", "webhook_secret": SECRET})
    return row["id"], secret


async def saved_state(db, store_id: str) -> dict | None:
    async with db.connection() as conn:
        row = await conn.fetchrow("SELECT problems, state FROM store_webhooks WHERE store_id = $1", store_id)
    return None if row is None else {**row["state"], "row_problems": row["problems"]}


async def webhook_events(db, store_id: str) -> int:
    async with db.connection() as conn:
        return await conn.fetchval("SELECT count(*) FROM events WHERE store_id = $1 AND source = 'webhook'", store_id)


async def outage(wc, settings, db, store_id: str, edits: int = 8) -> int:
    """The collector is down while the store makes ``edits`` order edits; then it is back. Returns the order id."""
    order = wc.store.create_order({"status": "processing", "billing": {"email": "a@example.com"}})
    server = TestServer(create_app(settings, db=db), host="127.0.0.1")
    await server.start_server()
    url, port = str(server.make_url("")).rstrip("/"), server.port
    wc.configure_webhooks(url, store_id, mode="native", wc_webhook_secret=SECRET, max_retries=0)
    await server.close()  # down
    for n in range(edits):
        wc.store.clock.advance(1)
        wc.store.update_order(order.id, {"customer_note": f"edit {n}"})
        await wc.dispatcher.wait_idle(10)
    assert wc.dispatcher.summary()["disabled"] >= 1  # the last edits were no longer even sent
    back = TestServer(create_app(settings, db=db), host="127.0.0.1", port=port)
    await back.start_server()
    wc.collector = back  # closed by the caller
    return order.id


async def test_a_webhook_disabled_by_an_outage_is_reactivated_reported_and_alerted(db, wc, stores, settings,
                                                                                   make_reconciler):
    sid, _ = await add_store(stores, wc, "read_write")
    oid = await outage(wc, settings, db, sid)
    try:
        # the collector is back, but WooCommerce sends nothing for order.updated any more
        before = await webhook_events(db, sid)
        wc.store.clock.advance(1)
        wc.store.update_order(oid, {"customer_note": "nobody hears this"})
        await wc.dispatcher.wait_idle(10)
        assert wc.deliveries[-1].status == "disabled" and await webhook_events(db, sid) == before

        requests = wc.requests_by_path.get("GET /wp-json/wc/v3/webhooks", 0)
        report = await make_reconciler().run_store(sid, force=True)
        assert report is not None and report.outcome == "ok"
        assert wc.requests_by_path["GET /wp-json/wc/v3/webhooks"] == requests + 1  # one request
        assert report.webhooks is not None
        assert (report.webhooks["status"], report.webhooks["reactivated"]) == ("problems", [4])
        assert report.webhooks["missing_topics"] == [] and report.webhooks["disabled"] == []
        assert wc.dispatcher.webhooks.get(4).status == "active"
        # real time again: the next edit arrives by webhook
        wc.store.clock.advance(1)
        wc.store.update_order(oid, {"customer_note": "heard again"})
        await wc.dispatcher.wait_idle(10)
        assert wc.deliveries[-1].status == "delivered" and await webhook_events(db, sid) == before + 1

        # stored for the dashboard, the gap report and the alert
        state = await saved_state(db, sid)
        assert state is not None and state["row_problems"] == 1 and state["reactivated"] == [4]
        async with db.connection() as conn:
            run = await conn.fetchrow("SELECT webhooks FROM reconcile_runs WHERE store_id = $1", sid)
        assert run["webhooks"]["reactivated"] == [4]
        result = await evaluate_alerts(db, settings)
        assert result["firing"] == 1
        [alert] = [a for a in await list_alerts(db, "firing") if a["kind"] == "webhooks"]
        assert sid in alert["summary"] and "#4 order.updated" in alert["summary"] and "re-activated" in alert["summary"]
        d = await ConsoleManager(db).dashboard(CLI, sid)
        shown = d["stores"][0]["webhooks"]
        assert shown["reactivated"] == [4] and shown["status"] == "problems" and shown["checked_at"]

        # the next run finds everything well: the alert resolves
        report = await make_reconciler().run_store(sid, force=True)
        assert report is not None and report.webhooks is not None and report.webhooks["status"] == "ok"
        assert report.webhooks["problems"] == 0 and len(report.webhooks["webhooks"]) == 12
        assert (await evaluate_alerts(db, settings))["resolved"] == 1
    finally:
        await wc.collector.close()


async def test_read_only_keys_paused_wrong_url_and_missing_topics_are_reported(db, wc, stores, settings,
                                                                              make_reconciler, client_for):
    sid, signing = await add_store(stores, wc, "read")
    await outage(wc, settings, db, sid)
    try:
        hooks = wc.dispatcher.webhooks
        hooks.update(6, {"status": "paused"})  # order.restored, paused by the owner
        hooks.update(5, {"delivery_url": f"http://old-host.example/v1/stores/{sid}/woocommerce"})
        del hooks.by_id[11]  # customer.created: deleted in WooCommerce
        public = settings.model_copy(update={"public_url": str(wc.collector.make_url("")).rstrip("/")})
        report = await make_reconciler(public_url=public.public_url).run_store(sid, force=True)
        assert report is not None and report.outcome == "ok" and report.webhooks is not None
        w = report.webhooks
        assert w["reactivated"] == [] and w["disabled"] == [4]  # read-only keys: WooCommerce refused the PUT
        assert hooks.get(4).status == "disabled"
        assert (w["paused"], w["wrong_url"]) == ([6], [5])
        assert w["missing_topics"] == ["order.updated", "order.deleted", "order.restored", "customer.created"]
        assert w["problems"] == 7
        await evaluate_alerts(db, settings)
        [alert] = [a for a in await list_alerts(db, "firing") if a["kind"] == "webhooks"]
        assert "read only" in alert["summary"] and "wrong delivery URL: #5" in alert["summary"]
        assert "customer.created" in alert["summary"]
        # the plugin's health check reads the same state
        health = await client_for(sid, signing)
        assert health["state"] == "problems" and health["disabled"] == [4] and health["problems"] == 7
        assert health["status"] == "configured"  # (what the plugin already words: set up)
    finally:
        await wc.collector.close()


async def test_a_store_without_webhooks_to_this_collector_has_nothing_to_check(db, wc, stores, settings,
                                                                               make_reconciler):
    sid, _ = await add_store(stores, wc, "read_write", "Plugin shop")  # the plugin sends its events: no native webhook
    report = await make_reconciler().run_store(sid, force=True)
    assert report is not None and report.outcome == "ok" and report.webhooks is not None
    assert (report.webhooks["status"], report.webhooks["problems"]) == ("none", 0)
    assert (await evaluate_alerts(db, settings))["firing"] == 0


@pytest.fixture
def client_for(db, settings):
    """The plugin's signed ``POST /v1/stores/{id}/health``: its ``webhooks`` check."""
    async def health(store_id: str, secret: str) -> dict:
        async with TestClient(TestServer(create_app(settings, db=db))) as c:
            body = b"{}"
            r = await c.post(f"/v1/stores/{store_id}/health", data=body, headers=sign_headers(secret, "msg_1", body))
            assert r.status == 200, await r.text()
            checks = {x["id"]: x for x in (await r.json())["checks"]}
        return checks["webhooks"]
    return health


async def test_the_dashboard_page_shows_each_stores_webhooks(db, stores, client):
    from tests.support.console import add_operator, sign_in

    a, _ = await stores.add("Alpha shop")
    b, _ = await stores.add("Beta shop")
    state = {"status": "problems", "webhooks": [{"id": 4, "topic": "order.updated", "status": "disabled"}],
             "reactivated": [], "disabled": [4], "paused": [], "wrong_url": [], "missing_topics": ["order.updated"],
             "error": None, "problems": 2}
    await db.execute("reconcile_save_webhooks", a["id"], 2, state)
    console = ConsoleManager(db)
    await add_operator(console, "ops@example.com", "admin")
    await sign_in(client, "ops@example.com")
    page = await (await client.get("/console/")).text()
    section = page[page.index('<table id="webhooks">'):]
    section = section[:section.index("</table>")]
    assert '<tr class="webhooks-problems"><td>Alpha shop</td>' in section and "2 problem(s)" in section
    assert "<strong>disabled</strong>" in section and "#4" in section and "no active webhook for order.updated" in section
    assert '<tr class="webhooks-unchecked"><td>Beta shop</td>' in section and "not checked yet" in section
