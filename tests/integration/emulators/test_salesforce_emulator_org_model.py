"""Salesforce emulator: the sales model (Opportunity, OpportunityLineItem, OpportunityContactRole, Lead), Person
Accounts, multi-currency and order activation, each with Salesforce's validation (emulators/salesforce/orgmodel.py)."""
from __future__ import annotations

import pytest


@pytest.fixture
def org(sf_emu):
    """The emulator with features set per test; a plain org again afterwards."""
    yield sf_emu
    sf_emu.set_org_features()


def _ok(r, status=(200, 201)) -> str:
    assert r.status_code in ((status,) if isinstance(status, int) else status), r.text
    return r.json()["id"] if r.text else ""


def _err(r) -> tuple[str, str]:
    assert r.status_code == 400, r.text
    body = r.json()
    return body[0]["errorCode"], body[0]["message"]


def _product(sf_api, sf_emu, key: str, price: float = 10.0, currency: str | None = None) -> str:
    pid = _ok(sf_api("PATCH", f"/sobjects/Product2/Wooforce_Key__c/{key}", json={"Name": key, "IsActive": True}))
    body = {"Pricebook2Id": sf_emu.standard_pricebook_id, "Product2Id": pid, "UnitPrice": price, "IsActive": True}
    if currency:
        body["CurrencyIsoCode"] = currency
    return _ok(sf_api("POST", "/sobjects/PricebookEntry", json=body))


def _account(sf_api, key="acct") -> str:
    return _ok(sf_api("PATCH", f"/sobjects/Account/Wooforce_Key__c/{key}", json={"Name": "Acme"}))


# ---- Opportunity ------------------------------------------------------------------------------------------
def test_opportunity_requires_stage_and_close_date(org, sf_api):
    code, message = _err(sf_api("POST", "/sobjects/Opportunity", json={"Name": "o"}))
    assert code == "REQUIRED_FIELD_MISSING"
    assert message == "Required fields are missing: [StageName, CloseDate]"
    assert org.records("Opportunity") == []
    code, message = _err(sf_api("POST", "/sobjects/Opportunity", json={"Name": "o", "StageName": "Won",
                                                                      "CloseDate": "2026-01-02"}))
    assert (code, message) == ("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                               "Stage: bad value for restricted picklist field: Won")


def test_opportunity_lines_roll_up_and_set_the_price_book(org, sf_api, sf_emu):
    entry = _product(sf_api, sf_emu, "p1", 12.5)
    opp = _ok(sf_api("POST", "/sobjects/Opportunity", json={"Name": "o", "StageName": "Closed Won",
                                                           "CloseDate": "2026-01-02", "AccountId": _account(sf_api)}))
    rec = org.record("Opportunity", opp)
    assert (rec["IsClosed"], rec["IsWon"], rec["Probability"], rec["ForecastCategoryName"]) == (True, True, 100,
                                                                                                "Closed")
    code, message = _err(sf_api("POST", "/sobjects/OpportunityLineItem", json={
        "OpportunityId": opp, "PricebookEntryId": entry, "Quantity": 2}))
    assert (code, message) == ("REQUIRED_FIELD_MISSING", "Required fields are missing: [UnitPrice]")
    code, _ = _err(sf_api("POST", "/sobjects/OpportunityLineItem", json={
        "OpportunityId": opp, "PricebookEntryId": entry, "Quantity": 2, "UnitPrice": 1, "TotalPrice": 2}))
    assert code == "FIELD_INTEGRITY_EXCEPTION"
    line = _ok(sf_api("POST", "/sobjects/OpportunityLineItem", json={
        "OpportunityId": opp, "PricebookEntryId": entry, "Quantity": 2, "UnitPrice": 11}))
    rec = org.record("Opportunity", opp)
    assert (rec["Amount"], rec["HasOpportunityLineItem"], rec["Pricebook2Id"]) == (22.0, True,
                                                                                   sf_emu.standard_pricebook_id)
    assert org.record("OpportunityLineItem", line)["ListPrice"] == 12.5
    _ok(sf_api("DELETE", f"/sobjects/OpportunityLineItem/{line}"), 204)
    assert org.record("Opportunity", opp)["HasOpportunityLineItem"] is False


def test_opportunity_line_entry_must_be_in_the_opportunitys_price_book(org, sf_api, sf_emu):
    entry = _product(sf_api, sf_emu, "p1")
    custom = _ok(sf_api("POST", "/sobjects/Pricebook2", json={"Name": "Web", "IsActive": True}))
    opp = _ok(sf_api("POST", "/sobjects/Opportunity", json={"Name": "o", "StageName": "Prospecting",
                                                           "CloseDate": "2026-01-02", "Pricebook2Id": custom}))
    code, message = _err(sf_api("POST", "/sobjects/OpportunityLineItem", json={
        "OpportunityId": opp, "PricebookEntryId": entry, "Quantity": 1, "UnitPrice": 1}))
    assert (code, message) == ("FIELD_INTEGRITY_EXCEPTION", "field integrity exception: PricebookEntryId (pricebook "
                               "entry is in a different pricebook than the one assigned to the opportunity)")
    assert org.records("OpportunityLineItem") == []


def test_contact_roles_one_primary_and_the_opportunity_contact(org, sf_api):
    acct = _account(sf_api)
    c1 = _ok(sf_api("POST", "/sobjects/Contact", json={"LastName": "A", "AccountId": acct}))
    c2 = _ok(sf_api("POST", "/sobjects/Contact", json={"LastName": "B", "AccountId": acct}))
    opp = _ok(sf_api("POST", "/sobjects/Opportunity", json={"Name": "o", "StageName": "Prospecting",
                                                           "CloseDate": "2026-01-02", "AccountId": acct}))
    r1 = _ok(sf_api("POST", "/sobjects/OpportunityContactRole", json={"OpportunityId": opp, "ContactId": c1,
                                                                     "IsPrimary": True}))
    _ok(sf_api("POST", "/sobjects/OpportunityContactRole", json={"OpportunityId": opp, "ContactId": c2,
                                                                "IsPrimary": True}))
    assert org.record("OpportunityContactRole", r1)["IsPrimary"] is False
    assert org.record("Opportunity", opp)["ContactId"] == c2
    code, _ = _err(sf_api("POST", "/sobjects/OpportunityContactRole", json={"OpportunityId": opp, "ContactId": c1}))
    assert code == "DUPLICATE_VALUE"
    code, message = _err(sf_api("POST", "/sobjects/OpportunityContactRole", json={"OpportunityId": opp}))
    assert (code, message) == ("REQUIRED_FIELD_MISSING", "Required fields are missing: [ContactId]")


# ---- Lead -------------------------------------------------------------------------------------------------
def test_lead_needs_last_name_and_company_and_is_found_by_email(org, sf_api):
    code, message = _err(sf_api("POST", "/sobjects/Lead", json={"Email": "a@example.com"}))
    assert (code, message) == ("REQUIRED_FIELD_MISSING", "Required fields are missing: [LastName, Company]")
    lid = _ok(sf_api("POST", "/sobjects/Lead", json={"LastName": "Lee", "FirstName": "Ann", "Company": "Ann Lee",
                                                    "Email": "a@example.com"}))
    rec = org.record("Lead", lid)
    assert (rec["Name"], rec["Status"], rec["IsConverted"]) == ("Ann Lee", "Open - Not Contacted", False)
    found = sf_api("GET", "/query", params={"q": "SELECT Id FROM Lead WHERE Email = 'a@example.com'"}).json()
    assert [r["Id"] for r in found["records"]] == [lid]


# ---- Person Accounts --------------------------------------------------------------------------------------
def _person_type(sf_api) -> str:
    q = "SELECT Id FROM RecordType WHERE SobjectType = 'Account' AND IsPersonType = true"
    return sf_api("GET", "/query", params={"q": q}).json()["records"][0]["Id"]


def test_plain_org_has_no_person_fields(org, sf_api):
    fields = {f["name"] for f in sf_api("GET", "/sobjects/Account/describe").json()["fields"]}
    assert not fields & {"IsPersonAccount", "PersonEmail", "PersonContactId", "CurrencyIsoCode"}
    code, message = _err(sf_api("POST", "/sobjects/Account", json={"Name": "x", "PersonEmail": "a@example.com"}))
    assert (code, message) == ("INVALID_FIELD", "No such column 'PersonEmail' on sobject of type Account")


def test_person_account_has_its_person_contact(org, sf_api):
    org.set_org_features(person_accounts=True)
    fields = {f["name"] for f in sf_api("GET", "/sobjects/Account/describe").json()["fields"]}
    assert {"IsPersonAccount", "PersonEmail", "PersonContactId", "PersonMailingCity", "RecordTypeId"} <= fields
    rt = _person_type(sf_api)
    code, message = _err(sf_api("POST", "/sobjects/Account", json={"RecordTypeId": rt, "FirstName": "Ann"}))
    assert (code, message) == ("REQUIRED_FIELD_MISSING", "Required fields are missing: [LastName]")
    aid = _ok(sf_api("PATCH", "/sobjects/Account/Wooforce_Key__c/s:customer:1", json={
        "RecordTypeId": rt, "FirstName": "Ann", "LastName": "Lee", "PersonEmail": "ann@example.com",
        "PersonMailingCity": "Leeds", "Phone": "0113"}))
    acct = org.record("Account", aid)
    assert (acct["IsPersonAccount"], acct["Name"]) == (True, "Ann Lee")
    contact = org.record("Contact", acct["PersonContactId"])
    assert (contact["AccountId"], contact["Email"], contact["MailingCity"], contact["Phone"], contact["IsPersonAccount"]
            ) == (aid, "ann@example.com", "Leeds", "0113", True)
    _ok(sf_api("PATCH", "/sobjects/Account/Wooforce_Key__c/s:customer:1", json={"PersonEmail": "new@example.com"}))
    assert org.record("Contact", acct["PersonContactId"])["Email"] == "new@example.com"
    assert len(org.records("Contact")) == 1
    code, _ = _err(sf_api("POST", "/sobjects/Contact", json={"LastName": "X", "AccountId": aid}))
    assert code == "INVALID_FIELD"
    r = sf_api("DELETE", f"/sobjects/Contact/{acct['PersonContactId']}")
    assert r.status_code == 400 and r.json()[0]["errorCode"] == "INVALID_PERSON_ACCOUNT_OPERATION"
    _ok(sf_api("DELETE", f"/sobjects/Account/{aid}"), 204)
    assert org.records("Contact") == []


def test_person_fields_refused_on_a_business_account(org, sf_api):
    org.set_org_features(person_accounts=True)
    code, message = _err(sf_api("POST", "/sobjects/Account", json={"Name": "Acme", "PersonEmail": "a@example.com"}))
    assert (code, message) == ("INVALID_FIELD_FOR_INSERT_UPDATE",
                               "Business Account may not use Person Account field PersonEmail")
    aid = _account(sf_api)
    assert org.record("Account", aid)["IsPersonAccount"] is False
    code, _ = _err(sf_api("PATCH", f"/sobjects/Account/{aid}", json={"LastName": "Lee"}))
    assert code == "INVALID_FIELD_FOR_INSERT_UPDATE"
    code, _ = _err(sf_api("PATCH", f"/sobjects/Account/{aid}", json={"RecordTypeId": _person_type(sf_api),
                                                                     "LastName": "Lee"}))
    assert code == "INVALID_PERSON_ACCOUNT_OPERATION"
    assert org.record("Account", aid)["Name"] == "Acme"


# ---- multi-currency ---------------------------------------------------------------------------------------
def test_multi_currency_codes_and_entries_per_currency(org, sf_api, sf_emu):
    org.set_org_features(currencies=["GBP", "USD"])
    fields = {f["name"]: f for f in sf_api("GET", "/sobjects/Order/describe").json()["fields"]}
    assert [v["value"] for v in fields["CurrencyIsoCode"]["picklistValues"]] == ["GBP", "USD"]
    types = sf_api("GET", "/query", params={"q": "SELECT IsoCode, IsCorporate FROM CurrencyType"}).json()["records"]
    assert [(t["IsoCode"], t["IsCorporate"]) for t in types] == [("GBP", True), ("USD", False)]
    gbp = _product(sf_api, sf_emu, "p1", 10)
    assert org.record("PricebookEntry", gbp)["CurrencyIsoCode"] == "GBP"  # the corporate currency by default
    usd = _product(sf_api, sf_emu, "p1", 13, currency="USD")
    code, message = _err(sf_api("POST", "/sobjects/PricebookEntry", json={
        "Pricebook2Id": sf_emu.standard_pricebook_id, "Product2Id": org.record("PricebookEntry", gbp)["Product2Id"],
        "UnitPrice": 1, "CurrencyIsoCode": "EUR"}))
    assert (code, message) == ("INVALID_CURRENCY_ISO", "Currency ISO Code: invalid currency code: EUR")
    acct = _account(sf_api)
    order = _ok(sf_api("POST", "/sobjects/Order", json={"AccountId": acct, "EffectiveDate": "2026-01-02",
                                                       "Status": "Draft", "CurrencyIsoCode": "USD",
                                                       "Pricebook2Id": sf_emu.standard_pricebook_id}))
    code, message = _err(sf_api("POST", "/sobjects/OrderItem", json={"OrderId": order, "PricebookEntryId": gbp,
                                                                    "Quantity": 1, "UnitPrice": 10}))
    assert (code, message) == ("FIELD_INTEGRITY_EXCEPTION", "field integrity exception: PricebookEntryId (pricebook "
                               "entry currency code does not match order currency code)")
    item = _ok(sf_api("POST", "/sobjects/OrderItem", json={"OrderId": order, "PricebookEntryId": usd,
                                                          "Quantity": 1, "UnitPrice": 13}))
    assert org.record("OrderItem", item)["CurrencyIsoCode"] == "USD"
    code, _ = _err(sf_api("PATCH", f"/sobjects/Order/{order}", json={"CurrencyIsoCode": "GBP"}))
    assert code == "FIELD_INTEGRITY_EXCEPTION"
    opp = _ok(sf_api("POST", "/sobjects/Opportunity", json={"Name": "o", "StageName": "Prospecting",
                                                           "CloseDate": "2026-01-02", "CurrencyIsoCode": "GBP"}))
    code, message = _err(sf_api("POST", "/sobjects/OpportunityLineItem", json={
        "OpportunityId": opp, "PricebookEntryId": usd, "Quantity": 1, "UnitPrice": 1}))
    assert message.endswith("(pricebook entry currency code does not match opportunity currency code)")


# ---- order activation -------------------------------------------------------------------------------------
def test_activated_order_locks_its_lines_until_draft_again(org, sf_api, sf_emu):
    entry = _product(sf_api, sf_emu, "p1")
    order = _ok(sf_api("POST", "/sobjects/Order", json={"AccountId": _account(sf_api), "EffectiveDate": "2026-01-02",
                                                       "Status": "Draft",
                                                       "Pricebook2Id": sf_emu.standard_pricebook_id}))
    item = _ok(sf_api("POST", "/sobjects/OrderItem", json={"OrderId": order, "PricebookEntryId": entry,
                                                          "Quantity": 1, "UnitPrice": 10}))
    _ok(sf_api("PATCH", f"/sobjects/Order/{order}", json={"Status": "Activated"}), 204)
    assert org.record("Order", order)["StatusCode"] == "Activated"
    r = sf_api("PATCH", f"/sobjects/OrderItem/{item}", json={"Quantity": 2})
    assert r.status_code == 400 and r.json()[0]["errorCode"] == "ENTITY_IS_LOCKED"
    r = sf_api("POST", "/sobjects/OrderItem", json={"OrderId": order, "PricebookEntryId": entry, "Quantity": 1,
                                                    "UnitPrice": 10})
    assert r.status_code == 400 and r.json()[0]["errorCode"] == "ENTITY_IS_LOCKED"
    assert org.record("OrderItem", item)["Quantity"] == 1
    _ok(sf_api("PATCH", f"/sobjects/Order/{order}", json={"Status": "Draft"}), 204)
    _ok(sf_api("PATCH", f"/sobjects/OrderItem/{item}", json={"Quantity": 2}), 204)
    assert org.record("Order", order)["TotalAmount"] == 20.0
