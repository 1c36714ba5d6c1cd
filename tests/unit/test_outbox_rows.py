"""Typed outbox rows: the statuses and outcomes as enums, the JSON that complete_outbox / insert_attempts decode by
column name, the retry schedule both destinations share, and error attributes set at construction. No I/O."""
from __future__ import annotations

import dataclasses
import re
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from shared import queries
from shared.models import OutboxStatus, Outcome
from shared.outbox import ClaimedRow, Completion, attempts_json, completions_json, next_try

MIGRATIONS = Path(__file__).resolve().parents[2] / "shared" / "migrations"
V = datetime(2026, 11, 22, 15, 35, 24, 123456, tzinfo=UTC)


def _check_values(table: str, column: str) -> set[str]:
    """The values a CHECK (column IN (...)) of the initial migration allows."""
    sql = (MIGRATIONS / "0001_initial.sql").read_text()
    body = re.search(rf"CREATE TABLE {table} \((.*?)\n\);", sql, re.S).group(1)
    allowed = re.search(rf"\b{column}\b[^,]*?CHECK \({column} IN \(([^)]*)\)\)", body, re.S).group(1)
    return set(re.findall(r"'([^']*)'", allowed))


def _record_columns(query: str) -> list[str]:
    """The column names a query's json_to_record[set](...) AS t(name type, ...) declares."""
    decl = re.search(r"json_to_record(?:set)?\([^)]*::json\)\s+AS t\((.*?)\)(?:\n|$)", queries.get(query), re.S).group(1)
    return [col.split()[0] for col in decl.split(",")]


def test_enum_values_are_what_the_database_stores():
    assert {s.value for s in OutboxStatus} == _check_values("outbox", "status")
    # every outcome but a pause is written as an attempt; the attempts table allows exactly those
    assert {o.value for o in Outcome if o.recorded} == _check_values("attempts", "outcome")
    assert not Outcome.PAUSED.recorded
    # a StrEnum is its string: Counter lookups, comparisons and f-strings keep working with plain strings
    counts = Counter([Outcome.DELIVERED, Outcome.DELIVERED, Outcome.DEAD])
    assert counts["delivered"] == 2 and Outcome("retrying") is Outcome.RETRYING and f"sync.{Outcome.DEAD}" == "sync.dead"
    assert Outcome.SKIPPED.completes_as is Outcome.DELIVERED and Outcome.PAUSED.completes_as is Outcome.PAUSED


def _completion(**kw) -> Completion:
    base = dict(store_id="st_1", resource="order", resource_id=7, event_id="evt_1", seq=41, version=V,
                outcome=Outcome.RETRYING, attempts=3, delay_s=12.5, code="UNABLE_TO_LOCK_ROW", error="locked",
                sf_id="801A", status=503, summary={"calls": ["composite#0"]}, duration_ms=0)
    return Completion(**{**base, **kw})


def test_complete_outbox_json_round_trips_by_name():
    (row,) = map(orjson.loads, completions_json([_completion()]))
    assert row == {"store_id": "st_1", "resource": "order", "resource_id": 7, "outcome": "retrying", "seq": 41,
                   "event_id": "evt_1", "version": "2026-11-22T15:35:24.123456+00:00", "attempts": 3,
                   "delay_s": 12.5, "sf_id": "801A", "error_code": "UNABLE_TO_LOCK_ROW", "error": "locked",
                   "waiting_for": None}
    assert datetime.fromisoformat(row["version"]) == V  # to the microsecond: delivered_version is compared later
    # the statement declares exactly these columns (a renamed or missing one would be NULL, silently)
    assert sorted(_record_columns("complete_outbox")) == sorted(row)
    (skipped,) = map(orjson.loads, completions_json([_completion(outcome=Outcome.SKIPPED)]))
    assert skipped["outcome"] == "delivered"  # a skipped row is done


def test_a_reordered_row_type_does_not_swap_values():
    """The JSON is built by attribute name, so a row type whose fields come in another order (e.g. a field moved in
    Completion, or two same-typed fields swapped) yields the same objects: nothing is positional."""
    fields = [(f.name, f.type, f) for f in dataclasses.fields(Completion)]
    Reordered = dataclasses.make_dataclass("Reordered", list(reversed(fields)), frozen=True, kw_only=True)
    c = _completion(code="CODE", error="ERROR", sf_id="SFID", event_id="EVENT", store_id="STORE", resource="RES")
    same = Reordered(**{f.name: getattr(c, f.name) for f in dataclasses.fields(Completion)})
    assert completions_json([same]) == completions_json([c])
    assert orjson.loads(attempts_json([same], 5))[0] | {"id": None} == orjson.loads(attempts_json([c], 5))[0] | {"id": None}


def test_insert_attempts_json_round_trips_by_name():
    a, b = orjson.loads(attempts_json([_completion(), _completion(duration_ms=88, outcome=Outcome.DEAD)], 1234))
    assert a["id"].startswith("att") and a["id"] != b["id"]
    assert {k: v for k, v in a.items() if k != "id"} == {
        "store_id": "st_1", "resource": "order", "resource_id": 7, "event_id": "evt_1", "duration_ms": 1234,
        "outcome": "retrying", "status_code": 503, "error_code": "UNABLE_TO_LOCK_ROW", "error": "locked",
        "sf_id": "801A", "request_summary": {"calls": ["composite#0"]}}
    assert (b["duration_ms"], b["outcome"]) == (88, "dead")  # a row's own request time beats the batch's
    assert sorted(_record_columns("insert_attempts")) == sorted(a)


def test_completions_are_frozen_and_claimed_rows_typed():
    c = _completion()
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.outcome = Outcome.DELIVERED  # type: ignore[misc]
    row = ClaimedRow.from_record({"store_id": "st_1", "resource": "customer", "resource_id": 3,
                                  "head_event_id": "evt_9", "head_version": V, "head_seq": 5, "attempts": 2,
                                  "action": "updated", "payload": '{"id": 3}', "sf_id": None})
    assert (row.event_id, row.seq, row.version, row.payload) == ("evt_9", 5, V, {"id": 3})


def test_next_try_counts_schedules_and_dead_letters(settings):
    s = settings.model_copy(update={"agent_max_attempts": 3, "agent_retry_schedule_s": [10.0, 60.0],
                                    "agent_retry_jitter": 0.0})
    assert next_try(s, Outcome.RETRYING, 0) == (Outcome.RETRYING, 1, 10.0)
    assert next_try(s, Outcome.RETRYING, 1, retry_after_s=90) == (Outcome.RETRYING, 2, 90.0)
    assert next_try(s, Outcome.RETRYING, 2) == (Outcome.DEAD, 3, 0.0)  # the last try allowed
    assert next_try(s, Outcome.RETRYING, 1, count=False) == (Outcome.RETRYING, 1, 10.0)  # not the row's fault
    assert next_try(s, Outcome.DEAD, 1) == (Outcome.DEAD, 2, 0.0)
    assert next_try(s, Outcome.PAUSED, 2)[:2] == (Outcome.PAUSED, 2)
    assert next_try(s, Outcome.DELIVERED, 2) == (Outcome.DELIVERED, 0, 0.0)
    assert next_try(s, Outcome.SKIPPED, 2) == (Outcome.SKIPPED, 0, 0.0)


def test_error_attributes_are_set_at_construction():
    from agent.delivery.engine import ambiguous
    from shared.errors import DatabaseError, SalesforcePermanent, SalesforceRetryable, WooforceError

    plain = WooforceError("x")  # every attribute has a typed default
    assert (plain.status_code, plain.sqlstate, plain.is_data_error, plain.retry_after_s, plain.body) == (
        None, None, False, None, None)
    err = SalesforceRetryable("boom", code="SERVER_UNAVAILABLE", status_code=503, body=[{"errorCode": "X"}],
                              retry_after_s=2.0)
    assert (err.code, err.status_code, err.body, err.retry_after_s) == ("SERVER_UNAVAILABLE", 503,
                                                                        [{"errorCode": "X"}], 2.0)
    assert ambiguous(err) and not ambiguous(SalesforceRetryable("busy", code="REQUEST_LIMIT_EXCEEDED",
                                                                 status_code=429))
    assert SalesforcePermanent("no", status_code=400).status_code == 400
    db = DatabaseError("bad", sqlstate="22021", is_data_error=True)
    assert (db.sqlstate, db.is_data_error) == ("22021", True)
