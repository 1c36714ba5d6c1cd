"""Settings, ids, the query loader, log redaction and event parsing: no I/O."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared import ids, queries
from shared.errors import ConfigError
from shared.logs import redact_url
from shared.models import InvalidEvent, event_from_wc_webhook, events_from_body
from shared.settings import load_settings


def test_settings_errors_name_the_setting_and_the_reason(monkeypatch):
    monkeypatch.setenv("WOOFORCE_COLLECTOR_PORT", "70000")
    monkeypatch.setenv("WOOFORCE_DATABASE_URL", "mysql://nope")
    monkeypatch.setenv("WOOFORCE_MASTER_KEY", "short")
    with pytest.raises(ConfigError) as exc:
        load_settings(_env_file=None)
    msg = exc.value.message
    assert "WOOFORCE_COLLECTOR_PORT: Input should be less than or equal to 65535" in msg
    assert "WOOFORCE_DATABASE_URL" in msg and "postgresql://" in msg
    assert "WOOFORCE_MASTER_KEY" in msg and "short" not in msg  # secrets are never echoed


def test_group_commit_writers_must_leave_pool_connections(monkeypatch):
    monkeypatch.setenv("WOOFORCE_DB_POOL_MAX", "2")
    monkeypatch.setenv("WOOFORCE_INGEST_WRITERS", "2")
    with pytest.raises(ConfigError) as exc:
        load_settings(_env_file=None)
    assert "WOOFORCE_INGEST_WRITERS: Value error, must be below WOOFORCE_DB_POOL_MAX (2)" in exc.value.message
    monkeypatch.setenv("WOOFORCE_INGEST_WRITERS", "1")
    assert load_settings(_env_file=None).ingest_writers == 1


def test_settings_defaults_are_sane(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    s = load_settings(_env_file=None)
    assert s.embedded and s.should_migrate and s.max_batch_events == 100 and s.timestamp_tolerance_s == 300


def test_ids_are_prefixed_typed_and_sortable():
    a = ids.new_id("event")
    assert a.startswith("evt_") and ids.is_id("event", a) and not ids.is_id("store", a)
    assert len({ids.new_id("store") for _ in range(1000)}) == 1000
    import time

    time.sleep(0.002)
    assert ids.new_id("event") > a


def test_query_file_parses_into_named_blocks():
    q = queries.parse("-- name: a\nSELECT 1;\n-- comment\n-- name: b\nSELECT 2\n")
    assert q == {"a": "SELECT 1", "b": "SELECT 2"}
    with pytest.raises(ValueError):
        queries.parse("-- name: a\nSELECT 1\n-- name: a\nSELECT 2")
    assert "ingest_events" in queries.queries()


def test_redact_url_drops_credentials():
    url = ("https://ck_live:cs_live@shop.example/wp-json/wc/v3/orders?page=2&consumer_key=ck_live"
           "&consumer_secret=cs_live&oauth_signature=abc&per_page=100")
    red = redact_url(url)
    assert "ck_live" not in red and "cs_live" not in red and "abc" not in red
    assert "page=2" in red and "per_page=100" in red


def test_plugin_event_version_comes_from_date_modified_gmt():
    body = {"id": "e1", "type": "product.updated", "occurred_at": "2026-11-22T16:00:00+01:00", "resource_id": 9,
            "data": {"id": 9, "date_modified_gmt": "2026-11-22T14:59:59"}}
    (ev,) = events_from_body(body, store_id="st_x", max_events=10)
    assert ev.version == datetime(2026, 11, 22, 14, 59, 59, tzinfo=UTC)
    assert (ev.resource, ev.action, ev.dedup_key) == ("product", "updated", "id:e1")
    body["type"] = "product.deleted"
    body["data"] = {"id": 9}
    (ev,) = events_from_body(body, store_id="st_x", max_events=10)
    assert ev.version == datetime(2026, 11, 22, 15, 0, tzinfo=UTC)  # occurred_at, in UTC


def test_lone_surrogate_is_refused_before_the_database():
    body = {"id": "e1", "type": "order.updated", "occurred_at": "2026-11-22T16:00:00Z", "resource_id": 9,
            "data": {"id": 9, "note": "\ud800"}}
    with pytest.raises(InvalidEvent) as exc:
        events_from_body(body, store_id="st_x", max_events=10)
    assert exc.value.fields[0]["field"] == "body.data"


def test_wc_webhook_mapping():
    now = datetime(2026, 11, 22, tzinfo=UTC)
    ev = event_from_wc_webhook("customer.deleted", {"id": 6}, store_id="st_x", delivery_id="d1", received_at=now)
    assert (ev.action, ev.version) == ("deleted", now)
    ev = event_from_wc_webhook("product.deleted", {"id": 6}, store_id="st_x", delivery_id="d1", received_at=now)
    assert ev.action == "trashed"
    assert event_from_wc_webhook("coupon.created", {"id": 1}, store_id="s", delivery_id=None, received_at=now) is None
    with pytest.raises(InvalidEvent):
        event_from_wc_webhook("order.updated", {"id": True}, store_id="s", delivery_id=None, received_at=now)


def test_driver_errors_are_wrapped_retryable_or_permanent():
    import asyncpg

    from shared.db import wrap
    from shared.errors import DatabaseError, DatabaseUnavailable

    # a connection the server dropped while idle, used before the client saw the close
    assert isinstance(wrap(asyncpg.InternalClientError("cannot switch to state 12")), DatabaseUnavailable)
    assert isinstance(wrap(asyncpg.exceptions.AdminShutdownError("terminating connection")), DatabaseUnavailable)
    err = wrap(asyncpg.exceptions.UniqueViolationError("duplicate key"))
    assert isinstance(err, DatabaseError) and not isinstance(err, DatabaseUnavailable) and err.sqlstate == "23505"
    boom = ValueError("not a driver error")
    assert wrap(boom) is boom


async def test_retry_conflicts_reruns_lost_lock_races_only():
    from shared.db import retry_conflicts
    from shared.errors import DatabaseError

    def runner(*sqlstates: str):
        """A transaction failing with these SQLSTATEs in turn, then succeeding; counts its runs."""
        left = list(sqlstates)

        async def run():
            run.calls += 1
            if left:
                raise DatabaseError(f"sqlstate {left[0]}", sqlstate=left.pop(0))
            return "done"
        run.calls = 0
        return run

    run = runner("40P01", "40001")  # deadlock, serialization failure: run again
    assert await retry_conflicts(run) == "done" and run.calls == 3
    run = runner("40P01", "40P01", "40P01")  # a third conflict: given up
    with pytest.raises(DatabaseError, match="40P01"):
        await retry_conflicts(run)
    assert run.calls == 3
    run = runner("23505")  # not a conflict: raised at once
    with pytest.raises(DatabaseError, match="23505"):
        await retry_conflicts(run)
    assert run.calls == 1
