"""Standard Webhooks compatibility, proven against the reference `standardwebhooks` library."""
from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
import standardwebhooks

from shared import signing


def test_our_signature_verifies_with_the_reference_library():
    secret = signing.generate_secret()
    body = b'{"id":34,"name":"J\\u00fcrgen","url":"https:\\/\\/shop.example"}'
    headers = signing.sign_headers(secret, "msg_abc", body)
    assert standardwebhooks.Webhook(secret).verify(body, headers)["id"] == 34


def test_reference_signature_verifies_with_ours():
    secret = signing.generate_secret()
    wh = standardwebhooks.Webhook(secret)
    ts = int(time.time())
    sig = wh.sign("msg_x", datetime.fromtimestamp(ts, tz=UTC), '{"a":1}')
    headers = {"webhook-id": "msg_x", "webhook-timestamp": str(ts), "webhook-signature": sig}
    assert signing.verify([secret], headers, b'{"a":1}') == "msg_x"


def test_any_of_several_space_separated_signatures_may_match():
    secret, other = signing.generate_secret(), signing.generate_secret()
    body = b"{}"
    h = signing.sign_headers(secret, "m", body)
    h["webhook-signature"] = " ".join([signing.sign(other, "m", int(h["webhook-timestamp"]), body), "v2,zzz",
                                       h["webhook-signature"]])
    assert signing.verify([secret], h, body) == "m"
    with pytest.raises(signing.SignatureError):
        signing.verify([signing.generate_secret()], h, body)


def test_any_of_several_secrets_may_match():
    old, new = signing.generate_secret(), signing.generate_secret()
    h = signing.sign_headers(old, "m", b"x")
    assert signing.verify([new, old], h, b"x") == "m"


@pytest.mark.parametrize("offset, code", [(-301, "stale_timestamp"), (301, "future_timestamp")])
def test_tolerance_is_five_minutes(offset, code):
    secret = signing.generate_secret()
    now = 1_800_000_000
    h = signing.sign_headers(secret, "m", b"x", timestamp=now + offset)
    with pytest.raises(signing.SignatureError) as exc:
        signing.verify([secret], h, b"x", now=now)
    assert exc.value.code == code
    h = signing.sign_headers(secret, "m", b"x", timestamp=now + offset - (1 if offset > 0 else -1))
    assert signing.verify([secret], h, b"x", now=now) == "m"


@pytest.mark.parametrize("headers, code", [
    ({}, "missing_signature"),
    ({"webhook-id": "m", "webhook-timestamp": "soon", "webhook-signature": "v1,AA=="}, "bad_timestamp"),
    ({"webhook-id": "m", "webhook-timestamp": "{now}", "webhook-signature": "v1,%%%"}, "bad_signature"),
    ({"webhook-id": "m", "webhook-timestamp": "{now}", "webhook-signature": "v0,AAAA"}, "bad_signature"),
])
def test_malformed_headers(headers, code):
    headers = {k: v.replace("{now}", str(int(time.time()))) for k, v in headers.items()}
    with pytest.raises(signing.SignatureError) as exc:
        signing.verify([signing.generate_secret()], headers, b"x")
    assert exc.value.code == code


def test_woocommerce_signature_matches_captured_deliveries():
    from tests import fixtures

    index = fixtures.load("woocommerce/webhooks/index.json")
    checked = 0
    for meta in index["deliveries"]:
        if meta["topic"] == "ping":
            continue
        d = fixtures.load(f"woocommerce/webhooks/{meta['file']}")
        body = d["raw_body"].encode()
        assert signing.wc_signature(index["secret"], body) == d["headers"]["X-WC-Webhook-Signature"]
        signing.verify_wc([index["secret"]], d["headers"]["X-WC-Webhook-Signature"], body)
        checked += 1
    assert checked == index["signature_summary"]["checked"] == 56
