"""Console and admin API: sign-in, sessions, CSRF, roles, store scoping, API tokens, audit entries."""
from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient, TestServer

from collector.app import create_app
from collector.console.service import CLI, ConsoleManager
from tests.support.console import PASSWORD, add_operator, audit_rows, csrf_of, outbox_row, seed_orders, sign_in

pytestmark = pytest.mark.integration


@pytest.fixture
def console(db) -> ConsoleManager:
    return ConsoleManager(db)


@pytest.fixture
async def other_store(stores):
    row, _ = await stores.add("Other shop")
    return row["id"]


async def new_client(db, settings):
    c = TestClient(TestServer(create_app(settings, db=db)))
    await c.start_server()
    return c


async def test_sign_in_sets_a_hardened_session_cookie_and_sign_out_ends_it(client, console):
    await add_operator(console, "ann@example.com", "viewer")
    assert (await client.get("/console/", allow_redirects=False)).status == 302  # to the login form
    page = await client.get("/console/login")
    token = csrf_of(await page.text())
    bad = await client.post("/console/login", data={"email": "ann@example.com", "password": "wrong password!",
                                                    "csrf_token": token})
    assert bad.status == 401 and "Wrong email or password" in await bad.text()
    page = await client.get("/console/login")
    resp = await client.post("/console/login", data={"email": "ANN@example.com", "password": PASSWORD,
                                                     "csrf_token": csrf_of(await page.text())}, allow_redirects=False)
    assert resp.status == 302
    cookie = resp.cookies["wf_session"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and int(cookie["max-age"]) > 0
    dash = await client.get("/console/")
    assert dash.status == 200 and "ann@example.com" in await dash.text()
    assert "default-src 'self'" in dash.headers["Content-Security-Policy"]
    out = await client.post("/console/logout", data={"csrf_token": csrf_of(await dash.text())}, allow_redirects=False)
    assert out.status == 302
    client.session.cookie_jar.update_cookies({"wf_session": cookie.value})  # a stolen cookie after sign-out
    assert (await client.get("/console/", allow_redirects=False)).status == 302


async def test_login_form_needs_its_csrf_token(client, console):
    await add_operator(console, "ann@example.com", "viewer")
    resp = await client.post("/console/login", data={"email": "ann@example.com", "password": PASSWORD,
                                                     "csrf_token": "forged"}, allow_redirects=False)
    assert resp.status == 403


async def test_expired_session_is_refused(client, console, db):
    await add_operator(console, "ann@example.com", "viewer")
    await sign_in(client, "ann@example.com")
    async with db.connection() as conn:
        await conn.execute("UPDATE console_sessions SET expires_at = now() - interval '1 second'")
    assert (await client.get("/console/", allow_redirects=False)).status == 302


async def test_csrf_missing_or_wrong_token_is_refused_and_nothing_changes(client, console, db, store):
    await add_operator(console, "op@example.com", "operator")
    await seed_orders(db, store.id, [1], status="dead", error_code="X")
    good = await sign_in(client, "op@example.com")
    url = f"/console/outbox/{store.id}/order/1/replay"
    for data in ({}, {"csrf_token": "wrong"}, {"csrf_token": good[:-1] + "x"}):
        resp = await client.post(url, data=data, allow_redirects=False)
        assert resp.status == 403
        assert (await outbox_row(db, store.id, 1))["status"] == "dead"
    # the JSON API with the session cookie needs the X-CSRF-Token header
    api = f"/api/v1/outbox/{store.id}/order/1/replay"
    assert (await client.post(api)).status == 403
    assert (await client.post(api, headers={"X-CSRF-Token": "wrong"})).status == 403
    assert (await outbox_row(db, store.id, 1))["status"] == "dead"
    assert [a for a in await audit_rows(db) if a["action"] == "outbox.replay"] == []
    # with the right token it goes through, and is audited
    resp = await client.post(url, data={"csrf_token": good}, allow_redirects=False)
    assert resp.status == 302
    assert (await outbox_row(db, store.id, 1))["status"] == "pending"
    audit = [a for a in await audit_rows(db) if a["action"] == "outbox.replay"]
    assert len(audit) == 1 and audit[0]["actor"] == "op@example.com" and audit[0]["ip"] == "127.0.0.1"
    assert audit[0]["target"] == f"{store.id}/salesforce/order/1"
    resp = await client.post(api, headers={"X-CSRF-Token": good})
    assert resp.status == 200


async def test_viewer_cannot_replay_resync_or_erase(client, console, db, store):
    await add_operator(console, "viewer@example.com", "viewer")
    await seed_orders(db, store.id, [1, 2], status="dead", error_code="X")
    csrf = await sign_in(client, "viewer@example.com")
    assert (await client.get(f"/console/outbox?store={store.id}")).status == 200
    for url, data in ((f"/console/outbox/{store.id}/order/1/replay", {}),
                      (f"/console/outbox/{store.id}/order/1/sync", {}),
                      ("/console/replays", {"store": store.id, "status": "dead"}),
                      (f"/console/stores/{store.id}/resync", {"since": "2026-01-01"}),
                      ("/console/erase", {"email": "jane@example.com"})):
        resp = await client.post(url, data={**data, "csrf_token": csrf}, allow_redirects=False)
        assert resp.status == 403, url
    assert (await client.get(f"/console/replays/new?store={store.id}")).status == 403
    async with db.connection() as conn:
        assert await conn.fetchval("SELECT count(*) FROM outbox WHERE status = 'dead'") == 2
        assert await conn.fetchval("SELECT count(*) FROM jobs") == 0
        assert await conn.fetchval("SELECT count(*) FROM replays") == 0
    assert [a["action"] for a in await audit_rows(db)] == ["operator.add"]


async def test_store_staff_see_only_their_store(db, settings, console, store, other_store):
    await seed_orders(db, store.id, [1, 2], status="dead", error_code="X")
    await seed_orders(db, other_store, [7, 8], status="dead", error_code="X")
    await add_operator(console, "staff@example.com", "operator", store_id=store.id)
    c = await new_client(db, settings)
    try:
        csrf = await sign_in(c, "staff@example.com")
        page = await (await c.get("/console/outbox")).text()
        assert f"/outbox/{store.id}/order/1" in page and other_store not in page
        assert (await c.get(f"/console/outbox?store={other_store}")).status == 403
        assert (await c.get(f"/console/outbox/{other_store}/order/7")).status == 403
        assert (await c.get(f"/console/?store={other_store}")).status == 403
        dash = await (await c.get("/console/")).text()
        assert other_store not in dash
        resp = await c.post(f"/console/outbox/{other_store}/order/7/replay", data={"csrf_token": csrf})
        assert resp.status == 403
        assert (await outbox_row(db, other_store, 7))["status"] == "dead"
        # a bulk replay without a store filter only touches their own store
        resp = await c.post("/console/replays", data={"csrf_token": csrf, "status": "dead"}, allow_redirects=False)
        assert resp.status == 302
        api = await c.get("/api/v1/outbox")
        items = (await api.json())["items"]
        assert {i["store_id"] for i in items} == {store.id}
    finally:
        await c.close()
    for _ in range(100):
        if (await outbox_row(db, store.id, 2))["status"] == "pending":
            break
        import asyncio
        await asyncio.sleep(0.02)
    assert (await outbox_row(db, store.id, 2))["status"] == "pending"
    assert (await outbox_row(db, other_store, 8))["status"] == "dead"


async def test_api_tokens_authenticate_scripts_and_can_be_revoked(client, console, db, store):
    await add_operator(console, "bot@example.com", "operator")
    token, row = await console.create_token(CLI, "bot@example.com", "nightly replay")
    assert token.startswith("wf_")
    async with db.connection() as conn:  # stored hashed
        assert await conn.fetchval("SELECT count(*) FROM api_tokens WHERE token_sha256 = sha256($1::bytea)",
                                   token.encode()) == 1
        assert await conn.fetchval("SELECT count(*) FROM api_tokens WHERE position($1 in encode(token_sha256, 'escape')) > 0",
                                   token) == 0
    await seed_orders(db, store.id, [5], status="dead", error_code="X")
    auth = {"Authorization": f"Bearer {token}"}
    me = await client.get("/api/v1/me", headers=auth)
    assert (await me.json())["email"] == "bot@example.com"
    # no CSRF needed for a bearer token (no ambient credential)
    resp = await client.post(f"/api/v1/outbox/{store.id}/order/5/replay", headers=auth)
    assert resp.status == 200 and (await resp.json())["replayed"] == 1
    audit = [a for a in await audit_rows(db) if a["action"] == "outbox.replay"]
    assert audit[0]["actor"] == f"token:{row['id']}(bot@example.com)"
    assert (await client.get("/api/v1/me", headers={"Authorization": "Bearer wf_nope"})).status == 401
    assert (await client.get("/api/v1/me")).status == 401
    await console.revoke_token(CLI, row["id"])
    assert (await client.get("/api/v1/me", headers=auth)).status == 401


async def test_every_write_is_audited(client, console, db, store):
    await add_operator(console, "admin@example.com", "admin")
    await seed_orders(db, store.id, [1, 2, 3], status="dead", error_code="FIELD_CUSTOM_VALIDATION_EXCEPTION")
    token, _ = await console.create_token(CLI, "admin@example.com", "t")
    h = {"Authorization": f"Bearer {token}"}
    assert (await client.post(f"/api/v1/outbox/{store.id}/order/1/replay", headers=h)).status == 200
    assert (await client.post(f"/api/v1/outbox/{store.id}/order/2/sync", headers=h)).status == 200
    r = await client.post("/api/v1/replays", headers=h, json={"filter": {"store": store.id, "status": "dead"}})
    assert r.status == 202
    assert (await client.post(f"/api/v1/stores/{store.id}/resync", headers=h, json={"since": "2026-11-01"})).status == 202
    assert (await client.post("/api/v1/erasures", headers=h, json={"email": "jane@example.com"})).status == 200
    actions = [a["action"] for a in await audit_rows(db)]
    assert actions == ["operator.add", "token.create", "outbox.replay", "outbox.sync", "outbox.replay_bulk",
                       "store.resync", "gdpr.erase"]
    rows = await audit_rows(db)
    assert all(r["actor"] and r["at"] for r in rows)
    assert all("jane@example.com" not in str(r) for r in rows)  # the erasure is audited by hash, not email
    listed = await (await client.get("/api/v1/audit", headers=h)).json()
    assert [i["action"] for i in listed["items"]][0] == "gdpr.erase"


async def test_repeated_failed_sign_ins_are_throttled(client, console):
    from collector.console import views

    views._failures.clear()
    await add_operator(console, "ann@example.com", "viewer")
    for _ in range(views.LOGIN_MAX_FAILURES):
        page = await client.get("/console/login")
        r = await client.post("/console/login", data={"email": "ann@example.com", "password": "wrong password!",
                                                      "csrf_token": csrf_of(await page.text())})
        assert r.status == 401
    page = await client.get("/console/login")
    r = await client.post("/console/login", data={"email": "ann@example.com", "password": PASSWORD,
                                                  "csrf_token": csrf_of(await page.text())}, allow_redirects=False)
    assert r.status == 429  # even the right password, until the window passes
    views._failures.clear()


async def test_viewer_token_cannot_write_through_the_api(client, console, db, store):
    await add_operator(console, "viewer@example.com", "viewer")
    token, _ = await console.create_token(CLI, "viewer@example.com", "read only")
    await seed_orders(db, store.id, [1], status="dead", error_code="X")
    h = {"Authorization": f"Bearer {token}"}
    assert (await client.get("/api/v1/outbox", headers=h)).status == 200
    for path, body in ((f"/api/v1/outbox/{store.id}/order/1/replay", None), ("/api/v1/replays", {"filter": {}}),
                       (f"/api/v1/stores/{store.id}/resync", {}), ("/api/v1/erasures", {"email": "a@b.co"})):
        r = await client.post(path, headers=h, json=body)
        assert r.status == 403, path
        assert (await r.json())["error"]["code"] == "forbidden"
    assert (await client.get("/api/v1/audit", headers=h)).status == 403
    assert (await outbox_row(db, store.id, 1))["status"] == "dead"
