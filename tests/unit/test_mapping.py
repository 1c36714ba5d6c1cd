"""The declarative mapping: defaults, owner overrides, computed values, guest keys, errors."""
from __future__ import annotations

import pytest

from agent.delivery.plan import Plan, Unit
from shared.errors import ConfigError
from shared.mapping import Ctx, email_hash, load_mapping
from tests.support import woo

CTX = Ctx("st_x", "order", "updated", {"trashed_order_status": "trash"})


def unit(resource: str, doc: dict, action: str = "updated", i: int = 0) -> Unit:
    return Unit(i, "st_x", resource, doc["id"], "evt", None, 1, 0, action, doc)


def test_defaults_map_an_order():
    m = load_mapping()
    f = m.fields("order", "Order", woo.order(5, discount_total="2.50"), CTX)
    assert f["Woo_Status__c"] == "processing" and f["Woo_Discount_Total__c"] == 2.5
    assert f["Woo_Date_Paid__c"] == "2026-11-22T12:01:00.000Z" and f["EffectiveDate"] == "2026-11-22"
    assert f["Woo_Order_Number__c"] == "st_x:order:5" and f["BillingStreet"] == "5 Main St"
    trashed = m.fields("order", "Order", woo.order(5), Ctx("st_x", "order", "trashed", m.options))
    assert trashed["Woo_Status__c"] == "trash"


def test_owner_file_overrides_field_by_field(tmp_path):
    p = tmp_path / "m.toml"
    p.write_text('[order.Order]\nDescription = "=from wooforce"\nWoo_Carrier__c = "meta_data.0.value"\n'
                 'Woo_Tax_Total__c = ""\n[options]\ncustomer_on_delete = "erase"\n')
    m = load_mapping(p)
    f = m.fields("order", "Order", woo.order(1, meta_data=[{"key": "carrier", "value": "UPS"}]), CTX)
    assert f["Description"] == "from wooforce" and f["Woo_Carrier__c"] == "UPS"
    assert "Woo_Tax_Total__c" not in f and f["Woo_Total__c"] == 28.0  # untouched fields stay
    assert m.options["customer_on_delete"] == "erase" and m.options["order_status"] == "Draft"


@pytest.mark.parametrize("text, match", [
    ('[order.Nope]\nX = "id"\n', "not mapped"),
    ('[orders.Order]\nX = "id"\n', "unknown section"),
    ('[order.Order]\nX = "@nope"\n', "unknown computed"),
    ('[order.Order]\nX = { value = "id", type = "money" }\n', "type must be"),
    ('[options]\ncustomer_on_delete = "shred"\n', "keep"),
    ('[order.Order\n', "mapping file"),
])
def test_bad_mapping_files_are_refused_with_a_reason(tmp_path, text, match):
    p = tmp_path / "m.toml"
    p.write_text(text)
    with pytest.raises(ConfigError, match=match):
        load_mapping(p)


def test_guest_buyers_are_keyed_by_email_hash_never_the_email():
    plan = Plan(load_mapping(), set(), {"st_x": "01s000000000003AAA"})
    plan.add_unit(unit("order", woo.order(1, email_n=3, billing={**woo.address(3), "email": " Buyer3@Example.com"})))
    keys = {k for (_, k) in plan.records}
    h = email_hash("buyer3@example.com")
    assert f"st_x:guest:{h}" in keys and not any("@" in k for k in keys)
    assert plan.records[("Account", f"st_x:guest:{h}")].fields["Woo_Email_Hash__c"] == h


def test_create_only_references_are_sent_only_for_new_records():
    known = {("st_x", "PricebookEntry", "st_x:product:1"), ("st_x", "OrderItem", "st_x:order:1:item:11")}
    plan = Plan(load_mapping(), known, {"st_x": "01s000000000003AAA"})
    plan.add_unit(unit("order", woo.order(1, products=(1, 2))))
    item_old, item_new = plan.records[("OrderItem", "st_x:order:1:item:11")], plan.records[("OrderItem",
                                                                                            "st_x:order:1:item:12")]
    assert "Order" not in item_old.fields and item_new.fields["Order"] == {"Wooforce_Key__c": "st_x:order:1"}
    assert ("Product2", "st_x:product:1") not in plan.records  # known: no copy from the order line
    assert plan.records[("PricebookEntry", "st_x:product:2")].fields["Pricebook2Id"] == "01s000000000003AAA"


def test_own_record_beats_an_orders_embedded_copy():
    plan = Plan(load_mapping(), set(), {"st_x": "01s000000000003AAA"})
    plan.add_unit(unit("order", woo.order(1, customer_id=4), i=0))
    plan.add_unit(unit("customer", woo.customer(4, last_name="Own"), i=1))
    contact = plan.records[("Contact", "st_x:customer:4")]
    assert contact.owner == 1 and contact.fields["LastName"] == "Own" and contact.needed_by == {0, 1}
