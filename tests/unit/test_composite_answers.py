"""How one Composite answer becomes record outcomes (no network: a client that answers what the test says)."""
from __future__ import annotations

from types import SimpleNamespace

from agent.delivery.engine import Node, StoreRun, one_call
from agent.delivery.plan import Rec


class AnsweringClient:
    def __init__(self, answer: list[dict]):
        self.answer, self.calls = answer, 0

    def collection_path(self, sobject: str, field: str) -> str:
        return f"/services/data/v66.0/composite/sobjects/{sobject}/{field}"

    def composite(self, subrequests: list[dict]) -> list[dict]:
        self.calls += 1
        return self.answer


def _run(settings, answer: list[dict]) -> StoreRun:
    run = StoreRun(SimpleNamespace(settings=settings), "st_1", [])
    run.client = AnsweringClient(answer)
    return run


async def test_a_collection_the_answer_lacks_is_retried_not_delivered(settings):
    account = Rec("Account", "st_1:customer:1", {}, owner=1)
    contact = Rec("Contact", "st_1:customer:1", {}, owner=1)
    # Salesforce answered the first collection only
    run = _run(settings, [{"httpStatusCode": 200, "body": [{"success": True, "id": "001A"}]}])
    await run._run_composite(Node([("Account", [account]), ("Contact", [contact])]), "composite#0")
    assert (account.ok, account.sf_id) == (True, "001A")
    assert (contact.ok, contact.error_code, contact.retryable, contact.ambiguous) == (False, "NO_RESULT", True, True)


async def test_every_record_answered_is_decided_by_its_own_result(settings):
    accounts = [Rec("Account", f"st_1:customer:{i}", {}, owner=i) for i in (1, 2)]
    run = _run(settings, [{"httpStatusCode": 200, "body": [
        {"success": True, "id": "001A"},
        {"success": False, "errors": [{"statusCode": "REQUIRED_FIELD_MISSING", "message": "Name"}]}]}])
    await run._run_composite(Node([("Account", accounts)]), "composite#0")
    assert (accounts[0].ok, accounts[0].sf_id) == (True, "001A")
    assert (accounts[1].ok, accounts[1].error_code, accounts[1].retryable) == (False, "REQUIRED_FIELD_MISSING", False)
    assert run.new_records == [("Account", "st_1:customer:1", "001A")]


async def test_a_malformed_or_failed_collection_answer(settings):
    """A 2xx whose body does not hold one result per record, or a 5xx, may have been applied: every record is
    retried and marked ambiguous (it used to be failed with no code, i.e. dead-lettered). A 4xx keeps its code."""
    recs = {name: [Rec("Account", f"st_1:customer:{name}{i}", {}, owner=i) for i in (1, 2)]
            for name in ("short", "odd", "5xx", "4xx")}
    run = _run(settings, [
        {"httpStatusCode": 200, "body": [{"success": True, "id": "001A"}]},  # one result for two records
        {"httpStatusCode": 200, "body": {"unexpected": True}},
        {"httpStatusCode": 500, "body": [{"errorCode": "UNKNOWN_EXCEPTION", "message": "boom"}]},
        {"httpStatusCode": 400, "body": [{"errorCode": "INVALID_TYPE", "message": "sObject type 'Acount' is not supported"}]},
    ])
    await run._run_composite(Node([("Account", r) for r in recs.values()]), "composite#0")
    for name in ("short", "odd"):
        assert [(r.ok, r.error_code, r.retryable, r.ambiguous) for r in recs[name]] == \
            [(False, "MALFORMED_RESULT", True, True)] * 2, name
    assert [(r.error_code, r.retryable, r.ambiguous) for r in recs["5xx"]] == [("UNKNOWN_EXCEPTION", True, True)] * 2
    assert [(r.error_code, r.retryable, r.ambiguous) for r in recs["4xx"]] == [("INVALID_TYPE", False, False)] * 2
    assert run.new_records == []


class SingleAnsweringClient(AnsweringClient):
    def data_path(self, rest: str) -> str:
        return f"/services/data/v66.0{rest}"


async def test_single_record_subrequests_are_decided_by_their_own_answer(settings):
    """The one-call plan's single-record upserts: 201 created, 200 updated (``created: false``), 204 (API 45.0 and
    earlier: delivered, no Id to remember), 300 (the key matches several records: dead, nothing written), a 4xx
    error array (decided like a collection result), a 5xx or an unreadable 2xx (may have been applied)."""
    names = ("created", "updated", "legacy", "multiple", "fk", "rule", "5xx", "odd")
    recs = [Rec("Account", f"st_1:customer:{n}", {"attributes": {"type": "Account"}, "Name": n,
                                                  "Wooforce_Key__c": f"st_1:customer:{n}"}, owner=i)
            for i, n in enumerate(names)]
    loc = {"Location": "/services/data/v66.0/sobjects/Account/001C"}
    run = StoreRun(SimpleNamespace(settings=settings), "st_1", [])
    run.client = SingleAnsweringClient([
        {"httpStatusCode": 201, "httpHeaders": loc, "body": {"id": "001C", "success": True, "errors": [],
                                                             "created": True}},
        {"httpStatusCode": 200, "body": {"id": "001U", "success": True, "errors": [], "created": False}},
        {"httpStatusCode": 204, "body": None},
        {"httpStatusCode": 300, "body": ["/services/data/v66.0/sobjects/Account/001X",
                                         "/services/data/v66.0/sobjects/Account/001Y"]},
        {"httpStatusCode": 400, "body": [{"errorCode": "INVALID_FIELD", "fields": [], "message":
                                          "Foreign key external ID: k not found for field Wooforce_Key__c in entity "
                                          "Account"}]},
        {"httpStatusCode": 400, "body": [{"errorCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION", "message": "No",
                                          "fields": []}]},
        {"httpStatusCode": 503, "body": [{"errorCode": "SERVER_UNAVAILABLE", "message": "down"}]},
        {"httpStatusCode": 200, "body": "<html>"},
    ])
    node = Node([("Account", recs)], singles=frozenset({"Account"}))
    await run._run_composite(node, "composite#0")
    got = {n: (r.ok, r.sf_id, r.error_code, r.retryable, r.ambiguous, r.status_code) for n, r in zip(names, recs)}
    assert got == {
        "created": (True, "001C", None, False, False, 201),
        "updated": (True, "001U", None, False, False, 200),
        "legacy": (True, None, None, False, False, 204),
        "multiple": (False, None, "DUPLICATE_EXTERNAL_ID", False, False, 300),
        "fk": (False, None, "INVALID_FIELD", True, False, 400),
        "rule": (False, None, "FIELD_CUSTOM_VALIDATION_EXCEPTION", False, False, 400),
        "5xx": (False, None, "SERVER_UNAVAILABLE", True, True, 503),
        "odd": (False, None, "MALFORMED_RESULT", True, True, 200),
    }
    assert run.new_records == [("Account", "st_1:customer:created", "001C"), ("Account", "st_1:customer:updated",
                                                                              "001U")]
    assert "001X" in (recs[3].error or "")


def test_one_call_packs_a_small_batch_and_refuses_a_large_one():
    def recs(sobject: str, n: int) -> list[Rec]:
        return [Rec(sobject, f"k{i}", {}, owner=i) for i in range(n)]

    groups = [("Account", recs("Account", 5)), ("Product2", recs("Product2", 15)), ("Contact", recs("Contact", 5)),
              ("PricebookEntry", recs("PricebookEntry", 15)), ("Order", recs("Order", 5)),
              ("OrderItem", recs("OrderItem", 15))]
    node = one_call(groups)
    assert node is not None and [s for s, _ in node.collections] == [s for s, _ in groups]  # dependency order
    assert len(node.singles) == 1 and sum(len(r) for s, r in node.collections if s in node.singles) == 5
    # six groups of 21: 5 collections + 21 records record by record = 26 subrequests, more than Salesforce's 25
    assert one_call([(s, recs(s, 21)) for s, _ in groups]) is None
    assert one_call([(s, recs(s, 20)) for s, _ in groups]) is not None
