"""Salesforce emulator: OAuth (JWT bearer, client credentials), sessions, fault injection, control API, CLI."""
from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import time

import jwt
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceExpiredSession

from emulators.salesforce import INTEGRATION_USERNAME
from tests.fixtures import load

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def fx(path: str) -> dict:
    return load("salesforce/" + path)


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _cert_pem(key) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "wooforce")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


def _assertion(key, *, iss="ck-1", sub=INTEGRATION_USERNAME, aud="https://login.salesforce.com", exp_s=180):
    claims = {"iss": iss, "sub": sub, "aud": aud, "exp": int(time.time()) + exp_s}
    return jwt.encode(claims, key, algorithm="RS256")


def _token(sf_http, sf_emu, **form) -> requests.Response:
    return sf_http.post(f"{sf_emu.url}/services/oauth2/token", data=form, timeout=5)


# ---- OAuth -----------------------------------------------------------------------------------------------
def test_jwt_bearer_flow(sf_emu, sf_http, rsa_key):
    sf_emu.register_jwt_app("ck-1", _cert_pem(rsa_key), "sync@shop.example")
    r = _token(sf_http, sf_emu, grant_type=JWT_GRANT, assertion=_assertion(rsa_key, sub="sync@shop.example"))
    ref = fx("oauth/jwt_bearer_success.json")
    assert r.status_code == ref["status"]
    body = r.json()
    assert set(body) == set(ref["body"]) | {"issued_at", "signature"}
    assert body["instance_url"] == sf_emu.url and body["token_type"] == "Bearer"
    user = next(u for u in sf_emu.records("User") if u["Username"] == "sync@shop.example")
    assert body["id"].endswith(f"/{user['Id']}")
    sf = Salesforce(instance_url=body["instance_url"], session_id=body["access_token"], session=sf_http, version="66.0")
    sf.Account.upsert("Wooforce_Key__c/j1", {"Name": "J"})
    assert sf_emu.records("Account")[0]["LastModifiedById"] == user["Id"]
    # the emulator's own URL is a valid audience too (My Domain)
    mine = _token(sf_http, sf_emu, grant_type=JWT_GRANT, assertion=_assertion(rsa_key, sub="sync@shop.example",
                                                                         aud=sf_emu.url))
    assert mine.status_code == 200


def test_jwt_bearer_errors(sf_emu, sf_http, rsa_key):
    sf_emu.register_jwt_app("ck-1", rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    aud = _token(sf_http, sf_emu, grant_type=JWT_GRANT, assertion=_assertion(rsa_key, aud="https://evil.example"))
    ref = fx("oauth/error_jwt_invalid_grant_audience.json")
    assert (aud.status_code, aud.json()) == (ref["status"], ref["body"])
    unknown = _token(sf_http, sf_emu, grant_type=JWT_GRANT, assertion=_assertion(rsa_key, iss="nope"))
    ref = fx("oauth/error_invalid_client_id.json")
    assert (unknown.status_code, unknown.json()) == (ref["status"], ref["body"])
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = _token(sf_http, sf_emu, grant_type=JWT_GRANT, assertion=_assertion(other_key))
    assert forged.status_code == 400 and forged.json() == {"error": "invalid_grant",
                                                           "error_description": "invalid assertion"}
    stranger = _token(sf_http, sf_emu, grant_type=JWT_GRANT, assertion=_assertion(rsa_key, sub="who@x.example"))
    assert stranger.json() == {"error": "invalid_grant", "error_description": "user hasn't approved this consumer"}
    expired = _token(sf_http, sf_emu, grant_type=JWT_GRANT, assertion=_assertion(rsa_key, exp_s=-60))
    assert expired.status_code == 400 and expired.json()["error"] == "invalid_grant"
    assert _token(sf_http, sf_emu, grant_type="password").json()["error"] == "unsupported_grant_type"


def test_client_credentials_flow_and_errors(sf_emu, sf_http):
    sf_emu.register_client_credentials("cid", "s3cret")
    ok = _token(sf_http, sf_emu, grant_type="client_credentials", client_id="cid", client_secret="s3cret")
    ref = fx("oauth/client_credentials_success.json")
    assert ok.status_code == ref["status"] and set(ok.json()) == set(ref["body"])
    assert ok.json()["issued_at"].isdigit() and ok.json()["instance_url"] == sf_emu.url
    bearer = {"Authorization": f"Bearer {ok.json()['access_token']}"}
    assert sf_http.get(f"{sf_emu.url}/services/data/v66.0/limits", headers=bearer, timeout=5).status_code == 200
    cases = [({"client_id": "cid", "client_secret": "wrong"}, "oauth/error_invalid_client.json"),
             ({"client_id": "nope", "client_secret": "s3cret"}, "oauth/error_invalid_client_id.json")]
    sf_emu.register_client_credentials("nouser", "x", username=None)
    cases.append(({"client_id": "nouser", "client_secret": "x"}, "oauth/error_invalid_grant_no_client_credentials_user.json"))
    for form, path in cases:
        r = _token(sf_http, sf_emu, grant_type="client_credentials", **form)
        ref = fx(path)
        assert (r.status_code, r.json()) == (ref["status"], ref["body"]), path
    # registration over HTTP (for other processes)
    assert sf_http.post(f"{sf_emu.url}/_emulator/client-credentials", timeout=5,
                     json={"client_id": "c2", "secret": "s2"}).status_code == 201
    assert _token(sf_http, sf_emu, grant_type="client_credentials", client_id="c2", client_secret="s2").status_code == 200
    assert sf_emu.api_calls == 1  # token calls are not API calls


def test_invalid_and_expired_sessions(sf_emu, sf_http, sf_api, sf):
    ref = fx("errors/invalid_session_id_401.json")
    r = sf_http.get(f"{sf_emu.url}/services/data/v66.0/limits", headers={"Authorization": "Bearer nope"}, timeout=5)
    assert (r.status_code, r.json()) == (ref["status"], ref["body"])
    assert sf_api("GET", "/limits").status_code == 200
    sf_emu.expire_sessions()
    r = sf_api("GET", "/limits")
    assert (r.status_code, r.json()) == (ref["status"], ref["body"])
    with pytest.raises(SalesforceExpiredSession):
        sf.query("SELECT Id FROM Account")


# ---- faults ----------------------------------------------------------------------------------------------
def test_fault_latency_and_default_latency(sf_emu, sf_api):
    sf_emu.faults.add("latency", latency_ms=150, times=1)
    t0 = time.perf_counter()
    sf_api("GET", "/limits")
    slow = time.perf_counter() - t0
    t0 = time.perf_counter()
    sf_api("GET", "/limits")
    fast = time.perf_counter() - t0
    assert slow >= 0.15 and fast < 0.15
    sf_emu.set_latency(120)
    t0 = time.perf_counter()
    sf_api("GET", "/limits")
    assert time.perf_counter() - t0 >= 0.12


def test_fault_unavailable_for_next_n_then_recovers(sf_emu, sf_api):
    sf_emu.faults.add("unavailable", times=2, path_contains="/composite/")
    ref = fx("errors/server_unavailable_503.json")
    body = {"records": [{"attributes": {"type": "Account"}, "Name": "A", "Wooforce_Key__c": "a"}]}
    for _ in range(2):
        r = sf_api("PATCH", "/composite/sobjects/Account/Wooforce_Key__c", json=body)
        assert (r.status_code, r.json()) == (ref["status"], ref["body"])
    assert sf_api("GET", "/limits").status_code == 200  # not matched by path
    assert sf_api("PATCH", "/composite/sobjects/Account/Wooforce_Key__c", json=body).status_code == 200
    assert sf_emu.faults.active == [] and len(sf_emu.records("Account")) == 1


def test_fault_unavailable_after_commit(sf_emu, sf_api):
    sf_emu.faults.add("unavailable", times=1, phase="after")
    r = sf_api("PATCH", "/sobjects/Account/Wooforce_Key__c/a", json={"Name": "A"})
    assert r.status_code == 503 and len(sf_emu.records("Account")) == 1  # the write committed anyway
    assert sf_api("PATCH", "/sobjects/Account/Wooforce_Key__c/a", json={"Name": "A"}).status_code == 200


def test_fault_request_limit(sf_emu, sf_api, sf):
    sf_emu.faults.add("request_limit", times=1)
    r = sf_api("GET", "/limits")
    ref = fx("errors/request_limit_exceeded_daily_403.json")
    assert (r.status_code, r.json()) == (ref["status"], ref["body"])
    sf_emu.faults.add("request_limit", times=1, message="ConcurrentPerOrgLongTxn Limit exceeded.")
    r = sf_api("GET", "/limits")
    assert r.json() == fx("errors/request_limit_exceeded_concurrent_403.json")["body"]
    assert sf_api("GET", "/limits").status_code == 200


def test_fault_lock_row_per_record_and_share(sf_emu, sf_api):
    sf_emu.faults.add("lock_row", times=1)
    body = {"records": [{"attributes": {"type": "Account"}, "Name": f"A{n}", "Wooforce_Key__c": f"k{n}"}
                        for n in range(4)]}
    r = sf_api("PATCH", "/composite/sobjects/Account/Wooforce_Key__c", json=body).json()
    ref = fx("errors/unable_to_lock_row.json")["body"][0]
    assert r[0] == {"success": False, "errors": [{"statusCode": ref["errorCode"], "fields": [],
                                                   "message": "unable to obtain exclusive access to this record"}]}
    assert all(x["success"] for x in r[1:])
    single = sf_emu.faults.add("lock_row", times=1)
    r = sf_api("PATCH", "/sobjects/Account/Wooforce_Key__c/k0", json={"Name": "A0"})
    assert r.status_code == 400 and set(r.json()[0]) == {"message", "errorCode", "fields"}
    assert r.json()[0]["errorCode"] == "UNABLE_TO_LOCK_ROW" and not single.armed
    sf_emu.faults.add("lock_row", probability=0.5)
    body = {"records": [{"attributes": {"type": "Account"}, "Name": f"B{n}", "Wooforce_Key__c": f"b{n}"}
                        for n in range(200)]}
    r = sf_api("PATCH", "/composite/sobjects/Account/Wooforce_Key__c", json=body).json()
    locked = sum(1 for x in r if not x["success"])
    assert 60 < locked < 140
    assert all(x["errors"][0]["statusCode"] == "UNABLE_TO_LOCK_ROW" for x in r if not x["success"])


def test_fault_expire_sessions_and_timeout(sf_emu, sf_api, sf_http):
    sf_emu.faults.add("timeout", times=1, hang_s=30)
    with pytest.raises(requests.exceptions.ReadTimeout):
        sf_http.get(f"{sf_emu.url}/services/data/v66.0/limits", timeout=0.3,
                 headers={"Authorization": f"Bearer {sf_emu.issue_token()}"})
    assert sf_api("GET", "/limits").status_code == 200
    sf_emu.faults.add("expire_sessions", times=1)
    assert sf_api("GET", "/limits").status_code == 401
    token = sf_emu.issue_token()
    assert sf_http.get(f"{sf_emu.url}/services/data/v66.0/limits", headers={"Authorization": f"Bearer {token}"},
                    timeout=5).status_code == 200


def test_faults_over_http_and_control_api(sf_emu, sf_http, sf_api):
    ctl = f"{sf_emu.url}/_emulator"
    r = sf_http.post(f"{ctl}/faults", json={"kind": "unavailable", "times": 1}, timeout=5)
    assert r.status_code == 201 and r.json()["kind"] == "unavailable"
    assert sf_http.post(f"{ctl}/faults", json={"kind": "bogus"}, timeout=5).status_code == 400
    assert [f["kind"] for f in sf_http.get(f"{ctl}/faults", timeout=5).json()] == ["unavailable"]
    assert sf_api("GET", "/limits").status_code == 503
    sf_http.post(f"{ctl}/faults", json={"kind": "unavailable"}, timeout=5)
    assert sf_http.delete(f"{ctl}/faults", timeout=5).json() == {"faults": []}
    assert sf_api("GET", "/limits").status_code == 200
    created = sf_http.post(f"{ctl}/records/Account", json={"Name": "Seed", "Wooforce_Key__c": "s"}, timeout=5)
    assert created.status_code == 201 and created.json()["CreatedById"] == sf_emu.admin_user_id
    assert [a["Name"] for a in sf_http.get(f"{ctl}/records/Account", timeout=5).json()] == ["Seed"]
    stats = sf_http.get(f"{ctl}/stats", timeout=5).json()
    assert stats["api_usage"] == 1 and stats["by_endpoint"] == {"limits": 1}
    assert stats["record_counts"]["Account"] == 1
    cfg = sf_http.post(f"{ctl}/config", json={"daily_api_max": 5, "latency_ms": 0}, timeout=5).json()
    assert cfg["daily_api_max"] == 5
    assert sf_api("GET", "/limits").headers["Sforce-Limit-Info"] == "api-usage=2/5"
    assert sf_http.post(f"{ctl}/reset", timeout=5).json() == {"reset": True}
    assert sf_http.get(f"{ctl}/records/Account", timeout=5).json() == []
    assert sf_http.get(f"{ctl}/records/Nope", timeout=5).status_code == 404
    assert sf_http.post(f"{ctl}/expire-sessions", timeout=5).status_code == 200
    assert sf_api("GET", "/limits").status_code == 401


def test_cli_prints_url_and_serves(tmp_path):
    ca = tmp_path / "ca.pem"
    proc = subprocess.Popen([sys.executable, "-m", "emulators.salesforce", "--port", "0", "--ca-out", str(ca),
                             "--client-credentials", "cli:secret"], stdout=subprocess.PIPE, text=True)
    try:
        info = json.loads(proc.stdout.readline())
        assert info["ca_path"] == str(ca) and info["url"].startswith("https://127.0.0.1:")
        s = requests.Session()
        s.trust_env = False
        s.verify = str(ca)
        assert s.get(f"{info['url']}/_emulator/health", timeout=5).json()["ok"] is True
        tok = s.post(f"{info['url']}/services/oauth2/token", timeout=5,
                     data={"grant_type": "client_credentials", "client_id": "cli", "client_secret": "secret"})
        assert tok.status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=10)
