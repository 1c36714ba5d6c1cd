"""Adopting the records an org already has (issue 17): a customer's Contact found by email, a product's Product2 by
SKU gets Wooforce_Key__c and is updated instead of duplicated; ambiguous matches go to the review list and the
store's policy decides. Real Postgres, the Salesforce emulator seeded with records people made."""
from __future__ import annotations

from collections import Counter

import pytest

from agent.delivery.adopt import MATCH_CODE, contact_soql, key_queries, literal
from shared.mapping import key
from tests.support import woo

pytestmark = pytest.mark.integration


def person(n: int, email: str | None = None, **kw) -> dict:
    return {"FirstName": f"Human{n}", "LastName": f"Made{n}", "Email": email or f"customer{n}@example.com", **kw}


async def outbox_rows(db, store_id: str) -> dict[tuple[str, int], dict]:
    async with db.connection() as c:
        rows = await c.fetch("SELECT resource, resource_id, status, last_error_code, waiting_for FROM outbox "
                             "WHERE store_id = $1", store_id)
    return {(r["resource"], r["resource_id"]): dict(r) for r in rows}


async def matches(db, store_id: str) -> dict[str, dict]:
    return {r["wooforce_key"]: dict(r) for r in await db.fetch("sf_matches_list", store_id, None, 1000)}


async def test_single_match_is_adopted_ambiguous_ones_wait_and_clean_ones_are_created(db, sf_store, sf_emu, outbox,
                                                                                       deliverer):
    made = sf_emu.seed_existing(
        contacts=[person(1, "Customer1@Example.com"),  # one free match (the case differs)
                  person(2), person(2),  # two Contacts with one email
                  person(3, Wooforce_Key__c="st_other:customer:3")],  # keyed to another store
        products=[{"Name": "Hand made 1", "StockKeepingUnit": "SKU-1"},
                  {"Name": "Hand made 2", "ProductCode": "sku-2"}])  # matched by ProductCode, case-insensitive
    await outbox.put(sf_store, "customer", *(woo.customer(c) for c in (1, 2, 3, 4)))
    await outbox.put(sf_store, "product", *(woo.product(p) for p in (1, 2, 3)))
    await outbox.put(sf_store, "order", woo.order(10, customer_id=2, products=(1,)),
                     woo.order(11, customer_id=1, products=(1, 2)))
    await deliverer.drain()
    contacts = sf_emu.records("Contact")
    by_email = Counter(c["Email"].lower() for c in contacts)
    assert by_email == {"customer1@example.com": 1, "customer2@example.com": 2, "customer3@example.com": 1,
                        "customer4@example.com": 1}  # 4 is clean: created; nothing else duplicated
    adopted = next(c for c in contacts if c["Id"] == made["Contact"][0])
    assert adopted["Wooforce_Key__c"] == key(sf_store, "customer", 1) and adopted["FirstName"] == "First1"  # updated
    assert sf_emu.record("Account", made["Account"][0])["Wooforce_Key__c"] == key(sf_store, "customer", 1)
    assert adopted["AccountId"] == made["Account"][0]
    products = sf_emu.records("Product2")
    assert len(products) == 3 and Counter(p["Wooforce_Key__c"] for p in products)[None] == 0
    assert {p["Id"] for p in products} >= set(made["Product2"])
    entries = sf_emu.records("PricebookEntry")
    assert len(entries) == 3  # the adopted products' standard entries were stamped, not created again
    assert sf_emu.record("PricebookEntry", made["PricebookEntry"][0])["Wooforce_Key__c"] == key(sf_store, "product", 1)
    rows = await outbox_rows(db, sf_store)
    assert rows[("customer", 1)]["status"] == rows[("order", 11)]["status"] == "delivered"
    assert rows[("customer", 4)]["status"] == "delivered"
    for c in (2, 3):  # never guessed: the default policy waits for a person
        assert rows[("customer", c)]["status"] == "dead" and rows[("customer", c)]["last_error_code"] == MATCH_CODE
    assert rows[("order", 10)]["status"] == "retrying"
    assert rows[("order", 10)]["waiting_for"] == key(sf_store, "customer", 2)
    review = await matches(db, sf_store)
    assert set(review) == {key(sf_store, "customer", 2), key(sf_store, "customer", 3)}
    two = review[key(sf_store, "customer", 2)]
    assert two["reason"] == "several" and two["status"] == "open"
    assert [c["Id"] for c in two["candidates"]] == made["Contact"][1:3]  # oldest first
    assert review[key(sf_store, "customer", 3)]["reason"] == "keyed_elsewhere"
    assert not [o for o in sf_emu.records("Order") if o["Wooforce_Key__c"] == key(sf_store, "order", 10)]


async def test_a_decision_is_applied_on_the_next_delivery(db, sf_store, sf_emu, outbox, deliverer):
    made = sf_emu.seed_existing(contacts=[person(2), person(2)])
    await outbox.put(sf_store, "customer", woo.customer(2))
    await deliverer.drain()
    k = key(sf_store, "customer", 2)
    picked = await db.fetchrow("sf_matches_decide", sf_store, k, made["Contact"][1], "ops@example.com")
    assert picked is not None
    async with db.connection() as c:
        await c.execute("UPDATE outbox SET status = 'pending', attempts = 0, available_at = now() WHERE store_id = $1",
                        sf_store)
    await deliverer.drain()
    assert (await outbox_rows(db, sf_store))[("customer", 2)]["status"] == "delivered"
    contacts = {c["Id"]: c for c in sf_emu.records("Contact")}
    assert len(contacts) == 2 and contacts[made["Contact"][1]]["Wooforce_Key__c"] == k
    assert contacts[made["Contact"][0]].get("Wooforce_Key__c") is None
    assert (await matches(db, sf_store))[k]["status"] == "applied"


@pytest.mark.parametrize("policy", ["create", "oldest"])
async def test_the_store_policy_decides_an_ambiguous_match(db, sf_store, sf_emu, outbox, make_deliverer, stores,
                                                           tmp_path, policy):
    override = tmp_path / "mapping.toml"
    override.write_text(f'[options]\nmatch_ambiguous = "{policy}"\n')
    conn = (await stores.get(sf_store))["sf_credentials"]
    await stores.set_salesforce(sf_store, {**conn, "mapping_file": str(override)})
    made = sf_emu.seed_existing(contacts=[person(2), person(2)])
    await outbox.put(sf_store, "customer", woo.customer(2))
    await make_deliverer().drain()
    assert (await outbox_rows(db, sf_store))[("customer", 2)]["status"] == "delivered"
    k = key(sf_store, "customer", 2)
    keyed = [c for c in sf_emu.records("Contact") if c.get("Wooforce_Key__c") == k]
    row = (await matches(db, sf_store))[k]
    assert row["status"] == "applied" and row["decided_by"] == f"policy:{policy}"
    if policy == "oldest":
        assert len(sf_emu.records("Contact")) == 2 and keyed[0]["Id"] == made["Contact"][0]
    else:
        assert len(sf_emu.records("Contact")) == 3 and keyed[0]["Id"] not in made["Contact"]


async def test_lookup_is_one_call_and_a_batch_without_new_entities_makes_none(db, sf_store, sf_emu, outbox,
                                                                              deliverer):
    def looked_up() -> int:  # query subrequests inside Composite requests (the adoption's lookups)
        return sf_emu.stats()["composite_subrequests"].get("query", 0)

    await outbox.put(sf_store, "customer", woo.customer(999))
    await deliverer.drain()  # the first batch also reads /limits and the price book
    await outbox.put(sf_store, "order", *(woo.order(i, customer_id=i, products=(i,)) for i in range(1, 6)))
    before, queries = sf_emu.api_calls, looked_up()
    await deliverer.drain()
    assert sf_emu.api_calls - before == 2  # one Composite of lookups + the batch's one write
    assert looked_up() - queries == 3  # Contacts by email, Product2 by SKU/ProductCode, their price book entries
    await outbox.put(sf_store, "order", *(woo.order(i, customer_id=i, products=(i,), status="completed")
                                          for i in range(1, 6)))
    queries = looked_up()
    await deliverer.drain()
    assert looked_up() == queries  # everything known: no lookup


def test_key_queries_cut_by_count_and_uri_size_and_escape_quotes():
    emails = [f"o'brien{i}@example.com" for i in range(450)]
    qs = key_queries(contact_soql, emails)
    assert [q.count("@example.com") for q in qs] == [200, 200, 50]
    assert literal("o'b\\x") == "'o\\'b\\\\x'"
    long = [f"{'x' * 180}{i}@example.com" for i in range(200)]
    assert len(key_queries(contact_soql, long)) > 1  # 200 long emails do not fit one URI


async def test_an_org_people_filled_gets_no_duplicates_from_a_full_backfill(db, stores, sf_store, sf_emu,
                                                                            make_deliverer, settings):
    """Done when (issue 17): 500 Contacts and 100 Products people made (10 emails twice) and a store with the same
    customers and products: after a full backfill and a drain, not one duplicate; the 10 ambiguous are for review."""
    from agent.reconcile.backfill import Backfill, job_params
    from emulators.woocommerce import WooCommerceEmulator
    from tests.integration.reconcile.conftest import tuned

    async with WooCommerceEmulator() as wc:
        wc.seed(orders=150, products=80, customers=490, days=30)
        ck, cs = wc.add_api_key("read")
        await stores.set_woocommerce(sf_store, url=wc.url, consumer_key=ck, consumer_secret=cs, webhook_secret=None)
        customers = [c.doc for c in wc.store.customers.values() if c.doc["role"] == "customer"]
        assert len(customers) == 490
        people = [person(i, c["email"].upper() if i % 7 == 0 else c["email"]) for i, c in enumerate(customers)]
        twice = [person(1000 + i, customers[i]["email"]) for i in range(10)]  # 10 emails with two Contacts
        skus = sorted({p.doc["sku"] for p in [*wc.store.products.values(), *wc.store.variations.values()]
                       if p.doc.get("sku")})
        assert len(skus) >= 100
        made = sf_emu.seed_existing(contacts=people + twice,
                                    products=[{"Name": f"Catalogue {s}", "StockKeepingUnit": s} for s in skus[:100]])
        assert len(made["Contact"]) == 500 and len(made["Product2"]) == 100
        s = tuned(settings)
        backfill = Backfill(db, stores, s, owner="agent-a")
        await backfill.run(await backfill.find_or_create(sf_store, job_params(None, None)))
    await make_deliverer(agent_claim_batch=200, sf_bulk_claim_batch=2000).drain()
    contacts = sf_emu.records("Contact")
    per_email = Counter(c["Email"].lower() for c in contacts if c.get("Email"))
    assert {e for e, n in per_email.items() if n > 1} == {c["email"] for c in customers[:10]}
    assert all(per_email[c["email"]] == 2 for c in customers[:10])  # the two people made, no third
    assert {c["Id"] for c in contacts} >= set(made["Contact"])
    keyed = Counter(c.get("Wooforce_Key__c") for c in contacts)
    assert keyed[None] == 20 and max(n for k, n in keyed.items() if k) == 1  # the 10 pairs wait, unkeyed
    adopted = {c["Id"] for c in contacts if c.get("Wooforce_Key__c", "").startswith(f"{sf_store}:customer:")}
    assert adopted == set(made["Contact"][10:490])
    products = sf_emu.records("Product2")
    per_sku = Counter(p["StockKeepingUnit"] for p in products)
    assert max(per_sku.values()) == 1 and all(p.get("Wooforce_Key__c") for p in products)
    entries = Counter(e["Product2Id"] for e in sf_emu.records("PricebookEntry"))
    assert max(entries.values()) == 1
    review = await matches(db, sf_store)
    assert len(review) == 10 and {r["reason"] for r in review.values()} == {"several"}
    assert {r["status"] for r in review.values()} == {"open"}


async def test_a_guest_buyer_with_a_registered_customers_email_gets_its_own_contact(db, sf_store, sf_emu, outbox,
                                                                                     deliverer):
    """The registered customer's Contact is Wooforce's own record (keyed by this store), not one a person made: a
    guest order with the same email is not held for review, its buyer gets a Contact of its own as before adoption."""
    await outbox.put(sf_store, "customer", woo.customer(5))
    await deliverer.drain()
    billing = {**woo.address(5), "email": "customer5@example.com"}  # a guest, billed to customer 5's email
    await outbox.put(sf_store, "order", woo.order(50, customer_id=0, billing=billing))
    await deliverer.drain()
    rows = await outbox_rows(db, sf_store)
    assert rows[("order", 50)]["status"] == "delivered", rows[("order", 50)]
    assert await matches(db, sf_store) == {}
    keys = sorted(c["Wooforce_Key__c"] for c in sf_emu.records("Contact") if c["Email"] == "customer5@example.com")
    assert len(keys) == 2 and key(sf_store, "customer", 5) in keys


async def test_lookups_of_a_large_batch_keep_to_five_queries_per_composite(sf_store, sf_emu, deliverer):
    """Salesforce refuses a Composite with more than 5 query subrequests (LIMIT_EXCEEDED): a backlog's lookups
    (here 7 queries of Contacts by email) go in several Composite calls, and every answer comes back."""
    from agent.delivery.adopt import Want, lookup_soqls, lookups
    from agent.salesforce import in_thread

    sf_emu.seed_existing(contacts=[person(5, "c1250@example.com")])
    sf = await deliverer.client(sf_store)
    wants = [Want("customer", key(sf_store, "customer", i), f"c{i}@example.com") for i in range(1300)]
    soqls = lookup_soqls(wants, "01s000000000000AAA")
    assert len(soqls) > 5
    calls: list[str] = []

    async def call(fn, *args):
        calls.append(fn.__name__)
        return await in_thread(fn, *args)

    found = await lookups(call, sf, soqls)
    assert calls == ["composite"] * -(-len(soqls) // 5)
    assert [r["Email"] for kind, rows in found for r in rows] == ["c1250@example.com"]
