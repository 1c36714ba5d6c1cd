"""Salesforce emulator: sObject Collections (create/update/upsert/delete) and Composite."""
from __future__ import annotations

from tests.fixtures import load

V = "/services/data/v66.0"


def fx(path: str) -> dict:
    return load("salesforce/" + path)


def _accounts(*keys, name="N"):
    return [{"attributes": {"type": "Account"}, "Name": f"{name}{k}", "Wooforce_Key__c": k} for k in keys]


# ---- collections upsert ------------------------------------------------------------------------------------
def test_collections_upsert_created_flags_and_order(sf_api, sf_emu):
    sf_api("PATCH", "/sobjects/Account/Wooforce_Key__c/b", json={"Name": "old"})
    r = sf_api("PATCH", "/composite/sobjects/Account/Wooforce_Key__c",
            json={"allOrNone": False, "records": _accounts("a", "b", "c")})
    ref = fx("collections/upsert_success.json")
    assert r.status_code == ref["status"]
    body = r.json()
    assert [set(x) for x in body] == [set(ref["body"][0])] * 3
    assert [x["created"] for x in body] == [True, False, True]
    by_key = {a["Wooforce_Key__c"]: a for a in sf_emu.records("Account")}
    assert [x["id"] for x in body] == [by_key[k]["Id"] for k in "abc"]
    assert by_key["b"]["Name"] == "Nb"
    assert sf_emu.stats()["by_endpoint"]["collections.upsert"] == 1


def test_collections_more_than_200_records(sf_api, sf_emu):
    r = sf_api("PATCH", "/composite/sobjects/Account/Wooforce_Key__c",
            json={"records": _accounts(*[str(n) for n in range(201)])})
    ref = fx("collections/error_more_than_200_records.json")
    assert (r.status_code, r.json()) == (ref["status"], ref["body"])
    assert sf_emu.records("Account") == []
    ok = sf_api("PATCH", "/composite/sobjects/Account/Wooforce_Key__c",
             json={"records": _accounts(*[str(n) for n in range(200)])})
    assert ok.status_code == 200 and all(x["success"] for x in ok.json()) and len(sf_emu.records("Account")) == 200


def test_collections_partial_failure_allornone_false(sf_api, sf_emu):
    records = _accounts("a", "b", "c")
    records[1]["Name"] = None
    r = sf_api("PATCH", "/composite/sobjects/Account/Wooforce_Key__c", json={"records": records})
    ref = fx("collections/upsert_partial_failure_allornone_false.json")["body"]
    assert r.status_code == 200
    ok, bad, ok2 = r.json()
    assert ok["success"] and ok2["success"] and set(bad) == set(ref[1])
    assert set(bad["errors"][0]) == set(ref[1]["errors"][0])
    assert bad["errors"] == [{"statusCode": "REQUIRED_FIELD_MISSING", "message": "Required fields are missing: [Name]",
                              "fields": ["Name"]}]
    assert {a["Wooforce_Key__c"] for a in sf_emu.records("Account")} == {"a", "c"}


def test_collections_allornone_true_rolls_back(sf_api, sf_emu):
    sf_api("PATCH", "/sobjects/Account/Wooforce_Key__c/a", json={"Name": "before"})
    records = _accounts("a", "b", "c")
    records[2]["Name"] = None
    r = sf_api("PATCH", "/composite/sobjects/Account/Wooforce_Key__c", json={"allOrNone": True, "records": records})
    ref = fx("collections/upsert_partial_failure_allornone_true.json")["body"]
    body = r.json()
    assert r.status_code == 200 and [x["success"] for x in body] == [False, False, False]
    assert body[0]["errors"] == ref[0]["errors"] and body[1]["errors"] == ref[0]["errors"]
    assert set(body[0]) == set(ref[0])
    assert body[2]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    accounts = sf_emu.records("Account")
    assert [(a["Wooforce_Key__c"], a["Name"]) for a in accounts] == [("a", "before")]


def test_collections_duplicate_external_ids_in_one_request(sf_api, sf_emu):
    r = sf_api("PATCH", "/composite/sobjects/Account/Wooforce_Key__c", json={"records": _accounts("x", "d", "D")})
    first, dup1, dup2 = r.json()
    assert first["success"] is True
    for dup, value in ((dup1, "d"), (dup2, "D")):
        assert dup == {"success": False, "errors": [{"statusCode": "DUPLICATE_VALUE", "message":
                       f"Duplicate external id specified: {value}", "fields": ["Wooforce_Key__c"]}]}
    assert [a["Wooforce_Key__c"] for a in sf_emu.records("Account")] == ["x"]


def test_collections_references_and_request_level_errors(sf_api, sf_emu):
    sf_api("PATCH", "/sobjects/Account/Wooforce_Key__c/acc", json={"Name": "A"})
    contacts = [{"attributes": {"type": "Contact"}, "LastName": "One", "Wooforce_Key__c": "c1",
                 "Account": {"Wooforce_Key__c": "acc"}},
                {"attributes": {"type": "Contact"}, "LastName": "Two", "Wooforce_Key__c": "c2",
                 "Account": {"Wooforce_Key__c": "missing"}}]
    r = sf_api("PATCH", "/composite/sobjects/Contact/Wooforce_Key__c", json={"records": contacts}).json()
    acc_id = sf_emu.records("Account")[0]["Id"]
    assert r[0]["success"] and sf_emu.record("Contact", r[0]["id"])["AccountId"] == acc_id
    ref = fx("errors/foreign_key_external_id_not_found.json")["body"][0]
    assert r[1]["errors"] == [{"statusCode": ref["errorCode"], "fields": [], "message":
                               "Foreign key external ID: missing not found for field Wooforce_Key__c in entity Account"}]
    unknown = sf_api("PATCH", "/composite/sobjects/Contact/Wooforce_Key__c",
                  json={"records": [{"attributes": {"type": "Contact"}, "LastName": "x", "Nope__c": 1}]})
    assert unknown.status_code == 400 and unknown.json()[0]["errorCode"] == "INVALID_FIELD"
    wrong_key = sf_api("PATCH", "/composite/sobjects/Contact/LastName", json={"records": []})
    assert wrong_key.status_code == 400 and wrong_key.json()[0]["errorCode"] == "INVALID_FIELD"
    mixed = sf_api("PATCH", "/composite/sobjects/Contact/Wooforce_Key__c", json={"records": _accounts("q")})
    assert mixed.status_code == 400


def test_collections_create_update_delete(sf_api, sf_emu):
    req = fx("collections/create_success.json")["request"]["body"]
    r = sf_api("POST", "/composite/sobjects", json=req)
    ref = fx("collections/create_success.json")["body"]
    assert r.status_code == 200 and [set(x) for x in r.json()] == [set(x) for x in ref]
    acc, con = (x["id"] for x in r.json())
    assert acc.startswith("001") and con.startswith("003")
    upd = sf_api("PATCH", "/composite/sobjects", json={"records": [
        {"attributes": {"type": "Account"}, "id": acc, "NumberOfEmployees": 27000},
        {"attributes": {"type": "Contact"}, "id": "001xx000003DGb2999", "Title": "Lead Engineer"}]}).json()
    ref = fx("collections/update_partial_failure_allornone_false.json")["body"]
    assert upd[0] == {"id": acc, "success": True, "errors": []}
    assert upd[1] == ref[1] | {"errors": [{**ref[1]["errors"][0],
                                            "message": "Contact ID: id value of incorrect type: 001xx000003DGb2999"}]}
    assert sf_emu.record("Account", acc)["NumberOfEmployees"] == 27000
    failing = fx("collections/create_failure_allornone_true.json")
    bad = sf_api("POST", "/composite/sobjects", json={"allOrNone": True, "records": [
        {"attributes": {"type": "Account"}, "Name": "ok"}, {"attributes": {"type": "Contact"}, "FirstName": "x"}]})
    assert bad.json()[0] == failing["body"][1] and bad.json()[1]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    assert len(sf_emu.records("Account")) == 1
    deleted = sf_api("DELETE", "/composite/sobjects", params={"ids": f"{acc},{con}"}).json()
    assert [d["success"] for d in deleted] == [True, True] and sf_emu.records("Contact") == []


# ---- composite -------------------------------------------------------------------------------------------
def test_composite_references_shape_and_one_api_call(sf_api, sf_emu):
    req = fx("composite/request_refaccount_refcontact.json")
    before = sf_emu.api_calls
    r = sf_api("POST", "/composite", json=req["request"]["body"])
    assert r.status_code == 200 and sf_emu.api_calls == before + 1
    items = r.json()["compositeResponse"]
    ref_item = req["body"]["compositeResponse"][0]
    assert [set(i) for i in items] == [set(ref_item)] * 2
    assert set(items[0]["body"]) == set(ref_item["body"]) and items[0]["httpStatusCode"] == 201
    acc_id = items[0]["body"]["id"]
    assert items[0]["httpHeaders"] == {"Location": f"/services/data/v66.0/sobjects/Account/{acc_id}"}
    contact = sf_emu.record("Contact", items[1]["body"]["id"])
    assert contact["AccountId"] == acc_id and [i["referenceId"] for i in items] == ["refAccount", "refContact"]
    q = sf_api("POST", "/composite", json={"compositeRequest": [
        {"method": "GET", "url": f"{V}/query?q=SELECT+Id,+Name+FROM+Account", "referenceId": "accs"},
        {"method": "PATCH", "url": f"{V}/sobjects/Account/@{{accs.records[0].Id}}", "referenceId": "upd",
         "body": {"Phone": "42"}},
        {"method": "GET", "url": f"{V}/sobjects/Account/@{{accs.records[0].Id}}?fields=Phone", "referenceId": "get"}]})
    items = q.json()["compositeResponse"]
    assert [i["httpStatusCode"] for i in items] == [200, 204, 200] and items[1]["body"] is None
    assert items[2]["body"]["Phone"] == "42"
    assert sf_emu.stats()["composite_subrequests"]["query"] == 1


def test_composite_limits_25_and_5(sf_api, sf_emu):
    def sub(n, url=f"{V}/sobjects/Account", method="POST", body=None):
        return {"method": method, "url": url, "referenceId": f"r{n}", "body": body or {"Name": f"a{n}"}}
    too_many = sf_api("POST", "/composite", json={"compositeRequest": [sub(n) for n in range(26)]})
    assert too_many.status_code == 400 and sf_emu.records("Account") == []
    assert set(too_many.json()[0]) == {"message", "errorCode"}
    ok = sf_api("POST", "/composite", json={"compositeRequest": [sub(n) for n in range(25)]})
    assert ok.status_code == 200 and len(sf_emu.records("Account")) == 25
    coll = {"records": _accounts("z")}
    heavy = [sub(n, f"{V}/composite/sobjects", body=coll) for n in range(3)] + \
        [sub(n + 3, f"{V}/query?q=SELECT+Id+FROM+Account", "GET") for n in range(3)]
    assert sf_api("POST", "/composite", json={"compositeRequest": heavy}).status_code == 400
    five = sf_api("POST", "/composite", json={"compositeRequest": heavy[1:]})
    assert five.status_code == 200
    bad_ref = fx("composite/invalid_referenceid_whole_request_400.json")
    r = sf_api("POST", "/composite", json=bad_ref["request"]["body"])
    assert (r.status_code, r.json()) == (bad_ref["status"], bad_ref["body"])


def test_composite_allornone_processing_halted_and_rollback(sf_api, sf_emu):
    ref = fx("composite/failure_foreign_key_not_found_with_processing_halted.json")["body"]["compositeResponse"]
    r = sf_api("POST", "/composite", json={"allOrNone": True, "compositeRequest": [
        {"method": "POST", "url": f"{V}/sobjects/Account", "referenceId": "NewPayment1", "body": {"Name": "A"}},
        {"method": "POST", "url": f"{V}/sobjects/Contact", "referenceId": "NewPayment2",
         "body": {"LastName": "x", "Account": {"Wooforce_Key__c": "0116"}}},
        {"method": "POST", "url": f"{V}/sobjects/Account", "referenceId": "After", "body": {"Name": "B"}}]})
    items = r.json()["compositeResponse"]
    assert r.status_code == 200
    assert items[0] == ref[0]
    assert items[1]["httpStatusCode"] == 400 and items[1]["body"] == [{
        "message": "Foreign key external ID: 0116 not found for field Wooforce_Key__c in entity Account",
        "errorCode": "INVALID_FIELD", "fields": []}]
    assert items[2] == {**ref[0], "referenceId": "After"}
    assert sf_emu.records("Account") == [] and sf_emu.records("Contact") == []
    # collections subrequest with a failing record under outer allOrNone=true halts the rest
    case4 = fx("composite/request_with_collection_subrequest_allornone_true.json")
    body = case4["request"]["body"]
    body["compositeRequest"][0]["body"]["records"][1]["Name"] = None
    items = sf_api("POST", "/composite", json=body).json()["compositeResponse"]
    assert items[0]["httpStatusCode"] == 200 and items[0]["body"][0]["success"] is True
    assert items[1] == case4["body"]["compositeResponse"][1]
    assert sf_emu.records("Account") == []


def test_composite_without_allornone_unresolved_reference(sf_api, sf_emu):
    ref = fx("composite/dependent_subrequest_bad_reference_allornone_false.json")
    r = sf_api("POST", "/composite", json={"compositeRequest": [
        {"method": "GET", "url": f"{V}/query?q=select Id, AccountId from Contact", "referenceId": "refContact"},
        {"method": "GET", "url": f"{V}/query?q=select Name from Account where Id = "
                                 "'@{refContact.records[0].AccountId}'", "referenceId": "refAccount"},
        {"method": "POST", "url": f"{V}/sobjects/Account", "referenceId": "independent", "body": {"Name": "A"}}]})
    items = r.json()["compositeResponse"]
    assert items[0]["body"]["totalSize"] == 0
    assert items[1]["body"] == ref["body"]["compositeResponse"][1]["body"]
    assert items[1]["httpStatusCode"] == 400 and items[2]["httpStatusCode"] == 201
    assert len(sf_emu.records("Account")) == 1


def test_simple_salesforce_bulk2_and_restful_composite(sf, sf_emu):
    res = sf.bulk2.Account.upsert(records=[{"Wooforce_Key__c": "a", "Name": "A"}, {"Wooforce_Key__c": "b", "Name": ""}],
                                  external_id_field="Wooforce_Key__c", wait=0.05)
    assert (res[0]["numberRecordsProcessed"], res[0]["numberRecordsFailed"]) == (2, 1)
    failed = sf.bulk2.Account.get_failed_records(res[0]["job_id"])
    assert "REQUIRED_FIELD_MISSING:Required fields are missing: [Name]:Name --" in failed
    assert [a["Wooforce_Key__c"] for a in sf_emu.records("Account")] == ["a"]
    out = sf.restful("composite", method="POST", json={"allOrNone": "true", "compositeRequest": [
        {"method": "PATCH", "url": f"{V}/sobjects/Account/Wooforce_Key__c/c", "referenceId": "c", "body": {"Name": "C"}},
        {"method": "PATCH", "url": f"{V}/sobjects/Account/Wooforce_Key__c/d", "referenceId": "d", "body": {}}]})
    codes = [(i["httpStatusCode"], i["body"][0]["errorCode"]) for i in out["compositeResponse"]]
    assert codes == [(400, "PROCESSING_HALTED"), (400, "REQUIRED_FIELD_MISSING")]
    assert [a["Wooforce_Key__c"] for a in sf_emu.records("Account")] == ["a"]


def test_composite_single_record_upserts_by_external_id(sf_api, sf_emu):
    """Single-record upserts (``PATCH /sobjects/{S}/{field}/{value}``) inside a Composite, allOrNone false, as the
    agent's one-call plan sends them: 201 + Location when created, 200 ``created: false`` when updated (API 46.0+;
    204 without a body before), an external-id reference to a record an earlier subrequest wrote, and a failed
    subrequest that leaves the others applied."""
    created, updated = fx("upsert_single/created_201.json"), fx("upsert_single/updated_200_v46plus.json")
    sf_api("PATCH", "/sobjects/Account/Wooforce_Key__c/old", json={"Name": "Old"})
    r = sf_api("POST", "/composite", json={"allOrNone": False, "compositeRequest": [
        {"method": "PATCH", "url": f"{V}/sobjects/Account/Wooforce_Key__c/st%3Acustomer%3A1", "referenceId": "a1",
         "body": {"Name": "New"}},
        {"method": "PATCH", "url": f"{V}/sobjects/Account/Wooforce_Key__c/old", "referenceId": "a2",
         "body": {"Name": "Renamed"}},
        {"method": "PATCH", "url": f"{V}/sobjects/Contact/Wooforce_Key__c/st%3Acustomer%3A1", "referenceId": "c1",
         "body": {"LastName": "L", "Account": {"Wooforce_Key__c": "st:customer:1"}}},
        {"method": "PATCH", "url": f"{V}/sobjects/Contact/Wooforce_Key__c/orphan", "referenceId": "c2",
         "body": {"LastName": "O", "Account": {"Wooforce_Key__c": "missing"}}},
        {"method": "PATCH", "url": "/services/data/v45.0/sobjects/Account/Wooforce_Key__c/old", "referenceId": "a3",
         "body": {"Phone": "1"}}]})
    items = {i["referenceId"]: i for i in r.json()["compositeResponse"]}
    assert items["a1"]["httpStatusCode"] == created["status"] and set(items["a1"]["body"]) == set(created["body"])
    acc = items["a1"]["body"]["id"]
    assert items["a1"]["body"]["created"] is True
    assert items["a1"]["httpHeaders"] == {"Location": f"{V}/sobjects/Account/{acc}"}
    assert items["a2"]["httpStatusCode"] == updated["status"] and items["a2"]["body"]["created"] is False
    assert set(items["a2"]["body"]) == set(updated["body"])
    assert items["c1"]["httpStatusCode"] == 201 and sf_emu.record("Contact", items["c1"]["body"]["id"])["AccountId"] == acc
    assert items["c2"]["httpStatusCode"] == 400
    err = items["c2"]["body"][0]
    assert err["errorCode"] == "INVALID_FIELD" and err["message"].startswith("Foreign key external ID: missing not found")
    assert (items["a3"]["httpStatusCode"], items["a3"]["body"]) == (204, None)
    assert {a["Wooforce_Key__c"]: a["Name"] for a in sf_emu.records("Account")} == {"old": "Renamed",
                                                                                   "st:customer:1": "New"}
    assert {a["Wooforce_Key__c"]: a.get("Phone") for a in sf_emu.records("Account")}["old"] == "1"
