"""The store's data models in the mapping's [options] (issue 18): defaults unchanged, options validated, the plan of
each model, the stages of the opportunity model."""
from __future__ import annotations

import pytest

from agent.delivery.plan import ACTIVATE, PERSON_RECORD_TYPE_KEY, Plan, Unit
from shared.errors import ConfigError
from shared.mapping import Ctx, email_hash, load_mapping
from tests.support import woo

PB = "01s000000000003AAA"


def unit(resource: str, doc: dict, action: str = "updated", i: int = 0) -> Unit:
    return Unit(i, "st_x", resource, doc["id"], "evt", None, 1, 0, action, doc)


def mapping(tmp_path, text: str):
    p = tmp_path / "m.toml"
    p.write_text("[options]\n" + text)
    return load_mapping(p)


def test_shipped_defaults_keep_todays_shape():
    m = load_mapping()
    assert (m.customer_model, m.order_model, m.lead_for_guests) == ("account_contact", "order", False)
    assert set(m.sobject_fields()) == {"Account", "Contact", "Product2", "PricebookEntry", "Order", "OrderItem"}
    plan = Plan(m, set(), {"st_x": PB})
    plan.add_unit(unit("order", woo.order(1, customer_id=4)))
    assert {s for s, _ in plan.records} == {"Account", "Contact", "Product2", "PricebookEntry", "Order", "OrderItem"}
    order = plan.records[("Order", "st_x:order:1")].fields
    assert order["BillToContact"] == {"Wooforce_Key__c": "st_x:customer:4"} and order["Status"] == "Draft"


@pytest.mark.parametrize("text, match", [
    ('customer_model = "person"\n', "customer_model must be one of account_contact, person_account"),
    ('order_model = "deal"\n', "order_model must be one of order, opportunity"),
    ('lead_for_guests = "yes"\n', "lead_for_guests must be true or false"),
    ('opportunity_stages = "Closed Won"\n', "opportunity_stages must be a table"),
    ('refunds = "lines"\n', 'refunds must be "fields" or "records"'),
    ('multi_currency = "EUR"\n', "multi_currency must be true or false"),
    ('activate_order_statuses = "processing"\n', "activate_order_statuses must be a list"),
])
def test_bad_model_options_are_refused(tmp_path, text, match):
    with pytest.raises(ConfigError, match=match):
        mapping(tmp_path, text)


def test_person_account_model_writes_one_account_with_the_record_type(tmp_path):
    m = mapping(tmp_path, 'customer_model = "person_account"\n')
    assert m.sobject_fields()["Account"] >= {"PersonEmail", "FirstName", "LastName", "PersonMailingCity",
                                             "RecordTypeId", "Phone"}
    assert "Contact" not in m.sobject_fields()
    plan = Plan(m, set(), {"st_x": PB})
    plan.org_ids = {PERSON_RECORD_TYPE_KEY: "012000000000001AAA"}
    plan.add_unit(unit("customer", woo.customer(4), i=0))
    plan.add_unit(unit("order", woo.order(1, email_n=3), i=1))
    assert {s for s, _ in plan.records} == {"Account", "Product2", "PricebookEntry", "Order", "OrderItem"}
    acct = plan.records[("Account", "st_x:customer:4")].fields
    assert acct["RecordTypeId"] == "012000000000001AAA" and acct["PersonEmail"] == woo.customer(4)["email"]
    assert "Name" not in acct
    guest = f"st_x:guest:{email_hash(woo.order(1, email_n=3)['billing']['email'])}"
    order = plan.records[("Order", "st_x:order:1")].fields
    assert order["Account"] == {"Wooforce_Key__c": guest} and "BillToContact" not in order


def test_opportunity_model_plan(tmp_path):
    m = mapping(tmp_path, 'order_model = "opportunity"\nopportunity_primary_contact_field = "npsp__Primary_Contact__c"\n')
    plan = Plan(m, set(), {"st_x": PB})
    plan.add_unit(unit("order", woo.order(1, customer_id=4, products=(1, 2))))
    assert {s for s, _ in plan.records} == {"Account", "Contact", "Product2", "PricebookEntry", "Opportunity",
                                           "OpportunityLineItem", "OpportunityContactRole"}
    opp = plan.records[("Opportunity", "st_x:order:1")].fields
    assert (opp["StageName"], opp["CloseDate"], opp["Pricebook2Id"]) == ("Closed Won", "2026-11-22", PB)
    assert opp["Account"] == opp["npsp__Primary_Contact__r"] == {"Wooforce_Key__c": "st_x:customer:4"}
    line = plan.records[("OpportunityLineItem", "st_x:order:1:item:11")].fields
    assert line["Opportunity"] == {"Wooforce_Key__c": "st_x:order:1"} and line["Quantity"] > 0
    role = plan.records[("OpportunityContactRole", "st_x:order:1:role")].fields
    assert role["Contact"] == {"Wooforce_Key__c": "st_x:customer:4"} and role["IsPrimary"] is True


@pytest.mark.parametrize("status, paid, stage", [
    ("pending", None, "Prospecting"), ("on-hold", None, "Prospecting"), ("on-hold", "2026-11-22T12:01:00", "Closed Won"),
    ("processing", None, "Closed Won"), ("completed", None, "Closed Won"), ("cancelled", "2026-11-22T12:01:00",
                                                                          "Closed Lost"),
    ("refunded", None, "Closed Lost"), ("failed", None, "Closed Lost"),
])
def test_opportunity_stage_from_the_status(status, paid, stage):
    m = load_mapping()
    doc = {**woo.order(1, status=status), "date_paid_gmt": paid}
    assert m.fields("order", "Opportunity", doc, Ctx("st_x", "order", "updated", m.options))["StageName"] == stage


def test_opportunity_stages_are_configurable_and_close_date_prefers_completion(tmp_path):
    m = mapping(tmp_path, 'opportunity_open_stage = "Qualification"\n[options.opportunity_stages]\n'
                          'processing = "Negotiation/Review"\n')
    ctx = Ctx("st_x", "order", "updated", m.options)
    f = m.fields("order", "Opportunity", {**woo.order(1, status="processing"), "date_paid_gmt": None}, ctx)
    assert f["StageName"] == "Negotiation/Review"
    f = m.fields("order", "Opportunity", {**woo.order(1, status="pending"), "date_paid_gmt": None,
                                          "date_completed_gmt": "2026-11-25T10:00:00"}, ctx)
    assert (f["StageName"], f["CloseDate"]) == ("Qualification", "2026-11-25")
    assert m.options["opportunity_stages"]["completed"] == "Closed Won"  # merged over the shipped table


def test_lead_for_guests(tmp_path):
    m = mapping(tmp_path, "lead_for_guests = true\n")
    plan = Plan(m, set(), {"st_x": PB})
    plan.add_unit(unit("order", woo.order(1, email_n=3), i=0))
    plan.add_unit(unit("order", woo.order(2, customer_id=4), i=1))
    guest = f"st_x:guest:{email_hash(woo.order(1, email_n=3)['billing']['email'])}"
    lead = plan.records[("Lead", guest)].fields
    assert lead["Email"] == woo.order(1, email_n=3)["billing"]["email"] and lead["Company"]
    assert ("Account", guest) not in plan.records and ("Contact", guest) not in plan.records
    assert plan.records[("Order", "st_x:order:1")].fields["Account"] == {"Wooforce_Key__c": "st_x:guest:orders"}
    registered = plan.records[("Order", "st_x:order:2")].fields  # a registered customer keeps Account + Contact
    assert registered["Account"] == registered["BillToContact"] == {"Wooforce_Key__c": "st_x:customer:4"}


def test_activation_writes_draft_then_lines_then_activated(tmp_path):
    m = mapping(tmp_path, 'activate_order_statuses = ["completed"]\n')
    plan = Plan(m, {("st_x", "Order", "st_x:order:1")}, {"st_x": PB})
    plan.add_unit(unit("order", woo.order(1, status="completed"), i=0))
    plan.add_unit(unit("order", woo.order(2, status="pending"), i=1))
    groups = [g for g, _ in plan.by_sobject()]
    assert groups.index("Order") < groups.index("OrderItem") < groups.index(ACTIVATE) == len(groups) - 1
    assert plan.records[("Order", "st_x:order:1")].fields["Status"] == "Draft"  # existing: Draft before its lines
    act = plan.records[(ACTIVATE, "st_x:order:1")]
    assert (act.sobject, act.fields["Status"]) == ("Order", "Activated")
    assert (ACTIVATE, "st_x:order:2") not in plan.records  # not a status mapped as active: stays Draft


def test_refund_records_plan(tmp_path):
    m = mapping(tmp_path, 'refunds = "records"\n')
    plan = Plan(m, set(), {"st_x": PB})
    plan.add_unit(unit("order", woo.order(1, refunds=[{"id": 5, "reason": "late", "total": "-2.50"}])))
    assert plan.records[("Order", "st_x:order:1")].fields["Woo_Refunded_Total__c"] == 2.5
    refund = plan.records[("Woo_Refund__c", "st_x:order:1:refund:5")].fields
    assert (refund["Woo_Amount__c"], refund["Woo_Reason__c"], refund["Woo_Order__r"]) == (
        2.5, "late", {"Wooforce_Key__c": "st_x:order:1"})
    assert m.sobject_fields()["Woo_Refund__c"] >= {"Woo_Amount__c", "Woo_Order__c"}
    plain = Plan(load_mapping(), set(), {"st_x": PB})
    plain.add_unit(unit("order", woo.order(1, refunds=[{"id": 5, "reason": "late", "total": "-2.50"}])))
    assert not any(s == "Woo_Refund__c" for s, _ in plain.records)
    assert "Woo_Refunded_Total__c" not in plain.records[("Order", "st_x:order:1")].fields
