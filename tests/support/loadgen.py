"""A sender that behaves like the plugin: signed batches, retried until acknowledged (5xx, 429, connection errors)."""
from __future__ import annotations

import asyncio
import json
import random
from dataclasses import dataclass, field

import aiohttp

from shared.signing import sign_headers


@dataclass
class SendStats:
    acked: set[str] = field(default_factory=set)
    statuses: dict[int, int] = field(default_factory=dict)
    connection_errors: int = 0
    retry_after_seen: int = 0
    in_flight: dict[str, int] = field(default_factory=dict)  # base URL -> requests sent and not yet answered


def order_events(prefix: str, n: int, *, rid_base: int = 0) -> list[dict]:
    return [{"id": f"{prefix}-{i}", "type": "order.updated", "occurred_at": "2026-11-22T15:35:24Z",
             "resource_id": rid_base + i + 1,
             "data": {"id": rid_base + i + 1, "status": "processing", "date_modified_gmt": "2026-11-22T15:35:24"}}
            for i in range(n)]


async def send_all(url_of, store_id: str, secret: str, events: list[dict], *, batch: int = 10, concurrency: int = 16,
                   deadline_s: float = 120, stats: SendStats | None = None) -> SendStats:
    """Send every event until acknowledged; ``url_of()`` gives the current base URL."""
    stats = stats or SendStats()
    batches = [events[i:i + batch] for i in range(0, len(events), batch)]
    queue: asyncio.Queue = asyncio.Queue()
    for b in batches:
        queue.put_nowait(b)
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline_s

    async def worker(session: aiohttp.ClientSession) -> None:
        while loop.time() < end:
            try:
                b = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            body = json.dumps({"events": b}).encode()
            delay = 0.05
            while loop.time() < end:
                url = url_of()
                stats.in_flight[url] = stats.in_flight.get(url, 0) + 1
                try:
                    async with session.post(f"{url}/v1/stores/{store_id}/events", data=body,
                                            headers=sign_headers(secret, f"msg-{b[0]['id']}", body)) as r:
                        stats.statuses[r.status] = stats.statuses.get(r.status, 0) + 1
                        if r.status in (200, 202):
                            results = (await r.json())["results"]
                            stats.acked.update(x["id"] for x in results)
                            break
                        if "Retry-After" in r.headers:
                            stats.retry_after_seen += 1
                        if r.status < 500 and r.status != 429:
                            raise AssertionError(f"unexpected {r.status}: {await r.text()}")
                except (TimeoutError, aiohttp.ClientError, ConnectionError):
                    stats.connection_errors += 1
                finally:
                    stats.in_flight[url] -= 1
                await asyncio.sleep(delay * (1 + random.random()))
                delay = min(delay * 2, 1.0)

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return stats
