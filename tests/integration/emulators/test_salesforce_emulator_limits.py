"""Salesforce emulator: the API request limits as Salesforce answers them (captured envelopes in ../shared/fixtures):
the daily limit reached for real and as a fault, the concurrent long-running request limit, on the REST API and on
the sign-in; and describe's ``unique`` flag of a key field that is an External ID but not Unique."""
from __future__ import annotations

import pytest

from emulators.salesforce.errors import CONCURRENT_LIMIT_MSG
from tests.fixtures import load

pytestmark = pytest.mark.integration

DAILY = "salesforce/errors/request_limit_exceeded_daily_403.json"
CONCURRENT = "salesforce/errors/request_limit_exceeded_concurrent_403.json"


def _token(sf_http, sf_emu):
    return sf_http.post(f"{sf_emu.url}/services/oauth2/token", timeout=5,
                        data={"grant_type": "client_credentials", "client_id": "lim", "client_secret": "s"})


def test_the_daily_limit_reached_for_real_answers_like_salesforce(sf_emu, sf_api):
    sf_emu.set_daily_api_max(10, api_usage=10)
    r = sf_api("GET", "/limits")
    ref = load(DAILY)
    assert (r.status_code, r.json()) == (ref["status"], ref["body"])
    assert r.headers["Sforce-Limit-Info"] == "api-usage=10/10"


@pytest.mark.parametrize("message, fixture", [(None, DAILY), (CONCURRENT_LIMIT_MSG, CONCURRENT)])
def test_limit_faults_on_rest_and_on_the_sign_in(sf_emu, sf_http, sf_api, message, fixture):
    sf_emu.register_client_credentials("lim", "s")
    ref = load(fixture)
    extra = {"message": message} if message else {}
    sf_emu.faults.add("request_limit", times=1, path_contains="/composite", **extra)
    r = sf_api("POST", "/composite", json={"compositeRequest": []})
    assert (r.status_code, r.json()) == (ref["status"], ref["body"])
    sf_emu.faults.add("request_limit", times=1, path_contains="/services/oauth2/token", **extra)
    r = _token(sf_http, sf_emu)
    assert (r.status_code, r.json()) == (ref["status"], ref["body"])
    assert _token(sf_http, sf_emu).status_code == 200  # used up: the next sign-in works


def test_describe_reports_a_key_that_is_an_external_id_but_not_unique(sf_emu, sf_api):
    def key_field() -> dict:
        fields = sf_api("GET", "/sobjects/Contact/describe").json()["fields"]
        return next(f for f in fields if f["name"] == "Wooforce_Key__c")

    assert (key_field()["externalId"], key_field()["unique"]) == (True, True)
    sf_emu.remove_field("Contact", "Wooforce_Key__c")
    sf_emu.add_field("Contact", "Wooforce_Key__c", "string", 255, external_id=True, unique=False)
    assert (key_field()["externalId"], key_field()["unique"]) == (True, False)
