"""Acceptance, two-way products (issue 20): the real emulators over HTTP(S), the real collector (native webhooks),
Postgres, the agent's delivery engine, Salesforce poller and WooCommerce writer, with the catalogue Salesforce-owned
(the README's mapping lines).

* Products and customers made in Salesforce reach the store (one POST each, a registered email linked), a product
  deleted there is trashed in the store (one DELETE).
* 1,000 alternating edits of product fields on both sides (price, description, stock; 10 products x 50 rounds x 2
  fields), with a sale in the store right after every Salesforce stock change (the classic stock conflict), end with
  both sides equal: one PUT per Salesforce edit round of a product, no ping-pong (a quiet round writes nothing), the
  store's stock exactly initial + Salesforce's restocks - the store's own corrections - every sale (no sale lost to an
  older Salesforce number), and one API call per poll.
"""
from __future__ import annotations

import time

import pytest

from emulators.woocommerce import WooCommerceEmulator
from tests.integration.twoway.test_products import CATALOGUE
from tests.support.agent_fixtures import *  # noqa: F403 - sf_session / sf_emu fixtures
from tests.support.twoway import make_rig

pytestmark = [pytest.mark.acceptance, pytest.mark.integration]

FIELDS = (("price", "description"), ("description", "stock"), ("stock", "price"))


@pytest.fixture
def stores(db, settings):
    from shared.crypto import Vault
    from shared.stores import StoreManager

    return StoreManager(db, Vault.from_settings(settings), cache_ttl_s=0)


async def delivered_products(db, store_id: str) -> int:
    async with db.connection() as conn:
        return await conn.fetchval("SELECT count(*) FROM attempts WHERE store_id = $1 AND destination = 'salesforce' "
                                   "AND resource = 'product' AND outcome = 'delivered'", store_id)


def requests(wc, prefix: str) -> int:
    return sum(v for k, v in wc.requests_by_path.items() if k.startswith(prefix))


async def test_products_both_ways_with_records_made_and_deleted_in_salesforce(db, stores, settings, sf_emu,
                                                                             tmp_path):
    rounds, n = 50, 10
    path = tmp_path / "catalogue.toml"
    path.write_text(CATALOGUE)
    t0 = time.monotonic()
    async with WooCommerceEmulator() as wc:
        rig = await make_rig(db, stores, settings, sf_emu, wc, orders=1, customers=1, mapping_file=path)
        try:
            st = wc.store
            pids = [st.create_product({"name": f"P{i}", "type": "simple", "regular_price": "10.00",
                                       "sku": f"P-{i}", "short_description": "new", "manage_stock": True,
                                       "stock_quantity": 1000}).id for i in range(n)]
            await rig.deliver()
            await rig.sync()
            calls_per_poll: list[int] = []

            async def round_trip(tick_before_write: bool = True) -> None:
                await rig.deliver()
                if tick_before_write:
                    rig.tick()  # our PUT in its own second (the collector's webhook dedup merges one second)
                rep = await rig.poll()
                assert rep.error is None and rep.born_error is None, rep
                calls_per_poll.append(rep.api_calls)
                await rig.write()
                await rig.deliver()

            # ---- records made in Salesforce, and a deletion there
            book = next(p["Id"] for p in sf_emu.records("Pricebook2") if p["IsStandard"])
            born = []
            for i in range(3):
                prod = sf_emu.insert("Product2", {"Name": f"SF{i}", "StockKeepingUnit": f"SF-{i}", "IsActive": True,
                                                  "Description": "made in Salesforce", "Woo_Stock_Quantity__c": 5,
                                                  "Woo_Store__c": rig.store_id})
                sf_emu.insert("PricebookEntry", {"Pricebook2Id": book, "Product2Id": prod["Id"], "UnitPrice": 20 + i,
                                                 "IsActive": True})
                born.append(prod["Id"])
            known = st.create_customer({"email": "known@example.com", "first_name": "K"}, emit=False)
            for email in ("new@example.com", "known@example.com"):
                acc = sf_emu.insert("Account", {"Name": email})
                sf_emu.insert("Contact", {"AccountId": acc["Id"], "LastName": "SF", "Email": email,
                                          "Woo_Store__c": rig.store_id})
            posts0, customers0 = requests(wc, "POST /wp-json/wc/v3/products"), len(st.customers)
            await round_trip(tick_before_write=False)  # getDeleted below asks up to the agent's clock: no shift yet
            made = {p.doc["sku"]: p.id for p in st.products.values() if p.doc["sku"].startswith("SF-")}
            assert sorted(made) == ["SF-0", "SF-1", "SF-2"]
            assert requests(wc, "POST /wp-json/wc/v3/products") - posts0 == 3
            assert len(st.customers) - customers0 == 1 and known.id in st.customers  # one made, one linked
            sf_emu.delete_as_user("Product2", born[0])
            await round_trip(tick_before_write=False)
            assert st.get_product(made["SF-0"]).status == "trash" and requests(wc, "DELETE ") == 1

            # ---- 1,000 alternating edits
            puts0 = requests(wc, "PUT /wp-json/wc/v3/products")
            to_sf0 = await delivered_products(db, rig.store_id)
            sf_units = wc_units = sales = sf_edits = wc_edits = 0
            restocked = corrected = 0
            start_stock = sum(st.get_product(p).doc["stock_quantity"] for p in pids)
            for r in range(rounds):
                rig.tick()
                fields = FIELDS[r % 3]
                for i, pid in enumerate(pids):
                    price, text = f"{10 + r + i / 4:.2f}", f"round {r} product {i}"
                    if (r + i) % 2 == 0:
                        prod = rig.sf_record("Product2", "product", pid)
                        entry = rig.sf_record("PricebookEntry", "product", pid)
                        edit: dict = {}
                        if "price" in fields:
                            sf_emu.edit_as_user("PricebookEntry", entry["Id"], {"UnitPrice": float(price)})
                        if "description" in fields:
                            edit["Description"] = text
                        if "stock" in fields:
                            edit["Woo_Stock_Quantity__c"] = prod["Woo_Stock_Quantity__c"] + 5  # a restock of 5
                            restocked += 5
                        if edit:
                            sf_emu.edit_as_user("Product2", prod["Id"], edit)
                        sf_units += 1
                        sf_edits += 2
                        if "stock" in fields:  # meanwhile the store sells one
                            st.create_order({"status": "processing", "set_paid": True,
                                             "billing": {"first_name": "B", "last_name": "Y",
                                                         "email": f"b{r}@example.com"},
                                             "line_items": [{"product_id": pid, "quantity": 1}]})
                            sales += 1
                    else:
                        data: dict = {}
                        if "price" in fields:
                            data["regular_price"] = price
                        if "description" in fields:
                            data["short_description"] = text
                        if "stock" in fields:
                            data["stock_quantity"] = st.get_product(pid).doc["stock_quantity"] - 2  # a count
                            data["manage_stock"] = True
                            corrected += 2
                        st.update_product(pid, data)
                        wc_units += 1
                        wc_edits += 2
                await round_trip()
            assert sf_edits + wc_edits == 1000
            # to Salesforce: one upsert per store edit, and per sale at most two (the sale itself, then the store's
            # quantity after Salesforce's restock was added to it); never one for Wooforce's own PUTs
            to_sf = await delivered_products(db, rig.store_id) - to_sf0
            assert wc_units <= to_sf <= wc_units + 2 * sales, (to_sf, wc_units, sales)
            puts = requests(wc, "PUT /wp-json/wc/v3/products") - puts0
            assert puts == sf_units, (puts, sf_units)  # one write per Salesforce edit round, never a PUT back
            # both sides equal: 0 mismatches
            mismatches = []
            for pid in [*pids, made["SF-1"], made["SF-2"]]:
                doc = st.render(st.get_product(pid))
                prod, entry = rig.sf_record("Product2", "product", pid), rig.sf_record("PricebookEntry", "product", pid)
                pairs = [(doc["name"], prod["Name"]), (doc["short_description"], prod["Description"]),
                         (float(doc["regular_price"]), entry["UnitPrice"]),
                         (doc["stock_quantity"], prod["Woo_Stock_Quantity__c"]),
                         (doc["status"] == "publish", prod["IsActive"])]
                mismatches += [(pid, a, b) for a, b in pairs if a != b]
            assert mismatches == []
            # store sales never overwritten by an older Salesforce number
            end_stock = sum(st.get_product(p).doc["stock_quantity"] for p in pids)
            assert end_stock == start_stock + restocked - corrected - sales, (end_stock, start_stock, restocked,
                                                                              corrected, sales)
            assert set(calls_per_poll) == {1}
            # quiet: another round writes nothing on either side
            writes = rig.sf_writes("Product2", "PricebookEntry")
            puts_now = requests(wc, "PUT /wp-json/wc/v3/products")
            await round_trip()
            await round_trip()
            assert (requests(wc, "PUT /wp-json/wc/v3/products"), rig.sf_writes("Product2", "PricebookEntry")) == (
                puts_now, writes)
            elapsed = time.monotonic() - t0
            print(f"\nproducts two-way: {sf_edits} Salesforce edits -> {puts} PUTs ({sf_units} edit rounds), "
                  f"{wc_edits} store edits ({wc_units} rounds) + {sales} sales -> {to_sf} product upserts, 3 products and 2 customers made in "
                  f"Salesforce (3 POST /products, 1 POST /customers + 1 linked), 1 trashed, stock {start_stock} + "
                  f"{restocked} - {corrected} - {sales} = {end_stock}, 0 mismatches, "
                  f"{sum(calls_per_poll)} polls x 1 API call, {elapsed:.1f} s")
            assert elapsed < 60
        finally:
            await rig.close()
