"""What two-way sync needs from the emulators: SOQL on SystemModstamp / LastModifiedById with ordering and paging,
edits as a human user, record-write counts; a WooCommerce PUT that bumps date_modified and fires its webhook."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest
import requests

pytestmark = pytest.mark.integration


def query(emu, soql: str, batch: int | None = None) -> dict:
    s = requests.Session()
    s.trust_env, s.verify = False, str(emu.ca_path)
    headers = {"Authorization": f"Bearer {emu.issue_token()}"}
    if batch:
        headers["Sforce-Query-Options"] = f"batchSize={batch}"
    return s.get(f"{emu.url}/services/data/v66.0/query?q={quote(soql)}", headers=headers, timeout=10).json(), s, headers


def test_salesforce_soql_filters_on_modstamp_and_last_modified_by_with_order_and_paging(sf_emu):
    since = (datetime.now(UTC) - timedelta(seconds=5)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    ids = [sf_emu.insert("Account", {"Name": f"A{i}"})["Id"] for i in range(450)]
    before = sf_emu.stats()["record_writes"]["Account"]
    edited = [ids[7], ids[3], ids[300]]
    for rid in edited:
        sf_emu.edit_as_user("Account", rid, {"Phone": "1"})
    assert sf_emu.stats()["record_writes"]["Account"] == before + 3
    uid = sf_emu.integration_user_id
    body, _, _ = query(sf_emu, f"SELECT Id, SystemModstamp FROM Account WHERE SystemModstamp > {since} "
                               f"AND LastModifiedById = '{sf_emu.admin_user_id}' AND Phone = '1' "
                               f"ORDER BY SystemModstamp DESC, Id")
    rows = body["records"]
    assert sorted(r["Id"] for r in rows) == sorted(edited)
    assert [r["SystemModstamp"] for r in rows] == sorted((r["SystemModstamp"] for r in rows), reverse=True)
    body, _, _ = query(sf_emu, f"SELECT Id FROM Account WHERE LastModifiedById = '{uid}'")
    assert body["totalSize"] == 0  # every record here was written by the admin user
    body, s, headers = query(sf_emu, f"SELECT Id, SystemModstamp FROM Account WHERE SystemModstamp > {since} "
                                     f"ORDER BY SystemModstamp, Id", batch=200)
    pages, rows = 1, list(body["records"])
    while not body["done"]:
        body = s.get(sf_emu.url + body["nextRecordsUrl"], headers=headers, timeout=10).json()
        rows += body["records"]
        pages += 1
    ids_seen = [r["Id"] for r in rows]
    assert pages == 3 and len(ids_seen) == len(set(ids_seen)) == 450
    assert [r["SystemModstamp"] for r in rows] == sorted(r["SystemModstamp"] for r in rows)


async def test_woocommerce_put_bumps_date_modified_and_fires_the_webhook(rig):
    oid = rig.orders[0]
    seen = []
    rig.wc.store.listeners.append(lambda ch: seen.append((ch.resource, ch.resource_id, ch.topics)))
    old = rig.wc.store.render(rig.wc.store.get_order(oid))["date_modified_gmt"]
    rig.tick()
    from agent.woocommerce import WooClient

    store = await rig.writer.stores.get(rig.store_id)
    async with WooClient.for_store(store) as client:
        saved = await client.put(f"orders/{oid}", {"status": "on-hold", "meta_data": [{"key": "k", "value": "v"}]})
    assert saved["status"] == "on-hold" and saved["date_modified_gmt"] > old
    assert ("order", oid, ["order.updated"]) in seen
