"""Fuzz the ingest endpoints: whatever arrives, nothing unsigned is stored and nothing answers 5xx.

Hypothesis generates bodies, headers, signatures, sizes and encodings. Valid signatures are
produced for a share of cases so that the parser and validator behind the signature check are
fuzzed too. ``WOOFORCE_FUZZ_EXAMPLES`` sets the number of cases (default 5,000).
"""
from __future__ import annotations

import json
import os
import time

import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from collector.app import create_app
from shared.signing import sign_headers, wc_signature

pytestmark = pytest.mark.reliability
N = int(os.environ.get("WOOFORCE_FUZZ_EXAMPLES", "5000"))

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-2**70, max_value=2**70) | st.floats(allow_nan=False)
    | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
event_like = st.fixed_dictionaries({}, optional={
    "id": st.text(max_size=40) | st.integers(),
    "type": st.sampled_from(["order.created", "product.updated", "customer.deleted", "order.bogus", ""]) | st.text(max_size=20),
    "occurred_at": st.sampled_from(["2026-11-22T15:35:24Z", "2026-11-22T15:35:24", "nope", ""]) | json_values,
    "resource_id": st.integers(min_value=-5, max_value=2**64) | st.text(max_size=5),
    "data": json_values | st.fixed_dictionaries({"id": st.integers(min_value=-1, max_value=50)}, optional={
        "date_modified_gmt": st.text(max_size=25), "note": st.text(max_size=40)}),
    "extra": json_values,
})
bodies = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=200).map(lambda s: s.encode("utf-8", "surrogatepass")),
    json_values.map(lambda v: json.dumps(v).encode()),
    event_like.map(lambda v: json.dumps(v).encode()),
    st.lists(event_like, max_size=5).map(lambda v: json.dumps({"events": v}).encode()),
    st.text(max_size=50).map(lambda s: json.dumps({"events": [{"id": s}]}, ensure_ascii=False).encode("utf-16")),
)
header_texts = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=60)


@pytest.fixture
async def fuzz_client(db, settings, store):
    """One collector for every generated case; on teardown, check what the whole run stored."""
    app = create_app(settings, db=db)
    async with TestClient(TestServer(app)) as c:
        yield c
    print(f"\nfuzz cases={SEEN['cases']} statuses={SEEN['statuses']}")
    async with db.connection() as conn:
        stored = await conn.fetch("SELECT DISTINCT store_id FROM events")
    assert SEEN["cases"] >= N
    # whatever was stored came signed by the one real store (valid-signature cases are part of the mix)
    assert {r["store_id"] for r in stored} <= {store.id}


SEEN = {"5xx": 0, "2xx_unsigned": 0, "cases": 0, "statuses": {}}


@hsettings(max_examples=N, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(body=bodies, mode=st.sampled_from(["valid", "wrong_secret", "garbage", "none", "stale", "wc", "wc_bad"]),
       msg_id=header_texts, sig=header_texts, ts=header_texts,
       path=st.sampled_from(["events", "woocommerce", "ping", "resync"]),
       store_id=st.sampled_from(["self"] * 12 + ["other", "st_00000000000000000000000000", "x" * 40, "%00"]))
async def test_fuzz_ingest(fuzz_client, store, body, mode, msg_id, sig, ts, path, store_id):
    sid = store.id if store_id == "self" else store_id
    if mode == "valid":
        headers = sign_headers(store.secret, msg_id or "m", body)
    elif mode == "stale":
        headers = sign_headers(store.secret, msg_id or "m", body, timestamp=int(time.time()) - 3600)
    elif mode == "wrong_secret":
        headers = sign_headers("whsec_" + "QUJD" * 8, msg_id or "m", body)
    elif mode == "garbage":
        headers = {"webhook-id": msg_id, "webhook-timestamp": ts, "webhook-signature": sig}
    elif mode == "wc":
        headers = {"X-WC-Webhook-Signature": wc_signature(store.wc_webhook_secret, body),
                   "X-WC-Webhook-Topic": sig or "order.updated"}
    elif mode == "wc_bad":
        headers = {"X-WC-Webhook-Signature": sig, "X-WC-Webhook-Topic": "order.updated"}
    else:
        headers = {}
    resp = await fuzz_client.post(f"/v1/stores/{sid}/{path}", data=body, headers=headers)
    await resp.read()
    SEEN["cases"] += 1
    SEEN["statuses"][resp.status] = SEEN["statuses"].get(resp.status, 0) + 1
    assert resp.status < 500, (resp.status, body[:200], mode, path)
    if mode not in ("valid", "wc") or sid != store.id:
        # unsigned, badly signed or foreign: never accepted (the only 2xx is the unsigned WooCommerce ping)
        assert not (200 <= resp.status < 300) or (path == "woocommerce" and b"webhook_id" in body), (resp.status, mode)

