"""Fixtures for agent tests (import * into a conftest): the Salesforce emulator over HTTPS (one per session,
reset per test), a store connected to it with client credentials, deliverers, and the outbox feeder."""
from __future__ import annotations

import pytest

from agent.delivery.engine import Deliverer
from emulators.salesforce import SalesforceEmulator
from tests.support import woo

CLIENT_ID, CLIENT_SECRET = "wooforce-agent", "s3cret-cc"


def sf_connection(emu: SalesforceEmulator) -> dict:
    return {"instance_url": emu.url, "auth": "client_credentials", "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET, "ca_file": str(emu.ca_path)}


@pytest.fixture(scope="session")
def sf_session(tmp_path_factory):
    emu = SalesforceEmulator(ca_path=tmp_path_factory.mktemp("sf-agent") / "ca.pem", seed=11).start_in_thread()
    emu.register_client_credentials(CLIENT_ID, CLIENT_SECRET)
    yield emu
    emu.stop_in_thread()


@pytest.fixture
def sf_emu(sf_session):
    sf_session.reset()
    sf_session.set_latency(0)
    sf_session.set_daily_api_max(100_000, api_usage=0)
    return sf_session


@pytest.fixture
def agent_settings(settings):
    return settings.model_copy(update={"agent_retry_schedule_s": [0.0], "agent_retry_jitter": 0.0,
                                       "agent_max_attempts": 3, "sf_timeout_s": 5.0})


@pytest.fixture
def make_deliverer(db, stores, agent_settings):
    made = []

    def make(**overrides) -> Deliverer:
        d = Deliverer(db, stores, agent_settings.model_copy(update=overrides))
        made.append(d)
        return d

    yield make
    for d in made:
        d.close()


@pytest.fixture
def deliverer(make_deliverer) -> Deliverer:
    return make_deliverer()


@pytest.fixture
def outbox(db):
    return woo.Feeder(db)
