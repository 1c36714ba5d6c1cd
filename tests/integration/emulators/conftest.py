"""Fixtures for the emulator tests: one Salesforce emulator per session (background thread), reset per test."""
from __future__ import annotations

import pytest
import requests
from simple_salesforce import Salesforce

from emulators.salesforce import SalesforceEmulator


@pytest.fixture(scope="session")
def sf_emulator_session(tmp_path_factory):
    emu = SalesforceEmulator(ca_path=tmp_path_factory.mktemp("sf") / "ca.pem", seed=7).start_in_thread()
    yield emu
    emu.stop_in_thread()


@pytest.fixture
def sf_emu(sf_emulator_session):
    sf_emulator_session.reset()
    sf_emulator_session.set_latency(0)
    sf_emulator_session.set_daily_api_max(100_000, api_usage=0)
    return sf_emulator_session


@pytest.fixture
def sf_http(sf_emu) -> requests.Session:
    """requests session trusting only the emulator CA (REQUESTS_CA_BUNDLE is set on this machine)."""
    s = requests.Session()
    s.trust_env = False
    s.verify = str(sf_emu.ca_path)
    yield s
    s.close()


@pytest.fixture
def sf_token(sf_emu) -> str:
    return sf_emu.issue_token()


@pytest.fixture
def sf_api(sf_emu, sf_http, sf_token):
    """Raw REST helper: sf_api("PATCH", "/sobjects/...", json=...) against /services/data/v66.0."""
    def call(method: str, path: str, version: str = "66.0", **kw) -> requests.Response:
        headers = {"Authorization": f"Bearer {sf_token}", **kw.pop("headers", {})}
        return sf_http.request(method, f"{sf_emu.url}/services/data/v{version}{path}", headers=headers, timeout=10, **kw)
    return call


@pytest.fixture
def sf(sf_emu, sf_http, sf_token) -> Salesforce:
    return Salesforce(instance_url=sf_emu.url, session_id=sf_token, session=sf_http, version="66.0")
