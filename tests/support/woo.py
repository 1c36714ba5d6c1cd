"""WooCommerce-shaped documents (REST v3) and a feeder putting them into the outbox as ingest would."""
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from shared.models import NewEvent, parse_wc_datetime
from shared.outbox import OutboxManager

BASE = datetime(2026, 11, 22, 12, 0, 0, tzinfo=UTC)


def email_hash_key(email: str) -> str:
    import hashlib

    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


def ts(minutes: float = 0) -> str:
    return (BASE + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S")


def address(n: int, *, email: bool = True) -> dict:
    a = {"first_name": f"First{n}", "last_name": f"Last{n}", "company": "", "address_1": f"{n} Main St",
         "address_2": "", "city": "Springfield", "state": "IL", "postcode": "62701", "country": "US",
         "phone": f"555-01{n % 100:02d}"}
    if email:
        a["email"] = f"buyer{n}@example.com"
    return a


def customer(cid: int, *, modified: float = 0, **kw) -> dict:
    return {"id": cid, "email": f"customer{cid}@example.com", "first_name": f"First{cid}", "last_name": f"Last{cid}",
            "role": "customer", "username": f"user{cid}", "billing": address(cid), "shipping": address(cid, email=False),
            "date_created_gmt": ts(0), "date_modified_gmt": ts(modified), **kw}


def product(pid: int, *, price: str = "10.00", modified: float = 0, **kw) -> dict:
    return {"id": pid, "name": f"Product {pid}", "type": "simple", "status": "publish", "sku": f"SKU-{pid}",
            "price": price, "regular_price": price, "stock_quantity": 100, "short_description": "",
            "date_created_gmt": ts(0), "date_modified_gmt": ts(modified), "parent_id": 0, **kw}


def order(oid: int, *, customer_id: int = 0, products: tuple[int, ...] = (1,), status: str = "processing",
          modified: float = 0, email_n: int | None = None, **kw) -> dict:
    lines = [{"id": oid * 10 + i, "name": f"Product {pid}", "product_id": pid, "variation_id": 0, "quantity": 2,
              "subtotal": "20.00", "subtotal_tax": "0.00", "total": "20.00", "total_tax": "1.00",
              "sku": f"SKU-{pid}", "price": 10.0} for i, pid in enumerate(products, 1)]
    n = customer_id or email_n or oid
    return {"id": oid, "number": str(oid), "status": status, "currency": "USD", "customer_id": customer_id,
            "billing": address(n), "shipping": address(n, email=False), "payment_method": "stripe",
            "payment_method_title": "Credit card", "transaction_id": f"ch_{oid}", "date_paid_gmt": ts(1),
            "date_created_gmt": ts(0), "date_modified_gmt": ts(modified), "discount_total": "0.00",
            "shipping_total": "5.00", "total_tax": "3.00", "total": f"{20 * len(lines) + 8:.2f}",
            "shipping_lines": [{"id": 1, "method_id": "flat_rate", "method_title": "Flat rate", "total": "5.00"}],
            "line_items": lines, "customer_note": "", **kw}


class Feeder:
    """Put WooCommerce documents into the outbox exactly as the collector does (events + upsert_outbox)."""

    def __init__(self, db):
        self.manager = OutboxManager(db)
        self.n = 0

    def event(self, store_id: str, resource: str, doc: dict, action: str = "updated",
              event_id: str | None = None) -> NewEvent:
        self.n += 1
        sender = event_id or f"ev-{resource}-{doc['id']}-{self.n}"
        version = parse_wc_datetime(doc.get("date_modified_gmt")) or datetime.now(UTC)
        return NewEvent(store_id=store_id, source="plugin", resource=resource, action=action,
                        resource_id=doc["id"], version=version, payload_json=json.dumps(doc),
                        dedup_key=f"id:{sender}", sender_id=sender, occurred_at=version)

    async def put(self, store_id: str, resource: str, *docs: dict, action: str = "updated") -> None:
        await self.manager.ingest([self.event(store_id, resource, d, action) for d in docs])

    async def put_events(self, events: list[NewEvent]) -> None:
        await self.manager.ingest(events)
