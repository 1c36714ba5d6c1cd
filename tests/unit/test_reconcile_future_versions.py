"""The reconciler and backfills never enqueue a version in the future (issue 15, point 7): such a record is
skipped, logged and counted, and an event is never built for one."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from loguru import logger

from agent.reconcile import records as W
from shared.models import FutureVersion

STORE = "st_0000000000000000000000000a"


def _record(rid: int, modified: str, **more) -> dict:
    return {"id": rid, "status": "processing", "date_modified_gmt": modified, **more}


def test_a_record_dated_in_the_future_is_skipped_logged_and_counted():
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(m), format="{extra[action]} {extra[resource_id]} {message}",
                      filter=lambda r: r["extra"].get("action") == "reconcile.future_version_skipped")
    try:
        before = W.future_skips[(STORE, "order")]
        assert W.decide(STORE, "reconciler", "order", _record(5, "9999-12-31T23:59:59"), None) is None
        # an entity already frozen by such a head: a state change would need a version above it, also skipped
        frozen = W.Head(datetime(9999, 12, 31, tzinfo=UTC), "updated", {"id": 6})
        assert W.decide(STORE, "backfill", "order", _record(6, "2026-11-22T15:35:24", status="trash"), frozen) is None
    finally:
        logger.remove(sink)
    assert W.future_skips[(STORE, "order")] == before + 2
    assert len(lines) == 2 and lines[0].startswith("reconcile.future_version_skipped 5 ") and "future" in lines[0]


def test_versions_up_to_the_tolerance_are_kept():
    soon = (datetime.now(UTC) + timedelta(seconds=W.FUTURE_TOLERANCE_S // 2)).strftime("%Y-%m-%dT%H:%M:%S")
    ev = W.decide(STORE, "reconciler", "order", _record(7, soon), None)
    assert ev is not None and ev.action == "created"
    ev = W.decide(STORE, "reconciler", "order", _record(8, "2026-11-22T15:35:24"), None)
    assert ev is not None


def test_make_event_refuses_a_future_version():
    with pytest.raises(FutureVersion):
        W.make_event(STORE, "reconciler", "customer", "created", _record(9, "9999-12-31T23:59:59"))
    with pytest.raises(FutureVersion):
        W.manual_event(STORE, "order", _record(9, "9999-12-31T23:59:59"))


def test_event_or_skip_skips_a_future_version_where_make_event_would_raise():
    before = W.future_skips[(STORE, "customer")]
    assert W.event_or_skip(STORE, "reconciler", "customer", "created", _record(10, "9999-12-31T23:59:59")) is None
    assert W.future_skips[(STORE, "customer")] == before + 1
    ev = W.event_or_skip(STORE, "backfill", "customer", "updated", _record(11, "2026-11-22T15:35:24"))
    assert ev is not None and ev.resource_id == 11
