from __future__ import annotations

import pytest

from tests.support.agent_fixtures import *  # noqa: F403 - fixtures
from tests.support.agent_fixtures import sf_connection


@pytest.fixture
async def sf_store(stores, store, sf_emu):
    await stores.set_salesforce(store.id, sf_connection(sf_emu))
    return store.id
