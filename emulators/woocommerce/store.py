"""The shop's in-memory data, changed as a shop manager (or the REST API) would change it.

Every change bumps ``date_modified`` to the store clock and produces :class:`Change` records
(one per affected resource) that listeners (webhook delivery) receive synchronously, in order.
"""
from __future__ import annotations

import hashlib
import random
import string
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from . import records as R
from .clock import Clock, StoreTime
from .index import SortedIndex
from .money import ZERO, dec, fmt, number, q2, unpadded

TAX_RATE = Decimal("7.25")
TAX_RATE_ID = 1
TAX_LINE = {"rate_code": "US-CA-CA STATE TAX-1", "rate_id": TAX_RATE_ID, "label": "CA State Tax", "compound": False}
PAID_STATUSES = ("processing", "completed", "on-hold")
STOCK_STATUSES = ("processing", "completed", "on-hold")
PAYMENT_TITLES = {"bacs": "Direct bank transfer", "cod": "Cash on delivery", "cheque": "Check payments",
                  "stripe": "Credit Card (Stripe)", "paypal": "PayPal"}


_B62 = string.ascii_letters + string.digits


class StoreError(Exception):
    """A request the shop refuses: maps to a WooCommerce error body."""

    def __init__(self, status: int, code: str, message: str, data: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.data = status, code, message, data


@dataclass(slots=True)
class Change:
    seq: int
    resource: str  # order | product | customer (variations are products)
    event: str  # created | updated | trashed | restored | deleted
    resource_id: int
    occurred_at: int
    topics: list[str]  # native WooCommerce webhook topics fired, in delivery order (may be empty)
    payload: dict[str, Any]  # REST v3 body at the time of the change ({"id": N} for deletes)


@dataclass
class Coupon:
    code: str
    id: int
    discount_type: str = "percent"
    amount: Decimal = Decimal("10")
    used_by: list[str] = field(default_factory=list)


class Store:
    def __init__(self, tz: str = "America/Los_Angeles", clock: Clock | None = None, base_url: str = "https://shop.example"):
        self.clock = clock or Clock()
        self.times = StoreTime(tz)
        self.base_url = base_url
        self.listeners: list[Callable[[Change], None]] = []
        self.rng = random.Random(0)
        # WooCommerce's related_ids: a fresh random pick on every request (its own generator: the traffic's stays
        # reproducible however many reads a test makes)
        self.related_rng = random.Random(1)
        self._related_pool: tuple[tuple[int, int], dict[tuple[int, ...], list[int]]] = ((-1, -1), {})
        self.key_salt = "0"
        self.reset()

    # ------------------------------------------------------------ bookkeeping

    def reset(self) -> None:
        self.orders: dict[int, R.Rec] = {}
        self.refunds: dict[int, R.Rec] = {}
        self.products: dict[int, R.Rec] = {}
        self.variations: dict[int, R.Rec] = {}
        self.customers: dict[int, R.Rec] = {}
        self.emails: dict[str, int] = {}
        self.coupons: dict[str, Coupon] = {}
        self.index_modified = {"order": SortedIndex(), "product": SortedIndex()}
        self.index_created = {"order": SortedIndex(), "product": SortedIndex()}
        self._post_seq = 10
        self._user_seq = 1
        self._item_seq = 0
        self._meta_seq = 100
        self._change_seq = 0
        self.changes_total = 0
        admin = self._new_customer_rec(1, {"email": "admin@example.com", "username": "admin"}, self.clock.now())
        admin.doc["role"] = "administrator"
        admin.doc["date_modified"] = admin.doc["date_modified_gmt"] = None  # as on the captured store
        self.customers[1] = admin
        self.emails["admin@example.com"] = 1
        self.add_coupon("welcome10", "percent", "10")

    def next_post_id(self) -> int:
        self._post_seq += 1
        return self._post_seq

    def _next_item(self) -> int:
        self._item_seq += 1
        return self._item_seq

    def _next_meta(self) -> int:
        self._meta_seq += 1
        return self._meta_seq

    def add_coupon(self, code: str, discount_type: str = "percent", amount: str = "10") -> Coupon:
        coupon = Coupon(code=code, id=self.next_post_id(), discount_type=discount_type, amount=Decimal(amount))
        self.coupons[code] = coupon
        return coupon

    def _emit(self, rec: R.Rec, event: str, topics: list[str], *, deleted: bool = False, when: int | None = None) -> None:
        self._change_seq += 1
        self.changes_total += 1
        if not self.listeners:
            return
        resource = "product" if rec.kind == "variation" else rec.kind
        payload = {"id": rec.id} if deleted else self.render(rec, as_product=True)
        change = Change(self._change_seq, resource, event, rec.id, when or self.clock.now(), topics, payload)
        for listener in list(self.listeners):
            listener(change)

    def _touch(self, rec: R.Rec, now: int | None = None) -> None:
        now = self.clock.now() if now is None else now
        idx = self.index_modified.get(rec.kind)
        if idx is not None and rec.id in self._collection(rec.kind):
            idx.move(rec.modified, now, rec.id)
        rec.modified = now
        rec.stamp(self.times)

    def _collection(self, kind: str) -> dict[int, R.Rec]:
        return {"order": self.orders, "product": self.products, "variation": self.variations,
                "customer": self.customers, "refund": self.refunds}[kind]

    def _register(self, rec: R.Rec, bulk: bool = False) -> None:
        self._collection(rec.kind)[rec.id] = rec
        if rec.kind in self.index_modified:
            if bulk:  # caller sorts the indexes once (seeding)
                self.index_modified[rec.kind].keys.append((rec.modified, rec.id))
                self.index_created[rec.kind].keys.append((rec.created, rec.id))
            else:
                self.index_modified[rec.kind].add(rec.modified, rec.id)
                self.index_created[rec.kind].add(rec.created, rec.id)

    def sort_indexes(self) -> None:
        for idx in (*self.index_modified.values(), *self.index_created.values()):
            idx.keys.sort()

    def _unregister(self, rec: R.Rec) -> None:
        self._collection(rec.kind).pop(rec.id, None)
        if rec.kind in self.index_modified:
            self.index_modified[rec.kind].remove(rec.modified, rec.id)
            self.index_created[rec.kind].remove(rec.created, rec.id)

    def render(self, rec: R.Rec, *, as_product: bool = False, base: str | None = None) -> dict[str, Any]:
        parent = self.products.get(rec.parent_id) if rec.kind == "variation" else None
        body = R.render(rec, base or self.base_url, as_product=as_product, parent=parent)
        if rec.kind == "product":
            body["related_ids"] = self.related_ids(rec)
        return body

    RELATED_LIMIT = 5  # wc_get_related_products()'s default limit, as the REST API asks for it

    def related_ids(self, rec: R.Rec) -> list[int]:
        """As WooCommerce computes ``related_ids`` on every request: up to 5 other published products sharing a
        category with this one (WooCommerce puts a product without one in "Uncategorized"), in a new random
        order and pick each time. Not stored: two reads of an unchanged product differ."""
        seq, pools = self._related_pool
        if seq != (self._change_seq, len(self.products)):
            pools = {}
            for p in self.products.values():
                if p.status == "publish":
                    for cat in self._categories(p):
                        pools.setdefault(cat, []).append(p.id)
            self._related_pool = ((self._change_seq, len(self.products)), pools)
        candidates = sorted({pid for cat in self._categories(rec) for pid in pools.get(cat, ()) if pid != rec.id})
        return self.related_rng.sample(candidates, min(len(candidates), self.RELATED_LIMIT))

    @staticmethod
    def _categories(rec: R.Rec) -> tuple[int, ...]:
        return tuple(int(c.get("id") or 0) for c in rec.doc.get("categories") or ()) or (0,)

    # ------------------------------------------------------------ lookups (404s as WooCommerce words them)

    def get_order(self, order_id: int) -> R.Rec:
        rec = self.orders.get(order_id)
        if rec is None:
            raise StoreError(404, "woocommerce_rest_shop_order_invalid_id", "Invalid ID.")
        return rec

    def get_product(self, product_id: int, *, allow_variation: bool = True) -> R.Rec:
        rec = self.products.get(product_id) or (self.variations.get(product_id) if allow_variation else None)
        if rec is None:
            raise StoreError(404, "woocommerce_rest_product_invalid_id", "Invalid ID.")
        return rec

    def get_variation(self, parent_id: int, variation_id: int) -> R.Rec:
        rec = self.variations.get(variation_id)
        if rec is None or rec.parent_id != parent_id:
            raise StoreError(404, "woocommerce_rest_product_variation_invalid_id", "Invalid ID.")
        return rec

    def get_customer(self, customer_id: int) -> R.Rec:
        rec = self.customers.get(customer_id)
        if rec is None:
            raise StoreError(404, "wc_user_invalid_id", "Invalid user ID.")
        return rec

    # ------------------------------------------------------------ customers

    def _new_customer_rec(self, cid: int, data: dict[str, Any], now: int) -> R.Rec:
        doc = R.customer_doc()
        email = str(data.get("email", ""))
        doc.update({"id": cid, "email": email, "first_name": str(data.get("first_name", "")),
                    "last_name": str(data.get("last_name", "")),
                    "username": str(data.get("username") or email.split("@")[0])})
        doc["billing"] = R.address({**(data.get("billing") or {})}, with_email=True, customer_order=True)
        doc["shipping"] = R.address(data.get("shipping"), with_email=False, customer_order=True)
        doc["meta_data"] = [self._meta_entry(m) for m in data.get("meta_data") or []]
        rec = R.Rec(cid, "customer", now, now, doc)
        rec.stamp(self.times)
        return rec

    def create_customer(self, data: dict[str, Any], *, now: int | None = None, emit: bool = True) -> R.Rec:
        email = str(data.get("email") or "").strip()
        if not email or "@" not in email:
            raise StoreError(400, "rest_invalid_param", "Invalid parameter(s): email",
                             {"params": {"email": "Invalid email address."}})
        if email.lower() in self.emails:
            raise StoreError(400, "registration-error-email-exists",
                             f"An account is already registered with {email}. Please log in or use a different email address.")
        self._user_seq += 1
        rec = self._new_customer_rec(self._user_seq, {**data, "email": email}, self.clock.now() if now is None else now)
        self.customers[rec.id] = rec
        self.emails[email.lower()] = rec.id
        if emit:
            self._emit(rec, "created", ["customer.created", "customer.updated"])
        return rec

    def update_customer(self, customer_id: int, data: dict[str, Any]) -> R.Rec:
        rec = self.get_customer(customer_id)
        doc = rec.doc
        new_email = data.get("email")
        if new_email and new_email.lower() != doc["email"].lower():
            if new_email.lower() in self.emails:
                raise StoreError(400, "registration-error-email-exists",
                                 f"An account is already registered with {new_email}. Please log in or use a different email address.")
            self.emails.pop(doc["email"].lower(), None)
            self.emails[new_email.lower()] = rec.id
            doc["email"] = new_email
        for key in ("first_name", "last_name"):
            if key in data:
                doc[key] = str(data[key])
        for key in ("billing", "shipping"):
            if isinstance(data.get(key), dict):
                doc[key] = {**doc[key], **{k: str(v) for k, v in data[key].items() if k in doc[key]}}
        if "meta_data" in data:
            self._merge_meta(doc, data["meta_data"])
        self._touch(rec)
        self._emit(rec, "updated", ["customer.updated"])
        return rec

    def delete_customer(self, customer_id: int) -> dict[str, Any]:
        rec = self.get_customer(customer_id)
        body = self.render(rec)
        self.customers.pop(customer_id)
        self.emails.pop(rec.doc["email"].lower(), None)
        self._emit(rec, "deleted", ["customer.deleted"], deleted=True)
        # as the real store does on a user's delete (direct SQL): their orders become guest orders (customer_id 0)
        # with a new date_modified, and no webhook fires for them
        for order in list(self.orders.values()):
            if order.customer_id == customer_id:
                order.doc["customer_id"] = order.customer_id = 0
                self._touch(order)
        return body

    def _mark_paying(self, customer_id: int) -> None:
        rec = self.customers.get(customer_id)
        if rec is not None and not rec.doc["is_paying_customer"]:
            rec.doc["is_paying_customer"] = True
            self._touch(rec)
            self._emit(rec, "updated", ["customer.updated"])

    # ------------------------------------------------------------ products and variations

    def _meta_entry(self, m: dict[str, Any]) -> dict[str, Any]:
        return {"id": self._next_meta(), "key": str(m.get("key", "")), "value": m.get("value", "")}

    def _merge_meta(self, doc: dict[str, Any], items: list[dict[str, Any]]) -> None:
        for m in items or []:
            for existing in doc["meta_data"]:
                if existing["key"] == m.get("key"):
                    existing["value"] = m.get("value", "")
                    break
            else:
                doc["meta_data"].append(self._meta_entry(m))

    _PRODUCT_FIELDS = ("name", "type", "status", "featured", "catalog_visibility", "description", "short_description",
                       "sku", "regular_price", "sale_price", "virtual", "downloadable", "tax_status", "tax_class",
                       "manage_stock", "stock_quantity", "backorders", "sold_individually", "weight", "dimensions",
                       "shipping_class", "reviews_allowed", "purchase_note", "menu_order", "attributes",
                       "default_attributes", "global_unique_id", "low_stock_amount", "slug")

    def _apply_product(self, doc: dict[str, Any], data: dict[str, Any]) -> None:
        for key in self._PRODUCT_FIELDS:
            if key not in data or key not in doc:
                continue
            value = data[key]
            if key in ("regular_price", "sale_price"):
                value = "" if value in (None, "") else f"{dec(value):.2f}"
            elif key == "attributes" and doc.get("type") != "variation":
                value = [{"id": 0, "name": a.get("name", ""), "slug": a.get("name", ""), "position": a.get("position", i),
                          "visible": a.get("visible", True), "variation": a.get("variation", False),
                          "options": list(a.get("options", []))} for i, a in enumerate(value or [])]
            elif key == "attributes":
                value = [{"id": 0, "name": a.get("name", ""), "slug": R.slugify(a.get("name", "")),
                          "option": a.get("option", "")} for a in value or []]
            elif key == "default_attributes":
                value = [{"id": 0, "name": a.get("name", ""), "option": a.get("option", "")} for a in value or []]
            elif key == "stock_quantity" and value is not None:
                value = int(value)
            doc[key] = value
        if "meta_data" in data:
            self._merge_meta(doc, data["meta_data"])
        if not doc.get("manage_stock"):
            doc["stock_quantity"] = None
        if doc.get("type") == "variable":
            doc["regular_price"] = doc["sale_price"] = ""
        R.refresh_prices(doc)

    def _unique_slug(self, name: str, exclude: int = 0) -> str:
        base = R.slugify(name)
        taken = {p.doc["slug"] for p in self.products.values() if p.id != exclude}
        slug, n = base, 2
        while slug in taken:
            slug, n = f"{base}-{n}", n + 1
        return slug

    def create_product(self, data: dict[str, Any], *, now: int | None = None, emit: bool = True,
                       unique_slug: bool = True) -> R.Rec:
        now = self.clock.now() if now is None else now
        pid = self.next_post_id()
        doc = R.product_doc()
        doc["type"] = data.get("type", "simple")
        self._apply_product(doc, data)
        doc["id"] = pid
        doc["slug"] = data.get("slug") or (self._unique_slug(doc["name"]) if unique_slug else f"{R.slugify(doc['name'])}-{pid}")
        doc["has_options"] = doc["type"] == "variable"
        rec = R.Rec(pid, "product", now, now, doc)
        rec.stamp(self.times)
        self._register(rec)
        if emit:
            self._emit(rec, "created", ["product.created"])
        return rec

    def update_product(self, product_id: int, data: dict[str, Any]) -> R.Rec:
        rec = self.get_product(product_id)
        if rec.kind == "variation":
            return self.update_variation(rec.parent_id, rec.id, data)
        was_trash = rec.status == "trash"
        self._apply_product(rec.doc, data)
        rec.status = rec.doc["status"]
        if was_trash and data.get("status") not in (None, "trash"):
            self._untrash_product_fields(rec)
        self._touch(rec)
        self._emit(rec, "restored" if was_trash and rec.status != "trash" else "updated", ["product.updated"])
        return rec

    def create_variation(self, parent_id: int, data: dict[str, Any], *, now: int | None = None, emit: bool = True) -> R.Rec:
        parent = self.get_product(parent_id, allow_variation=False)
        now = self.clock.now() if now is None else now
        vid = self.next_post_id()
        doc = R.variation_doc()
        doc["tax_class"] = "parent"
        self._apply_product(doc, data)
        doc["id"], doc["parent_id"] = vid, parent_id
        doc["name"] = R.variation_name(doc["attributes"])
        rec = R.Rec(vid, "variation", now, now, doc, parent_id=parent_id)
        rec.stamp(self.times)
        self.variations[vid] = rec
        parent.doc["variations"] = sorted([*parent.doc["variations"], vid])
        self._refresh_parent(parent, now)
        if emit:
            self._emit(rec, "created", ["product.created"])
            self._emit(parent, "updated", [])
        return rec

    def update_variation(self, parent_id: int, variation_id: int, data: dict[str, Any]) -> R.Rec:
        rec = self.get_variation(parent_id, variation_id)
        self._apply_product(rec.doc, data)
        rec.status = rec.doc["status"]
        rec.doc["name"] = R.variation_name(rec.doc["attributes"])
        self._touch(rec)
        self._emit(rec, "updated", ["product.updated"])
        parent = self.products.get(parent_id)
        if parent is not None:
            self._refresh_parent(parent)
            self._emit(parent, "updated", [])
        return rec

    def _refresh_parent(self, parent: R.Rec, now: int | None = None) -> None:
        R.refresh_variable(parent.doc, [self.variations[v].doc for v in parent.doc["variations"] if v in self.variations])
        self._touch(parent, now)

    def trash_product(self, product_id: int) -> dict[str, Any]:
        rec = self.get_product(product_id)
        if rec.status == "trash":
            kind = "product_variation" if rec.kind == "variation" else "product"
            raise StoreError(410, "woocommerce_rest_already_trashed", f"The {kind} has already been deleted.")
        body = self.render(rec, as_product=True)
        now = self.clock.now()
        rec.extra["trash_status"] = rec.status
        rec.set_status("trash")
        if rec.kind == "product":
            slug = rec.doc["slug"]
            rec.doc["slug"] = f"{slug}__trashed"
            rec.doc["meta_data"] += [{"id": self._next_meta(), "key": "_wp_trash_meta_status", "value": rec.extra["trash_status"]},
                                     {"id": self._next_meta(), "key": "_wp_trash_meta_time", "value": str(now)},
                                     {"id": self._next_meta(), "key": "_wp_desired_post_slug", "value": slug}]
        self._touch(rec, now)
        self._emit(rec, "trashed", ["product.deleted"], deleted=True)
        return body

    def _untrash_product_fields(self, rec: R.Rec) -> None:
        if rec.kind == "product" and rec.doc["slug"].endswith("__trashed"):
            rec.doc["slug"] = rec.doc["slug"][: -len("__trashed")]
        rec.doc["meta_data"] = [m for m in rec.doc["meta_data"] if not m["key"].startswith("_wp_trash_meta")
                                and m["key"] != "_wp_desired_post_slug"]

    def restore_product(self, product_id: int, *, via: str = "admin") -> R.Rec:
        """Untrash. ``via="admin"`` (wp-admin Restore: product.updated + product.restored) or ``"rest"``."""
        rec = self.get_product(product_id)
        if rec.status != "trash":
            raise StoreError(400, "not_trashed", "The product is not in the trash.")
        if via == "rest":
            return self.update_product(product_id, {"status": rec.extra.get("trash_status", "publish")})
        rec.set_status(rec.extra.pop("trash_status", "publish"))
        self._untrash_product_fields(rec)
        self._touch(rec)
        self._emit(rec, "restored", ["product.updated", "product.restored"])
        return rec

    def delete_product(self, product_id: int) -> dict[str, Any]:
        """Delete for good (force): no native webhook, as on the real store."""
        rec = self.get_product(product_id)
        body = self.render(rec, as_product=True)
        if rec.kind == "variation":
            self.variations.pop(rec.id, None)
            parent = self.products.get(rec.parent_id)
            if parent is not None:
                parent.doc["variations"] = [v for v in parent.doc["variations"] if v != rec.id]
                self._refresh_parent(parent)
        else:
            for vid in rec.doc["variations"]:
                self.variations.pop(vid, None)
            self._unregister(rec)
        self._emit(rec, "deleted", [], deleted=True)
        self._orphan_lines({rec.id, *([] if rec.kind == "variation" else rec.doc["variations"])})
        return body

    def _orphan_lines(self, gone: set[int]) -> None:
        """Lines of a product deleted for good: WooCommerce lists them with ``product_id: 0`` (and no variation) and
        ``sku: null``; the orders are not modified and no webhook fires."""
        def orphan(items: list[dict[str, Any]]) -> None:
            for it in items:
                if it.get("product_id") in gone or it.get("variation_id") in gone:
                    it["product_id"], it["variation_id"], it["sku"] = 0, 0, None

        for order in self.orders.values():
            orphan(order.extra.get("items", []))
            if order.builder is not None:  # a seeded order not built yet: marked when it is
                order.builder = lambda r, build=order.builder: _orphaned(build(r), orphan)
            else:
                orphan(order.doc.get("line_items", []))

    # ------------------------------------------------------------ orders

    def _taxable(self, doc: dict[str, Any]) -> bool:
        addr = doc["shipping"] if doc["shipping"].get("country") else doc["billing"]
        if not addr.get("country"):
            return True  # base location (US/CA)
        return addr.get("country") == "US" and addr.get("state") == "CA"

    def _line_item(self, src: dict[str, Any]) -> dict[str, Any]:
        if "sold" in src:  # resolved when seeded: (name, sku, price, parent_name, [(slug, option, name)])
            name, sku, price, parent_name, attrs = src["sold"]
            qty = int(src.get("quantity") or 1)
            return {"id": self._next_item(), "name": name, "product_id": src["product_id"],
                    "variation_id": src.get("variation_id", 0), "quantity": qty, "tax_class": "",
                    "_subtotal": q2(dec(price) * qty), "_total": q2(dec(price) * qty),
                    "meta_data": [R.meta(self._next_meta(), a[0], a[1], a[2], a[1]) for a in attrs], "sku": sku,
                    "image": {"id": 0 if attrs else "", "src": ""}, "parent_name": parent_name}
        product_id = int(src.get("product_id") or 0)
        variation_id = int(src.get("variation_id") or 0)
        qty = int(src.get("quantity") or 1)
        product = self.products.get(product_id)
        variation = self.variations.get(variation_id) if variation_id else None
        if product is None and product_id in self.variations:
            variation, product = self.variations[product_id], self.products.get(self.variations[product_id].parent_id)
        source = variation or product
        item_meta: list[dict[str, Any]] = []
        if source is None:
            name, sku, price, product_id, variation_id, parent_name = "", None, ZERO, 0, 0, None
        else:
            price = dec(src["price"]) if "price" in src else dec(source.doc["price"])
            sku = source.doc["sku"]
            if variation is not None:
                parent_name = product.doc["name"] if product else ""
                name = f"{parent_name} - {variation.doc['name']}"
                product_id, variation_id = variation.parent_id, variation.id
                for a in variation.doc["attributes"]:
                    item_meta.append(R.meta(self._next_meta(), a["slug"], a["option"], a["name"], a["option"]))
            else:
                name, parent_name, variation_id = source.doc["name"], None, 0
        subtotal = dec(src["subtotal"]) if "subtotal" in src else price * qty
        total = dec(src["total"]) if "total" in src else subtotal
        return {"id": self._next_item(), "name": src.get("name", name), "product_id": product_id,
                "variation_id": variation_id, "quantity": qty, "tax_class": "", "_subtotal": q2(subtotal),
                "_total": q2(total), "meta_data": item_meta, "sku": sku,
                "image": {"id": 0 if variation is not None or source is None else "", "src": ""},
                "parent_name": parent_name}

    def _compute_totals(self, rec: R.Rec) -> None:
        """Discounts, taxes (one 7.25 % rate, also on shipping) and totals, rounded per line as WooCommerce does."""
        doc = rec.doc
        items = rec.extra["items"]
        taxable = self._taxable(doc)
        rate = TAX_RATE / 100 if taxable else ZERO
        pct = ZERO
        coupons = rec.extra.get("coupons", [])
        for c in coupons:
            pct += c.amount / 100 if c.discount_type == "percent" else ZERO
        line_items, disc_total, disc_tax_lines, cart_tax = [], ZERO, ZERO, ZERO
        for it in items:
            subtotal = it["_subtotal"]
            total = q2(subtotal * (1 - pct)) if coupons and it["product_id"] else it["_total"]
            stax, ttax = q2(subtotal * rate), q2(total * rate)
            disc_total += subtotal - total
            disc_tax_lines += stax - ttax
            cart_tax += ttax
            out = {k: v for k, v in it.items() if not k.startswith("_")}
            qty = it["quantity"] or 1
            line_items.append({
                "id": out["id"], "name": out["name"], "product_id": out["product_id"], "variation_id": out["variation_id"],
                "quantity": out["quantity"], "tax_class": "", "subtotal": fmt(subtotal), "subtotal_tax": fmt(stax),
                "total": fmt(total), "total_tax": fmt(ttax),
                "taxes": [{"id": TAX_RATE_ID, "total": fmt(ttax), "subtotal": fmt(stax)}] if taxable else [],
                "meta_data": out["meta_data"], "sku": out["sku"], "price": number(total / qty), "image": out["image"],
                "parent_name": out["parent_name"],
            })
        ship_total, ship_tax, shipping_lines = ZERO, ZERO, []
        for s in rec.extra.get("shipping", []):
            t = s["_total"]
            tax = q2(t * rate)
            ship_total += t
            ship_tax += tax
            shipping_lines.append({"id": s["id"], "method_title": s["method_title"], "method_id": s["method_id"],
                                   "instance_id": "", "total": fmt(t), "total_tax": fmt(tax),
                                   "taxes": [{"id": TAX_RATE_ID, "total": fmt(tax), "subtotal": ""}] if taxable else [],
                                   "tax_status": "taxable", "meta_data": []})
        fee_total, fee_lines = ZERO, []
        for f in rec.extra.get("fees", []):
            t = f["_total"]
            tax = q2(t * rate)
            fee_total += t
            cart_tax += tax
            fee_lines.append({"id": f["id"], "name": f["name"], "tax_class": "", "tax_status": "taxable", "amount": "",
                              "total": fmt(t), "total_tax": fmt(tax),
                              "taxes": [{"id": TAX_RATE_ID, "total": fmt(tax), "subtotal": ""}] if taxable else [],
                              "meta_data": []})
        coupon_lines = []
        for c, line_id in zip(coupons, rec.extra.get("coupon_ids", [])):
            info = f'[{c.id},"{c.code}","{c.discount_type}",{unpadded(c.amount)}]'
            coupon_lines.append({"id": line_id, "code": c.code, "discount": unpadded(disc_total),
                                 "discount_tax": fmt(disc_tax_lines),
                                 "meta_data": [R.meta(rec.extra.setdefault("coupon_meta", {}).setdefault(c.code, self._next_meta()),
                                                      "coupon_info", info)],
                                 "discount_type": c.discount_type, "nominal_amount": number(c.amount), "free_shipping": False})
        tax_lines = []
        if taxable and (line_items or shipping_lines or fee_lines):
            tax_id = rec.extra.setdefault("tax_line_id", self._next_item())
            tax_lines.append({"id": tax_id, **TAX_LINE, "tax_total": fmt(cart_tax), "shipping_tax_total": fmt(ship_tax),
                              "rate_percent": number(TAX_RATE), "meta_data": []})
        items_total = sum((dec(li["total"]) for li in line_items), ZERO)
        total_tax = cart_tax + ship_tax
        doc.update({
            "discount_total": fmt(disc_total), "discount_tax": fmt(q2(disc_total * rate)),
            "shipping_total": fmt(ship_total), "shipping_tax": fmt(ship_tax), "cart_tax": fmt(cart_tax),
            "total": fmt(items_total + ship_total + fee_total + total_tax), "total_tax": fmt(total_tax),
            "line_items": line_items, "tax_lines": tax_lines, "shipping_lines": shipping_lines,
            "fee_lines": fee_lines, "coupon_lines": coupon_lines,
        })
        self._refresh_order_flags(rec)

    def _refresh_order_flags(self, rec: R.Rec) -> None:
        doc = rec.doc
        status = doc["status"]
        doc["is_editable"] = status in ("pending", "on-hold", "auto-draft", "checkout-draft")
        doc["needs_payment"] = status in ("pending", "failed") and dec(doc["total"]) > 0
        doc["needs_processing"] = any(li["product_id"] for li in doc["line_items"])
        # meta sync of per-item extras (_reduced_stock, _restock_refunded_items)
        item_meta = rec.extra.get("item_meta")
        if item_meta:
            for li in doc["line_items"]:
                extras = item_meta.get(li["id"])
                if extras:
                    keys = {e["key"] for e in extras}
                    li["meta_data"] = [m for m in li["meta_data"] if m["key"] not in keys] + extras

    def _apply_order_fields(self, rec: R.Rec, data: dict[str, Any], compute: bool = True) -> None:
        doc = rec.doc
        for key in ("billing", "shipping"):
            if isinstance(data.get(key), dict):
                doc[key] = {**doc[key], **{k: str(v) for k, v in data[key].items() if k in doc[key]}}
        for key in ("payment_method", "payment_method_title", "transaction_id", "customer_note", "currency",
                    "customer_ip_address", "customer_user_agent"):
            if key in data:
                doc[key] = str(data[key])
        if data.get("payment_method") and "payment_method_title" not in data:
            doc["payment_method_title"] = PAYMENT_TITLES.get(data["payment_method"], data["payment_method"])
        if "customer_id" in data:
            cid = int(data["customer_id"] or 0)
            if cid and cid not in self.customers and compute:
                raise StoreError(400, "woocommerce_rest_invalid_customer_id", "Customer ID is invalid.")
            doc["customer_id"] = rec.customer_id = cid
            cust = self.customers.get(cid)
            if cust is not None and not doc["billing"]["email"]:
                doc["billing"]["email"] = cust.doc["email"]
        if "meta_data" in data:
            self._merge_meta(doc, data["meta_data"])
        changed_lines = False
        for src in data.get("line_items") or []:
            existing = next((i for i in rec.extra["items"] if src.get("id") and i["id"] == int(src["id"])), None)
            if existing is not None:
                if int(src.get("quantity", existing["quantity"])) == 0:
                    rec.extra["items"].remove(existing)
                else:
                    unit = existing["_subtotal"] / max(existing["quantity"], 1)
                    existing["quantity"] = int(src.get("quantity", existing["quantity"]))
                    existing["_subtotal"] = existing["_total"] = q2(unit * existing["quantity"])
            else:
                rec.extra["items"].append(self._line_item(src))
            changed_lines = True
        for s in data.get("shipping_lines") or []:
            rec.extra.setdefault("shipping", []).append({"id": self._next_item(), "method_title": s.get("method_title", "Flat rate"),
                                                         "method_id": s.get("method_id", "flat_rate"), "_total": q2(dec(s.get("total")))})
            changed_lines = True
        for f in data.get("fee_lines") or []:
            rec.extra.setdefault("fees", []).append({"id": self._next_item(), "name": f.get("name", "Fee"),
                                                     "_total": q2(dec(f.get("total")))})
            changed_lines = True
        for c in data.get("coupon_lines") or []:
            coupon = self.coupons.get(str(c.get("code", "")).lower())
            if coupon is None:
                raise StoreError(400, "woocommerce_rest_invalid_coupon", f'Coupon "{c.get("code")}" does not exist!')
            rec.extra.setdefault("coupons", []).append(coupon)
            rec.extra.setdefault("coupon_ids", []).append(self._next_item())
            changed_lines = True
        if compute and (changed_lines or "billing" in data or "shipping" in data):
            self._compute_totals(rec)

    def _validate_order_status(self, status: str) -> None:
        if status not in R.ORDER_STATUSES:
            msg = f"status is not one of {', '.join(R.ORDER_STATUSES[:-1])}, and {R.ORDER_STATUSES[-1]}."
            raise StoreError(400, "rest_invalid_param", "Invalid parameter(s): status",
                             {"params": {"status": msg},
                              "details": {"status": {"code": "rest_not_in_enum", "message": msg, "data": None}}})

    def _order_doc(self, rec: R.Rec, data: dict[str, Any]) -> dict[str, Any]:
        doc = R.order_doc()
        doc["id"], doc["number"] = rec.id, str(rec.id)
        digest = int.from_bytes(hashlib.sha256(f"{self.key_salt}:{rec.id}".encode()).digest()[:12], "big")
        key = []
        for _ in range(13):
            digest, r = divmod(digest, 62)
            key.append(_B62[r])
        doc["order_key"] = "wc_order_" + "".join(key)
        rec.doc = doc
        self._apply_order_fields(rec, data, compute=False)
        doc["status"] = rec.status
        self._compute_totals(rec)
        self._stamp_order(rec)
        return doc

    def create_order(self, data: dict[str, Any], *, now: int | None = None, emit: bool = True, lazy: bool = False,
                     modified: int | None = None) -> R.Rec:
        """Create an order. ``lazy=True`` (seeding: no stock changes, indexes sorted by the caller via
        :meth:`sort_indexes`) defers building the body until it is first read."""
        now = self.clock.now() if now is None else now
        status = data.get("status", "pending")
        self._validate_order_status(status)
        cid = int(data.get("customer_id") or 0)
        if not lazy and cid and cid not in self.customers:
            raise StoreError(400, "woocommerce_rest_invalid_customer_id", "Customer ID is invalid.")
        has_items = any(int(i.get("product_id") or 0) for i in data.get("line_items") or [])
        if data.get("set_paid"):
            status = "processing" if has_items else "completed"
        oid = self.next_post_id()
        rec = R.Rec(oid, "order", now, now, None, extra={"items": []}, status=status,
                    customer_id=int(data.get("customer_id") or 0))
        if data.get("set_paid"):
            rec.extra["date_paid"] = now
        if status == "completed":
            rec.extra["date_completed"] = now
        if lazy:
            rec.modified = modified or now
            store = weakref.ref(self)  # no store <-> record cycle: a dropped store is freed by refcounting
            rec.builder = lambda r: store()._order_doc(r, data)  # type: ignore[union-attr]
            self._register(rec, bulk=True)
            return rec
        self._order_doc(rec, data)
        self._register(rec)
        touched = self._reduce_stock(rec, now) if status in STOCK_STATUSES else []
        self._refresh_order_flags(rec)
        if emit:
            self._emit(rec, "created", ["order.created", "order.updated"])
            for product in touched:
                self._emit(product, "updated", ["product.updated"] if product.doc.get("manage_stock") else [])
            if data.get("set_paid") or status == "completed":
                self._mark_paying(rec.customer_id)
        return rec

    def _stamp_order(self, rec: R.Rec) -> None:
        rec.stamp(self.times)
        for key in ("paid", "completed"):
            ts = rec.extra.get(f"date_{key}")
            rec.doc[f"date_{key}"] = self.times.local(ts)
            rec.doc[f"date_{key}_gmt"] = self.times.gmt(ts)

    def _reduce_stock(self, rec: R.Rec, now: int) -> list[R.Rec]:
        if rec.extra.get("stock_reduced"):
            return []
        rec.extra["stock_reduced"] = True
        touched = []
        for it in rec.extra["items"]:
            target = self.variations.get(it["variation_id"]) if it["variation_id"] else self.products.get(it["product_id"])
            if target is None:
                continue
            target.extra["total_sales"] = target.extra.get("total_sales", 0) + it["quantity"]
            if "total_sales" in target.doc:
                target.doc["total_sales"] = target.extra["total_sales"]
            if target.doc.get("manage_stock"):
                target.doc["stock_quantity"] -= it["quantity"]
                R.refresh_prices(target.doc)
                rec.extra.setdefault("item_meta", {}).setdefault(it["id"], []).append(
                    R.meta(self._next_meta(), "_reduced_stock", str(it["quantity"])))
                self._touch(target, now)
                touched.append(target)
                if target.kind == "variation" and target.parent_id in self.products:
                    self._touch(self.products[target.parent_id], now)
        return touched

    def update_order(self, order_id: int, data: dict[str, Any], *, now: int | None = None) -> R.Rec:
        rec = self.get_order(order_id)
        now = self.clock.now() if now is None else now
        doc = rec.doc
        old_status = doc["status"]
        new_status = data.get("status", old_status)
        if new_status != "trash":
            self._validate_order_status(new_status)
        self._apply_order_fields(rec, data)
        if data.get("set_paid") and not rec.extra.get("date_paid"):
            new_status = "processing" if doc["needs_processing"] else "completed"
        touched: list[R.Rec] = []
        if new_status != old_status:
            rec.set_status(new_status)
            if old_status == "trash":
                doc["meta_data"] = [m for m in doc["meta_data"] if not m["key"].startswith("_wp_trash_meta")]
            elif new_status in ("processing", "completed") and not rec.extra.get("date_paid") and (
                    old_status in ("pending", "on-hold", "failed") or data.get("set_paid")):
                rec.extra["date_paid"] = now
            if new_status == "completed":
                rec.extra["date_completed"] = now
            if new_status in STOCK_STATUSES and old_status != "trash":
                touched = self._reduce_stock(rec, now)
        self._refresh_order_flags(rec)
        self._touch(rec, now)
        self._stamp_order(rec)
        if old_status == "trash" and new_status != "trash":
            # REST 'restore' (PUT status on a trashed order): the real store sends no webhook at all
            self._emit(rec, "restored", [])
            return rec
        self._emit(rec, "updated", ["order.updated"])
        for product in touched:
            self._emit(product, "updated", ["product.updated"])
        if (new_status == "completed" and old_status != "completed") or (data.get("set_paid") and new_status != old_status):
            self._mark_paying(doc["customer_id"])
        return rec

    def open_checkout(self, data: dict[str, Any], *, now: int | None = None) -> R.Rec:
        """The block checkout's first request (``GET /wc/store/v1/checkout``): a ``checkout-draft`` order, made
        without any webhook (the real store sends ``order.created`` only when the order is placed). A change of the
        draft (the shopper's cart) sends ``order.updated`` with that status, as :meth:`update_order` does."""
        return self.create_order({**data, "status": "checkout-draft"}, now=now, emit=False)

    def place_checkout(self, order_id: int, status: str = "processing", *, now: int | None = None) -> R.Rec:
        """The shopper places the draft order (``POST /wc/store/v1/checkout``): its first real status, then
        ``order.updated`` and ``order.created``, in that order, as the real store sends them."""
        rec = self.get_order(order_id)
        if rec.status != "checkout-draft":
            raise StoreError(400, "woocommerce_rest_invalid_order", "The order is not a checkout draft.")
        self.update_order(order_id, {"status": status}, now=now)
        self._emit(rec, "created", ["order.created"])
        return rec

    def trash_order(self, order_id: int) -> dict[str, Any]:
        rec = self.get_order(order_id)
        if rec.status == "trash":
            raise StoreError(410, "woocommerce_rest_already_trashed", "The shop_order has already been deleted.")
        body = self.render(rec)
        now = self.clock.now()
        rec.extra["trash_status"] = rec.status
        rec.doc["meta_data"] = rec.doc["meta_data"] + [
            {"id": self._next_meta(), "key": "_wp_trash_meta_status", "value": f"wc-{rec.status}"},
            {"id": self._next_meta(), "key": "_wp_trash_meta_time", "value": str(now)}]
        rec.set_status("trash")
        self._refresh_order_flags(rec)
        self._touch(rec, now)
        self._emit(rec, "trashed", ["order.deleted"], deleted=True)
        return body

    def restore_order(self, order_id: int, *, via: str = "admin") -> R.Rec:
        """Untrash. ``via="admin"`` sends order.restored; ``"rest"`` (PUT status) sends nothing, like the real store."""
        rec = self.get_order(order_id)
        if rec.status != "trash":
            raise StoreError(400, "not_trashed", "The order is not in the trash.")
        previous = rec.extra.pop("trash_status", "pending")
        if via == "rest":
            return self.update_order(order_id, {"status": previous})
        rec.set_status(previous)
        rec.doc["meta_data"] = [m for m in rec.doc["meta_data"] if not m["key"].startswith("_wp_trash_meta")]
        self._refresh_order_flags(rec)
        self._touch(rec)
        self._emit(rec, "restored", ["order.restored"])
        return rec

    def delete_order(self, order_id: int) -> dict[str, Any]:
        """Delete for good (force): no native webhook, as on the real store."""
        rec = self.get_order(order_id)
        body = self.render(rec)
        self._unregister(rec)
        for rid in rec.extra.get("refund_ids", []):
            self.refunds.pop(rid, None)
        self._emit(rec, "deleted", [], deleted=True)
        return body

    # ------------------------------------------------------------ refunds

    def get_refund(self, order_id: int, refund_id: int) -> R.Rec:
        rec = self.refunds.get(refund_id)
        if rec is None or rec.parent_id != order_id:
            raise StoreError(404, "woocommerce_rest_invalid_id", "Invalid resource ID.")
        return rec

    def create_refund(self, order_id: int, data: dict[str, Any]) -> R.Rec:
        order = self.get_order(order_id)
        now = self.clock.now()
        taxable = bool(order.doc["tax_lines"])
        items, tax_sum, touched = [], ZERO, []
        restock = data.get("restock_items", True)
        for src in data.get("line_items") or []:
            li = next((x for x in order.doc["line_items"] if x["id"] == int(src.get("id", 0))), None)
            if li is None:
                continue
            qty = int(src.get("quantity", 0) or 0)
            total = q2(dec(src.get("refund_total", 0)))
            tax = q2(sum((dec(t.get("refund_total", 0)) for t in src.get("refund_tax") or []), ZERO))
            tax_sum += tax
            items.append({"id": self._next_item(), "name": li["name"], "product_id": li["product_id"],
                          "variation_id": li["variation_id"], "quantity": -qty, "tax_class": "",
                          "subtotal": fmt(-total), "subtotal_tax": fmt(-tax), "total": fmt(-total), "total_tax": fmt(-tax),
                          "taxes": [{"id": TAX_RATE_ID, "total": fmt(-tax), "subtotal": fmt(-tax)}] if taxable else [],
                          "meta_data": [R.meta(self._next_meta(), "_refunded_item_id", str(li["id"]))],
                          "sku": li["sku"], "price": number(total / qty) if qty else 0, "image": li["image"],
                          "parent_name": li["parent_name"]})
            if restock and qty:
                target = self.variations.get(li["variation_id"]) if li["variation_id"] else self.products.get(li["product_id"])
                if target is not None and target.doc.get("manage_stock"):
                    target.doc["stock_quantity"] += qty
                    R.refresh_prices(target.doc)
                    self._touch(target, now)
                    touched.append(target)
                    order.extra.setdefault("item_meta", {}).setdefault(li["id"], []).append(
                        R.meta(self._next_meta(), "_restock_refunded_items", str(qty)))
        amount = q2(dec(data["amount"])) if data.get("amount") not in (None, "") else q2(
            sum((-dec(i["total"]) for i in items), ZERO) + tax_sum)
        refunded_before = sum((dec(r["total"]) for r in order.doc["refunds"]), ZERO) * -1
        if amount <= 0 or amount + refunded_before > dec(order.doc["total"]):
            raise StoreError(500, "woocommerce_rest_cannot_create_order_refund", "Invalid refund amount.")
        rid = self.next_post_id()
        doc = R.refund_doc()
        doc.update({"id": rid, "amount": fmt(amount), "reason": str(data.get("reason", "")),
                    "refunded_payment": bool(data.get("api_refund", False) and False), "line_items": items})
        if taxable:
            doc["tax_lines"] = [{"id": self._next_item(), **TAX_LINE, "tax_total": fmt(-tax_sum),
                                 "shipping_tax_total": "0.00", "rate_percent": number(TAX_RATE), "meta_data": []}]
        rec = R.Rec(rid, "refund", now, now, doc, parent_id=order_id)
        rec.stamp(self.times)
        self.refunds[rid] = rec
        order.extra.setdefault("refund_ids", []).append(rid)
        order.doc["refunds"] = [{"id": rid, "reason": doc["reason"], "total": fmt(-amount)}, *order.doc["refunds"]]
        if amount + refunded_before == dec(order.doc["total"]):
            order.set_status("refunded")
        self._refresh_order_flags(order)
        self._touch(order, now)
        for product in touched:
            self._emit(product, "updated", ["product.updated"])
        self._emit(order, "updated", ["order.updated"])
        return rec


def _orphaned(doc: dict[str, Any], orphan: Callable[[list[dict[str, Any]]], None]) -> dict[str, Any]:
    orphan(doc.get("line_items", []))
    return doc
