"""Issue 21's last done-when check on the real store: in the real wp-admin (headless Chromium driven by Playwright),
with the Wooforce plugin active, a store owner opens WooCommerce's "Add order" screen (HPOS) and walks away without
saving: WooCommerce keeps an ``auto-draft`` order for it. After the store's cron and a reconcile run, no event of
that order is stored and no Order for it is in Salesforce. Then the owner makes an order on the same screen, as a
store owner would, and it reaches Salesforce. Screenshots in test-artifacts/store-wpadmin/."""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from agent.reconcile.reconciler import Reconciler
from tests.store import helpers as H
from tests.store import plugin as P
from tests.store.compare import compare_store, mismatches
from tests.store.realstore import RealStore
from tests.support.agent_fixtures import sf_connection

CHROMIUM = os.environ.get("WOOFORCE_CHROMIUM", "/usr/bin/chromium")
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "store-wpadmin"
ADMIN_USER, ADMIN_PASSWORD = "admin", "not-a-real-password"  # php/install.php


@pytest.fixture
async def browser():
    if not shutil.which(CHROMIUM):
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{CHROMIUM} is missing: .ci/browser-setup.sh installs it")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS, headless=True)
        yield b
        await b.close()


def auto_drafts(store: RealStore) -> set[int]:
    return {int(i) for i in store.sql("SELECT id FROM wp_wc_orders WHERE status = 'auto-draft'").split()}


async def order_events(db: Any, store_id: str, order_id: int) -> list[dict[str, Any]]:
    async with db.connection() as conn:
        return [dict(r) for r in await conn.fetch(
            "SELECT source, action FROM events WHERE store_id = $1 AND resource = 'order' AND resource_id = $2",
            store_id, order_id)]


def sf_order(sf_emu: Any, store_id: str, order_id: int) -> list[dict[str, Any]]:
    return [r for r in sf_emu.records("Order") if r.get("Wooforce_Key__c") == f"{store_id}:order:{order_id}"]


async def test_an_abandoned_add_order_screen_sends_nothing_and_a_made_order_arrives(
        real_store, stores, settings, db, sf_emu, make_deliverer, browser):
    store = real_store
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    tag = f"wa{int(time.time())}"
    row, secret = await stores.add("Admin store", wc_url=store.url, wc_credentials={
        "consumer_key": store.consumer_key, "consumer_secret": store.consumer_secret, "auth": "oauth1"})
    sid = str(row["id"])
    await stores.set_salesforce(sid, sf_connection(sf_emu))
    s = settings.model_copy(update={"customer_sweep_pages_per_run": 10, "id_sweep_ids_per_run": 1000})
    reconciler, deliverer = Reconciler(stores.db, stores, s), make_deliverer()
    catch_up = await reconciler.run_store(sid, force=True)  # the session's other cases' store data first
    assert catch_up is not None and catch_up.outcome == "ok", catch_up and catch_up.error
    await H.drain(deliverer)
    product = await H.rest(store, "POST", "products", json={"name": f"Counter stool {tag}", "sku": f"{tag}-S",
                                                            "regular_price": "49.00"})
    collector = P.Collector(settings, db)
    await collector.start()
    await P.activate(store, collector.url, sid, secret)
    t0 = time.monotonic()
    try:
        page = await browser.new_page(viewport={"width": 1280, "height": 1000})
        page.set_default_timeout(60_000)  # the first wp-admin pages do WooCommerce's first-run work
        await page.goto(f"{store.url}/wp-login.php")
        await page.fill("#user_login", ADMIN_USER)
        await page.fill("#user_pass", ADMIN_PASSWORD)
        await page.click("#wp-submit")
        await page.wait_for_url("**/wp-admin/**")

        # 1. open "Add order", look, leave without saving
        before = auto_drafts(store)
        await page.goto(f"{store.url}/wp-admin/admin.php?page=wc-orders&action=new")
        await page.locator("button.save_order").wait_for()
        abandoned = auto_drafts(store) - before
        assert len(abandoned) == 1, abandoned  # WooCommerce keeps an auto-draft order for the screen
        draft_id = abandoned.pop()
        await page.screenshot(path=ARTIFACTS / "1-add-order-opened.png", full_page=True)
        await page.goto(f"{store.url}/wp-admin/admin.php?page=wc-orders")
        await page.locator("h1.wp-heading-inline").wait_for()
        await P.wait_cron(store, runs=3)  # the plugin's delivery runs, if it had anything
        report = await reconciler.run_store(sid, force=True)
        assert report is not None and report.outcome == "ok", report and report.error
        await H.drain(deliverer)
        assert auto_drafts(store) >= {draft_id}  # still there, still a draft (the daily cleanup has not run)
        assert await order_events(db, sid, draft_id) == []
        assert sf_order(sf_emu, sid, draft_id) == []
        assert [r for r in sf_emu.records("Order") if str(r.get("Woo_Status__c", "")).endswith("draft")] == []
        # a week later WooCommerce's daily cleanup (the screen scheduled it) deletes the abandoned draft for good:
        # that delete is not an order's delete either
        store.sql(f"UPDATE wp_wc_orders SET date_created_gmt = date_created_gmt - INTERVAL 8 DAY WHERE id = {draft_id}")
        await P.php(store, "do_action('wp_scheduled_auto_draft_delete');")
        assert draft_id not in auto_drafts(store)
        await P.wait_cron(store, runs=3)
        report = await reconciler.run_store(sid, force=True)
        assert report is not None and report.outcome == "ok", report and report.error
        await H.drain(deliverer)
        assert await order_events(db, sid, draft_id) == []
        assert sf_order(sf_emu, sid, draft_id) == []
        abandon_s = time.monotonic() - t0

        # 2. make an order on the same screen, as the owner would: a customer's address, a product line, Create
        t1 = time.monotonic()
        await page.goto(f"{store.url}/wp-admin/admin.php?page=wc-orders&action=new")
        await page.locator("button.save_order").wait_for()
        await page.locator(".order_data_column").nth(1).locator("a.edit_address").click()  # Billing
        await page.fill("#_billing_first_name", "Walk")
        await page.fill("#_billing_last_name", "In")
        await page.fill("#_billing_email", f"{tag}@example.com")
        await page.fill("#_billing_city", "Springfield")
        await page.click("button.add-line-item")
        await page.click("button.add-order-item")
        modal = page.locator(".wc-backbone-modal")
        await modal.locator(".select2-selection").first.click()
        await page.locator(".select2-search__field").last.fill("Counter stool")
        await page.locator(f".select2-results__option:has-text('{tag}')").first.click()
        await modal.locator("#btn-ok").click()
        await page.locator("#order_line_items tr.item").first.wait_for()
        await page.screenshot(path=ARTIFACTS / "2-order-filled-in.png", full_page=True)
        await page.click("button.save_order")
        await page.locator("#message.updated, .notice-success").first.wait_for()
        made_id = int(page.url.split("id=")[1].split("&")[0])
        await page.screenshot(path=ARTIFACTS / "3-order-created.png", full_page=True)
        made = await H.rest(store, "GET", f"orders/{made_id}")
        assert made["status"] == "pending" and [li["product_id"] for li in made["line_items"]] == [product["id"]]

        # it reaches Salesforce: the plugin's event, then the delivery engine
        deadline = time.monotonic() + 60
        while not [e for e in await order_events(db, sid, made_id) if e["source"] == "plugin"]:
            assert time.monotonic() < deadline, "the order made in wp-admin never reached the collector"
            await P.wait_cron(store)
        await H.drain(deliverer)
        [sf] = sf_order(sf_emu, sid, made_id)
        assert sf.get("Woo_Status__c") == "pending"
        snap, conv = compare_store(store, sf_emu.records, sid)
        assert mismatches(conv) == [] and made_id in snap.orders and draft_id not in snap.orders
        assert store.wooforce_log_problems() == []
        print(f"wp-admin: abandoned Add order (#{draft_id}) checked in {abandon_s:.1f} s; order #{made_id} made and "
              f"in Salesforce in {time.monotonic() - t1:.1f} s")
    finally:
        await collector.stop()
        await P.deactivate(store)
