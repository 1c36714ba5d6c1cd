"""Salesforce emulator: fault windows that open and close on observed calls (``after`` / ``Faults.sequence``)."""
from __future__ import annotations

import random

import pytest

from emulators.salesforce import Faults

BODY = {"Name": "A"}


def test_sequence_opens_each_window_when_the_previous_one_has_failed_its_calls(sf_emu, sf_api):
    committed, refused, limited = sf_emu.faults.sequence(
        {"kind": "unavailable", "phase": "after", "times": 2}, {"kind": "unavailable", "times": 2},
        {"kind": "request_limit", "times": 1})
    assert [f.id for f in sf_emu.faults.active] == [committed.id]
    assert [f.id for f in sf_emu.faults.waiting] == [refused.id, limited.id]

    def upsert(key: str) -> int:
        return sf_api("PATCH", f"/sobjects/Account/Wooforce_Key__c/{key}", json=BODY).status_code

    assert upsert("a") == 503 and refused.opened_at is None  # window 2 waits for window 1's second call
    assert upsert("b") == 503 and committed.done and refused.opened_at is not None
    assert len(sf_emu.records("Account")) == 2  # phase "after": both writes committed
    assert [upsert("c"), upsert("d")] == [503, 503] and refused.done
    assert len(sf_emu.records("Account")) == 2  # phase "before": neither did
    assert upsert("e") == 403 and limited.done
    assert upsert("f") == 201 and sf_emu.faults.listed() == []
    assert [committed.hits, refused.hits, limited.hits] == [2, 2, 1]
    assert committed.opened_at <= committed.closed_at <= refused.opened_at <= refused.closed_at <= limited.opened_at


def test_after_over_http(sf_emu, sf_http, sf_api):
    ctl = f"{sf_emu.url}/_emulator/faults"
    first = sf_http.post(ctl, json={"kind": "unavailable", "times": 1}, timeout=5).json()
    second = sf_http.post(ctl, json={"kind": "request_limit", "times": 1, "after": first["id"]}, timeout=5).json()
    listed = sf_http.get(ctl, timeout=5).json()
    assert [(f["id"], f["opened_at"] is None) for f in listed] == [(first["id"], False), (second["id"], True)]
    assert sf_http.post(ctl, json={"kind": "unavailable", "after": 10**9}, timeout=5).status_code == 400
    forever = sf_http.post(ctl, json={"kind": "latency", "latency_ms": 1}, timeout=5).json()
    r = sf_http.post(ctl, json={"kind": "unavailable", "after": forever["id"]}, timeout=5)
    assert r.status_code == 400 and "never end" in r.json()["error"]
    sf_http.delete(f"{ctl}/{forever['id']}", timeout=5)
    assert [sf_api("GET", "/limits").status_code for _ in range(3)] == [503, 403, 200]
    assert sf_http.get(ctl, timeout=5).json() == []


def test_remove_ends_a_window_or_passes_its_place_on():
    faults = Faults(random.Random(1))
    a, b, c = faults.sequence({"kind": "unavailable", "times": 5}, {"kind": "timeout", "times": 5},
                              {"kind": "request_limit", "times": 5})
    faults.remove(b.id)  # waiting: c now follows a
    assert b.done and faults.waiting == [c] and c.after == a.id
    faults.remove(a.id)  # armed: removing it ends it, so c arms
    assert a.done and faults.active == [c] and faults.waiting == []
    assert [f.kind for f in faults.pick("GET", "/x", {"request_limit"})] == ["request_limit"] and c.hits == 1
    with pytest.raises(ValueError, match="needs 'times'"):
        faults.sequence({"kind": "unavailable"}, {"kind": "timeout"})
