"""Sends store changes to a collector, as native WooCommerce webhooks or in the plugin's signed format.

Each :class:`~.store.Change` becomes one :class:`Delivery` record; a configurable share is *dropped*
(never sent) so tests can check that a reconciler converges anyway. Deliveries are sent in order by one
worker; 5xx, 429 and connection errors are retried a few times (honouring ``Retry-After``). Native mode: each topic
goes to its webhook (:mod:`.webhooks`, one per topic, ``GET /webhooks``) while that webhook is active; repeated
failures disable it as WooCommerce does, and its deliveries are then ``disabled`` (not sent).
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import random
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import aiohttp
from loguru import logger

from shared.ids import new_id
from shared.signing import sign_headers, wc_signature

from .clock import Clock
from .phpjson import php_json_bytes
from .store import Change
from .webhooks import Webhook, Webhooks

USER_AGENT = "WooCommerce/10.0.2 Hookshot (WordPress/6.8.8)"
# webhook ids per topic, as on the captured store
WEBHOOK_IDS = {"order.created": 3, "order.updated": 4, "order.deleted": 5, "order.restored": 6, "product.created": 7,
               "product.updated": 8, "product.deleted": 9, "product.restored": 10, "customer.created": 11,
               "customer.updated": 12, "customer.deleted": 13, "coupon.created": 14}


@dataclass
class DeliveryTarget:
    url: str  # collector base URL, e.g. http://127.0.0.1:8000
    store_id: str
    mode: str = "native"  # native | plugin
    wc_webhook_secret: str = ""
    store_secret: str = ""  # whsec_... (plugin mode)
    drop_share: float = 0.0
    delay_ms: int = 0
    batch_max: int = 1  # plugin mode: >1 sends {"events": [...]}
    max_retries: int = 3
    retry_backoff_ms: int = 100
    retry_after_cap_s: float = 2.0
    timeout_s: float = 10.0
    drop_seed: int | None = None
    topics: list[str] | None = None  # native: the store's webhooks, one per topic (None: every WEBHOOK_IDS topic)

    def endpoint(self) -> str:
        suffix = "woocommerce" if self.mode == "native" else "events"
        return f"{self.url.rstrip('/')}/v1/stores/{self.store_id}/{suffix}"

    def public(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("wc_webhook_secret", "store_secret"):
            d[k] = "***" if d[k] else ""
        return d


@dataclass
class Delivery:
    seq: int
    resource: str
    event: str
    resource_id: int
    occurred_at: int
    topics: list[str]
    event_id: str
    # pending | delivered | dropped | failed | skipped (nothing to send) | disabled (no active webhook for its topics)
    status: str = "pending"
    attempts: int = 0
    http_status: int | None = None
    payload: dict[str, Any] = field(default_factory=dict, repr=False)

    def public(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("payload")
        return d


def rfc3339(ts: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


class Dispatcher:
    def __init__(self, base_url: str = "https://shop.example", clock: Clock | None = None) -> None:
        self.base_url = base_url
        self.webhooks = Webhooks(clock or Clock())
        self.target: DeliveryTarget | None = None
        self.records: list[Delivery] = []
        self._queue: asyncio.Queue[Delivery] = asyncio.Queue()  # changes made before start() wait here
        self._worker: asyncio.Task | None = None
        self._session: aiohttp.ClientSession | None = None
        self._rng = random.Random()

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None))
        self._worker = asyncio.create_task(self._run(), name="wc-emulator-delivery")

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            try:
                await self._worker
            except asyncio.CancelledError:
                pass
            self._worker = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    def configure(self, target: DeliveryTarget | None) -> None:
        self.target = target
        if target is not None:
            self._rng = random.Random(target.drop_seed)
        if target is not None and target.mode == "native":
            self.webhooks.replace(WEBHOOK_IDS, target.endpoint(), target.wc_webhook_secret, target.topics)
        else:
            self.webhooks.clear()

    def set_drop_share(self, share: float) -> None:
        if self.target is not None:
            self.target.drop_share = max(0.0, min(1.0, float(share)))

    async def wait_idle(self, timeout_s: float = 30.0) -> None:
        """Return once every queued delivery has been sent (or given up)."""
        await asyncio.wait_for(self._queue.join(), timeout_s)

    # ------------------------------------------------------------ the store listener

    def on_change(self, change: Change) -> None:
        target = self.target
        if target is None:
            return
        rec = Delivery(change.seq, change.resource, change.event, change.resource_id, change.occurred_at,
                       list(change.topics), new_id("event"), payload=change.payload)
        self.records.append(rec)
        if target.mode == "native" and not change.topics:
            rec.status = "skipped"
            return
        if target.mode == "native" and not any(self.webhooks.for_topic(t) for t in change.topics):
            rec.status = "disabled"  # WooCommerce queues nothing for a topic without an active webhook
            return
        if target.drop_share and self._rng.random() < target.drop_share:
            rec.status = "dropped"
            return
        self._queue.put_nowait(rec)

    def summary(self) -> dict[str, int]:
        out = {"changes": len(self.records), "pending": 0, "delivered": 0, "dropped": 0, "failed": 0, "skipped": 0,
               "disabled": 0}
        for r in self.records:
            out[r.status] += 1
        return out

    # ------------------------------------------------------------ sending

    async def _run(self) -> None:
        while True:
            first = await self._queue.get()
            batch = [first]
            target = self.target
            if target is not None and target.mode == "plugin":
                while len(batch) < target.batch_max and not self._queue.empty():
                    batch.append(self._queue.get_nowait())
            try:
                if target is None:
                    for r in batch:
                        r.status = "failed"
                else:
                    if target.delay_ms:
                        await asyncio.sleep(target.delay_ms / 1000)
                    await self._send(target, batch)
            except Exception:  # noqa: BLE001 - a worker must survive any one delivery
                logger.bind(action="wc_emulator.deliver").exception("delivery crashed")
                for r in batch:
                    r.status = "failed"
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _send(self, target: DeliveryTarget, batch: list[Delivery]) -> None:
        if target.mode == "native":
            for rec in batch:
                ok, sent = True, False
                for topic in rec.topics:
                    wh = self.webhooks.for_topic(topic)
                    if wh is None:  # disabled (or paused) meanwhile
                        continue
                    body = php_json_bytes(rec.payload)
                    done = await self._post(target, rec, body, self._native_headers(target, rec, topic, body, wh),
                                            url=wh.delivery_url)
                    self.webhooks.delivered(wh, done)
                    ok, sent = ok and done, True
                rec.status = ("delivered" if ok else "failed") if sent else "disabled"
            return
        events = [{"id": r.event_id, "type": f"{r.resource}.{r.event}", "occurred_at": rfc3339(r.occurred_at),
                   "resource_id": r.resource_id, "data": r.payload} for r in batch]
        single = target.batch_max <= 1 and len(events) == 1
        msg_id = str(events[0]["id"]) if single else new_id("event")
        body = json.dumps(events[0] if single else {"events": events}, separators=(",", ":"), ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json", "User-Agent": "Wooforce-Plugin-Emulator/1.0",
                   **sign_headers(target.store_secret, msg_id, body)}
        ok = await self._post(target, batch[0], body, headers, extra=batch[1:])
        for r in batch:
            r.status = "delivered" if ok else "failed"

    def _native_headers(self, target: DeliveryTarget, rec: Delivery, topic: str, body: bytes,
                        wh: Webhook | None = None) -> dict[str, str]:
        resource, event = topic.split(".")
        webhook_id = wh.id if wh is not None else WEBHOOK_IDS.get(topic, 0)
        delivery_id = hashlib.md5(f"{webhook_id}:{int(time.time())}:{target.store_id}".encode()).hexdigest()
        return {"User-Agent": USER_AGENT, "Content-Type": "application/json",
                "X-WC-Webhook-Source": f"{self.base_url}/", "X-WC-Webhook-Topic": topic,
                "X-WC-Webhook-Resource": resource, "X-WC-Webhook-Event": event,
                "X-WC-Webhook-Signature": wc_signature(wh.secret if wh else target.wc_webhook_secret, body),
                "X-WC-Webhook-ID": str(webhook_id), "X-WC-Webhook-Delivery-ID": delivery_id}

    async def _post(self, target: DeliveryTarget, rec: Delivery, body: bytes, headers: dict[str, str],
                    extra: list[Delivery] | None = None, url: str | None = None) -> bool:
        assert self._session is not None
        log = logger.bind(action="wc_emulator.deliver")
        for attempt in range(target.max_retries + 1):
            for r in [rec, *(extra or [])]:
                r.attempts += 1
            retry_after = None
            try:
                async with self._session.post(url or target.endpoint(), data=body, headers=headers,
                                              timeout=aiohttp.ClientTimeout(total=target.timeout_s)) as resp:
                    await resp.read()
                    for r in [rec, *(extra or [])]:
                        r.http_status = resp.status
                    if resp.status < 300:
                        return True
                    if resp.status < 500 and resp.status not in (408, 429):
                        log.info("delivery refused", status=resp.status, seq=rec.seq)
                        return False
                    retry_after = resp.headers.get("Retry-After")
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                log.info("delivery error", error=type(exc).__name__, seq=rec.seq)
            if attempt < target.max_retries:
                wait_s = target.retry_backoff_ms / 1000 * (2 ** attempt)
                if retry_after:
                    try:
                        wait_s = min(float(retry_after), target.retry_after_cap_s)
                    except ValueError:
                        pass
                await asyncio.sleep(wait_s)
        return False

    async def ping(self, webhook_id: int = 3) -> int:
        """The creation ping: form-encoded ``webhook_id=N``, no X-WC-Webhook-* headers, unsigned."""
        assert self.target is not None and self._session is not None
        async with self._session.post(self.target.endpoint(), data=f"webhook_id={webhook_id}".encode(),
                                      headers={"User-Agent": USER_AGENT,
                                               "Content-Type": "application/x-www-form-urlencoded"}) as resp:
            await resp.read()
            return resp.status
