"""A store whose Salesforce sign-in fails raises its own alert naming the cause, and its waiting changes raise the
lag alert although every pause pushes their ``available_at`` ahead (issue 16: both reported firing=0 before);
both resolve once the sign-in works again. The agent runs against the Salesforce emulator with bad credentials."""
from __future__ import annotations

import pytest

from shared.alerts import evaluate_alerts, list_alerts
from tests.support import woo
from tests.support.agent_fixtures import sf_connection

pytestmark = pytest.mark.integration


async def connection_row(db, store_id: str) -> dict | None:
    async with db.connection() as c:
        r = await c.fetchrow("SELECT * FROM sf_connection WHERE store_id = $1", store_id)
        return dict(r) if r else None


async def firing(db) -> dict[str, dict]:
    return {a["kind"]: a for a in await list_alerts(db, "firing")}


async def test_failing_salesforce_login_alerts_with_its_cause_and_resolves_when_it_works(
        db, stores, store, sf_emu, outbox, make_deliverer, settings):
    # the reproduction: lag threshold lowered to 10 s; no notification channel (notify succeeds: nothing to do)
    alerts = settings.model_copy(update={"alert_lag_threshold_s": 10})
    deliverer = make_deliverer(agent_retry_schedule_s=[5.0])  # a failed sign-in pauses the rows 5 s, as by default
    await stores.set_salesforce(store.id, {**sf_connection(sf_emu), "client_id": "wrong-client-id"})
    await outbox.put(store.id, "customer", woo.customer(1), woo.customer(2))
    async with db.connection() as c:  # the store was added an hour ago (a change counts from then at the earliest)
        await c.execute("UPDATE stores SET created_at = now() - interval '1 hour'")
    stats = await deliverer.drain()
    assert stats.outcomes["paused"] == 2 and stats.outcomes["delivered"] == 0
    conn = await connection_row(db, store.id)
    assert conn is not None and (conn["status"], conn["error_code"], conn["failures"]) == ("failing", "auth_failed", 1)
    since = conn["failing_since"]
    async with db.connection() as c:  # paused: due only later (what made the old lag alert blind)
        assert await c.fetchval("SELECT bool_and(available_at > now()) FROM outbox")
        await c.execute("UPDATE outbox SET available_at = now()")  # the pause ends: the agent tries again
    await deliverer.drain()
    conn = await connection_row(db, store.id)
    assert (conn["status"], conn["failures"], conn["failing_since"]) == ("failing", 2, since)  # one streak

    res = await evaluate_alerts(db, alerts)
    assert res["firing"] == 2 and res["notified"] == 2
    now_firing = await firing(db)
    assert set(now_firing) == {"sf_connection", "lag"}
    summary = now_firing["sf_connection"]["summary"]
    assert store.id in summary and "Test shop" in summary and "failing since" in summary
    assert "auth_failed: Salesforce login refused" in summary  # the cause, as the agent saw it
    assert "2 waiting entities" in now_firing["lag"]["summary"]

    # the operator fixes the connection: the next try signs in, delivers, and both alerts resolve
    await stores.set_salesforce(store.id, sf_connection(sf_emu))
    async with db.connection() as c:
        await c.execute("UPDATE outbox SET available_at = now()")
    assert (await deliverer.drain()).outcomes["delivered"] == 2
    conn = await connection_row(db, store.id)
    assert (conn["status"], conn["error_code"], conn["failing_since"], conn["failures"]) == ("ok", None, None, 0)
    assert conn["last_ok_at"] is not None
    res = await evaluate_alerts(db, alerts)
    assert res == {"firing": 0, "notified": 0, "resolved": 2}
    assert await firing(db) == {}


async def test_a_store_without_salesforce_connection_does_not_alert(db, stores, store, sf_emu, outbox, deliverer,
                                                                     settings):
    await stores.set_salesforce(store.id, {**sf_connection(sf_emu), "client_secret": "wrong"})
    await outbox.put(store.id, "customer", woo.customer(1))
    await deliverer.drain()
    assert (await connection_row(db, store.id))["status"] == "failing"
    assert (await evaluate_alerts(db, settings))["firing"] == 1
    async with db.connection() as c:  # the connection is removed (nothing to sign in to): no alert for it
        await c.execute("UPDATE stores SET sf_credentials = NULL")
    assert (await evaluate_alerts(db, settings))["firing"] == 0
