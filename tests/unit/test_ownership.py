"""Two-way field ownership in the mapping file: defaults, opting in/out, validation, values and PUT bodies."""
from __future__ import annotations

import pytest

from agent.twoway.ownership import InvalidValue, field_value, load_twoway, put_body, wc_value
from shared.errors import ConfigError
from shared.mapping import load_mapping


def test_defaults_flow_back_status_tracking_carrier_phone_and_addresses():
    tw = load_twoway(load_mapping())
    order, customer = tw.objects["order"], tw.objects["customer"]
    assert (order.sobject, customer.sobject) == ("Order", "Account")
    assert {f.sf: f.owner for f in order.back} == {"Woo_Status__c": "both", "Woo_Tracking_Number__c": "salesforce",
                                                  "Woo_Carrier__c": "salesforce"}
    assert {f.sf for f in customer.back} >= {"Phone", "BillingStreet", "ShippingCity", "ShippingPostalCode"}
    assert "product" not in tw.objects  # WooCommerce owns products and prices


def test_an_owner_opts_a_field_in_and_another_out(tmp_path):
    own = tmp_path / "own.toml"
    own.write_text('[twoway.order.Order]\nDescription = { owner = "both", wc = "customer_note" }\n'
                   'Woo_Carrier__c = { owner = "woocommerce" }\n')
    order = load_twoway(load_mapping(own)).objects["order"]
    assert {f.sf for f in order.back} == {"Woo_Status__c", "Woo_Tracking_Number__c", "Description"}


@pytest.mark.parametrize("text, message", [
    ('[twoway.order.Order]\nWoo_Status__c = { owner = "sometimes", wc = "status" }\n', "owner must be one of"),
    ('[twoway.invoice.Invoice]\nName = { owner = "both", wc = "name" }\n', "unknown section [twoway.invoice]"),
    ('[twoway.product.Pricebook2]\nName = { owner = "both", wc = "name" }\n', "[twoway.product.Pricebook2] is not"),
    ('[twoway.product.Product2]\nIsActive = { owner = "both", wc = "status" }\n'
     '[twoway.product.PricebookEntry]\nIsActive = { owner = "both", wc = "status" }\n', "names IsActive on Product2"),
    ('[twoway.customer.Account]\nX__c = { owner = "both", wc = "email" }\n'
     '[twoway.customer.Contact]\nY__c = { owner = "both", wc = "email" }\n', "may name one sObject"),
    ('[twoway.order.Order]\nX__c = { owner = "both", wc = "@nowhere" }\n', "wc must be"),
    ('[twoway.options]\nstatus_map = { shipped = "sent" }\n', "not WooCommerce statuses"),
])
def test_bad_declarations_are_configuration_errors(tmp_path, text, message):
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_mapping(bad)


def test_values_and_put_bodies():
    tw = load_twoway(load_mapping())
    order, customer = tw.objects["order"], tw.objects["customer"]
    doc = {"status": "processing", "meta_data": [{"id": 1, "key": "wooforce_carrier", "value": " UPS "}],
           "billing": {"address_1": "1 Main St", "address_2": "", "phone": "555"}}
    assert wc_value(doc, "meta:wooforce_carrier") == "UPS"
    assert wc_value(doc, "@billing_street") == "1 Main St" and wc_value(doc, "billing.phone") == "555"
    assert tw.sf_canon(order.fields[0], "Shipped") == "completed"
    body = put_body(tw, order, {"Woo_Status__c": "Shipped", "Woo_Tracking_Number__c": "1Z", "Woo_Carrier__c": None})
    assert body == {"status": "completed", "meta_data": [{"key": "wooforce_tracking_number", "value": "1Z"},
                                                         {"key": "wooforce_carrier", "value": ""}]}
    body = put_body(tw, customer, {"BillingStreet": "9 Elm St\nApt 4", "Phone": "+1 555", "BillingCity": "X"})
    assert body == {"billing": {"address_1": "9 Elm St", "address_2": "Apt 4", "phone": "+1 555", "city": "X"}}
    with pytest.raises(InvalidValue, match="'Lost' has no WooCommerce order status"):
        put_body(tw, order, {"Woo_Status__c": "Lost"})
    with pytest.raises(InvalidValue):
        put_body(tw, order, {"Woo_Status__c": None})


CATALOGUE = """
[twoway.product.Product2]
Name = { owner = "salesforce", wc = "name" }
Description = { owner = "both", wc = "short_description" }
IsActive = { owner = "both", wc = "status" }
Woo_Stock_Quantity__c = { owner = "both", wc = "stock_quantity" }

[twoway.product.PricebookEntry]
UnitPrice = { owner = "both", wc = "regular_price" }
"""


def test_products_are_one_way_by_default_and_a_catalogue_can_be_salesforce_owned(tmp_path):
    own = tmp_path / "catalogue.toml"
    own.write_text(CATALOGUE)
    product = load_twoway(load_mapping(own)).objects["product"]
    assert product.sobject == "Product2"
    assert [(p.sobject, [f.sf for f in p.fields]) for p in product.parts] == [
        ("Product2", ["Name", "Description", "IsActive", "Woo_Stock_Quantity__c"]), ("PricebookEntry", ["UnitPrice"])]
    assert {f.sf: f.kind for f in product.fields} == {"Name": "text", "Description": "text", "IsActive": "publish",
                                                     "Woo_Stock_Quantity__c": "stock", "UnitPrice": "money"}
    # the price alone may be Salesforce's too
    own.write_text('[twoway.product.PricebookEntry]\nUnitPrice = { owner = "salesforce", wc = "regular_price" }\n')
    assert [p.sobject for p in load_twoway(load_mapping(own)).objects["product"].parts] == ["PricebookEntry"]


def test_product_values_compare_as_numbers_and_published_flags_and_put_bodies(tmp_path):
    own = tmp_path / "catalogue.toml"
    own.write_text(CATALOGUE)
    tw = load_twoway(load_mapping(own))
    product = tw.objects["product"]
    f = {x.sf: x for x in product.fields}
    doc = {"status": "publish", "regular_price": "10.00", "stock_quantity": 7, "manage_stock": True}
    assert field_value(doc, f["UnitPrice"]) == tw.sf_canon(f["UnitPrice"], 10.0) == "10"
    assert field_value(doc, f["Woo_Stock_Quantity__c"]) == tw.sf_canon(f["Woo_Stock_Quantity__c"], 7.0) == "7"
    assert field_value(doc, f["IsActive"]) == tw.sf_canon(f["IsActive"], True) == "true"
    assert field_value({"status": "draft"}, f["IsActive"]) == tw.sf_canon(f["IsActive"], False) == "false"
    body = put_body(tw, product, {"UnitPrice": "12.5", "IsActive": "false", "Woo_Stock_Quantity__c": "40",
                                  "Name": "Widget", "Description": None})
    assert body == {"regular_price": "12.50", "status": "draft", "manage_stock": True, "stock_quantity": 40,
                    "name": "Widget", "short_description": ""}
    assert put_body(tw, product, {"Woo_Stock_Quantity__c": None}) == {"manage_stock": False, "stock_quantity": None}
    assert put_body(tw, product, {"UnitPrice": "0.125"}) == {"regular_price": "0.125"}
    with pytest.raises(InvalidValue, match="'-3' is not a price") as exc:
        put_body(tw, product, {"UnitPrice": "-3"})
    assert exc.value.code == "twoway_invalid_price"
    with pytest.raises(InvalidValue, match="not a whole stock quantity"):
        put_body(tw, product, {"Woo_Stock_Quantity__c": "2.5"})
