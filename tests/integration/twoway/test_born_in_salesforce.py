"""Records made in Salesforce (issue 20, step 2): a Product2 or Contact a person creates there, marked for a store
with Woo_Store__c, becomes a WooCommerce product (simple, with price and stock) or customer through the woocommerce
outbox; its key is stamped back, so the store's webhook lands on the same records and later edits flow both ways.
A registered email links the existing customer; WooCommerce's validation errors are permanent, with its message."""
from __future__ import annotations

import pytest

from tests.integration.twoway.test_products import CATALOGUE
from tests.support.twoway import make_rig

pytestmark = pytest.mark.integration


@pytest.fixture
async def brig(db, stores, settings, sf_emu, wc, tmp_path):
    path = tmp_path / "catalogue.toml"
    path.write_text(CATALOGUE)
    r = await make_rig(db, stores, settings, sf_emu, wc, orders=1, customers=1, mapping_file=path)
    await r.sync()
    yield r
    await r.close()


def standard_book(rig) -> str:
    return next(p["Id"] for p in rig.sf.records("Pricebook2") if p["IsStandard"])


def new_product(rig, name: str, sku: str, price: float, stock: int | None = 7) -> tuple[str, str]:
    fields = {"Name": name, "StockKeepingUnit": sku, "Description": f"{name} text", "IsActive": True,
              "Woo_Store__c": rig.store_id}
    if stock is not None:
        fields["Woo_Stock_Quantity__c"] = stock
    prod = rig.sf.insert("Product2", fields)
    entry = rig.sf.insert("PricebookEntry", {"Pricebook2Id": standard_book(rig), "Product2Id": prod["Id"],
                                             "UnitPrice": price, "IsActive": True})
    return prod["Id"], entry["Id"]


async def outbox_row(db, rid: int) -> dict:
    async with db.connection() as conn:
        row = await conn.fetchrow("SELECT * FROM outbox WHERE destination = 'woocommerce' AND resource_id = $1", rid)
    return dict(row)


async def test_a_product_made_in_salesforce_becomes_a_store_product_and_then_syncs_both_ways(brig, db):
    rig = brig
    sf_id, entry_id = new_product(rig, "Lamp", "LAMP-1", 39.5, stock=12)
    products_before = len(rig.wc.store.products)
    calls = rig.sf.stats()["api_usage"]
    rep = await rig.poll()
    assert rep.error is None and rep.born_error is None and rep.born == 1
    assert rep.api_calls == 1 and rig.sf.stats()["api_usage"] == calls + 1  # still one call per poll
    assert (await rig.write())["delivered"] == 1
    assert len(rig.wc.store.products) == products_before + 1
    doc = next(p.doc for p in rig.wc.store.products.values() if p.doc["sku"] == "LAMP-1")
    assert (doc["name"], doc["type"], doc["status"], doc["regular_price"], doc["manage_stock"],
            doc["stock_quantity"], doc["short_description"]) == ("Lamp", "simple", "publish", "39.50", True, 12,
                                                                "Lamp text")
    k = f"{rig.store_id}:product:{doc['id']}"
    prod = next(r for r in rig.sf.records("Product2") if r["Id"] == sf_id)
    entry = next(r for r in rig.sf.records("PricebookEntry") if r["Id"] == entry_id)
    assert prod["Wooforce_Key__c"] == k and entry["Wooforce_Key__c"] == k
    # the store's webhook of the new product lands on the same records: no second Product2
    n_products = len(rig.sf.records("Product2"))
    await rig.deliver()
    assert len(rig.sf.records("Product2")) == n_products
    assert [r["Id"] for r in rig.sf.records("Product2") if r["Wooforce_Key__c"] == k] == [sf_id]
    # a second poll does not create it again
    await rig.sync()
    assert len(rig.wc.store.products) == products_before + 1
    # later edits flow both ways by ownership
    rig.tick()
    rig.sf.edit_as_user("PricebookEntry", entry_id, {"UnitPrice": 41})
    await rig.sync()
    assert rig.wc.store.get_product(doc["id"]).doc["regular_price"] == "41.00"
    rig.tick()
    rig.wc.store.update_product(doc["id"], {"name": "Lamp XL"})
    await rig.sync()
    assert next(r for r in rig.sf.records("Product2") if r["Id"] == sf_id)["Name"] == "Lamp XL"


async def test_a_duplicate_sku_is_a_permanent_error_with_woocommerces_message_and_alerts(brig, db):
    rig = brig
    sf_id, _ = new_product(rig, "Copy of Widget", "W-1", 10)  # the rig's store already sells W-1
    products_before = len(rig.wc.store.products)
    await rig.poll()
    assert await rig.write() == {"dead": 1}
    assert len(rig.wc.store.products) == products_before
    from agent.twoway.born import standin_id

    row = await outbox_row(db, standin_id(sf_id))
    assert (row["status"], row["last_error_code"], row["resource"]) == ("dead", "product_invalid_sku", "product")
    assert row["last_error"] == "WooCommerce refused to create this product: Invalid or duplicated SKU."
    async with db.connection() as conn:
        attempt = await conn.fetchrow("SELECT outcome, error_code, request_summary FROM attempts WHERE "
                                      "destination = 'woocommerce' AND resource_id = $1", standin_id(sf_id))
    assert (attempt["outcome"], attempt["error_code"]) == ("dead", "product_invalid_sku")
    assert attempt["request_summary"]["sf_id"] == sf_id
    dead = {r["store_id"]: r for r in await db.fetch("alerts_dead_letters")}
    assert dead[rig.store_id]["n"] >= 1  # the dead-letter alert fires for it
    assert next(r for r in rig.sf.records("Product2") if r["Id"] == sf_id).get("Wooforce_Key__c") is None


async def test_a_contact_made_in_salesforce_becomes_a_customer_and_a_registered_email_is_linked(brig, db):
    rig = brig
    acc = rig.sf.insert("Account", {"Name": "Ada Co"})
    contact = rig.sf.insert("Contact", {"AccountId": acc["Id"], "FirstName": "Ada", "LastName": "Lovelace",
                                        "Email": "ada@example.com", "Phone": "555-0100",
                                        "MailingStreet": "1 Engine Way", "MailingCity": "London",
                                        "Woo_Store__c": rig.store_id})
    # a customer the store has but Salesforce does not know yet (no webhook reached us)
    known = rig.wc.store.create_customer({"email": "grace@example.com", "first_name": "Grace"}, emit=False)
    acc2 = rig.sf.insert("Account", {"Name": "Grace Co"})
    c2 = rig.sf.insert("Contact", {"AccountId": acc2["Id"], "LastName": "Hopper", "Email": "grace@example.com",
                                   "Woo_Store__c": rig.store_id})
    customers_before = len(rig.wc.store.customers)
    rep = await rig.poll()
    assert rep.born == 2
    assert (await rig.write())["delivered"] == 2
    assert len(rig.wc.store.customers) == customers_before + 1  # Grace linked, not duplicated
    ada = next(c.doc for c in rig.wc.store.customers.values() if c.doc["email"] == "ada@example.com")
    assert (ada["first_name"], ada["billing"]["phone"], ada["billing"]["city"]) == ("Ada", "555-0100", "London")
    recs = {r["Id"]: r for r in rig.sf.records("Contact") + rig.sf.records("Account")}
    assert recs[contact["Id"]]["Wooforce_Key__c"] == recs[acc["Id"]]["Wooforce_Key__c"] == \
        f"{rig.store_id}:customer:{ada['id']}"
    assert recs[c2["Id"]]["Wooforce_Key__c"] == f"{rig.store_id}:customer:{known.id}"
    await rig.deliver()
    assert len([r for r in rig.sf.records("Contact") if r["Email"] == "ada@example.com"]) == 1


async def test_salesforce_check_names_a_missing_woo_store_field(brig, stores, settings, sf_emu, tmp_path):
    from agent.admin import check_salesforce

    path = tmp_path / "catalogue.toml"
    path.write_text(CATALOGUE)
    s = settings.model_copy(update={"mapping_file": path})
    report = await check_salesforce(stores, s, brig.store_id)
    assert report["missing"] == {} and report["ok"]
    sf_emu.remove_field("Product2", "Woo_Store__c")
    sf_emu.remove_field("Contact", "Woo_Store__c")
    report = await check_salesforce(stores, s, brig.store_id)
    assert report["missing"] == {"Contact": ["Woo_Store__c"], "Product2": ["Woo_Store__c"]} and not report["ok"]
    # one-way products (the shipped mapping): only the customer's Contact needs it
    report = await check_salesforce(stores, settings, brig.store_id)
    assert report["missing"] == {"Contact": ["Woo_Store__c"]}


async def test_a_product_made_in_salesforce_and_deleted_there_is_trashed_in_the_store_never_deleted(brig, db):
    from collector.console.service import CLI, ConsoleManager

    rig = brig
    sf_id, _ = new_product(rig, "Short-lived", "SL-1", 5)
    await rig.sync()
    pid = next(p.id for p in rig.wc.store.products.values() if p.doc["sku"] == "SL-1")
    widget = next(p.id for p in rig.wc.store.products.values() if p.doc["sku"] == "W-1")
    rig.sf.delete_as_user("Product2", sf_id)  # (getDeleted asks up to the agent's clock: the rig's shift stays 0)
    # the store's own product, deleted in Salesforce: IsActive is shared ("both"), so the store keeps it
    rig.sf.delete_as_user("Product2", rig.sf_record("Product2", "product", widget)["Id"])
    calls = rig.sf.stats()["api_usage"]
    rep = await rig.poll()
    assert (rep.deleted, rep.error, rep.born_error) == (1, None, None)
    assert rep.api_calls == 1 and rig.sf.stats()["api_usage"] == calls + 1  # getDeleted rides in the same call
    assert (await rig.write())["delivered"] == 1
    assert rig.wc.store.get_product(pid).status == "trash"  # trashed, not deleted for good
    assert rig.wc.store.get_product(widget).status == "publish"
    deletes = {k: v for k, v in rig.wc.requests_by_path.items() if k.startswith("DELETE ")}
    assert sum(deletes.values()) == 1
    # the store's trash webhook is not written back (it would create the Product2 again)
    await rig.deliver()
    assert not [r for r in rig.sf.records("Product2") if r.get("Wooforce_Key__c") == f"{rig.store_id}:product:{pid}"]
    # a second poll (the overlap window repeats the deletion) does nothing more
    await rig.sync()
    assert sum(v for k, v in rig.wc.requests_by_path.items() if k.startswith("DELETE ")) == 1
    timeline = (await ConsoleManager(db).entity(CLI, rig.store_id, "product", pid))["timeline"]
    assert any(t.get("source") == "salesforce" and t.get("action") == "deleted" for t in timeline), timeline
