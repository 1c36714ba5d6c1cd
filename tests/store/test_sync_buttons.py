"""The plugin's sync buttons on the real store (issue 17, "Sync buttons where store owners work"): the Wooforce plugin
active in WordPress 6.8.8 + WooCommerce 10.0.2 and configured against the real collector, the agent's work (sync jobs,
delivery into the Salesforce emulator) done by a loop that can be paused, and wp-admin driven in headless Chromium.

- The administrator opens a real order's edit screen (HPOS) the collector has never heard of: the Salesforce box says
  it is not sent yet. Sync now: the box says waiting (a sync job: Wooforce reads it from the store), and once the agent
  has run the job and delivered, synced with the Salesforce Id of the Order record the emulator holds.
- A shop manager sees the box too; their Sync now of the synced order puts it back in the queue (waiting, "Last sent")
  until the agent delivers it again (a newer delivery time).
- An order clerk who may edit orders but lacks manage_woocommerce sees the order without the box, and their admin-ajax
  call is refused (403, the capability message); the shop manager's call with another order's nonce is refused (403,
  ``-1``); neither reaches the collector. The same call with that order's own nonce goes through (the refusals are the
  checks, not a malformed request).

Screenshots in test-artifacts/store-sync-buttons/.
"""
from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from agent.reconcile.backfill import run_sync_jobs
from tests.store import helpers as H
from tests.store.realstore import RealStore
from tests.support.agent_fixtures import sf_connection

CHROMIUM = os.environ.get("WOOFORCE_CHROMIUM", "/usr/bin/chromium")
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "store-sync-buttons"
ADMIN = ("admin", "not-a-real-password")  # tests/store/php/install.php
SYNCED_TIMEOUT_S = 90.0
BOX = "#wooforce-sync .wooforce-sync"
# may open and edit orders, but is no shop manager (a role a role-editor plugin would make). With HPOS (sync off)
# WooCommerce 10.0.2 checks edit_shop_order against the order's placeholder post, which maps to edit_others_posts
CLERK_CAPS = ("read", "view_admin_dashboard", "edit_posts", "edit_others_posts", "edit_shop_orders",
              "edit_others_shop_orders", "edit_published_shop_orders", "edit_private_shop_orders",
              "read_private_shop_orders", "publish_shop_orders")


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    if not shutil.which(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: .ci/browser-setup.sh installs it")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS, headless=True)
        yield b
        await b.close()


async def php(store: RealStore, code: str) -> str:
    return await asyncio.to_thread(store.php_eval, code)


async def sign_in(browser: Any, store: RealStore, login: str, password: str) -> Any:
    """A browser context of its own (cookies) signed in to wp-admin; its page."""
    context = await browser.new_context(viewport={"width": 1280, "height": 1000})
    page = await context.new_page()
    page.set_default_timeout(60_000)
    await page.goto(f"{store.url}/wp-login.php")
    await page.fill("#user_login", login)
    await page.fill("#user_pass", password)
    await page.click("#wp-submit")
    await page.wait_for_url("**/wp-admin/**")
    return page


def edit_url(store: RealStore, order_id: int) -> str:
    return f"{store.url}/wp-admin/admin.php?page=wc-orders&action=edit&id={order_id}"


async def box_state(page: Any) -> str:
    return str(await page.locator(BOX).get_attribute("data-state"))


async def wait_state(page: Any, store: RealStore, order_id: int, state: str, *, what: str,
                     timeout_s: float = SYNCED_TIMEOUT_S) -> float:
    """Reload the order's edit screen until its box shows ``state`` (the plugin caches a state 10 s). Seconds."""
    t0 = time.monotonic()
    while True:
        await page.goto(edit_url(store, order_id))
        got = await box_state(page)
        if got == state:
            return time.monotonic() - t0
        if time.monotonic() - t0 > timeout_s:
            raise AssertionError(f"{what}: the box still says {got!r} after {timeout_s:.0f} s: "
                                 + await page.locator(BOX).inner_text())
        await page.wait_for_timeout(1000)


async def ajax_sync(page: Any, store: RealStore, order_id: int, nonce: str) -> tuple[int, str]:
    """The button's admin-ajax request, with the signed-in user's cookies."""
    r = await page.request.post(f"{store.url}/wp-admin/admin-ajax.php", form={
        "action": "wooforce_sync_entity", "nonce": nonce, "resource": "order", "id": str(order_id)})
    return r.status, await r.text()


async def known(db: Any, store_id: str, order_id: int) -> dict[str, int]:
    """What the collector holds of an order: outbox rows and sync jobs."""
    async with db.connection() as conn:
        return {"outbox": int(await conn.fetchval(
                    "SELECT count(*) FROM outbox WHERE store_id = $1 AND resource = 'order' AND resource_id = $2",
                    store_id, order_id)),
                "jobs": int(await conn.fetchval(
                    "SELECT count(*) FROM jobs WHERE store_id = $1 AND kind = 'sync' AND params @> "
                    "jsonb_build_object('resource', 'order', 'resource_id', $2::bigint)", store_id, order_id))}


@pytest.mark.timeout(600)  # the store's setup, four wp-admin sign-ins and two deliveries on a loaded machine
async def test_sync_buttons_in_wp_admin(real_store, stores, agent_settings, db, sf_emu, make_deliverer, collector,
                                        browser):
    store, t0 = real_store, time.monotonic()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    tag = f"sb{int(time.time())}"
    shot = 0

    async def screenshot(page: Any, name: str) -> None:
        nonlocal shot
        shot += 1
        await page.screenshot(path=ARTIFACTS / f"{shot}-{name}.png", full_page=True)
        if await page.locator("#wooforce-sync").count():
            await page.locator("#wooforce-sync").screenshot(path=ARTIFACTS / f"{shot}-{name}-box.png")

    # ---- the store's records, made before the plugin is active: Wooforce has never heard of them
    widget = await H.rest(store, "POST", "products", json={"name": f"Button widget {tag}", "sku": f"{tag}-W",
                                                            "regular_price": "9.50"})
    orders = [await H.rest(store, "POST", "orders", json={
        "status": "processing", "billing": H.address(30 + n, f"{tag}-{n}@example.com"),
        "line_items": [{"product_id": widget["id"], "quantity": n + 1}]}) for n in range(2)]
    oid, other = int(orders[0]["id"]), int(orders[1]["id"])
    manager, clerk = (f"{tag}-manager", "manager-password-17"), (f"{tag}-clerk", "clerk-password-17")
    await php(store, f"""
remove_role('wooforce_order_clerk');
add_role('wooforce_order_clerk', 'Order clerk', array_fill_keys({json.dumps(list(CLERK_CAPS))}, true));
foreach (array(array('{manager[0]}', '{manager[1]}', 'shop_manager'),
               array('{clerk[0]}', '{clerk[1]}', 'wooforce_order_clerk')) as $u) {{
    $id = wp_insert_user(array('user_login' => $u[0], 'user_pass' => $u[1], 'role' => $u[2],
                               'user_email' => $u[0] . '@example.com'));
    if (is_wp_error($id)) {{ fwrite(STDERR, $id->get_error_message()); exit(1); }}
}}""")

    row, secret = await stores.add("Sync buttons store", wc_url=store.url, wc_credentials={
        "consumer_key": store.consumer_key, "consumer_secret": store.consumer_secret, "auth": "oauth1"})
    sid = str(row["id"])
    await stores.set_salesforce(sid, sf_connection(sf_emu))
    plugin_settings = json.dumps({"collector_url": f"http://127.0.0.1:{collector.port}", "store_id": sid,
                                  "secret": secret})
    await asyncio.to_thread(store.php_install, "wooforce")
    await php(store, f"update_option('wooforce_settings', json_decode('{plugin_settings}', true), true);"
                     "delete_option('wooforce_status');")

    # ---- the agent: sync jobs and delivery, as its scheduler runs them; paused until a step lets it work
    deliverer = make_deliverer()
    agent_on, agent_round = asyncio.Event(), asyncio.Lock()

    async def agent() -> None:
        while True:
            await agent_on.wait()
            async with agent_round:
                await run_sync_jobs(db, stores, agent_settings, owner="store-sync-buttons")
                await deliverer.drain()
            await asyncio.sleep(0.3)

    async def pause_agent() -> None:
        agent_on.clear()
        async with agent_round:  # a round under way ends first
            pass

    agent_task = asyncio.create_task(agent())
    try:
        # ---- 1. the administrator: not sent yet -> Sync now -> waiting -> synced with the Salesforce Id
        admin = await sign_in(browser, store, *ADMIN)
        await admin.goto(edit_url(store, oid))
        box = admin.locator(BOX)
        assert await box.count() == 1, "no Salesforce box on the order's edit screen"
        assert await box_state(admin) == "not_synced", await box.inner_text()
        assert "Not sent to Salesforce yet" in await box.inner_text()
        assert await known(db, sid, oid) == {"outbox": 0, "jobs": 0}  # showing the state enqueues nothing
        await screenshot(admin, "admin-not-synced")

        await box.locator(".wooforce-sync-now").click()
        await admin.locator(f"{BOX} .wooforce-sync-notice").wait_for()  # the box is replaced by the answer
        assert await box_state(admin) == "waiting", await admin.locator(BOX).inner_text()
        text = await admin.locator(BOX).inner_text()
        assert "Requested: Wooforce reads it from the store" in text, text
        assert "Waiting: Wooforce reads it from the store, then sends it" in text, text
        assert await known(db, sid, oid) == {"outbox": 0, "jobs": 1}
        await admin.goto(edit_url(store, oid))  # the agent is paused: still waiting after a reload
        assert await box_state(admin) == "waiting"
        await screenshot(admin, "admin-waiting-after-sync-now")

        agent_on.set()
        clicked = time.monotonic()
        synced_s = await wait_state(admin, store, oid, "synced", what="after the administrator's Sync now")
        [sf_order] = [r for r in sf_emu.records("Order") if r.get("Wooforce_Key__c") == f"{sid}:order:{oid}"]
        text = await admin.locator(BOX).inner_text()
        assert f"Salesforce record: {sf_order['Id']}" in text, text
        assert "In Salesforce (sent " in text, text
        async with db.connection() as conn:
            first = await conn.fetchrow("SELECT status, sf_id, delivered_at FROM outbox WHERE store_id = $1 AND "
                                        "resource = 'order' AND resource_id = $2", sid, oid)
        assert (first["status"], first["sf_id"]) == ("delivered", sf_order["Id"])
        await screenshot(admin, "admin-synced")

        # ---- 2. a shop manager: sees the box; Sync now of a synced order -> waiting (queued again) -> synced again
        await pause_agent()
        await admin.close()
        shop = await sign_in(browser, store, *manager)
        await shop.goto(edit_url(store, oid))
        take_over = shop.locator("#post-lock-dialog a:has-text('Take over')")
        if await take_over.is_visible():  # WooCommerce's order lock: the administrator had it open a moment ago
            await take_over.click()
            await shop.wait_for_load_state()
        assert not await take_over.is_visible()
        assert await shop.locator(BOX).count() == 1, "a shop manager sees no Salesforce box"
        assert await box_state(shop) == "synced"
        assert f"Salesforce record: {sf_order['Id']}" in await shop.locator(BOX).inner_text()
        nonce_of_oid = str(await shop.locator(f"{BOX} .wooforce-sync-now").get_attribute("data-nonce"))
        await shop.locator(f"{BOX} .wooforce-sync-now").click()
        await shop.locator(f"{BOX} .wooforce-sync-notice").wait_for()
        text = await shop.locator(BOX).inner_text()
        assert await box_state(shop) == "waiting", text
        assert "Queued: it is sent to Salesforce now." in text and "Waiting to be sent to Salesforce" in text, text
        assert re.search(r"Last sent .+; this change is not there yet\.", text), text
        await screenshot(shop, "shop-manager-waiting-after-sync-now")
        agent_on.set()
        resynced_s = await wait_state(shop, store, oid, "synced", what="after the shop manager's Sync now")
        async with db.connection() as conn:
            again = await conn.fetchrow("SELECT status, sf_id, delivered_at FROM outbox WHERE store_id = $1 AND "
                                        "resource = 'order' AND resource_id = $2", sid, oid)
        assert again["sf_id"] == sf_order["Id"] and again["delivered_at"] > first["delivered_at"]
        assert len([r for r in sf_emu.records("Order") if r.get("Wooforce_Key__c") == f"{sid}:order:{oid}"]) == 1
        await screenshot(shop, "shop-manager-synced-again")

        # ---- 3. an order clerk without manage_woocommerce: the order, no box; the button's call refused
        await pause_agent()
        desk = await sign_in(browser, store, *clerk)
        await desk.goto(edit_url(store, other))
        await desk.locator("#order_data").wait_for()  # the clerk can work on the order
        assert await desk.locator("#wooforce-sync").count() == 0 and await desk.locator(".wooforce-sync").count() == 0
        await screenshot(desk, "clerk-order-without-box")
        status, body = await ajax_sync(desk, store, other, nonce_of_oid)
        assert status == 403 and json.loads(body) == {
            "success": False, "data": {"message": "Sorry, you are not allowed to sync with Salesforce."}}, body
        # ---- 4. the shop manager with another order's nonce: refused; with its own: through
        status, body = await ajax_sync(shop, store, other, nonce_of_oid)
        assert (status, body) == (403, "-1"), (status, body)
        assert await known(db, sid, other) == {"outbox": 0, "jobs": 0}, "a refused call reached the collector"
        await shop.goto(edit_url(store, other))
        nonce_of_other = str(await shop.locator(f"{BOX} .wooforce-sync-now").get_attribute("data-nonce"))
        status, body = await ajax_sync(shop, store, other, nonce_of_other)
        assert status == 200 and json.loads(body)["data"]["state"] == "waiting", (status, body)
        assert await known(db, sid, other) == {"outbox": 0, "jobs": 1}

        assert store.wooforce_log_problems() == []
        print(f"sync buttons: administrator's Sync now to synced {synced_s:.1f} s (agent on at "
              f"{clicked - t0:.1f} s), shop manager's {resynced_s:.1f} s; {time.monotonic() - t0:.1f} s in all")
    finally:
        agent_task.cancel()
        await asyncio.gather(agent_task, return_exceptions=True)
        await php(store, "require_once ABSPATH . 'wp-admin/includes/plugin.php';"
                         "require_once ABSPATH . 'wp-admin/includes/user.php';"
                         "deactivate_plugins('wooforce/wooforce.php');"
                         "delete_option('wooforce_settings'); delete_option('wooforce_status');"
                         f"foreach (array('{manager[0]}', '{clerk[0]}') as $l) {{ $u = get_user_by('login', $l);"
                         " if ($u) { wp_delete_user($u->ID); } }"
                         "remove_role('wooforce_order_clerk');"
                         "global $wpdb; $wpdb->query(\"DELETE FROM {$wpdb->prefix}wooforce_spool\");")
