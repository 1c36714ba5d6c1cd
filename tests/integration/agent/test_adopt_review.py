"""The review list of records the org already had (issue 17): the console's Matches page (candidates side by side,
a pick per candidate with CSRF, role and store scope, audited), the admin API, `wooforce salesforce matches |
resolve` and `wooforce salesforce adopt --dry-run`. Real Postgres, the Salesforce and WooCommerce emulators; the
pick is applied by a real delivery."""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections import Counter

import pytest

from collector.console.service import CLI, ConsoleManager
from shared.mapping import key
from tests.support import woo
from tests.support.console import add_operator, audit_rows, csrf_of, sign_in

pytestmark = pytest.mark.integration


def person(n: int, email: str | None = None, **kw) -> dict:
    return {"FirstName": f"Human{n}", "LastName": f"Made{n}", "Email": email or f"customer{n}@example.com", **kw}


async def rows_of(db, store_id: str) -> dict[tuple[str, int], dict]:
    async with db.connection() as c:
        rows = await c.fetch("SELECT resource, resource_id, status, last_error_code, waiting_for, available_at <= now()"
                             " AS due FROM outbox WHERE store_id = $1", store_id)
    return {(r["resource"], r["resource_id"]): dict(r) for r in rows}


@pytest.fixture
async def waiting(db, sf_store, sf_emu, outbox, deliverer):
    """Customer 2 matches two Contacts people made, product 1 two Product2s with its SKU: both wait for a person;
    order 10 (customer 2, product 1) waits for them."""
    made = sf_emu.seed_existing(contacts=[person(2), person(2, "CUSTOMER2@example.com")],
                                products=[{"Name": "Hand made A", "StockKeepingUnit": "SKU-1"},
                                          {"Name": "Hand made B", "StockKeepingUnit": "sku-1", "ProductCode": "PC-1"}])
    await outbox.put(sf_store, "customer", woo.customer(2))
    await outbox.put(sf_store, "product", woo.product(1))
    await outbox.put(sf_store, "order", woo.order(10, customer_id=2, products=(1,)))
    await deliverer.drain()
    rows = await rows_of(db, sf_store)
    assert rows[("customer", 2)]["status"] == rows[("product", 1)]["status"] == "dead"
    assert rows[("order", 10)]["status"] == "retrying"
    return made


async def test_matches_page_shows_candidates_side_by_side_and_a_pick_is_applied(client, db, stores, sf_store,
                                                                                sf_emu, deliverer, waiting):
    made = waiting
    console = ConsoleManager(db)
    other, _ = await stores.add("Other shop")
    await add_operator(console, "viewer@example.com", "viewer")
    await add_operator(console, "elsewhere@example.com", "operator", other["id"])
    await add_operator(console, "ops@example.com", "operator", sf_store)
    customer_key = key(sf_store, "customer", 2)

    await sign_in(client, "viewer@example.com")
    page = await client.get(f"/console/matches?store={sf_store}")
    html = await page.text()
    assert page.status == 200
    for sf_id in (*made["Contact"], *made["Product2"], *made["Account"]):
        assert sf_id in html  # every candidate, with its Account / price book entry
    assert "customer2@example.com" in html and "CUSTOMER2@example.com" in html  # the email each matched by
    assert "SKU-1" in html and "sku-1" in html and "PC-1" in html  # SKU, ProductCode
    assert " UTC" in html and "Test shop" in html and 'href="/console/matches"' in html  # store name, UTC, nav
    assert "Use this one" not in html  # a viewer sees no pick
    refused = await client.post(f"/console/matches/{sf_store}/resolve",
                                data={"csrf_token": csrf_of(html), "key": customer_key, "pick": made["Contact"][1]})
    assert refused.status == 403
    await client.post("/console/logout", data={"csrf_token": csrf_of(html)})

    await sign_in(client, "elsewhere@example.com")  # an operator of another store
    assert (await client.get(f"/console/matches?store={sf_store}")).status == 403
    await client.post("/console/logout", data={"csrf_token": csrf_of(await (await client.get("/console/")).text())})

    await sign_in(client, "ops@example.com")
    html = await (await client.get("/console/matches")).text()  # a store's own operator: their store
    assert html.count("Use this one") == 4 and html.count("Create new") == 2
    no_csrf = await client.post(f"/console/matches/{sf_store}/resolve",
                                data={"key": customer_key, "pick": made["Contact"][1]})
    assert no_csrf.status == 403
    assert (await console.matches(CLI, sf_store))[0]["status"] == "open"
    bad = await client.post(f"/console/matches/{sf_store}/resolve",
                            data={"csrf_token": csrf_of(html), "key": customer_key, "pick": "003000000000000AAA"})
    assert bad.status == 422  # not a candidate
    picked = await client.post(f"/console/matches/{sf_store}/resolve", allow_redirects=False,
                               data={"csrf_token": csrf_of(html), "key": customer_key, "pick": made["Contact"][1]})
    assert picked.status == 302 and "Picked" in picked.headers["Location"]
    open_rows = await console.matches(CLI, sf_store)
    assert [r["key"] for r in open_rows] == [key(sf_store, "product", 1)]  # the customer's is decided
    rows = await rows_of(db, sf_store)
    assert rows[("customer", 2)]["status"] == "pending" and rows[("order", 10)]["due"]
    entry = next(a for a in await audit_rows(db) if a["action"] == "salesforce.match_resolved")
    assert entry["actor"] == "ops@example.com" and entry["target"] == customer_key and entry["store_id"] == sf_store
    assert entry["params"]["pick"] == made["Contact"][1]

    await deliverer.drain()  # the agent applies the pick; the order still waits for its product
    contacts = {c["Id"]: c for c in sf_emu.records("Contact")}
    assert len(contacts) == 2 and contacts[made["Contact"][1]]["Wooforce_Key__c"] == customer_key
    assert contacts[made["Contact"][0]].get("Wooforce_Key__c") is None
    assert (await rows_of(db, sf_store))[("customer", 2)]["status"] == "delivered"
    html = await (await client.get("/console/matches")).text()
    await client.post(f"/console/matches/{sf_store}/resolve",
                      data={"csrf_token": csrf_of(html), "key": key(sf_store, "product", 1), "pick": "create"})
    await deliverer.drain()
    rows = await rows_of(db, sf_store)
    assert rows[("product", 1)]["status"] == rows[("order", 10)]["status"] == "delivered"
    assert len(sf_emu.records("Product2")) == 3  # create: a new one, the two people made left alone
    html = await (await client.get("/console/matches")).text()
    assert 'id="no-matches"' in html


async def test_admin_api_lists_and_resolves_matches(client, db, stores, sf_store, sf_emu, deliverer, waiting):
    made = waiting
    console = ConsoleManager(db)
    await add_operator(console, "ops@example.com", "operator")
    await add_operator(console, "viewer@example.com", "viewer")
    ops, _ = await console.create_token(CLI, "ops@example.com", "t")
    viewer, _ = await console.create_token(CLI, "viewer@example.com", "t")
    auth = {"Authorization": f"Bearer {ops}"}
    listed = await client.get(f"/api/v1/stores/{sf_store}/matches", headers=auth)
    assert listed.status == 200
    items = (await listed.json())["items"]
    assert Counter(i["kind"] for i in items) == {"customer": 1, "product": 1}
    customer = next(i for i in items if i["kind"] == "customer")
    assert [c["Id"] for c in customer["candidates"]] == made["Contact"]  # oldest first
    assert customer["resource"] == "customer" and customer["resource_id"] == 2
    k = customer["key"]
    path = f"/api/v1/stores/{sf_store}/matches/{k}"
    assert (await client.post(path, json={"pick": made["Contact"][0]},
                              headers={"Authorization": f"Bearer {viewer}"})).status == 403
    for body in ({}, {"pick": 5}, {"pick": "001000000000000XYZ"}):
        r = await client.post(path, json=body, headers=auth)
        assert r.status == 422, (body, await r.text())
    assert (await client.get(f"/api/v1/stores/{sf_store}/matches?status=lost", headers=auth)).status == 422
    assert (await client.get("/api/v1/stores/st_nope/matches", headers=auth)).status == 404
    assert (await client.post(f"/api/v1/stores/{sf_store}/matches/{sf_store}:customer:99", json={"pick": "create"},
                              headers=auth)).status == 404
    ok = await client.post(path, json={"pick": made["Contact"][0]}, headers=auth)
    assert ok.status == 200
    assert (await ok.json())["replayed"] == [{"resource": "customer", "resource_id": 2}]
    assert (await client.post(path, json={"pick": "create"}, headers=auth)).status == 422  # not open any more
    decided = (await (await client.get(f"/api/v1/stores/{sf_store}/matches?status=decided", headers=auth)).json())
    assert [i["decision"] for i in decided["items"]] == [made["Contact"][0]]
    await deliverer.drain()
    assert sf_emu.record("Contact", made["Contact"][0])["Wooforce_Key__c"] == k


@pytest.fixture
def cli(pg_dsn, tmp_path, db, settings):
    env = {**os.environ, "WOOFORCE_DATABASE_URL": pg_dsn, "WOOFORCE_MASTER_KEY": settings.master_key.get_secret_value(),
           "WOOFORCE_DATA_DIR": str(tmp_path)}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "cli", *args], env=env, capture_output=True, text=True,
                              timeout=120, cwd=tmp_path)

    return run


async def test_cli_matches_and_resolve(db, sf_store, sf_emu, deliverer, waiting, cli):
    made = waiting
    listed = await asyncio.to_thread(cli, "salesforce", "matches", "--store", sf_store, "--json")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert {r["key"] for r in rows} == {key(sf_store, "customer", 2), key(sf_store, "product", 1)}
    text = (await asyncio.to_thread(cli, "salesforce", "matches", "--store", sf_store)).stdout
    assert made["Contact"][0] in text and "customer2@example.com" in text and "sku=SKU-1" in text
    k = key(sf_store, "product", 1)
    bad = await asyncio.to_thread(cli, "salesforce", "resolve", "--store", sf_store, "--key", k, "--pick", "nope")
    assert bad.returncode == 1 and "pick must be one of" in bad.stderr
    done = await asyncio.to_thread(cli, "salesforce", "resolve", "--store", sf_store, "--key", k,
                                   "--pick", made["Product2"][1])
    assert done.returncode == 0, done.stderr
    assert f"{made['Product2'][1]} will be used" in done.stdout
    assert any(a["action"] == "salesforce.match_resolved" and a["actor"] == "cli" for a in await audit_rows(db))
    await deliverer.drain()
    assert sf_emu.record("Product2", made["Product2"][1])["Wooforce_Key__c"] == k
    left = json.loads((await asyncio.to_thread(cli, "salesforce", "matches", "--store", sf_store, "--json")).stdout)
    assert [r["key"] for r in left] == [key(sf_store, "customer", 2)]


async def test_adopt_dry_run_counts_match_create_and_review_and_changes_nothing(db, stores, sf_store, sf_emu, cli):
    from emulators.woocommerce import WooCommerceEmulator

    async with WooCommerceEmulator() as wc:
        wc.seed(products=40, customers=150, days=30)
        ck, cs = wc.add_api_key("read")
        await stores.set_woocommerce(sf_store, url=wc.url, consumer_key=ck, consumer_secret=cs, webhook_secret=None)
        customers = sorted((c.doc for c in wc.store.customers.values() if c.doc["role"] == "customer"),
                           key=lambda c: c["id"])
        products = [p.doc for p in [*wc.store.products.values(), *wc.store.variations.values()]
                    if p.doc.get("status") != "draft"]
        skus = sorted(p["sku"] for p in products if p.get("sku"))
        assert len(customers) == 150 and len(skus) == len(products) > 40
        contacts = [person(i, c["email"].upper() if i % 5 == 0 else c["email"]) for i, c in enumerate(customers[:100])]
        contacts += [person(1000 + i, customers[i]["email"]) for i in range(7)]  # 7 emails twice: review
        contacts += [person(2000, customers[100]["email"], Wooforce_Key__c="st_other:customer:1")]  # keyed: review
        seeded = [{"Name": f"Catalogue {s}", "StockKeepingUnit": s} for s in skus[:20]]
        seeded += [{"Name": f"Coded {s}", "ProductCode": s.lower()} for s in skus[20:25]]  # by ProductCode
        seeded += [{"Name": f"Again {s}", "StockKeepingUnit": s} for s in skus[:3]]  # 3 SKUs twice: review
        sf_emu.seed_existing(contacts=contacts, products=seeded)
        before = {s: len(sf_emu.records(s)) for s in ("Contact", "Account", "Product2", "PricebookEntry")}
        calls_before = sf_emu.api_calls
        out = await asyncio.to_thread(cli, "salesforce", "adopt", "--store", sf_store, "--dry-run", "--json")
        text = await asyncio.to_thread(cli, "salesforce", "adopt", "--store", sf_store, "--dry-run")
        refused = await asyncio.to_thread(cli, "salesforce", "adopt", "--store", sf_store)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["customers"] == {"known": 0, "matched": 93, "created": 49, "review": 8}
    assert report["products"] == {"known": 0, "matched": 22, "created": len(skus) - 25, "review": 3}
    assert report["policy"] == "wait"
    # the org: the standard price book, then Contacts (1 query), Product2 and their entries (1 each) in 1 Composite
    assert report["api_calls"]["soql_queries"] == 3 and report["api_calls"]["salesforce"] == 2
    variable = sum(1 for p in wc.store.products.values() if p.doc.get("type") == "variable")
    assert report["api_calls"]["woocommerce_by_path"] == {"customers": 2, "products": 1, "variations": variable}
    assert sf_emu.api_calls - calls_before == 2 * 2
    assert {s: len(sf_emu.records(s)) for s in before} == before  # nothing written in the org
    assert not [c for c in sf_emu.records("Contact") if (c.get("Wooforce_Key__c") or "").startswith(sf_store)]
    assert await db.fetch("sf_matches_list", sf_store, None, 10) == []  # nor the review list
    assert "customers: 93 would be matched (existing records adopted), 49 created, 8 sent to review" in text.stdout
    assert "API calls: WooCommerce" in text.stdout and text.returncode == 0
    assert refused.returncode == 2 and "--dry-run" in refused.stderr
