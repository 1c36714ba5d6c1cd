"""The demo's reconciliation report (emulators/convergence.py) on hand-made stores and orgs: no network."""
from __future__ import annotations

from emulators.convergence import compare
from emulators.woocommerce.store import Store

STORE = "st_1"


def _org(products: list[dict]):
    return lambda sobject: products if sobject == "Product2" else []


def _product2(pid: int, name: str, sku: str, active: bool) -> dict:
    return {"Wooforce_Key__c": f"{STORE}:product:{pid}", "Name": name, "ProductCode": sku, "IsActive": active}


def test_a_deleted_product_kept_inactive_is_noted_not_a_mismatch():
    store = Store()
    kept = store.create_product({"name": "Kept", "type": "simple", "regular_price": "5.00", "sku": "K-1"})
    gone = store.create_product({"name": "Gone", "type": "simple", "regular_price": "5.00", "sku": "G-1"})
    store.delete_product(gone.doc["id"])
    org = [_product2(kept.doc["id"], "Kept", "K-1", True), _product2(gone.doc["id"], "Gone", "G-1", False)]
    products = next(o for o in compare(store, _org(org), STORE).objects if o.name == "products")
    assert (products.store, products.salesforce, products.mismatches) == (1, 2, [])
    assert products.note == "1 deleted product(s) kept in Salesforce as inactive (order lines refer to them)"

    org[1]["IsActive"] = True  # still active after the delete: that is a mismatch, and no note
    products = next(o for o in compare(store, _org(org), STORE).objects if o.name == "products")
    assert products.mismatches == [f"product:{gone.doc['id']} deleted in the store but active in Salesforce"]
    assert products.note == ""


def test_wooforce_placeholder_products_are_not_deleted_store_products():
    store = Store()
    kept = store.create_product({"name": "Kept", "type": "simple", "regular_price": "5.00", "sku": "K-1"})
    org = [_product2(kept.doc["id"], "Kept", "K-1", True),
           {"Wooforce_Key__c": f"{STORE}:product:unknown", "Name": "Unknown WooCommerce product", "IsActive": True},
           {"Wooforce_Key__c": f"{STORE}:product:shipping", "Name": "Shipping", "IsActive": True}]
    products = next(o for o in compare(store, _org(org), STORE).objects if o.name == "products")
    assert products.mismatches == [] and products.note == ""
