from __future__ import annotations

import pytest

from emulators.woocommerce import WooCommerceEmulator
from tests.support.agent_fixtures import *  # noqa: F403 - sf_session / sf_emu fixtures
from tests.support.twoway import make_rig


@pytest.fixture
async def wc():
    async with WooCommerceEmulator() as emulator:
        yield emulator


@pytest.fixture
async def rig(db, stores, settings, sf_emu, wc):
    r = await make_rig(db, stores, settings, sf_emu, wc)
    yield r
    await r.close()
