"""Salesforce emulator: single-record REST, describe, validation, SOQL, limits (simple-salesforce + raw requests)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest, SalesforceResourceNotFound

from tests.fixtures import load

FX = "salesforce/"


def fx(path: str) -> dict:
    return load(FX + path)


def _order_setup(sf_api, sf_emu, activate_pbe: bool = True) -> dict:
    acct = sf_api("PATCH", "/sobjects/Account/Wooforce_Key__c/acc-1", json={"Name": "Acme"}).json()["id"]
    prod = sf_api("PATCH", "/sobjects/Product2/Wooforce_Key__c/p-1", json={"Name": "Mug", "IsActive": True}).json()["id"]
    pbe = sf_api("PATCH", "/sobjects/PricebookEntry/Wooforce_Key__c/pbe-1",
              json={"Pricebook2Id": sf_emu.standard_pricebook_id, "Product2Id": prod, "UnitPrice": 9.5,
                    "IsActive": activate_pbe})
    assert pbe.status_code == 201, pbe.text
    return {"account": acct, "product": prod, "pbe": pbe.json()["id"]}


# ---- discovery -------------------------------------------------------------------------------------------
def test_versions_listed_without_auth_and_any_version_accepted(sf_emu, sf_http, sf_api):
    r = sf_http.get(f"{sf_emu.url}/services/data/", timeout=5)
    assert r.status_code == 200 and "Sforce-Limit-Info" not in r.headers
    versions = {v["version"]: v for v in r.json()}
    assert versions["66.0"] == {"label": "Spring '26", "url": "/services/data/v66.0", "version": "66.0"}
    assert versions["65.0"]["label"] == "Winter '26"
    for version in ("52.0", "67.0"):
        assert sf_api("GET", "/limits", version=version).status_code == 200


def test_sobjects_list_and_describe_shape(sf, sf_api):
    names = {o["name"]: o for o in sf_api("GET", "/sobjects").json()["sobjects"]}
    assert {"Account", "Contact", "Product2", "Pricebook2", "PricebookEntry", "Order", "OrderItem",
            "User"} <= set(names)
    assert names["Order"]["keyPrefix"] == "801" and names["OrderItem"]["keyPrefix"] == "802"

    ref = fx("describe/sobject_describe_trimmed.json")["body"]
    desc = sf.Order.describe()
    assert set(ref) - {"fields"} <= set(desc)
    for ref_field in ref["fields"]:
        assert set(ref_field) <= set(desc["fields"][0]), set(ref_field) - set(desc["fields"][0])
    fields = {f["name"]: f for f in desc["fields"]}
    key = fields["Wooforce_Key__c"]
    assert (key["externalId"], key["unique"], key["idLookup"], key["custom"], key["type"]) == (True, True, True,
                                                                                             True, "string")
    assert [p["value"] for p in fields["Status"]["picklistValues"]] == ["Draft", "Activated"]
    assert fields["AccountId"]["referenceTo"] == ["Account"] and fields["AccountId"]["relationshipName"] == "Account"
    required = {f["name"] for f in desc["fields"] if f["createable"] and not f["nillable"]
                and not f["defaultedOnCreate"]}
    assert required == {"AccountId", "EffectiveDate", "Status"}
    for name in ("Woo_Order_Number__c", "Woo_Status__c", "Woo_Currency__c", "Woo_Payment_Method__c",
                 "Woo_Transaction_Id__c", "Woo_Date_Paid__c", "Woo_Shipping_Method__c", "Woo_Shipping_Total__c",
                 "Woo_Discount_Total__c", "Woo_Tax_Total__c", "Woo_Total__c", "Woo_Date_Modified__c",
                 "Woo_Tracking_Number__c", "Woo_Carrier__c", "BillingStreet", "ShippingCountry"):
        assert name in fields
    item_required = {f["name"] for f in sf.OrderItem.describe()["fields"] if f["createable"] and not f["nillable"]
                     and not f["defaultedOnCreate"]}
    assert item_required == {"OrderId", "PricebookEntryId", "Quantity", "UnitPrice"}
    assert sf_api("GET", "/sobjects/Acount/describe").json() == fx("errors/not_found_404.json")["body"]


# ---- single-record upsert ----------------------------------------------------------------------------------
def test_upsert_single_created_then_updated_matches_fixtures(sf, sf_api, sf_emu):
    assert sf.Account.upsert("Wooforce_Key__c/k-1", {"Name": "Acme"}) == 201
    assert sf.Account.upsert("Wooforce_Key__c/k-1", {"BillingCity": "Paris"}) == 200
    r1 = sf_api("PATCH", "/sobjects/Account/Wooforce_Key__c/k-2", json={"Name": "Other"})
    r2 = sf_api("PATCH", "/sobjects/Account/Wooforce_Key__c/k-2", json={"Name": "Other 2"})
    created, updated = fx("upsert_single/created_201.json"), fx("upsert_single/updated_200_v46plus.json")
    assert (r1.status_code, r2.status_code) == (created["status"], updated["status"])
    assert set(r1.json()) == set(created["body"]) and r1.json()["created"] is True
    assert r2.json() == {**updated["body"], "id": r1.json()["id"]}
    assert r1.json()["id"].startswith("001") and len(r1.json()["id"]) == 18
    assert r1.headers["Location"] == f"/services/data/v66.0/sobjects/Account/{r1.json()['id']}"
    accounts = {a["Wooforce_Key__c"]: a for a in sf_emu.records("Account")}
    assert accounts["k-1"]["BillingCity"] == "Paris" and accounts["k-1"]["Name"] == "Acme"
    assert accounts["k-2"]["Name"] == "Other 2" and len(accounts) == 2
    # matching on the unique, case-insensitive key
    assert sf_api("PATCH", "/sobjects/Account/Wooforce_Key__c/K-2", json={"Phone": "1"}).status_code == 200
    # API <= 45.0: 204 without body on update, 201 without `created`
    assert sf_api("PATCH", "/sobjects/Account/Wooforce_Key__c/k-2", version="45.0", json={"Phone": "2"}).status_code \
        == 204
    legacy = sf_api("PATCH", "/sobjects/Account/Wooforce_Key__c/k-3", version="45.0", json={"Name": "L"})
    assert set(legacy.json()) == set(fx("upsert_single/legacy_created_pre_v46.json")["body"])


def test_upsert_multiple_matches_300_and_not_found_404(sf_api, sf_emu):
    for n in range(2):
        sf_emu.insert("Contact", {"LastName": f"Dup{n}", "Woo_Customer_Id__c": "77"})
    r = sf_api("PATCH", "/sobjects/Contact/Woo_Customer_Id__c/77", json={"LastName": "X"})
    ref = fx("upsert_single/multiple_matches_300.json")
    assert r.status_code == ref["status"] == 300
    ids = sorted(c["Id"] for c in sf_emu.records("Contact"))
    assert sorted(r.json()) == [f"/services/data/v66.0/sobjects/Contact/{i}" for i in ids]
    assert {c["LastName"] for c in sf_emu.records("Contact")} == {"Dup0", "Dup1"}

    bad_field = sf_api("PATCH", "/sobjects/Account/NoSuchField__c/11999", json={"Name": "X"})
    ref = fx("upsert_single/not_found_bad_external_id_field_404.json")
    assert (bad_field.status_code, bad_field.json()) == (ref["status"], ref["body"])
    bad_obj = sf_api("PATCH", "/sobjects/Acount/Wooforce_Key__c/1", json={"Name": "X"})
    ref = fx("errors/not_found_404.json")
    assert (bad_obj.status_code, bad_obj.json()) == (ref["status"], ref["body"])


def test_crud_by_id_and_insert_via_id(sf_api, sf_emu):
    created = sf_api("POST", "/sobjects/Account", json={"Name": "Acme"})
    assert created.status_code == 201 and set(created.json()) == {"id", "success", "errors"}
    rid = created.json()["id"]
    via_id = sf_api("POST", "/sobjects/Account/Id", json={"Name": "Again"})
    assert (via_id.status_code, set(via_id.json())) == (201, set(fx("upsert_single/insert_via_id_post_201.json")
                                                                  ["body"]))
    got = sf_api("GET", f"/sobjects/Account/{rid}").json()
    assert got["attributes"] == {"type": "Account", "url": f"/services/data/v66.0/sobjects/Account/{rid}"}
    assert got["Name"] == "Acme" and got["CreatedById"] == sf_emu.integration_user_id and got["Phone"] is None
    assert sf_api("GET", f"/sobjects/Account/{rid[:15]}").json()["Id"] == rid  # 15-char ids are accepted
    assert sf_api("PATCH", f"/sobjects/Account/{rid}", json={"Phone": "555"}).status_code == 204
    assert sf_api("GET", f"/sobjects/Account/{rid}?fields=Phone").json()["Phone"] == "555"
    assert sf_api("DELETE", f"/sobjects/Account/{rid}").status_code == 204
    gone = sf_api("GET", f"/sobjects/Account/{rid}")
    assert (gone.status_code, gone.json()) == (404, fx("errors/not_found_404.json")["body"])
    malformed = sf_api("GET", "/sobjects/Account/001900K0001pPuOAAU")
    ref = fx("errors/malformed_id_400.json")
    assert (malformed.status_code, malformed.json()) == (ref["status"], ref["body"])


def test_record_system_fields(sf_api, sf_emu):
    rid = sf_api("POST", "/sobjects/Contact", json={"LastName": "Doe", "FirstName": "Jane"}).json()["id"]
    rec = sf_emu.record("Contact", rid)
    assert rid.startswith("003") and rec["Name"] == "Jane Doe"
    assert rec["CreatedById"] == rec["LastModifiedById"] == sf_emu.integration_user_id
    assert rec["CreatedDate"] == rec["SystemModstamp"] == rec["LastModifiedDate"]
    assert datetime.strptime(rec["SystemModstamp"], "%Y-%m-%dT%H:%M:%S.%f%z")
    for prefix, obj in (("005", "User"), ("01s", "Pricebook2")):
        assert all(r["Id"].startswith(prefix) and len(r["Id"]) == 18 for r in sf_emu.records(obj))


# ---- validation ------------------------------------------------------------------------------------------
def test_required_unknown_field_and_wrong_type(sf_api):
    missing = sf_api("POST", "/sobjects/Account", json={"Description": "Accountant"})
    ref = fx("errors/required_field_missing.json")
    assert (missing.status_code, missing.json()) == (ref["status"], ref["body"])
    unknown = sf_api("POST", "/sobjects/Bar", json={"foo": "x"})
    assert unknown.status_code == 404
    unknown = sf_api("PATCH", "/sobjects/Account/Wooforce_Key__c/a", json={"Name": "A", "foo": "x"})
    ref = fx("errors/invalid_field_dml.json")
    assert unknown.status_code == ref["status"]
    assert unknown.json() == [{"message": "No such column 'foo' on sobject of type Account", "errorCode": "INVALID_FIELD"}]
    wrong = sf_api("POST", "/sobjects/Account", json={"Name": "A", "NumberOfEmployees": "many"})
    assert wrong.status_code == 400 and wrong.json()[0]["errorCode"] == "JSON_PARSER_ERROR"
    assert set(wrong.json()[0]) == set(fx("errors/json_parser_error.json")["body"][0])
    assert "Cannot deserialize instance of int from VALUE_STRING value many" in wrong.json()[0]["message"]
    bad_json = sf_api("POST", "/sobjects/Account", data='{"Name" j}', headers={"Content-Type": "application/json"})
    assert bad_json.status_code == 400 and bad_json.json()[0]["errorCode"] == "JSON_PARSER_ERROR"
    picklist = sf_api("POST", "/sobjects/Order", json={"Account": {"Wooforce_Key__c": "nope"},
                                                     "EffectiveDate": "2026-01-01", "Status": "Draft"})
    ref = fx("errors/foreign_key_external_id_not_found.json")
    assert picklist.status_code == ref["status"]
    assert picklist.json() == [{"message": "Foreign key external ID: nope not found for field Wooforce_Key__c in "
                                           "entity Account", "errorCode": "INVALID_FIELD", "fields": []}]
    assert set(picklist.json()[0]) == set(ref["body"][0])
    long_name = sf_api("POST", "/sobjects/Contact", json={"LastName": "x" * 81})
    assert long_name.json()[0]["errorCode"] == "STRING_TOO_LONG" and long_name.json()[0]["fields"] == ["LastName"]
    email = sf_api("POST", "/sobjects/Contact", json={"LastName": "x", "Email": "Not a real email address"})
    ref = fx("composite/subrequest_error_invalid_email.json")["body"]["compositeResponse"][0]["body"]
    assert email.json() == ref


def test_readonly_and_create_only_fields(sf_api, sf_emu):
    r = sf_api("POST", "/sobjects/Account", json={"Name": "A", "CreatedDate": "2020-01-01T00:00:00Z"})
    assert r.status_code == 400 and r.json()[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    assert r.json()[0]["fields"] == ["CreatedDate"]
    ids = _order_setup(sf_api, sf_emu)
    again = sf_api("PATCH", "/sobjects/PricebookEntry/Wooforce_Key__c/pbe-1",
                json={"Pricebook2Id": sf_emu.standard_pricebook_id, "Product2Id": ids["product"], "UnitPrice": 3})
    assert again.status_code == 400 and again.json()[0]["fields"] == ["Pricebook2Id", "Product2Id"]
    assert sf_api("PATCH", "/sobjects/PricebookEntry/Wooforce_Key__c/pbe-1", json={"UnitPrice": 3}).status_code == 200


def test_unique_external_id_duplicate_value(sf_api):
    a = sf_api("POST", "/sobjects/Account", json={"Name": "A", "Wooforce_Key__c": "same"}).json()["id"]
    dup = sf_api("POST", "/sobjects/Account", json={"Name": "B", "Wooforce_Key__c": "SAME"})
    ref = fx("errors/duplicate_value.json")
    assert dup.status_code == ref["status"] and set(dup.json()[0]) == set(ref["body"][0])
    assert dup.json()[0] == {"message": f"duplicate value found: Wooforce_Key__c duplicates value on record with id: "
                                        f"{a[:15]}", "errorCode": "DUPLICATE_VALUE"}


def test_pricebook_order_rules(sf_api, sf_emu):
    ids = _order_setup(sf_api, sf_emu)
    custom_pb = sf_api("POST", "/sobjects/Pricebook2", json={"Name": "Web", "IsActive": True}).json()["id"]
    prod2 = sf_api("POST", "/sobjects/Product2", json={"Name": "Cup"}).json()["id"]
    std_missing = sf_api("POST", "/sobjects/PricebookEntry",
                      json={"Pricebook2Id": custom_pb, "Product2Id": prod2, "UnitPrice": 10, "IsActive": True})
    ref = fx("errors/standard_price_not_defined.json")
    assert (std_missing.status_code, std_missing.json()[0]["errorCode"], std_missing.json()[0]["message"]) == \
        (ref["status"], ref["body"][0]["errorCode"], ref["body"][0]["message"])
    assert sf_api("POST", "/sobjects/PricebookEntry", json={"Pricebook2Id": custom_pb, "Product2Id": ids["product"],
                                                          "UnitPrice": 8, "IsActive": True}).status_code == 201
    missing = sf_api("POST", "/sobjects/Order", json={"Account": {"Wooforce_Key__c": "acc-1"}})
    assert missing.json()[0]["fields"] == ["EffectiveDate", "Status"]
    bad_status = sf_api("POST", "/sobjects/Order", json={"AccountId": ids["account"], "EffectiveDate": "2026-01-01",
                                                      "Status": "Shipped"})
    assert bad_status.json()[0]["errorCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    no_pb = sf_api("PATCH", "/sobjects/Order/Wooforce_Key__c/o-0", json={
        "Account": {"Wooforce_Key__c": "acc-1"}, "EffectiveDate": "2026-01-01", "Status": "Draft"})
    assert no_pb.status_code == 201
    item = {"Order": {"Wooforce_Key__c": "o-0"}, "PricebookEntry": {"Wooforce_Key__c": "pbe-1"}, "Quantity": 2,
            "UnitPrice": 9.5}
    r = sf_api("PATCH", "/sobjects/OrderItem/Wooforce_Key__c/i-0", json=item)
    assert r.status_code == 400 and r.json()[0]["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"

    order = sf_api("PATCH", "/sobjects/Order/Wooforce_Key__c/o-1", json={
        "Account": {"Wooforce_Key__c": "acc-1"}, "EffectiveDate": "2026-01-01", "Status": "Draft",
        "Pricebook2Id": sf_emu.standard_pricebook_id, "Woo_Total__c": 19, "Woo_Date_Paid__c": "2026-01-02T10:00:00Z"})
    assert order.status_code == 201, order.text
    item["Order"] = {"Wooforce_Key__c": "o-1"}
    r = sf_api("PATCH", "/sobjects/OrderItem/Wooforce_Key__c/i-1", json=item)
    assert r.status_code == 201 and r.json()["id"].startswith("802")
    stored = sf_emu.record("OrderItem", r.json()["id"])
    assert (stored["Product2Id"], stored["ListPrice"], stored["TotalPrice"]) == (ids["product"], 9.5, 19.0)
    o = sf_emu.record("Order", order.json()["id"])
    assert (o["TotalAmount"], o["StatusCode"], o["Woo_Date_Paid__c"]) == (19.0, "Draft", "2026-01-02T10:00:00.000+0000")
    assert sf_api("PATCH", f"/sobjects/Order/{o['Id']}", json={"Status": "Activated"}).status_code == 204
    locked = sf_api("PATCH", "/sobjects/OrderItem/Wooforce_Key__c/i-2", json=item)
    assert locked.json()[0]["errorCode"] == "ENTITY_IS_LOCKED"


def test_validation_rules_python_and_http_and_runtime_fields(sf_api, sf_emu, sf_http):
    sf_emu.add_validation_rule("Account", "no_acme", "no ACME accounts", lambda r: r.get("Name") == "ACME")
    r = sf_http.post(f"{sf_emu.url}/_emulator/validation-rules", timeout=5, json={
        "sobject": "Account", "name": "no_123", "message": "no 123 phone",
        "condition": {"field": "Phone", "op": "eq", "value": "123"}})
    assert r.status_code == 201
    both = sf_api("POST", "/sobjects/Account", json={"Name": "ACME", "Phone": "123"})
    ref = fx("errors/field_custom_validation_exception.json")
    assert (both.status_code, both.json()) == (ref["status"], ref["body"])
    assert sf_emu.remove_validation_rule("no_acme")
    assert sf_http.delete(f"{sf_emu.url}/_emulator/validation-rules/no_123", timeout=5).json() == {"removed": True}
    assert sf_api("POST", "/sobjects/Account", json={"Name": "ACME", "Phone": "123"}).status_code == 201

    sf_emu.remove_field("Order", "Woo_Carrier__c")
    fields = {f["name"] for f in sf_api("GET", "/sobjects/Order/describe").json()["fields"]}
    assert "Woo_Carrier__c" not in fields and "Woo_Tracking_Number__c" in fields
    r = sf_http.post(f"{sf_emu.url}/_emulator/fields", timeout=5, json={
        "sobject": "Account", "name": "Loyalty_Tier__c", "type": "string", "length": 20, "required": True})
    assert r.status_code == 201 and r.json()["nillable"] is False
    missing = sf_api("POST", "/sobjects/Account", json={"Name": "X"})
    assert missing.json()[0]["fields"] == ["Loyalty_Tier__c"]
    assert sf_http.delete(f"{sf_emu.url}/_emulator/fields/Account/Loyalty_Tier__c", timeout=5).status_code == 200
    assert sf_api("POST", "/sobjects/Account", json={"Name": "X"}).status_code == 201
    assert sf_http.delete(f"{sf_emu.url}/_emulator/fields/Account/Name", timeout=5).status_code == 400


# ---- SOQL ------------------------------------------------------------------------------------------------
def test_soql_filters_order_relationships(sf, sf_emu, sf_api):
    for n, (name, city) in enumerate([("b", "Oslo"), ("a", "Oslo"), ("c", "Rome"), ("d", None)]):
        sf_api("PATCH", f"/sobjects/Account/Wooforce_Key__c/k{n}", json={"Name": name, "BillingCity": city,
                                                                       "NumberOfEmployees": n * 10})
    sf_api("PATCH", "/sobjects/Contact/Wooforce_Key__c/c1", json={"LastName": "L", "Account": {"Wooforce_Key__c": "k2"}})
    q = sf.query("SELECT Name FROM Account WHERE BillingCity = 'oslo' ORDER BY Name ASC")
    assert [r["Name"] for r in q["records"]] == ["a", "b"] and q["totalSize"] == 2 and q["done"] is True
    assert set(q["records"][0]) == {"attributes", "Name"}
    q = sf.query("SELECT Id, Name FROM Account WHERE (BillingCity IN ('Rome', 'Oslo') AND NumberOfEmployees >= 10)"
                 " OR Name LIKE 'd%' ORDER BY BillingCity DESC NULLS LAST, Name LIMIT 3 OFFSET 0")
    assert [r["Name"] for r in q["records"]] == ["c", "a", "d"]
    q = sf.query("SELECT Name FROM Account WHERE BillingCity != null ORDER BY BillingCity DESC, Name DESC LIMIT 2 "
                 "OFFSET 1")
    assert [r["Name"] for r in q["records"]] == ["b", "a"]
    assert sf.query("SELECT COUNT() FROM Account WHERE NOT Name = 'a'") == {"totalSize": 3, "done": True,
                                                                             "records": []}
    rel = sf.query("SELECT Id, Account.Name, Account.BillingCity, LastName FROM Contact")["records"][0]
    assert rel["Account"]["Name"] == "c" and rel["Account"]["attributes"]["type"] == "Account"
    std = sf_api("GET", "/query/", params={"q": "SELECT Id FROM Pricebook2 WHERE IsStandard = true"}).json()
    ref = fx("query/pricebook2_standard.json")["body"]
    assert std["records"][0]["Id"] == sf_emu.standard_pricebook_id
    assert set(std) == set(ref) and set(std["records"][0]) == set(ref["records"][0])


def test_soql_systemmodstamp_and_lastmodifiedbyid(sf, sf_emu, sf_api, sf_http):
    ids = [sf_api("PATCH", f"/sobjects/Account/Wooforce_Key__c/k{n}", json={"Name": f"n{n}"}).json()["id"]
           for n in range(3)]
    mark = max(a["SystemModstamp"] for a in sf_emu.records("Account"))
    edited = sf_emu.edit_as_user("Account", ids[1], {"Phone": "999"})
    assert edited["LastModifiedById"] == sf_emu.admin_user_id and edited["SystemModstamp"] >= mark
    assert sf_emu.stats()["api_usage"] == 3  # control calls are not API calls
    by_human = sf.query(f"SELECT Id, Phone FROM Account WHERE LastModifiedById != '{sf_emu.integration_user_id}'")
    assert [x["Id"] for x in by_human["records"]] == [ids[1]]
    mine = sf.query(f"SELECT Id FROM Account WHERE LastModifiedById = '{sf_emu.integration_user_id[:15]}'")
    assert {x["Id"] for x in mine["records"]} == {ids[0], ids[2]}
    since = (datetime.now(UTC) - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    q = sf.query(f"SELECT Id, SystemModstamp FROM Account WHERE SystemModstamp > {since} "
                 "ORDER BY SystemModstamp DESC, Id LIMIT 1")
    assert q["records"][0]["Id"] == ids[1]
    future = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    assert sf.query(f"SELECT Id FROM Account WHERE SystemModstamp >= {future}")["totalSize"] == 0
    assert sf.query("SELECT Id FROM Account WHERE SystemModstamp = TODAY")["totalSize"] == 3
    quoted = sf_api("GET", "/query", params={"q": f"SELECT Id FROM Account WHERE SystemModstamp > '{since}'"})
    assert quoted.status_code == 400 and quoted.json()[0]["errorCode"] == "INVALID_FIELD"
    assert "must be of type dateTime and should not be enclosed in quotes" in quoted.json()[0]["message"]
    # the HTTP control endpoint does the same, as a named user
    r = sf_http.post(f"{sf_emu.url}/_emulator/as-user/Account/{ids[2]}", timeout=5,
                  json={"fields": {"Phone": "1"}, "user": "admin@wooforce.example"})
    assert r.status_code == 200 and r.json()["LastModifiedById"] == sf_emu.admin_user_id
    q = sf.query(f"SELECT Id FROM Account WHERE LastModifiedById = '{sf_emu.admin_user_id}' ORDER BY SystemModstamp")
    assert [x["Id"] for x in q["records"]] == [ids[1], ids[2]]
    rejected = sf_http.post(f"{sf_emu.url}/_emulator/as-user/Account/{ids[2]}", timeout=5, json={"Name": None})
    assert rejected.status_code == 400 and rejected.json()["details"][0]["errorCode"] == "REQUIRED_FIELD_MISSING"


def test_soql_paging_default_batch_and_header(sf, sf_emu, sf_api):
    for n in range(2001):
        sf_emu.insert("Product2", {"Name": f"P{n:04d}"})
    first = sf_api("GET", "/query", params={"q": "SELECT Name FROM Product2 ORDER BY Name"}).json()
    ref = fx("query/paged_first_page.json")["body"]
    assert list(first) == ["totalSize", "done", "nextRecordsUrl", "records"] and set(first) == set(ref)
    assert (first["totalSize"], first["done"], len(first["records"])) == (2001, False, 2000)
    assert first["nextRecordsUrl"].startswith("/services/data/v66.0/query/01g") and \
        first["nextRecordsUrl"].endswith("-2000")
    nxt = sf.query_more(first["nextRecordsUrl"], identifier_is_url=True)
    assert (nxt["done"], nxt["records"][0]["Name"], "nextRecordsUrl" in nxt) == (True, "P2000", False)
    assert set(nxt) == set(fx("query/next_page.json")["body"])
    assert len(sf.query_all("SELECT Id FROM Product2")["records"]) == 2001
    small = sf_api("GET", "/query", params={"q": "SELECT Id FROM Product2 LIMIT 450"},
                headers={"Sforce-Query-Options": "batchSize=200"}).json()
    assert len(small["records"]) == 200 and small["totalSize"] == 450


def test_soql_errors_match_fixtures(sf_api):
    bad = sf_api("GET", "/query/", params={"q": "invalid"})
    ref = fx("errors/malformed_query.json")
    assert (bad.status_code, bad.json()) == (ref["status"], ref["body"])
    unknown = sf_api("GET", "/query", params={"q": "SELECT Id FROM Unknown"})
    ref = fx("errors/invalid_type.json")
    assert (unknown.status_code, unknown.json()) == (ref["status"], ref["body"])
    col = sf_api("GET", "/query", params={"q": "SELECT Bogus FROM Contact"}).json()[0]
    assert col["errorCode"] == "INVALID_FIELD"
    assert col["message"].startswith("\nSELECT Bogus FROM Contact\n       ^\nERROR at Row:1:Column:8\nNo such column "
                                     "'Bogus' on entity 'Contact'.")
    trailing = sf_api("GET", "/query", params={"q": "SELECT Id FROM Account WHERE"}).json()[0]
    assert trailing["errorCode"] == "MALFORMED_QUERY"
    assert sf_api("GET", "/query").json()[0]["errorCode"] == "MALFORMED_QUERY"


# ---- limits ----------------------------------------------------------------------------------------------
def test_limits_header_counter_and_exhaustion(sf, sf_emu, sf_api, sf_http):
    ref = fx("limits/get_limits.json")["body"]
    before = sf_emu.api_calls
    r = sf_api("GET", "/limits")
    assert set(r.json()) == set(ref)
    assert r.json()["PermissionSets"] == ref["PermissionSets"]
    used = before + 1
    assert r.headers["Sforce-Limit-Info"] == f"api-usage={used}/100000"
    assert r.json()["DailyApiRequests"] == {"Max": 100000, "Remaining": 100000 - used}
    sf_http.get(f"{sf_emu.url}/_emulator/stats", timeout=5)
    sf_http.get(f"{sf_emu.url}/_emulator/records/Account", timeout=5)
    sf.query("SELECT Id FROM Account")
    assert sf.api_usage["api-usage"].used == used + 1 and sf_emu.api_calls == used + 1
    unauth = sf_http.get(f"{sf_emu.url}/services/data/v66.0/limits", timeout=5)
    assert unauth.status_code == 401 and sf_emu.api_calls == used + 1

    sf_emu.set_daily_api_max(used + 2)
    assert sf_api("GET", "/limits").status_code == 200
    over = sf_api("GET", "/query", params={"q": "SELECT Id FROM Account"})
    ref = fx("errors/request_limit_exceeded_daily_403.json")
    assert (over.status_code, over.json()) == (ref["status"], ref["body"])
    assert over.headers["Sforce-Limit-Info"] == f"api-usage={used + 2}/{used + 2}"
    with pytest.raises(Exception):
        sf.query("SELECT Id FROM Account")
    sf_emu.set_daily_api_max(100_000)
    with pytest.raises(SalesforceResourceNotFound):
        sf.Account.get("001000000000000AAA")
    with pytest.raises(SalesforceMalformedRequest):
        sf.Account.create({"Phone": "1"})
