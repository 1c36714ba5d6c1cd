"""Console pieces without I/O: filters and cursors, diffs, PII masking/erasure, the OpenAPI document."""
from __future__ import annotations

from datetime import UTC, datetime
from importlib import resources

import pytest

from collector.console.service import InvalidInput, OutboxFilter, decode_cursor, diff, encode_cursor
from shared import pii


def test_filter_parses_search_kinds_and_never_echoes_an_email_into_descriptions():
    assert OutboxFilter.parse({"q": "#1234"}).resource_id == 1234
    assert OutboxFilter.parse({"q": "0015g00000AbCdEAAX"}).sf_id == "0015g00000AbCdEAAX"
    f = OutboxFilter.parse({"q": " Jane@Example.com ", "status": "dead", "since": "2026-11-01"})
    assert f.email_sha256 == pii.email_sha256("jane@example.com")
    assert f.since == datetime(2026, 11, 1, tzinfo=UTC)
    assert "jane" not in str(f.describe()).lower()
    for bad in ({"status": "x"}, {"resource": "coupon"}, {"store": "nope"}, {"since": "yesterday"},
                {"q": "a b"}, {"destination": "mars"}):
        with pytest.raises(InvalidInput):
            OutboxFilter.parse(bad)


def test_cursor_round_trip_and_garbage():
    row = {"updated_at": datetime(2026, 11, 22, 1, 2, 3, 456789, tzinfo=UTC), "store_id": "st_x",
           "resource": "order", "resource_id": 42}
    assert decode_cursor(encode_cursor(row)) == (row["updated_at"], "st_x", "order", 42)
    with pytest.raises(InvalidInput):
        decode_cursor("not-a-cursor")


def test_diff_is_field_by_field():
    old = {"status": "pending", "billing": {"city": "A"}, "line_items": [{"qty": 1}]}
    new = {"status": "processing", "billing": {"city": "A"}, "line_items": [{"qty": 2}, {"qty": 1}]}
    assert diff(old, new) == [{"path": "line_items[0].qty", "old": 1, "new": 2},
                              {"path": "line_items[1].qty", "old": None, "new": 1},
                              {"path": "status", "old": "pending", "new": "processing"}]


def test_mask_and_erase():
    doc = {"id": 1, "total": "9.99", "billing": {"email": "a@b.co", "first_name": "Ann", "country": "US"},
           "meta_data": [{"key": "gift_note", "value": "for Ann"}], "BillingEmail__c": "a@b.co"}
    masked = pii.mask(doc)
    assert masked["billing"] == {"email": "•••", "first_name": "•••", "country": "US"} and masked["total"] == "9.99"
    erased = pii.erase(doc, pii.pii_values(doc))
    assert "a@b.co" not in str(erased) and "Ann" not in str(erased)
    assert erased["meta_data"] == [{"key": "gift_note", "value": "[erased]"}] and erased["id"] == 1
    assert pii.mask_text("rejected: a.b+c@shop.example.org is invalid") == "rejected: ••• is invalid"
    assert pii.email_hash_of("order", {"billing": {"email": "X@Y.io"}}) == pii.email_sha256("x@y.io")
    assert pii.email_hash_of("product", {"email": "x@y.io"}) is None


def test_openapi_documents_every_api_route():
    import re

    from collector.api.handlers import create_api_app

    text = resources.files("collector").joinpath("openapi.yaml").read_text()
    assert text.startswith("openapi: 3.")
    paths: dict[str, set[str]] = {}
    current = None
    for line in text.split("paths:", 1)[1].splitlines():  # two-space path keys, four-space method keys
        if m := re.match(r"^  (/\S*):\s*$", line):
            current = paths.setdefault(m.group(1), set())
        elif (m := re.match(r"^    (get|post|put|patch|delete):", line)) and current is not None:
            current.add(m.group(1))
    for route in create_api_app().router.routes():
        if route.method == "HEAD":  # added by aiohttp for every GET
            continue
        path = route.resource.canonical
        assert route.method.lower() in paths.get(path, set()), (route.method, path)
