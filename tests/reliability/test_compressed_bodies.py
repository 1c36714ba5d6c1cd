"""Compressed bodies cannot inflate the collector (issue 15, point 6): 20 requests of ~300 KB gzip that inflate
to 256 MiB each, against a real collector process. Each gets a JSON 415; its memory stays flat."""
from __future__ import annotations

import concurrent.futures
import zlib

import psutil
import pytest

from shared.signing import sign_headers
from tests.support.procs import collector_process, http

pytestmark = pytest.mark.reliability

REQUESTS = 20


def _bomb(inflated_mib: int = 256) -> bytes:
    """A gzip body of ~260 KB that inflates to ``inflated_mib`` MiB of zeros."""
    z = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: gzip framing
    chunk = b"\0" * (1 << 20)
    return b"".join(z.compress(chunk) for _ in range(inflated_mib)) + z.flush()


def test_compressed_bodies_are_refused_and_memory_stays_flat(proc_env, proc_store):
    store_id, secret = proc_store
    bomb = _bomb()
    assert 200_000 < len(bomb) < 400_000
    with collector_process(proc_env) as (proc, url):
        rss = psutil.Process(proc.pid)
        before = rss.memory_info().rss

        def send(i: int) -> tuple[int, str, dict]:
            headers = {**sign_headers(secret, f"msg_bomb_{i}", bomb), "Content-Type": "application/json",
                       "Content-Encoding": "gzip"}
            path = "events" if i % 2 else "woocommerce"
            with http() as s:
                r = s.post(f"{url}/v1/stores/{store_id}/{path}", data=bomb, headers=headers, timeout=30)
                return r.status_code, r.headers.get("Content-Type", ""), r.json()

        with concurrent.futures.ThreadPoolExecutor(REQUESTS) as pool:
            answers = list(pool.map(send, range(REQUESTS)))
        growth_mib = (rss.memory_info().rss - before) / 2**20
    for status, ctype, body in answers:
        assert status == 415 and ctype.startswith("application/json")
        assert body["error"]["code"] == "unsupported_content_encoding"
    print(f"collector RSS growth over {REQUESTS} compressed requests: {growth_mib:.1f} MiB")
    assert growth_mib < 20, f"the collector grew by {growth_mib:.1f} MiB"
