"""Shared Standard Webhooks vectors (tests/vectors/signing.json), also checked by the PHP plugin tests.

The vectors were produced with the ``standardwebhooks`` library; here both that library and
``shared.signing`` must agree with every expected signature, and reject a tampered body.
"""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from shared import signing

VECTORS = json.loads((Path(__file__).resolve().parents[1] / "vectors" / "signing.json").read_text(encoding="utf-8"))["cases"]
IDS = [case["name"] for case in VECTORS]


def _headers(case: dict, signature: str | None = None) -> dict[str, str]:
    return {
        "webhook-id": case["msg_id"],
        "webhook-timestamp": str(case["timestamp"]),
        "webhook-signature": signature or case["signature"],
    }


def test_vectors_cover_the_tricky_bodies():
    bodies = [case["body"] for case in VECTORS]
    assert len(VECTORS) >= 5
    assert any("\\/" in b for b in bodies), "a body with an escaped slash"
    assert any("\\u00fc" in b for b in bodies), "a body with \\uXXXX escapes"
    assert any(any(ord(ch) > 0xFFFF for ch in b) for b in bodies), "a body with raw 4-byte UTF-8"
    assert len({case["signature"] for case in VECTORS}) == len(VECTORS)


@pytest.mark.parametrize("case", VECTORS, ids=IDS)
def test_shared_signing_matches_vector(case):
    body = case["body"].encode("utf-8")
    assert signing.sign(case["secret"], case["msg_id"], case["timestamp"], body) == case["signature"]
    assert signing.sign_headers(case["secret"], case["msg_id"], body, timestamp=case["timestamp"]) == _headers(case)
    assert signing.verify([case["secret"]], _headers(case), body, now=case["timestamp"]) == case["msg_id"]
    with pytest.raises(signing.SignatureError):
        signing.verify([case["secret"]], _headers(case), body + b" ", now=case["timestamp"])


@pytest.mark.parametrize("case", VECTORS, ids=IDS)
def test_standardwebhooks_library_matches_vector(case):
    hook = Webhook(case["secret"])
    when = dt.datetime.fromtimestamp(case["timestamp"], tz=dt.UTC)
    assert hook.sign(case["msg_id"], when, case["body"]) == case["signature"]
    # verify() checks the timestamp against the clock: sign afresh for now, then verify both libraries agree.
    now = int(dt.datetime.now(tz=dt.UTC).timestamp())
    fresh = signing.sign(case["secret"], case["msg_id"], now, case["body"].encode("utf-8"))
    headers = {"webhook-id": case["msg_id"], "webhook-timestamp": str(now), "webhook-signature": fresh}
    hook.verify(case["body"].encode("utf-8"), headers)
    with pytest.raises(WebhookVerificationError):
        hook.verify((case["body"] + "x").encode("utf-8"), headers)
