"""`wooforce salesforce check` and the store's data models (issue 18): it says whether the org has Person Accounts
and multi-currency (from Account's describe), which models it allows, refuses a model the org cannot take, and
checks the fields of the objects the chosen models write."""
from __future__ import annotations

import pytest

from agent.admin import check_salesforce
from tests.support.agent_fixtures import sf_connection

pytestmark = pytest.mark.integration


@pytest.fixture
def org(sf_emu):
    yield sf_emu
    sf_emu.set_org_features()


async def _check(stores, settings, store, org, tmp_path, options: str) -> dict:
    own = tmp_path / "own.toml"
    own.write_text("[options]\n" + options)
    await stores.set_salesforce(store.id, {**sf_connection(org), "mapping_file": str(own)})
    return await check_salesforce(stores, settings, store.id)


async def test_check_reports_the_org_features_and_allowed_models(stores, store, org, settings, tmp_path):
    report = await _check(stores, settings, store, org, tmp_path, "")
    assert report["ok"] and report["org"] == {"person_accounts": False, "multi_currency": False, "currencies": []}
    assert report["models_allowed"] == {"customer_model": ["account_contact"], "order_model": ["order", "opportunity"]}
    report = await _check(stores, settings, store, org, tmp_path, 'customer_model = "person_account"\n')
    assert not report["ok"] and "no Person Accounts" in report["model_problems"][0]
    org.set_org_features(person_accounts=True, currencies=["EUR", "USD"])
    report = await _check(stores, settings, store, org, tmp_path, 'customer_model = "person_account"\n')
    assert report["ok"], report
    assert report["org"] == {"person_accounts": True, "multi_currency": True, "currencies": ["EUR", "USD"]}
    assert "person_account" in report["models_allowed"]["customer_model"]


async def test_check_covers_the_objects_of_the_opportunity_model(stores, store, org, settings, tmp_path):
    report = await _check(stores, settings, store, org, tmp_path, 'order_model = "opportunity"\n')
    assert report["ok"], report
    org.remove_field("Opportunity", "Woo_Total__c")
    report = await _check(stores, settings, store, org, tmp_path, 'order_model = "opportunity"\n')
    assert report["missing"] == {"Opportunity": ["Woo_Total__c"]} and not report["ok"]
    org.remove_field("Order", "Woo_Tax_Total__c")  # not written by this store's model
    report = await _check(stores, settings, store, org, tmp_path, 'order_model = "opportunity"\n')
    assert "Order" not in report["missing"]


async def test_check_names_the_refund_object_and_fields_when_missing(stores, store, org, settings, tmp_path):
    report = await _check(stores, settings, store, org, tmp_path, 'refunds = "records"\nmulti_currency = true\n')
    assert report["missing"] == {"Order": ["CurrencyIsoCode"], "PricebookEntry": ["CurrencyIsoCode"]}  # one currency
    org.remove_field("Order", "Woo_Refunded_Total__c")
    org._call(lambda: org.state.schema.pop("Woo_Refund__c"))  # an org without the custom object
    report = await _check(stores, settings, store, org, tmp_path, 'refunds = "records"\n')
    assert report["missing_objects"] == ["Woo_Refund__c"] and not report["ok"]
    assert report["missing"]["Order"] == ["Woo_Refunded_Total__c"]
    assert {"Woo_Amount__c", "Woo_Order__c", "Woo_Reason__c"} <= set(report["missing"]["Woo_Refund__c"])
