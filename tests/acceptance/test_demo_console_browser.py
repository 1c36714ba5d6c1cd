"""The demo's console in headless Chromium, as a new user finds it: `wooforce demo --keep-console --dead-letter`
prints a sign-in; with it, open the dead letter (the Salesforce error as text), a gap report (a table), an entity's
timeline, and replay the dead letter. Screenshots go to test-artifacts/demo-console/.

Needs Debian's chromium (.ci/browser-setup.sh) and Playwright from PyPI (no browser download).
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.acceptance.test_console_browser import CHROMIUM, LAUNCH_ARGS

pytestmark = pytest.mark.acceptance
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "demo-console"
SIGN_IN = re.compile(r"console sign-in: email (\S+)\s+password (\S+)")
CONSOLE = re.compile(r"\(console: (http://127\.0\.0\.1:\d+)/console\)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _demo(tmp: Path, sf_port: int, wc_port: int) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WOOFORCE_")}
    env.update(WOOFORCE_DATA_DIR=str(tmp / "wf"), COLUMNS="200")
    return subprocess.Popen([sys.executable, "-m", "cli", "demo", "--duration", "4", "--changes-per-s", "4",
                             "--orders", "15", "--products", "8", "--customers", "10", "--port", "0",
                             "--sf-port", str(sf_port), "--wc-port", str(wc_port), "--keep-console",
                             "--dead-letter"], env=env, cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def _read_until(proc: subprocess.Popen, marker: str, lines: list[str], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError("the demo ended early:\n" + "".join(lines)[-3000:])
        lines.append(line)
        if marker in line:
            return
    raise AssertionError(f"no {marker!r} within {timeout_s} s:\n" + "".join(lines)[-3000:])


async def test_the_demos_console_signs_in_shows_the_dead_letter_and_a_gap_report_and_replays():
    if not shutil.which(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: .ci/browser-setup.sh installs it")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    from playwright.async_api import async_playwright, expect

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    # under /tmp: the embedded Postgres runs as an unprivileged user that cannot enter pytest's 0700 tmp dirs
    tmp = Path(tempfile.mkdtemp(prefix="wf-demo-console-", dir="/tmp"))
    sf_port, wc_port = _free_port(), _free_port()
    proc = _demo(tmp, sf_port, wc_port)
    lines: list[str] = []
    try:
        _read_until(proc, "console stays up", lines, 120)
        text = "".join(lines)
        email, password = SIGN_IN.search(text).groups()
        base = CONSOLE.search(text).group(1)
        assert f"salesforce https://127.0.0.1:{sf_port} " in text and f"woocommerce http://127.0.0.1:{wc_port} " in text
        rejected = re.search(r"dead letter: Salesforce refuses order (\d+)", text).group(1)
        assert f"except order {rejected}, refused on purpose" in text  # the report knows it is expected

        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS, headless=True)
            page = await browser.new_page(viewport={"width": 1280, "height": 900})
            # sign in with the printed credentials
            await page.goto(base + "/console/")
            await page.fill("input[name=email]", email)
            await page.fill("input[name=password]", password)
            await page.click("button[type=submit]")
            await page.wait_for_url(base + "/console/")
            await expect(page.locator("#sync-state")).to_contain_text("1 dead letter")
            assert await page.text_content("#dead") == "1"
            await page.screenshot(path=ARTIFACTS / "1-dashboard.png", full_page=True)

            # the dead letter: Salesforce's error as text
            await page.goto(base + "/console/outbox?status=dead")
            await page.click(f"text=order #{rejected}")
            assert await page.text_content("#status") == "dead"
            error = re.sub(r"\s+", " ", await page.text_content("#last-error"))
            assert "FIELD_CUSTOM_VALIDATION_EXCEPTION on Woo_Total__c (Order): This order needs credit approval " \
                   "before it can be booked" in error, error
            assert await page.locator("#next-attempt").count() == 0
            assert "statusCode" not in await page.content()
            await page.screenshot(path=ARTIFACTS / "2-dead-letter.png", full_page=True)
            dead_url = page.url

            # a gap report: the newest run that found something missing, as a table with links to the entities
            await page.goto(base + "/console/")
            runs = page.locator("#reconcile-runs a")
            assert await runs.count() > 0
            links = [await runs.nth(i).get_attribute("href") for i in range(await runs.count())]
            entity_link = None
            for href in links:
                await page.goto(base + href)
                await expect(page.locator("#gap-report")).to_be_visible()
                found = page.locator("#gap-report a")
                if await found.count():
                    entity_link = found.first
                    break
            assert entity_link is not None, "no reconciler run found a missed change"
            headers = [h.strip() for h in await page.locator("#gap-report th").all_text_contents()]
            assert headers[:4] == ["Resource", "Checked", "Created", "Updated"]
            await page.screenshot(path=ARTIFACTS / "3-gap-report.png", full_page=True)

            # an entity the reconciler caught: its timeline
            await entity_link.click()
            await expect(page.locator("ol.timeline li").first).to_be_visible()
            await page.screenshot(path=ARTIFACTS / "4-entity-timeline.png", full_page=True)

            # replay the dead letter
            await page.goto(dead_url)
            await page.click("#replay-one")
            await expect(page.locator(".flash")).to_have_text("Replayed: back to pending.")
            await page.screenshot(path=ARTIFACTS / "5-replayed.png", full_page=True)
            await browser.close()
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
        lines.append(out)
    text = "".join(lines)
    assert proc.returncode == 0, text[-3000:]
    assert re.search(r"stopped collector \(pid \d+, exit code 0\)", text), text[-2000:]
