"""The console in headless Chromium, as a support person uses it: sign in, find the dead-lettered order,
fix the Salesforce validation rule, bulk-replay, see it delivered. Screenshots go to test-artifacts/console/.

Needs Debian's chromium (.ci/browser-setup.sh) and Playwright from PyPI (no browser download).
"""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from collector.app import create_app
from collector.console.service import CLI, ConsoleManager
from shared.models import events_from_body
from shared.outbox import OutboxManager
from tests.support import woo
from tests.support.agent_fixtures import *  # noqa: F403 - sf_session / sf_emu / make_deliverer fixtures
from tests.support.agent_fixtures import sf_connection

pytestmark = pytest.mark.acceptance
CHROMIUM = os.environ.get("WOOFORCE_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PASSWORD = "support desk password"


@pytest.fixture
def stores(db, settings):
    from shared.crypto import Vault
    from shared.stores import StoreManager

    return StoreManager(db, Vault.from_settings(settings), cache_ttl_s=0)


@pytest.fixture
async def browser():
    if not shutil.which(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: .ci/browser-setup.sh installs it")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS, headless=True)
        yield b
        await b.close()


def _plugin_event(store_id: str, doc: dict) -> dict:
    return {"id": f"wp_order_{doc['id']}", "type": "order.updated", "occurred_at": "2026-11-22T12:00:00Z",
            "resource_id": doc["id"], "data": doc}


async def test_support_person_replays_dead_letters_after_fixing_the_rule(db, settings, stores, sf_emu, make_deliverer,
                                                                        browser):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    row, _ = await stores.add("Acme shop")
    store_id = row["id"]
    await stores.set_salesforce(store_id, sf_connection(sf_emu))
    console = ConsoleManager(db)
    await console.add_operator(CLI, "support@example.com", PASSWORD, "operator")
    # Salesforce rejects orders above 100 (a new validation rule); order 2 is above
    sf_emu.add_validation_rule("Order", "Max_Total", "Orders above 100 need approval",
                               condition={"field": "Woo_Total__c", "op": "gt", "value": 100})
    docs = [woo.order(1), woo.order(2, products=(1, 2, 3, 4, 5)), woo.order(3)]
    await OutboxManager(db).ingest([events_from_body(_plugin_event(store_id, d), store_id=store_id, max_events=10)[0]
                                    for d in docs])
    deliverer = make_deliverer()
    stats = await deliverer.drain()
    assert (stats.outcomes["delivered"], stats.outcomes["dead"]) == (2, 1)

    server = TestServer(create_app(settings, db=db), host="127.0.0.1")
    await server.start_server()
    page = await browser.new_page()
    try:
        from playwright.async_api import expect

        base = str(server.make_url("")).rstrip("/")
        # sign in
        await page.goto(base + "/console/")
        assert "/console/login" in page.url
        await page.fill("input[name=email]", "support@example.com")
        await page.fill("input[name=password]", PASSWORD)
        await page.click("button[type=submit]")
        await page.wait_for_url(base + "/console/")
        assert await page.text_content("#dead") == "1"
        await page.screenshot(path=ARTIFACTS / "1-dashboard.png", full_page=True)

        # find the dead-lettered order
        await page.click("text=Outbox")
        await page.select_option("select[name=store]", store_id)
        await page.select_option("select[name=status]", "dead")
        await page.fill("input[name=error_code]", "FIELD_CUSTOM_VALIDATION_EXCEPTION")
        await page.click("form.filters button[type=submit]")
        rows = page.locator("#outbox tbody tr")
        assert await rows.count() == 1
        assert "order #2" in await rows.first.text_content()
        await page.screenshot(path=ARTIFACTS / "2-outbox-dead.png", full_page=True)
        await page.click("text=order #2")
        assert await page.text_content("#status") == "dead"
        body = await page.text_content("main")
        assert "Orders above 100 need approval" in body and "source plugin" in re.sub(r"\s+", " ", body)
        assert "buyer2@example.com" not in body  # personal data masked
        await page.screenshot(path=ARTIFACTS / "3-timeline-dead.png", full_page=True)

        # the admin fixes the rule in Salesforce; support bulk-replays everything that failed on it
        sf_emu.remove_validation_rule("Max_Total")
        await page.go_back()
        await page.click("#replay-filtered")
        assert re.sub(r"\s+", " ", await page.text_content("#replay-count")).startswith("1 entities")
        await page.screenshot(path=ARTIFACTS / "4-replay-confirm.png", full_page=True)
        await page.click("#confirm-replay")
        await page.wait_for_url(re.compile(r".*/console/replays/rpl_.*"))
        # the page refreshes itself while the replay runs (no script: the console's CSP forbids eval)
        await expect(page.locator("#replay-status")).to_have_text("done", timeout=15_000)
        assert await page.text_content("#replay-progress") == "1 / 1"
        await page.screenshot(path=ARTIFACTS / "5-replay-done.png", full_page=True)

        # the agent delivers it (its drain function: one scheduler tick)
        assert (await deliverer.drain()).outcomes["delivered"] == 1
        await page.goto(f"{base}/console/outbox/{store_id}/order/2")
        assert await page.text_content("#status") == "delivered"
        sf_id = (await page.text_content("#sf-id")).strip()
        assert re.fullmatch(r"801[0-9A-Za-z]{15}", sf_id)
        assert any(r["Id"] == sf_id for r in sf_emu.records("Order"))
        await page.screenshot(path=ARTIFACTS / "6-delivered.png", full_page=True)
    finally:
        await page.close()
        await server.close()
    async with db.connection() as conn:
        actions = [r["action"] for r in await conn.fetch("SELECT action FROM audit_log ORDER BY id")]
    assert actions == ["operator.add", "outbox.replay_bulk"]
