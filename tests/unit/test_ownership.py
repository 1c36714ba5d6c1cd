"""Two-way field ownership in the mapping file: defaults, opting in/out, validation, values and PUT bodies."""
from __future__ import annotations

import pytest

from agent.twoway.ownership import InvalidValue, load_twoway, put_body, wc_value
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
    ('[twoway.product.Product2]\nName = { owner = "both", wc = "name" }\n', "unknown section [twoway.product]"),
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
