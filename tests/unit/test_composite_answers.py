"""How one Composite answer becomes record outcomes (no network: a client that answers what the test says)."""
from __future__ import annotations

from types import SimpleNamespace

from agent.delivery import Node, StoreRun
from agent.plan import Rec


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
