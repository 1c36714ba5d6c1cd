"""The real store layer: one throwaway WordPress 6.8.8 + WooCommerce 10.0.2 for the whole session
(``tests/store/realstore.py`` builds it), the Salesforce emulator, a collector on a real port, and the stores
registry. Without the release archives (or php / MariaDB / a PHP extension) the layer skips with a message naming
what is missing; with ``CI=true`` that is a failure. At teardown the layer fails on any PHP warning, notice or
deprecation in the store's debug.log that names Wooforce."""
from __future__ import annotations

import os
import sys

import pytest
from aiohttp.test_utils import TestServer

from collector.app import create_app
from shared.crypto import Vault
from shared.stores import StoreManager
from tests.store.realstore import RealStore, missing_requirements
from tests.support.agent_fixtures import *  # noqa: F403 - sf_session / sf_emu / make_deliverer fixtures


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/store/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.store)
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def real_store():
    missing = missing_requirements()
    if missing:
        reason = "real store layer: missing " + "; ".join(missing)
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason + " (CI=true: the layer must run)")
        pytest.skip(reason)
    store = RealStore.build()
    print(f"\nreal store ready in {store.setup_s:.1f} s at {store.url} ({store.root})", file=sys.stderr)
    try:
        yield store
    finally:
        problems = store.wooforce_log_problems()
        failures = store.cron_failures
        store.close()
    assert not failures, f"the store's cron runner failed: {failures[:3]}"
    assert not problems, "PHP warnings/notices/deprecations naming Wooforce in debug.log:\n" + "\n".join(problems)


@pytest.fixture
def stores(db, settings) -> StoreManager:
    return StoreManager(db, Vault.from_settings(settings), cache_ttl_s=0)


@pytest.fixture
async def collector(settings, db):
    """The real collector app on a real port of 127.0.0.1 (the store's webhooks and plugin deliver to it)."""
    server = TestServer(create_app(settings, db=db), host="127.0.0.1")
    await server.start_server()
    yield server
    await server.close()
