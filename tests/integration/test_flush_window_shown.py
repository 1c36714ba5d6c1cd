"""The flush window in force (issue 19) is shown: on the console dashboard and in the collector's /metrics, both
read from what the agent records in sf_budget.flush_window_s."""
from __future__ import annotations

import pytest

from collector.console.service import CLI, ConsoleManager
from tests.support.console import add_operator, sign_in

pytestmark = pytest.mark.integration


async def test_dashboard_and_metrics_show_each_stores_flush_window(db, stores, client):
    a, _ = await stores.add("Alpha shop")
    b, _ = await stores.add("Beta shop")
    async with db.connection() as c:
        await c.execute("INSERT INTO sf_budget (store_id, api_used, api_max, budget_share, flush_window_s) "
                        "VALUES ($1, 600, 1000, 0.8, 16), ($2, 10, 1000, 0.8, NULL)", a["id"], b["id"])
    console = ConsoleManager(db)
    d = await console.dashboard(CLI)
    assert {r["store_id"]: r["flush_window_s"] for r in d["budget"]} == {a["id"]: 16.0, b["id"]: None}
    metrics = await (await client.get("/metrics")).text()
    assert f'wooforce_salesforce_flush_window_seconds{{store_id="{a["id"]}"}} 16.0' in metrics
    assert f'store_id="{b["id"]}"' not in metrics  # no window recorded yet
    await add_operator(console, "ops@example.com", "admin")
    await sign_in(client, "ops@example.com")
    page = await (await client.get("/console/")).text()
    assert 'flush window <span class="flush-window">16.0 s</span>' in page
    async with db.connection() as c:  # the window narrowed again
        await c.execute("UPDATE sf_budget SET flush_window_s = 2 WHERE store_id = $1", a["id"])
    metrics = await (await client.get("/metrics")).text()
    assert f'wooforce_salesforce_flush_window_seconds{{store_id="{a["id"]}"}} 2.0' in metrics
