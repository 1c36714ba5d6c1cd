"""A store that produces traffic: on a schedule, creates/updates/trashes/restores/deletes records as a shop would.

Changes reach the collector through the :class:`~.delivery.Dispatcher` (which records, per change,
whether it was delivered or dropped). ``run_ops(n)`` performs ``n`` operations at once (deterministic tests).
"""
from __future__ import annotations

import asyncio
import random
from dataclasses import asdict, dataclass, field
from typing import Any

from loguru import logger

from .seed import random_person, random_product
from .store import Store, StoreError

# also "order.lines" (replace an order line): not in the default mix, tests ask for it
DEFAULT_MIX = {
    "order.create": 30, "order.update": 25, "order.refund": 2, "order.trash": 2, "order.restore": 2, "order.delete": 1,
    "customer.create": 8, "customer.update": 8, "customer.delete": 1,
    "product.create": 4, "product.update": 10, "product.trash": 1, "product.restore": 1, "product.delete": 1,
}


@dataclass
class TrafficConfig:
    changes_per_s: float = 5.0
    mix: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_MIX))
    seed: int | None = None
    max_ops: int | None = None  # stop after this many operations


class TrafficGenerator:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.config = TrafficConfig()
        self.ops_total = 0
        self.ops_by_kind: dict[str, int] = {}
        self._task: asyncio.Task | None = None
        self._rng = random.Random()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self, config: TrafficConfig | None = None) -> None:
        self.stop_nowait()
        if config is not None:
            self.config = config
        self._rng = random.Random(self.config.seed)
        self._task = asyncio.create_task(self._loop(), name="wc-emulator-traffic")

    def stop_nowait(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    async def wait_done(self, timeout_s: float = 60.0) -> None:
        """Wait until ``max_ops`` operations were performed."""
        if self._task is not None:
            await asyncio.wait_for(asyncio.shield(self._task), timeout_s)

    def status(self) -> dict[str, Any]:
        return {"running": self.running, "ops_total": self.ops_total, "ops_by_kind": dict(self.ops_by_kind),
                "config": asdict(self.config)}

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        interval = 1.0 / max(self.config.changes_per_s, 1e-6)
        next_at = loop.time()
        done = 0
        while self.config.max_ops is None or done < self.config.max_ops:
            self.run_ops(1)
            done += 1
            next_at += interval
            await asyncio.sleep(max(0.0, next_at - loop.time()))

    def run_ops(self, n: int, rng: random.Random | None = None) -> list[str]:
        rng = rng or self._rng
        kinds, weights = zip(*self.config.mix.items())
        done = []
        for _ in range(n):
            kind = rng.choices(kinds, weights)[0]
            try:
                kind = self._do(kind, rng)
            except StoreError as exc:
                logger.bind(action="wc_emulator.traffic").debug("operation refused", kind=kind, code=exc.code)
                continue
            self.ops_total += 1
            self.ops_by_kind[kind] = self.ops_by_kind.get(kind, 0) + 1
            done.append(kind)
        return done

    # ------------------------------------------------------------ operations

    def _pick(self, rng: random.Random, ids: list[int]) -> int | None:
        return ids[rng.randrange(len(ids))] if ids else None

    def _sample(self, rng: random.Random, coll: dict[int, Any], pred: Any, tries: int = 40) -> list[int]:
        """Up to one matching id found by random probing (keeps operations O(1)-ish on 50k-order stores)."""
        keys = list(coll)
        for _ in range(min(tries, len(keys)) if keys else 0):
            key = keys[rng.randrange(len(keys))]
            if pred(coll[key]):
                return [key]
        return []

    def _do(self, kind: str, rng: random.Random) -> str:
        s = self.store
        live_orders = self._sample(rng, s.orders, lambda r: r.status != "trash") if kind.startswith("order.") else []
        if kind == "order.create" or (kind.startswith("order.") and kind != "order.restore" and not live_orders):
            return self._create_order(rng)
        if kind == "order.update":
            oid = self._pick(rng, live_orders)
            status = s.orders[oid].status
            nxt = {"pending": "processing", "processing": "completed", "on-hold": "processing"}.get(status)
            data = {"status": nxt} if nxt and rng.random() < 0.7 else {"customer_note": f"Note {rng.randint(1, 10**6)}"}
            s.update_order(oid, data)
            return kind
        if kind == "order.lines":  # the shop edits an order: replaces one of its lines with another product
            oid = self._pick(rng, live_orders)
            rec = s.orders[oid]
            products = [i for i, r in s.products.items() if r.status == "publish" and r.doc["type"] == "simple"
                        and r.doc["price"] != ""]
            lines = [{"product_id": self._pick(rng, products), "quantity": rng.randint(1, 2)}] if products else []
            if lines and rec.doc["line_items"] and not rec.doc["refunds"]:
                lines.append({"id": rng.choice(rec.doc["line_items"])["id"], "quantity": 0})
            if lines:
                s.update_order(oid, {"line_items": lines})
            return kind
        if kind == "order.refund":
            candidates = self._sample(rng, s.orders, lambda r: r.status in ("processing", "completed")
                                      and not r.doc["refunds"] and float(r.doc["total"]) > 1, tries=10)
            oid = self._pick(rng, candidates)
            if oid is None:
                return self._create_order(rng)
            s.create_refund(oid, {"amount": "1.00", "reason": "Partial refund"})
            return kind
        if kind == "order.trash":
            s.trash_order(self._pick(rng, live_orders))
            return kind
        if kind == "order.restore":
            trashed = self._sample(rng, s.orders, lambda r: r.status == "trash", tries=200)
            if not trashed:
                return self._create_order(rng)
            s.restore_order(self._pick(rng, trashed), via="admin")
            return kind
        if kind == "order.delete":
            s.delete_order(self._pick(rng, live_orders))
            return kind
        customers = [i for i, r in s.customers.items() if r.doc["role"] == "customer"] if kind.startswith("customer.") else []
        if kind == "customer.create" or (kind.startswith("customer.") and not customers):
            s.create_customer(random_person(rng, s._user_seq + 1))
            return "customer.create"
        if kind == "customer.update":
            cid = self._pick(rng, customers)
            s.update_customer(cid, {"billing": {"phone": f"+1 555-{rng.randint(100, 999)}-{rng.randint(1000, 9999)}"}})
            return kind
        if kind == "customer.delete":
            s.delete_customer(self._pick(rng, customers))
            return kind
        products = [i for i, r in s.products.items() if r.status != "trash"]
        if kind == "product.create" or (kind.startswith("product.") and kind != "product.restore" and not products):
            s.create_product(random_product(rng, s._post_seq + 1))
            return "product.create"
        if kind == "product.update":
            pid = self._pick(rng, products)
            rec = s.products[pid]
            if rec.doc["type"] == "variable" or not rec.doc["manage_stock"]:
                s.update_product(pid, {"short_description": f"<p>Updated {rng.randint(1, 10**6)}</p>\n"})
            else:
                s.update_product(pid, {"stock_quantity": rng.randint(0, 500)})
            return kind
        if kind == "product.trash":
            s.trash_product(self._pick(rng, products))
            return kind
        if kind == "product.restore":
            trashed = [i for i, r in s.products.items() if r.status == "trash"]
            if not trashed:
                s.create_product(random_product(rng, s._post_seq + 1))
                return "product.create"
            s.restore_product(self._pick(rng, trashed), via="admin")
            return kind
        if kind == "product.delete":
            s.delete_product(self._pick(rng, products))
            return kind
        raise ValueError(f"unknown traffic operation {kind!r}")

    def _create_order(self, rng: random.Random) -> str:
        s = self.store
        products = [i for i, r in s.products.items() if r.status == "publish" and r.doc["type"] == "simple"
                    and r.doc["price"] != ""]
        if not products:
            products = [s.create_product(random_product(rng, s._post_seq + 1)).id]
        customers = [i for i, r in s.customers.items() if r.doc["role"] == "customer"]
        cid = self._pick(rng, customers) if rng.random() < 0.8 else None
        person = s.customers[cid].doc if cid else random_person(rng, rng.randint(1, 10**6))
        items = [{"product_id": self._pick(rng, products), "quantity": rng.randint(1, 3)}]
        paid = rng.random() < 0.6
        s.create_order({"customer_id": cid or 0, "billing": person["billing"], "shipping": person["shipping"],
                        "payment_method": "bacs", "payment_method_title": "Direct bank transfer",
                        "line_items": items, "set_paid": paid})
        return "order.create"
