"""Acceptance: signed store events through the real collector (HTTP), then `wooforce agent --once` (a real process)
drains them into the Salesforce emulator (HTTPS): Salesforce holds the newest version of every entity, dependencies
resolved, nothing duplicated; the attempts are recorded and the logs carry no customer data."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer
from cryptography.fernet import Fernet

from collector.app import create_app
from shared.crypto import Vault
from shared.settings import Settings
from shared.signing import sign_headers
from shared.stores import StoreManager
from tests.support import woo
from tests.support.agent_fixtures import sf_connection, sf_emu, sf_session  # noqa: F401 - fixtures

pytestmark = [pytest.mark.acceptance, pytest.mark.integration]


def ev(resource: str, doc: dict, action: str = "updated", eid: str | None = None,
       occurred_at: str = "2026-11-22T12:00:00Z") -> dict:
    return {"id": eid or f"wp-{resource}-{doc['id']}-{doc.get('date_modified_gmt')}", "type": f"{resource}.{action}",
            "occurred_at": occurred_at, "resource_id": doc["id"], "data": doc}


async def test_collector_to_salesforce_end_to_end(db, pg_dsn, sf_emu, tmp_path):
    key = Fernet.generate_key().decode()
    settings = Settings(_env_file=None, master_key=key, data_dir=tmp_path, database_url=pg_dsn, store_cache_ttl_s=0)
    stores = StoreManager(db, Vault.from_settings(settings), cache_ttl_s=0)
    row, secret = await stores.add("Acceptance shop")
    sid = row["id"]
    await stores.set_salesforce(sid, sf_connection(sf_emu))
    newest = woo.order(3, customer_id=1, products=(1, 2), status="completed", modified=9)
    batches = [
        [ev("order", woo.order(1, customer_id=1, products=(1,))), ev("order", woo.order(2, products=(2, 3)))],
        [ev("order", newest)],
        [ev("order", woo.order(3, customer_id=1, products=(1,), status="pending", modified=2))],  # late, older
        [ev("order", newest)],  # duplicate delivery
        [ev("customer", woo.customer(1, modified=1)), ev("product", woo.product(1, price="9.99", modified=1))],
        [ev("product", woo.product(3, modified=1)), ev("product", {"id": 3}, action="deleted", eid="del-3",
                                                      occurred_at="2026-11-22T13:00:00Z")],
    ]
    async with TestServer(create_app(settings, db=db)) as server, ClientSession() as http:
        for i, events in enumerate(batches):
            body = json.dumps({"events": events}).encode()
            headers = {**sign_headers(secret, f"msg-{i}", body), "Content-Type": "application/json"}
            async with http.post(server.make_url(f"/v1/stores/{sid}/events"), data=body, headers=headers) as r:
                assert r.status in (200, 202), await r.text()
    env = {**os.environ, "WOOFORCE_DATABASE_URL": pg_dsn, "WOOFORCE_MASTER_KEY": key,
           "WOOFORCE_DATA_DIR": str(tmp_path), "WOOFORCE_LOG_DIR": str(tmp_path / "logs"), "WOOFORCE_LOG_LEVEL": "INFO"}
    done = subprocess.run([sys.executable, "-m", "cli", "agent", "--once"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-3000:]

    def by_key(sobject: str) -> dict[str, dict]:
        recs = sf_emu.records(sobject)
        keys = [r["Wooforce_Key__c"].split(":", 1)[1] for r in recs]
        assert len(keys) == len(set(keys))
        return dict(zip(keys, recs))

    orders, items, products = by_key("Order"), by_key("OrderItem"), by_key("Product2")
    assert set(orders) == {"order:1", "order:2", "order:3"}
    assert orders["order:3"]["Woo_Status__c"] == "completed"  # newest wins over the late older event
    assert {k for k in items if k.startswith("order:3:")} == {"order:3:item:31", "order:3:item:32"}
    assert orders["order:1"]["AccountId"] == orders["order:3"]["AccountId"] == by_key("Account")["customer:1"]["Id"]
    assert by_key("Contact")["customer:1"]["LastName"] == "Last1"  # the customer's own data, not the order's copy
    assert by_key("PricebookEntry")["product:1"]["UnitPrice"] == 9.99
    assert products["product:3"]["IsActive"] is False  # created from order 2's line, then the delete deactivated it
    async with db.connection() as c:
        assert {r["status"] for r in await c.fetch("SELECT status FROM outbox")} == {"delivered"}, [dict(r) for r in await c.fetch("SELECT resource, resource_id, last_error FROM outbox WHERE status <> 'delivered'")]
        assert await c.fetchval("SELECT count(*) FROM attempts WHERE outcome = 'delivered'") == 6
    logs = (tmp_path / "logs" / "agent.log").read_text() + (tmp_path / "logs" / "sync-results.log").read_text()
    assert '"sync.delivered"' in logs
    for pii in ("@example.com", "Main St", "555-01", "First1"):
        assert pii not in logs + done.stderr
