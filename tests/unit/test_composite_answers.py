"""How one Composite answer becomes record outcomes (no network: a client that answers what the test says)."""
from __future__ import annotations

from types import SimpleNamespace

from agent.delivery.engine import Node, StoreRun
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
