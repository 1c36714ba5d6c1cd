"""What the real store cases share: registering the store with Wooforce, its native webhooks, waiting for the
store's queue, the delivery loop, store data builders."""
from __future__ import annotations

import asyncio
import time
from typing import Any

from agent.delivery.engine import Deliverer
from shared.stores import StoreManager
from tests.store.realstore import RealStore

WEBHOOK_SECRET = "real-store-hook-secret"
TOPICS = ("order.created", "order.updated", "order.deleted", "order.restored",
          "product.created", "product.updated", "product.deleted", "product.restored",
          "customer.created", "customer.updated", "customer.deleted")


async def rest(store: RealStore, method: str, path: str, **kw: Any) -> Any:
    """The store's REST API off the event loop (the collector serving the store's webhooks runs on it)."""
    return await asyncio.to_thread(store.rest, method, path, **kw)


async def register(stores: StoreManager, store: RealStore, sf_emu: Any, name: str = "Real store") -> str:
    from tests.support.agent_fixtures import sf_connection

    row, _ = await stores.add(name, wc_url=store.url, wc_credentials={
        "consumer_key": store.consumer_key, "consumer_secret": store.consumer_secret, "auth": "oauth1",
        "webhook_secret": WEBHOOK_SECRET})
    await stores.set_salesforce(row["id"], sf_connection(sf_emu))
    return str(row["id"])


async def create_webhooks(store: RealStore, delivery_url: str) -> list[int]:
    """One active native webhook per synced topic (WooCommerce pings the URL before it saves each)."""
    ids = []
    for topic in TOPICS:
        hook = await rest(store, "POST", "webhooks", json={"name": f"Wooforce {topic}", "topic": topic,
                                                            "delivery_url": delivery_url, "secret": WEBHOOK_SECRET,
                                                            "status": "active"})
        assert hook["status"] == "active", hook
        ids.append(hook["id"])
    return ids


async def delete_webhooks(store: RealStore, ids: list[int]) -> None:
    for hid in ids:
        await rest(store, "DELETE", f"webhooks/{hid}", params={"force": True})


def pending_deliveries(store: RealStore) -> int:
    return int(store.sql("SELECT COUNT(*) FROM wp_actionscheduler_actions WHERE hook = "
                         "'woocommerce_deliver_webhook_async' AND status IN ('pending', 'in-progress')").strip())


async def settle(store: RealStore, *, timeout_s: float = 120) -> None:
    """Run the store's cron until no native webhook delivery is queued (the runner keeps its own pace too)."""
    deadline = time.monotonic() + timeout_s
    while True:
        await asyncio.to_thread(store.run_cron)
        if await asyncio.to_thread(pending_deliveries, store) == 0:
            return
        if time.monotonic() > deadline:
            raise TimeoutError("native webhook deliveries still queued")


async def next_second() -> None:
    """Wait for the next whole second. A trash webhook's body is only ``{"id": N}``: its outbox version is the time
    it was received, while the restore after it gets WooCommerce's ``date_modified_gmt``, truncated to the second;
    a restore within the same second would rank below the trash (the reconciler repairs that: see the report)."""
    until = int(time.time()) + 1
    while time.time() < until:
        await asyncio.sleep(until - time.time())


def webhook_failures(store: RealStore) -> dict[str, int]:
    rows = store.sql("SELECT topic, status, failure_count FROM wp_wc_webhooks").splitlines()
    return {f"{t} ({s})": int(n) for t, s, n in (r.split("\t") for r in rows) if int(n) or s != "active"}


async def drain(deliverer: Deliverer) -> None:
    for _ in range(10):
        if (await deliverer.drain()).claimed == 0:
            return
    raise AssertionError("the outbox did not drain in 10 rounds")


def address(n: int, email: str | None = None) -> dict[str, str]:
    out = {"first_name": f"Real{n}", "last_name": f"Buyer{n}", "address_1": f"{n} Market St", "city": "Springfield",
           "state": "CA", "postcode": "90210", "country": "US", "phone": f"555-01{n:02d}"}
    if email:
        out["email"] = email
    return out


async def reconciler_findings(db: Any, store_id: str) -> list[str]:
    """What each reconciler event changed against the event before it (for assertion messages)."""
    import orjson

    async with db.connection() as conn:
        rows = await conn.fetch("SELECT resource, resource_id, source, action, version, payload::text AS p "
                                "FROM events WHERE store_id = $1 ORDER BY resource, resource_id, id", store_id)
    out, last = [], {}
    for r in rows:
        key = (r["resource"], r["resource_id"])
        if r["source"] == "reconciler":
            prev = last.get(key)
            if prev is None:
                out.append(f"{key}: new, {r['action']}")
            else:
                a, b = orjson.loads(prev["p"]), orjson.loads(r["p"])
                diff = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k) and k != "_links")
                out.append(f"{key}: {prev['source']} {prev['action']} {prev['version']} -> {r['action']} "
                           f"{r['version']}: " + ", ".join(f"{k}: {str(a.get(k))[:80]} -> {str(b.get(k))[:80]}"
                                                           for k in diff))
        last[key] = r
    return out


class Shopper:
    """A shopper in WooCommerce's block checkout, through the Store API (``/wp-json/wc/store/v1``): the cart, then
    ``GET /checkout``, which creates the ``checkout-draft`` order, then ``POST /checkout``, which places it."""

    def __init__(self, store: RealStore) -> None:
        self.store = store
        self.http = requests_session()
        self.headers: dict[str, str] = {}

    def _call(self, method: str, path: str, json: Any = None) -> Any:
        r = self.http.request(method, f"{self.store.url}/wp-json/wc/store/v1/{path}", json=json,
                              headers=self.headers, timeout=60)
        for name in ("Cart-Token", "Nonce"):
            if r.headers.get(name):
                self.headers[name] = r.headers[name]
        assert r.status_code in (200, 201), f"{method} {path}: {r.status_code} {r.text[:1000]}"
        return r.json()

    def add(self, product_id: int, quantity: int = 1) -> Any:
        if not self.headers:
            self._call("GET", "cart")
        return self._call("POST", "cart/add-item", {"id": product_id, "quantity": quantity})

    def open_checkout(self) -> int:
        """The block checkout page's first request: WooCommerce creates the draft order. Its id."""
        return int(self._call("GET", "checkout")["order_id"])

    def place(self, email: str, n: int) -> dict[str, Any]:
        addr = address(n, email)
        ship = {k: v for k, v in addr.items() if k != "email"}
        return dict(self._call("POST", "checkout", {"billing_address": addr, "shipping_address": ship,
                                                    "payment_method": "cod"}))


def requests_session() -> Any:
    from tests.support.procs import http

    return http()
