"""Alerts: fire, rate-limit, resolve; notified to a local webhook receiver and a local SMTP server."""
from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from aiosmtpd.controller import Controller

from shared.alerts import evaluate_alerts, list_alerts
from shared.outbox import OutboxManager
from tests.support.console import order_event, seed_orders

pytestmark = pytest.mark.integration


class Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd handler
        self.messages.append((envelope.rcpt_tos, envelope.content.decode()))
        return "250 OK"


@pytest.fixture
def smtp():
    inbox = Inbox()
    with socket.socket() as sock:  # aiosmtpd's start-up self-check cannot use port 0: pick a free port
        sock.bind(("127.0.0.1", 0))
        inbox.port = sock.getsockname()[1]
    ctl = Controller(inbox, hostname="127.0.0.1", port=inbox.port)
    ctl.start()
    yield inbox
    ctl.stop()


@pytest.fixture
async def hook():
    received, state = [], {"status": 200}

    async def handler(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.Response(status=state["status"])

    app = web.Application()
    app.router.add_post("/hook", handler)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield received, state, str(server.make_url("/hook"))
    await server.close()


@pytest.fixture
def alert_settings(settings, smtp, hook):
    return settings.model_copy(update={
        "alert_webhook_url": hook[2], "alert_smtp_host": "127.0.0.1", "alert_smtp_port": smtp.port,
        "alert_email_to": ["oncall@example.com"], "alert_repeat_s": 3600, "alert_lag_threshold_s": 600})


async def test_dead_letters_fire_once_then_rate_limited_then_resolve(db, store, smtp, hook, alert_settings):
    received, _, _ = hook
    assert await evaluate_alerts(db, alert_settings) == {"firing": 0, "notified": 0, "resolved": 0}
    assert received == [] and smtp.messages == []
    await seed_orders(db, store.id, [1, 2, 3], status="dead", error_code="FIELD_CUSTOM_VALIDATION_EXCEPTION")
    assert (await evaluate_alerts(db, alert_settings))["notified"] == 1
    assert len(received) == 1 and set(received[0]) == {"text"}
    assert "3 dead-lettered entities" in received[0]["text"] and "FIELD_CUSTOM_VALIDATION_EXCEPTION" in received[0]["text"]
    assert smtp.messages[0][0] == ["oncall@example.com"] and "3 dead-lettered" in smtp.messages[0][1]
    # rate limit: still firing, not announced again within ALERT_REPEAT_S
    assert (await evaluate_alerts(db, alert_settings))["notified"] == 0
    assert len(received) == 1 and len(smtp.messages) == 1
    # past the repeat interval it is re-announced as still firing
    again = alert_settings.model_copy(update={"alert_repeat_s": 0})
    assert (await evaluate_alerts(db, again))["notified"] == 1
    assert received[-1]["text"].count("still firing") == 1
    # the dead letters are replayed: resolved, with a notice, once
    async with db.connection() as conn:
        await conn.execute("UPDATE outbox SET status = 'pending'")
    assert (await evaluate_alerts(db, alert_settings))["resolved"] == 1
    assert "resolved" in received[-1]["text"] and "resolved" in smtp.messages[-1][1]
    n = len(received)
    assert await evaluate_alerts(db, alert_settings) == {"firing": 0, "notified": 0, "resolved": 0}
    assert len(received) == n
    assert [(a["kind"], a["status"]) for a in await list_alerts(db)] == [("dead_letters", "resolved")]


async def test_lag_budget_and_failing_keys_in_one_message(db, store, smtp, hook, alert_settings):
    received, _, _ = hook
    await seed_orders(db, store.id, [1])
    async with db.connection() as conn:  # a change an hour old, still waiting
        await conn.execute("UPDATE stores SET created_at = now() - interval '1 day'")
        await conn.execute("UPDATE events SET version = now() - interval '1 hour', received_at = now() - interval '1 hour'")
        await conn.execute("INSERT INTO sf_budget (store_id, api_used, api_max, budget_share) VALUES ($1, 95, 100, 0.8)",
                           store.id)
        await conn.execute("UPDATE stores SET keys_status = 'failed'")
    res = await evaluate_alerts(db, alert_settings)
    assert res == {"firing": 3, "notified": 3, "resolved": 0}
    text = received[0]["text"]
    assert "delivery lag" in text and "95/100" in text and "keys" in text
    assert len(received) == 1 and len(smtp.messages) == 1  # one message per evaluation


async def test_lag_counts_every_waiting_change_whatever_it_waits_for(db, store, smtp, hook, alert_settings):
    """Lag is the age of the oldest change not yet delivered: a row paused (its available_at pushed ahead by a
    failing sign-in or the API budget), leased or retrying later counts from its change (date_modified_gmt), not
    from when it is due. The query before issue 16 saw none of these (firing=0)."""
    received, _, _ = hook
    now = datetime.now(UTC)

    def ago(s: float) -> str:
        return (now - timedelta(seconds=s)).strftime("%Y-%m-%dT%H:%M:%S")

    async with db.connection() as conn:
        await conn.execute("UPDATE stores SET created_at = now() - interval '1 day'")
    ingest = OutboxManager(db).ingest
    await ingest([order_event(store.id, 1, modified=ago(7200)), order_event(store.id, 2, modified=ago(1200)),
                  order_event(store.id, 3, modified=ago(1200))])
    async with db.connection() as conn:
        await conn.execute("UPDATE outbox SET available_at = now() + interval '5 seconds'")  # paused
        await conn.execute("UPDATE outbox SET status = 'leased' WHERE resource_id = 2")
        await conn.execute("UPDATE outbox SET status = 'retrying' WHERE resource_id = 3")
    assert (await evaluate_alerts(db, alert_settings))["firing"] == 1
    text = received[0]["text"]
    assert "delivery lag" in text and "3 waiting entities" in text
    assert 7200 <= int(text.split(" s old")[0].rsplit(" ", 1)[1]) < 7200 + 60  # the oldest change: two hours
    # only changes not delivered count: entity 1 was delivered at that version, then a newer change waits 20 min
    async with db.connection() as conn:
        await conn.execute("UPDATE outbox SET status = 'delivered', delivered_event_id = head_event_id, "
                           "delivered_version = head_version, delivered_seq = head_seq, delivered_at = now()")
    assert (await evaluate_alerts(db, alert_settings))["resolved"] == 1
    await ingest([order_event(store.id, 1, modified=ago(1500)), order_event(store.id, 1, modified=ago(1300))])
    await ingest([order_event(store.id, 1, modified=ago(9000))])  # arrives late, older than what was delivered
    await evaluate_alerts(db, alert_settings)
    lag = [a for a in await list_alerts(db, "firing") if a["kind"] == "lag"]
    assert len(lag) == 1 and "of 1 waiting entities is 15" in lag[0]["summary"]  # 1500 s, not 7200 or 9000
    # a change older than the store (the reconciler's first look back) counts from when the store was added
    async with db.connection() as conn:
        await conn.execute("UPDATE stores SET created_at = now() - interval '5 minutes'")
    await evaluate_alerts(db, alert_settings)
    assert [a["kind"] for a in await list_alerts(db, "firing")] == []


async def test_failed_notification_is_retried_next_time(db, store, smtp, hook, alert_settings):
    received, state, _ = hook
    await seed_orders(db, store.id, [1], status="dead", error_code="X")
    state["status"] = 500
    assert (await evaluate_alerts(db, alert_settings))["notified"] == 0
    assert len(received) == 1  # tried
    state["status"] = 200
    assert (await evaluate_alerts(db, alert_settings))["notified"] == 1
    assert len(received) == 2


async def test_registered_on_the_agent_scheduler(db, settings):
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    from shared.alerts import register_jobs

    scheduler = AsyncIOScheduler()
    register_jobs(scheduler, db=db, settings=settings.model_copy(update={"retention_delivered_payload_days": 30}))
    assert {j.id for j in scheduler.get_jobs()} == {"alerts", "retention"}
