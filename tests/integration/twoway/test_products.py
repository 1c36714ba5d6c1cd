"""Products in two-way sync (issue 20): a Salesforce-owned catalogue (Product2 name, description, active flag,
stock; the standard PricebookEntry's price) written to WooCommerce through the woocommerce outbox, variations by
their own route, echoes recognised, and the stock conflict: Salesforce's stock change is applied as a delta from the
value it was based on, so the store's sales are never lost to an older Salesforce number."""
from __future__ import annotations

import pytest

from tests.support.twoway import make_rig

pytestmark = pytest.mark.integration

CATALOGUE = '''
[twoway.product.Product2]
Name = { owner = "both", wc = "name" }
Description = { owner = "both", wc = "short_description" }
IsActive = { owner = "both", wc = "status" }
Woo_Stock_Quantity__c = { owner = "both", wc = "stock_quantity" }

[twoway.product.PricebookEntry]
UnitPrice = { owner = "both", wc = "regular_price" }
'''


@pytest.fixture
async def prig(db, stores, settings, sf_emu, wc, tmp_path):
    path = tmp_path / "catalogue.toml"
    path.write_text(CATALOGUE)
    r = await make_rig(db, stores, settings, sf_emu, wc, orders=1, customers=1, mapping_file=path)
    st = wc.store
    r.stocked = st.create_product({"name": "Stocked", "type": "simple", "regular_price": "5.00", "sku": "S-1",
                                   "manage_stock": True, "stock_quantity": 50}).id
    parent = st.create_product({"name": "Shirt", "type": "variable", "sku": "SH",
                                "attributes": [{"name": "Size", "options": ["S", "M"], "variation": True}]})
    r.parent = parent.id
    r.variation = st.create_variation(parent.id, {"regular_price": "20.00", "sku": "SH-S", "manage_stock": True,
                                                  "stock_quantity": 8,
                                                  "attributes": [{"name": "Size", "option": "S"}]}).id
    r.widget = next(p for p in st.products.values() if p.doc["sku"] == "W-1").id
    await r.deliver()
    await r.sync()
    yield r
    await r.close()


def put_paths(rig) -> dict[str, int]:
    return {k: v for k, v in rig.wc.requests_by_path.items() if k.startswith("PUT ")}


def product_writes(rig) -> int:
    return rig.sf_writes("Product2", "PricebookEntry")


async def test_catalogue_fields_and_price_reach_the_store_in_one_put_and_the_echo_stops(prig, db):
    rig, pid = prig, prig.widget
    prod, entry = rig.sf_record("Product2", "product", pid), rig.sf_record("PricebookEntry", "product", pid)
    assert entry["UnitPrice"] == 10.0
    before_puts, before_writes = rig.wc_puts(), product_writes(rig)
    rig.tick()
    rig.sf.edit_as_user("Product2", prod["Id"], {"Name": "Widget Pro", "Description": "Now with more widget",
                                                 "IsActive": False})
    rig.sf.edit_as_user("PricebookEntry", entry["Id"], {"UnitPrice": 12.5})
    before_calls = rig.sf.stats()["api_usage"]
    rep = await rig.poll()
    assert rep.error is None and rep.api_calls == 1 and rig.sf.stats()["api_usage"] == before_calls + 1
    assert {"Order", "Account", "Product2", "PricebookEntry"} <= set(rep.rows)
    out = await rig.write()
    assert out["delivered"] == 1
    doc = rig.wc.store.render(rig.wc.store.get_product(pid))
    assert (doc["name"], doc["short_description"], doc["status"], doc["regular_price"]) == (
        "Widget Pro", "Now with more widget", "draft", "12.50")
    assert rig.wc_puts() == before_puts + 1  # one PUT for both sObjects' changes
    assert put_paths(rig).get("PUT /wp-json/wc/v3/products/{id}") == 1
    await rig.deliver()  # the webhook of our PUT: an echo, not written back
    assert product_writes(rig) == before_writes + 2  # the two human edits only
    rep = await rig.poll()
    assert rep.changes == 0 and await rig.writer.drain() == {}
    assert rig.wc_puts() == before_puts + 1


async def test_a_store_edit_of_a_catalogue_field_reaches_salesforce_once(prig):
    rig, pid = prig, prig.widget
    rig.tick()
    rig.wc.store.update_product(pid, {"regular_price": "11.00", "short_description": "Shop text"})
    puts = rig.wc_puts()
    await rig.sync()
    await rig.sync()
    assert rig.sf_record("PricebookEntry", "product", pid)["UnitPrice"] == 11.0
    assert rig.sf_record("Product2", "product", pid)["Description"] == "Shop text"
    assert rig.wc_puts() == puts  # our own upsert came back in the poll: not written to the store


async def test_a_variation_is_written_by_its_own_route(prig):
    rig, vid = prig, prig.variation
    rig.tick()
    rig.sf.edit_as_user("PricebookEntry", rig.sf_record("PricebookEntry", "product", vid)["Id"], {"UnitPrice": 22})
    await rig.poll()
    assert (await rig.write())["delivered"] == 1
    async with rig.db.connection() as conn:
        path = await conn.fetchval("SELECT request_summary->>'path' FROM attempts WHERE destination = 'woocommerce' "
                                   "AND resource = 'product' AND resource_id = $1", vid)
    assert path == f"products/{rig.parent}/variations/{vid}"
    assert put_paths(rig).get("PUT /wp-json/wc/v3/products/{id}/variations/{id}") == 1
    assert rig.wc.store.get_variation(rig.parent, vid).doc["regular_price"] == "22.00"


def sell(rig, pid: int, qty: int) -> None:
    rig.wc.store.create_order({"status": "processing", "set_paid": True,
                               "billing": {"first_name": "B", "last_name": "Y", "email": "buyer@example.com"},
                               "line_items": [{"product_id": pid, "quantity": qty}]})


def stock(rig, pid: int) -> int:
    return rig.wc.store.get_product(pid).doc["stock_quantity"]


async def test_a_salesforce_restock_is_added_to_the_store_keeping_sales_made_meanwhile(prig, db):
    """Salesforce says 100 (a restock of 50 from the 50 it showed); meanwhile the store sells 3, delivered before
    the poll, and 2 more between the poll and the write. The store ends at 95, never at 100: 5 sales kept. Salesforce
    then learns 95 from the store."""
    rig, pid = prig, prig.stocked
    prod = rig.sf_record("Product2", "product", pid)
    assert prod["Woo_Stock_Quantity__c"] == 50
    rig.tick()
    rig.sf.edit_as_user("Product2", prod["Id"], {"Woo_Stock_Quantity__c": 100})
    rig.tick()
    sell(rig, pid, 3)
    await rig.deliver()  # the sale reaches Salesforce's delivery: the pending restock is not overwritten
    assert await rig.poll()
    rig.tick()
    sell(rig, pid, 2)  # after the poll, before the write: read just before the PUT
    rig.tick()  # (a store edit in the same second as our PUT merges with it in the collector's webhook dedup)
    out = await rig.write()
    assert out["delivered"] == 1
    assert stock(rig, pid) == 95
    async with db.connection() as conn:
        summary = await conn.fetchval("SELECT request_summary FROM attempts WHERE destination = 'woocommerce' AND "
                                      "resource = 'product' AND resource_id = $1 AND outcome = 'delivered'", pid)
    assert summary["stock"]["Woo_Stock_Quantity__c"] == {"store": "45", "salesforce": "100", "based_on": "50",
                                                         "written": "95"}
    await rig.sync()
    await rig.sync()
    assert rig.sf_record("Product2", "product", pid)["Woo_Stock_Quantity__c"] == 95 and stock(rig, pid) == 95
    puts = rig.wc_puts()
    await rig.sync()
    assert rig.wc_puts() == puts  # settled: no ping-pong


async def test_an_older_salesforce_stock_number_never_overwrites_sales_the_store_made_later(prig, db):
    """The stock conflict the other way round: Salesforce corrects 50 to 40 (a count found 10 damaged); the store
    then sells 5 and that reaches Salesforce first. The store ends at 35 (both changes), not at Salesforce's 40."""
    rig, pid = prig, prig.stocked
    prod = rig.sf_record("Product2", "product", pid)
    rig.tick()
    rig.sf.edit_as_user("Product2", prod["Id"], {"Woo_Stock_Quantity__c": 40})
    rig.tick(3)
    sell(rig, pid, 5)  # newer than Salesforce's edit
    await rig.deliver()
    rig.tick()
    await rig.sync()
    await rig.sync()
    assert stock(rig, pid) == 35
    assert rig.sf_record("Product2", "product", pid)["Woo_Stock_Quantity__c"] == 35
    async with db.connection() as conn:
        n = await conn.fetchval("SELECT count(*) FROM twoway_conflicts WHERE store_id = $1 AND resource = 'product'",
                                rig.store_id)
    assert n == 0  # merged, not a conflict with a loser


async def test_an_invalid_salesforce_price_is_dead_lettered_with_a_clear_error(prig, db):
    rig, pid = prig, prig.widget
    rig.tick()
    rig.sf.edit_as_user("PricebookEntry", rig.sf_record("PricebookEntry", "product", pid)["Id"], {"UnitPrice": -3})
    puts = rig.wc_puts()
    await rig.poll()
    assert await rig.write() == {"dead": 1}
    async with db.connection() as conn:
        row = await conn.fetchrow("SELECT status, last_error_code, last_error FROM outbox WHERE destination = "
                                  "'woocommerce' AND resource = 'product' AND resource_id = $1", pid)
    assert (row["status"], row["last_error_code"]) == ("dead", "twoway_invalid_price")
    assert "-3" in row["last_error"] and "not a price" in row["last_error"]
    assert rig.wc_puts() == puts
