"""The ingest fast path (plain checks) against the pydantic models it stands in for.

Whatever the body, the fast path either declines (None: the models decide, and name the failing fields) or
builds exactly the events the models build. It must never accept what the models reject.
"""
from __future__ import annotations

import json
from datetime import UTC, datetime

import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from shared.models import InvalidEvent, _fast_events, _model_events, event_from_wc_webhook, events_from_body

STORE = "st_0000000000000000000000000a"
FIELDS = ("store_id", "source", "resource", "action", "resource_id", "version", "payload_json", "dedup_key",
          "sender_id", "occurred_at", "email_sha256")
# both paths refuse an entity version after this (the collector passes now + the timestamp tolerance); hypothesis's
# datetimes reach 9999, so generated bodies fall on both sides of it
MAX_VERSION = datetime(2030, 1, 1, tzinfo=UTC)


def _event(n: int = 34, **over) -> dict:
    ev = {"id": f"wp_{n}", "type": "order.updated", "occurred_at": "2026-11-22T15:35:24Z", "resource_id": n,
          "data": {"id": n, "status": "processing", "date_modified_gmt": "2026-11-22T15:35:24",
                   "billing": {"email": "Jane@Example.com"}}}
    ev.update(over)
    return ev


def _same(body, max_events: int = 100) -> list | None:
    """Run both paths on ``body`` (as JSON would deliver it) and check they agree; the fast path's answer."""
    body = orjson.loads(json.dumps(body))
    fast = _fast_events(body, STORE, max_events, "plugin", MAX_VERSION)
    try:
        ref = _model_events(body, STORE, max_events, "plugin", MAX_VERSION)
    except InvalidEvent:
        assert fast is None, "the fast path accepted a body the models reject"
        return None
    if fast is not None:
        assert len(fast) == len(ref)
        for a, b in zip(fast, ref):
            assert {f: getattr(a, f) for f in FIELDS} == {f: getattr(b, f) for f in FIELDS}
    return fast


def test_well_formed_bodies_take_the_fast_path():
    for body in (_event(), {"events": [_event(1), _event(2, type="customer.created", data={"id": 2, "email": "a@b.c"})]},
                 _event(5, type="product.deleted", data={"id": 5}),
                 _event(6, occurred_at="2026-11-22T15:35:24.123456+05:30")):
        assert _same(body) is not None, body


def test_batch_over_the_limit_is_named_by_the_models():
    with pytest.raises(InvalidEvent) as exc:
        events_from_body({"events": [_event(1), _event(2)]}, store_id=STORE, max_events=1)
    assert exc.value.fields[0]["field"] == "events"


@pytest.mark.parametrize("bad", [
    {"id": "has space"}, {"id": "x" * 201}, {"id": ""}, {"id": "a\n"}, {"id": 7}, {"type": "order.bogus"},
    {"occurred_at": "2026-11-22T15:35:24"}, {"occurred_at": "2026-11-22T25:35:24Z"},
    {"occurred_at": "2026-11-22T15:35:24+99:00"}, {"occurred_at": 1763825724}, {"resource_id": 0},
    {"resource_id": True}, {"resource_id": 34.0}, {"resource_id": 2**63}, {"resource_id": "34"},
    {"data": [1]}, {"data": {"id": "34"}}, {"data": {"id": 35}}, {"data": {"id": True}}, {"data": {}},
    {"data": {"id": 34, "date_modified_gmt": "yesterday"}}, {"data": {"id": 34, "date_modified_gmt": 5}},
    {"data": {"id": 34, "note": "nul \u0000 inside"}}, {"extra": 1},
    {"data": {"id": 34, "date_modified_gmt": "9999-12-31T23:59:59"}},
    {"data": {"id": 34, "date_modified_gmt": "2030-01-01T00:00:01"}},
])
def test_bad_events_are_left_to_the_models(bad):
    ev = _event(**bad)
    assert _same(ev) is None
    assert _same({"events": [_event(1, data={"id": 1}), ev]}) is None


def test_event_lacking_a_field_is_left_to_the_models():
    ev = _event()
    del ev["occurred_at"]
    assert _same(ev) is None
    assert _same({"events": []}) is None
    assert _same({"events": [_event()], "more": 1}) is None


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-2**64, max_value=2**64) | st.floats(allow_nan=False,
                                                                                            allow_infinity=False)
    | st.text(max_size=12),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=10,
)
timestamps = st.one_of(
    st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
    st.datetimes().map(lambda d: d.isoformat()),
    st.from_regex(r"\A\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,7})?(Z|[+-]\d\d:\d\d)?\Z"),
    json_values,
)
valid_events = st.builds(
    lambda n, type_, occurred, modified, email: _event(n, type=type_, occurred_at=occurred, data={
        "id": n, "date_modified_gmt": modified, "billing": {"email": email}, "email": email}),
    st.integers(min_value=1, max_value=2**63 - 1),
    st.sampled_from(["order.created", "customer.deleted", "product.restored", "customer.updated"]),
    st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()) | st.from_regex(
        r"\A\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,7})?(Z|[+-]\d\d:\d\d)?\Z"),
    st.none() | st.just("") | st.datetimes().map(lambda d: d.isoformat(timespec="seconds")) | timestamps,
    st.text(max_size=10) | st.emails(),
)
mutations = st.sampled_from(["id", "type", "occurred_at", "resource_id", "data", "extra"])
alternatives = {
    "id": st.text(max_size=12) | st.integers(), "type": st.text(max_size=15), "occurred_at": timestamps,
    "resource_id": st.sampled_from([0, -1, 2**63, 34.0, "34"]) | st.booleans(),
    "data": json_values | st.fixed_dictionaries({"id": st.sampled_from([34.0, "34", True, None, 0])}),
    "extra": json_values,
}


@st.composite
def events(draw):
    """Mostly well-formed events (the fast path's case), a share with one field replaced by anything."""
    ev = draw(valid_events)
    if draw(st.booleans()):
        field = draw(mutations)
        ev[field] = draw(alternatives[field])
    return ev


@settings(max_examples=600, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=st.one_of(events(), st.lists(events(), max_size=3).map(lambda v: {"events": v}), json_values))
@example(body={"id": "wp_1", "type": "order.created", "occurred_at": "2026-11-22T15:35:24Z", "resource_id": 1,
               "data": {"id": 1}})
def test_fast_path_agrees_with_the_models(body):
    _same(body)


@pytest.mark.parametrize("over, field", [
    ({"data": {"id": 34, "date_modified_gmt": "9999-12-31T23:59:59"}}, "body.data.date_modified_gmt"),
    ({"type": "order.deleted", "occurred_at": "9999-12-31T23:59:59Z", "data": {"id": 34}}, "body.occurred_at"),
    ({"occurred_at": "9999-12-31T23:59:59Z", "data": {"id": 34}}, "body.occurred_at"),  # no date_modified_gmt
])
def test_a_far_future_version_is_refused_naming_its_field(over, field):
    for body, where in ((_event(**over), field), ({"events": [_event(1, data={"id": 1}), _event(**over)]},
                                                   field.replace("body", "events[1]"))):
        with pytest.raises(InvalidEvent) as exc:
            events_from_body(body, store_id=STORE, max_events=10, max_version=MAX_VERSION)
        assert exc.value.fields[0]["field"] == where
        assert "future" in exc.value.fields[0]["message"]
    # up to the limit itself, accepted
    ok = _event(data={"id": 34, "date_modified_gmt": "2030-01-01T00:00:00"})
    assert events_from_body(ok, store_id=STORE, max_events=10, max_version=MAX_VERSION)[0].version == MAX_VERSION


def test_a_native_webhook_with_a_far_future_version_is_refused():
    kw = {"store_id": STORE, "delivery_id": "7", "received_at": datetime(2026, 11, 22, tzinfo=UTC),
          "max_version": MAX_VERSION}
    with pytest.raises(InvalidEvent) as exc:
        event_from_wc_webhook("order.updated", {"id": 34, "date_modified_gmt": "9999-12-31T23:59:59"}, **kw)
    assert exc.value.fields[0]["field"] == "body.date_modified_gmt"
    ev = event_from_wc_webhook("order.updated", {"id": 34, "date_modified_gmt": "2029-12-31T23:59:59"}, **kw)
    assert ev is not None and ev.version < MAX_VERSION
