"""An entity frozen by a version in the future (issue 15, point 7): stored before such versions were refused, it
swallowed every later update (202, never delivered). The console's entity page warns of it, `wooforce outbox
unfreeze` clears it (audited), and the next update is then the head again."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from collector.console.service import CLI, ConsoleManager
from shared.models import NewEvent
from shared.outbox import OutboxManager
from tests.integration.conftest import body_of, event
from tests.support.console import add_operator, audit_rows, sign_in

pytestmark = pytest.mark.integration

FAR = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)


async def _freeze(db, store_id: str, rid: int, real: datetime) -> None:
    """What an old collector stored: a real version of the order, then one dated 9999-12-31."""
    def ev(version: datetime, key: str) -> NewEvent:
        return NewEvent(store_id=store_id, source="plugin", resource="order", action="updated", resource_id=rid,
                        version=version, payload_json=json.dumps({"id": rid}), dedup_key=key, sender_id=key)
    await OutboxManager(db).ingest([ev(real, "real")])
    await OutboxManager(db).ingest([ev(FAR, "far")])


async def _head_version(db, store_id: str, rid: int) -> datetime:
    async with db.connection() as conn:
        return await conn.fetchval("SELECT head_version FROM outbox WHERE store_id = $1 AND resource_id = $2",
                                   store_id, rid)


def _gmt(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S")


async def test_a_frozen_entity_is_shown_and_unfrozen_by_the_cli(client, db, store, pg_dsn, tmp_path):
    real = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    await _freeze(db, store.id, 34, real)
    # frozen: a later real update is accepted but does not become the head
    body = body_of(event(34, modified=_gmt(real + timedelta(minutes=30))))
    assert (await client.post(f"/v1/stores/{store.id}/events", data=body, headers=store.signed(body))).status == 202
    assert await _head_version(db, store.id, 34) == FAR

    console = ConsoleManager(db)
    assert (await console.entity(CLI, store.id, "order", 34))["outbox"]["version_in_future"] is True
    await add_operator(console, "ann@example.com", "operator")
    await sign_in(client, "ann@example.com")
    html = await (await client.get(f"/console/outbox/{store.id}/order/34")).text()
    assert 'id="version-in-future"' in html and "wooforce outbox unfreeze" in html

    env = {**os.environ, "WOOFORCE_DATABASE_URL": pg_dsn, "WOOFORCE_DATA_DIR": str(tmp_path)}
    run = subprocess.run([sys.executable, "-m", "cli", "outbox", "unfreeze", "--store", store.id, "--resource",
                          "order", "--id", "34", "--json"], env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    res = json.loads(run.stdout)
    assert res["unfrozen"] == 1 and res["was"].startswith("9999-12-31")
    # back to the newest version that is not in the future (the update above)
    assert await _head_version(db, store.id, 34) == real + timedelta(minutes=30)
    assert [a for a in await audit_rows(db) if a["action"] == "outbox.unfreeze"]
    assert (await console.entity(CLI, store.id, "order", 34))["outbox"]["version_in_future"] is False
    html = await (await client.get(f"/console/outbox/{store.id}/order/34")).text()
    assert 'id="version-in-future"' not in html

    # the next update wins and is delivered (the row is pending at its version)
    newer = real + timedelta(minutes=45)
    body = body_of(event(34, modified=_gmt(newer)))
    assert (await client.post(f"/v1/stores/{store.id}/events", data=body, headers=store.signed(body))).status == 202
    assert await _head_version(db, store.id, 34) == newer

    # unfreezing what is not frozen changes nothing
    again = await console.unfreeze_entity(CLI, store.id, "order", 34)
    assert again == {"unfrozen": 0} and await _head_version(db, store.id, 34) == newer


async def test_unfreezing_an_entity_with_only_future_versions_goes_back_to_the_epoch(db, store):
    await OutboxManager(db).ingest([NewEvent(store_id=store.id, source="webhook", resource="order", action="updated",
                                             resource_id=8, version=FAR, payload_json='{"id": 8}', dedup_key="k8")])
    res = await ConsoleManager(db).unfreeze_entity(CLI, store.id, "order", 8)
    assert res["unfrozen"] == 1
    assert await _head_version(db, store.id, 8) == datetime(1970, 1, 1, tzinfo=UTC)
