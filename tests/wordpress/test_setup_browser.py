"""Done-when of issue 21: a store owner sets the plugin up alone, in a real WordPress driven through wp-admin in
headless Chromium, with screenshots in test-artifacts/wordpress-setup/.

The operator runs `wooforce collector` (real Postgres) and gives the owner the connection string of
`wooforce stores add`; the owner uploads the built zip, activates it and sees "Wooforce is not set up yet"; pastes
the string and sees the checklist fail on "Salesforce not connected"; the operator connects Salesforce
(`stores set-salesforce`, the Salesforce emulator) and runs `wooforce agent`; the owner makes an order, the
checklist goes green once the agent has signed in, and the order is in Salesforce.

WooCommerce is the stand-in (Debian packages no WooCommerce): orders are made by a WordPress request in PHP, not
through WooCommerce's order screen; opening and abandoning "Add order" (draft orders) belongs to the real-store
layer (tests/store).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from cli.connection import connection_string
from shared import signing
from tests.support.agent_fixtures import CLIENT_ID, CLIENT_SECRET, sf_session  # noqa: F401 - fixture
from tests.support.procs import free_port, start_agent, start_collector

from .site import ADMIN_PASSWORD, ADMIN_USER, Site, build_zip

pytestmark = pytest.mark.wordpress
CHROMIUM = os.environ.get("WOOFORCE_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "wordpress-setup"
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def wait_for(check, what: str, timeout_s: float = 60.0, every_s: float = 0.5):
    """Poll ``check`` (other processes' work: nothing to await) until it returns something true."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(every_s)


@pytest.fixture
def browser():
    if not shutil.which(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: .ci/browser-setup.sh installs it")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS, headless=True)
        yield b
        b.close()


def test_store_owner_sets_up_the_plugin_alone(wordpress_env, pg_dsn, db, tmp_path, sf_session, browser):
    sf_emu = sf_session
    sf_emu.reset()
    sf_emu.set_daily_api_max(100_000, api_usage=0)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    zip_path = build_zip(tmp_path / "wooforce.zip")
    port = free_port()
    env = {**os.environ, "WOOFORCE_DATABASE_URL": pg_dsn, "WOOFORCE_MASTER_KEY": Fernet.generate_key().decode(),
           "WOOFORCE_DATA_DIR": str(tmp_path / "data"), "WOOFORCE_PUBLIC_URL": f"http://127.0.0.1:{port}",
           "WOOFORCE_AGENT_POLL_INTERVAL_S": "0.5", "WOOFORCE_RECONCILE_INTERVAL_S": "3600",
           "WOOFORCE_JOBS_POLL_INTERVAL_S": "0.5"}

    def cli(*args: str) -> subprocess.CompletedProcess:
        proc = subprocess.run([sys.executable, "-m", "cli", *args], env=env, capture_output=True, text=True,
                              timeout=120)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc

    store = json.loads(cli("stores", "add", "--name", "Rig Shop", "--json").stdout)
    site = Site.build(tmp_path / "site")
    logs = [(tmp_path / "collector.log").open("ab"), (tmp_path / "agent.log").open("ab")]
    collector = start_collector(env, port, stderr=logs[0])
    agent = None
    try:
        site.serve()
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(30_000)
        page.goto(f"{site.url}/wp-login.php")
        page.fill("#user_login", ADMIN_USER)
        page.fill("#user_pass", ADMIN_PASSWORD)
        page.click("#wp-submit")
        page.wait_for_url("**/wp-admin/**")

        # upload the built zip, activate it, see the activation notice
        page.goto(f"{site.url}/wp-admin/plugin-install.php?tab=upload")
        page.set_input_files("#pluginzip", str(zip_path))
        page.click("#install-plugin-submit")
        page.get_by_text("Plugin installed successfully.").wait_for()
        page.click("a:has-text('Activate Plugin')")
        page.wait_for_url("**/plugins.php**")
        notice = page.locator(".wooforce-setup-notice")
        notice.wait_for()
        assert "Wooforce is not set up yet." in notice.inner_text()
        assert notice.get_attribute("class") and "is-dismissible" in (notice.get_attribute("class") or "")
        page.screenshot(path=ARTIFACTS / "1-activated-not-set-up.png", full_page=True)

        # paste the connection string: checked with the collector, saved; the checklist fails on Salesforce
        notice.locator("a:has-text('Set up Wooforce')").click()
        page.wait_for_url("**page=wooforce**")
        wrong = connection_string(f"http://127.0.0.1:{port}", store["store_id"], signing.generate_secret())
        page.fill("#wooforce_connection_string", wrong)  # a secret of the right form, not this store's
        page.click("#submit")
        page.locator(".notice-error").wait_for()
        assert "Nothing was saved" in page.locator(".notice-error").inner_text()
        assert "refused the secret" in page.locator("#wooforce_connection_string_error").inner_text()
        assert page.locator(".notice-error details summary").inner_text() == "Technical details"
        assert site.php("state")["status"]["last_test_ok"] is False
        page.screenshot(path=ARTIFACTS / "2a-wrong-secret-nothing-saved.png", full_page=True)

        page.fill("#wooforce_connection_string", store["connection_string"])
        page.click("#submit")
        page.locator(".notice-success").wait_for()
        assert "Settings saved. Connected: the collector knows this store as \"Rig Shop\"." in page.locator(
            ".notice-success").inner_text()
        sf_line = page.locator("[data-check='salesforce']")
        assert sf_line.get_attribute("data-state") == "fail"
        assert "Salesforce not connected" in sf_line.inner_text()
        assert "Ask your Wooforce operator to connect Salesforce" in sf_line.inner_text()
        assert "Not connected: data does not reach Salesforce yet." in page.locator(".wooforce-headline").inner_text()
        assert page.locator(".wooforce-last-success").inner_text() != "never"
        assert page.locator(".notice-success button.notice-dismiss").count() == 1, "dismissible"
        page.screenshot(path=ARTIFACTS / "2b-pasted-salesforce-not-connected.png", full_page=True)

        # the operator connects Salesforce and runs the agent; the owner makes an order
        cli("stores", "set-salesforce", store["store_id"], "--instance-url", sf_emu.url, "--auth",
            "client_credentials", "--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET, "--ca-file",
            str(sf_emu.ca_path))
        agent = start_agent(env, stderr=logs[1])
        order_id = site.php("save-order", "processing")["id"]

        def drained() -> bool:
            site.run_cron()  # the plugin's delivery to the collector (a real site's system cron)
            return site.php("state")["counts"]["queued"] == 0

        wait_for(drained, "the plugin's spool to drain into the collector")
        key = f"{store['store_id']}:order:{order_id}"
        orders = wait_for(lambda: [r for r in sf_emu.records("Order") if r.get("Wooforce_Key__c") == key],
                          "the order in Salesforce", timeout_s=90)

        def green() -> bool:
            page.click("input[value='Check again']")
            page.wait_for_load_state()
            return page.locator("[data-check='salesforce']").get_attribute("data-state") == "ok"

        wait_for(green, "the checklist's Salesforce line to go green", timeout_s=60, every_s=1)
        assert "Connected: data reaches Salesforce." in page.locator(".wooforce-headline").inner_text()
        assert page.locator(".wooforce-check[data-state='fail']").count() == 0
        assert "Changes reach Salesforce (last delivery" in page.locator("[data-check='delivery']").inner_text()
        page.screenshot(path=ARTIFACTS / "3-connected-green.png", full_page=True)

        assert len(orders) == 1 and str(orders[0].get("Wooforce_Key__c")) == key

        # a resync without WooCommerce REST keys: its failure shows on the page, in plain words
        page.click("input[value='Request resync']")
        page.locator(".notice-success").wait_for()

        def job_finished() -> str | None:
            page.reload()
            state = page.locator(".wooforce-job").get_attribute("data-state")
            return state if state in ("ok", "fail") else None

        assert wait_for(job_finished, "the resync job to finish", timeout_s=60, every_s=1) == "fail"
        job = page.locator(".wooforce-job").inner_text()
        assert "The resync failed" in job and "Create a Read/Write key" in job, job
        page.screenshot(path=ARTIFACTS / "4-resync-failed-plain-words.png", full_page=True)
        assert site.plugin_problems() == [], "PHP warnings naming Wooforce in debug.log"
    finally:
        if agent is not None and agent.poll() is None:
            agent.terminate()
            agent.wait(30)
        if collector.poll() is None:
            collector.terminate()
            collector.wait(30)
        site.close()
        for log in logs:
            log.close()
