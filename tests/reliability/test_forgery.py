"""Cross-store forgery and replay: 0 accepted.

Store A's secret is used on store B's URL (plugin format and native webhooks), and requests that
were validly signed are replayed after the tolerance window, with and without a re-used body.
"""
from __future__ import annotations

import json
import time

import pytest

from shared.signing import sign_headers, wc_signature
from tests.integration.conftest import count, event

pytestmark = pytest.mark.reliability


async def test_cross_store_forgery_and_replay_are_never_accepted(client, db, store, stores):
    other_row, other_secret = await stores.add("Victim shop", wc_credentials={"webhook_secret": "victim-secret"})
    victim = other_row["id"]
    attempts = accepted = 0
    for i in range(50):
        body = json.dumps({"events": [event(1000 + i, eid=f"forged-{i}")]}).encode()
        # 1. A's secret on B's URL, fresh timestamp
        for path, headers in (
            (f"/v1/stores/{victim}/events", sign_headers(store.secret, f"m{i}", body)),
            (f"/v1/stores/{victim}/ping", sign_headers(store.secret, f"m{i}", body)),
            (f"/v1/stores/{victim}/resync", sign_headers(store.secret, f"m{i}", b"{}")),
            (f"/v1/stores/{victim}/woocommerce", {"X-WC-Webhook-Signature": wc_signature(store.wc_webhook_secret, body),
                                                   "X-WC-Webhook-Topic": "order.updated"}),
            # 2. B's own valid request, replayed 6 minutes later
            (f"/v1/stores/{victim}/events", sign_headers(other_secret, f"m{i}", body, timestamp=int(time.time()) - 360)),
            # 3. a valid signature moved onto another body
            (f"/v1/stores/{victim}/events", sign_headers(other_secret, f"m{i}", body.replace(b"forged", b"swapped"))),
        ):
            r = await client.post(path, data=body if not path.endswith("resync") else b"{}", headers=headers)
            attempts += 1
            accepted += 200 <= r.status < 300
    stored = await count(db, "events")
    print(f"\nforgery/replay attempts={attempts} accepted={accepted} stored={stored}")
    assert accepted == 0 and stored == 0
