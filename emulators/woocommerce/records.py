"""In-memory records and their WooCommerce REST v3 representations (key sets and order as WC 10.0.2).

A :class:`Rec` keeps the REST body (``doc``) without ``_links`` and without the URL-bearing fields,
which :func:`render` adds for the store's base URL. Dates live in ``created``/``modified`` epochs and
are written into ``doc`` by :meth:`Rec.stamp`.
"""
from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from typing import Any

from .clock import StoreTime

WC_VERSION = "10.0.2"
ALLOW_ALL = ["GET", "POST", "PUT", "PATCH", "DELETE"]
ORDER_STATUSES = ["pending", "processing", "on-hold", "completed", "cancelled", "refunded", "failed", "checkout-draft"]
PRODUCT_STATUSES = ["draft", "pending", "private", "publish", "future"]

ADDRESS_KEYS = ["first_name", "last_name", "company", "address_1", "address_2", "city", "state", "postcode", "country"]
CUSTOMER_ADDRESS_KEYS = ["first_name", "last_name", "company", "address_1", "address_2", "city", "postcode", "country", "state"]


class Rec:
    """One stored record. ``doc`` may be built lazily (seeded orders) by ``builder`` on first access;
    ``status`` and ``customer_id`` are kept outside ``doc`` so list filters never force a build."""

    __slots__ = ("_doc", "builder", "created", "customer_id", "extra", "id", "kind", "modified", "parent_id", "status")

    def __init__(self, id: int, kind: str, created: int, modified: int, doc: dict[str, Any] | None,
                 parent_id: int = 0, extra: dict[str, Any] | None = None, status: str = "",
                 customer_id: int = 0, builder: Callable[[Rec], dict[str, Any]] | None = None) -> None:
        self.id, self.kind, self.created, self.modified = id, kind, created, modified
        self.parent_id, self.extra = parent_id, extra if extra is not None else {}
        self._doc, self.builder = doc, builder
        self.status = status or (doc or {}).get("status", "")
        self.customer_id = customer_id

    @property
    def doc(self) -> dict[str, Any]:
        if self._doc is None:
            builder, self.builder = self.builder, None
            self._doc = builder(self)  # type: ignore[misc]
        return self._doc

    @doc.setter
    def doc(self, value: dict[str, Any]) -> None:
        self._doc = value

    def set_status(self, status: str) -> None:
        self.status = status
        self.doc["status"] = status

    def stamp(self, times: StoreTime) -> None:
        d = self.doc
        d["date_created"] = times.local(self.created)
        d["date_created_gmt"] = times.gmt(self.created)
        if self.kind != "refund":
            d["date_modified"] = times.local(self.modified)
            d["date_modified_gmt"] = times.gmt(self.modified)


def address(src: dict | None, *, with_email: bool, customer_order: bool = False) -> dict[str, str]:
    src = src or {}
    keys = CUSTOMER_ADDRESS_KEYS if customer_order else ADDRESS_KEYS
    out = {k: str(src.get(k, "") or "") for k in keys}
    if with_email:
        out["email"] = str(src.get("email", "") or "")
    out["phone"] = str(src.get("phone", "") or "")
    return out


def slugify(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug or "product"


def meta(meta_id: int, key: str, value: Any, display_key: str | None = None, display_value: Any = None) -> dict[str, Any]:
    return {"id": meta_id, "key": key, "value": value, "display_key": display_key or key,
            "display_value": value if display_value is None else display_value}


# ---------------------------------------------------------------- templates (key order as WC 10.0.2)

def order_doc() -> dict[str, Any]:
    return {
        "id": 0, "parent_id": 0, "status": "pending", "currency": "USD", "version": WC_VERSION,
        "prices_include_tax": False, "date_created": None, "date_modified": None,
        "discount_total": "0.00", "discount_tax": "0.00", "shipping_total": "0.00", "shipping_tax": "0.00",
        "cart_tax": "0.00", "total": "0.00", "total_tax": "0.00", "customer_id": 0, "order_key": "",
        "billing": address(None, with_email=True), "shipping": address(None, with_email=False),
        "payment_method": "", "payment_method_title": "", "transaction_id": "", "customer_ip_address": "",
        "customer_user_agent": "", "created_via": "rest-api", "customer_note": "", "date_completed": None,
        "date_paid": None, "cart_hash": "", "number": "0", "meta_data": [], "line_items": [], "tax_lines": [],
        "shipping_lines": [], "fee_lines": [], "coupon_lines": [], "refunds": [], "payment_url": "",
        "is_editable": True, "needs_payment": False, "needs_processing": False,
        "date_created_gmt": None, "date_modified_gmt": None, "date_completed_gmt": None, "date_paid_gmt": None,
        "currency_symbol": "$",
    }


def product_doc() -> dict[str, Any]:
    return {
        "id": 0, "name": "", "slug": "", "permalink": "", "date_created": None, "date_created_gmt": None,
        "date_modified": None, "date_modified_gmt": None, "type": "simple", "status": "publish", "featured": False,
        "catalog_visibility": "visible", "description": "", "short_description": "", "sku": "", "price": "",
        "regular_price": "", "sale_price": "", "date_on_sale_from": None, "date_on_sale_from_gmt": None,
        "date_on_sale_to": None, "date_on_sale_to_gmt": None, "on_sale": False, "purchasable": False,
        "total_sales": 0, "virtual": False, "downloadable": False, "downloads": [], "download_limit": -1,
        "download_expiry": -1, "external_url": "", "button_text": "", "tax_status": "taxable", "tax_class": "",
        "manage_stock": False, "stock_quantity": None, "backorders": "no", "backorders_allowed": False,
        "backordered": False, "low_stock_amount": None, "sold_individually": False, "weight": "",
        "dimensions": {"length": "", "width": "", "height": ""}, "shipping_required": True, "shipping_taxable": True,
        "shipping_class": "", "shipping_class_id": 0, "reviews_allowed": True, "average_rating": "0.00",
        "rating_count": 0, "upsell_ids": [], "cross_sell_ids": [], "parent_id": 0, "purchase_note": "",
        "categories": [{"id": 15, "name": "Uncategorized", "slug": "uncategorized"}], "brands": [], "tags": [],
        "images": [], "attributes": [], "default_attributes": [], "variations": [], "grouped_products": [],
        "menu_order": 0, "price_html": "", "related_ids": [], "meta_data": [], "stock_status": "instock",
        "has_options": False, "post_password": "", "global_unique_id": "",
    }


def variation_doc() -> dict[str, Any]:
    return {
        "id": 0, "type": "variation", "date_created": None, "date_created_gmt": None, "date_modified": None,
        "date_modified_gmt": None, "description": "", "permalink": "", "sku": "", "global_unique_id": "",
        "price": "", "regular_price": "", "sale_price": "", "date_on_sale_from": None, "date_on_sale_from_gmt": None,
        "date_on_sale_to": None, "date_on_sale_to_gmt": None, "on_sale": False, "status": "publish",
        "purchasable": False, "virtual": False, "downloadable": False, "downloads": [], "download_limit": -1,
        "download_expiry": -1, "tax_status": "taxable", "tax_class": "", "manage_stock": False,
        "stock_quantity": None, "stock_status": "instock", "backorders": "no", "backorders_allowed": False,
        "backordered": False, "low_stock_amount": None, "weight": "",
        "dimensions": {"length": "", "width": "", "height": ""}, "shipping_class": "", "shipping_class_id": 0,
        "image": None, "attributes": [], "menu_order": 0, "meta_data": [], "name": "", "parent_id": 0,
    }


def customer_doc() -> dict[str, Any]:
    return {
        "id": 0, "date_created": None, "date_created_gmt": None, "date_modified": None, "date_modified_gmt": None,
        "email": "", "first_name": "", "last_name": "", "role": "customer", "username": "",
        "billing": address(None, with_email=True, customer_order=True),
        "shipping": address(None, with_email=False, customer_order=True),
        "is_paying_customer": False, "avatar_url": "", "meta_data": [],
    }


def refund_doc() -> dict[str, Any]:
    return {
        "id": 0, "date_created": None, "date_created_gmt": None, "amount": "0.00", "reason": "", "refunded_by": 1,
        "refunded_payment": False, "meta_data": [], "line_items": [], "shipping_lines": [], "tax_lines": [],
        "fee_lines": [],
    }


# ---------------------------------------------------------------- derived product fields

def _amount(value: str, hidden: bool = False) -> str:
    attr = ' aria-hidden="true"' if hidden else ""
    return (f'<span class="woocommerce-Price-amount amount"{attr}><bdi><span class="woocommerce-Price-currencySymbol">'
            f"&#36;</span>{value}</bdi></span>")


def _price_html(regular: str, price: str) -> str:
    if price == "":
        return ""
    if regular and regular != price:
        return (f'<del aria-hidden="true">{_amount(regular)}</del> <span class="screen-reader-text">Original price was: '
                f'&#036;{regular}.</span><ins aria-hidden="true">{_amount(price)}</ins><span class="screen-reader-text">'
                f"Current price is: &#036;{price}.</span>")
    return _amount(price)


def refresh_prices(doc: dict[str, Any]) -> None:
    """price / on_sale / purchasable / price_html / stock_status from regular and sale price and stock."""
    regular, sale = doc.get("regular_price", ""), doc.get("sale_price", "")
    if doc.get("type") != "variable":
        doc["price"] = sale if sale not in ("", None) else regular
        doc["on_sale"] = sale not in ("", None) and regular not in ("", None) and float(sale) < float(regular)
        doc["purchasable"] = doc["price"] != ""
    if "price_html" in doc and doc.get("type") != "variable":
        doc["price_html"] = _price_html(regular if doc["on_sale"] else "", doc["price"])
    if doc.get("manage_stock") and doc.get("stock_quantity") is not None:
        doc["stock_status"] = "instock" if doc["stock_quantity"] > 0 else "outofstock"


def refresh_variable(parent: dict[str, Any], variations: list[dict[str, Any]]) -> None:
    prices = sorted(float(v["price"]) for v in variations if v.get("price") not in ("", None))
    parent["price"] = f"{prices[0]:.2f}" if prices else ""
    parent["on_sale"] = any(v.get("on_sale") for v in variations)
    parent["purchasable"] = bool(prices)
    parent["has_options"] = bool(variations)
    if prices and prices[0] != prices[-1]:
        lo, hi = f"{prices[0]:.2f}", f"{prices[-1]:.2f}"
        parent["price_html"] = (f'{_amount(lo, True)} <span aria-hidden="true">&ndash;</span> {_amount(hi, True)}'
                                f'<span class="screen-reader-text">Price range: &#36;{lo} through &#36;{hi}</span>')
    else:
        parent["price_html"] = _price_html("", parent["price"])


def variation_name(attributes: list[dict[str, Any]]) -> str:
    return ", ".join(str(a.get("option", "")) for a in attributes)


# ---------------------------------------------------------------- rendering

def _self_links(href: str, allow: list[str]) -> list[dict[str, Any]]:
    return [{"href": href, "targetHints": {"allow": allow}}]


def avatar_url(email: str) -> str:
    digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()
    return f"https://secure.gravatar.com/avatar/{digest}?s=96&d=mm&r=g"


def render(rec: Rec, base: str, *, as_product: bool = False, parent: Rec | None = None) -> dict[str, Any]:
    """The REST body of ``rec`` for a store at ``base`` (``https://shop.example``)."""
    api = f"{base}/wp-json/wc/v3"
    d = dict(rec.doc)
    if rec.kind == "order":
        d["payment_url"] = f"{base}/checkout/order-pay/{rec.id}/?pay_for_order=true&key={d['order_key']}"
        links: dict[str, Any] = {
            "self": _self_links(f"{api}/orders/{rec.id}", ALLOW_ALL),
            "collection": [{"href": f"{api}/orders"}],
            "email_templates": [{"embeddable": True, "href": f"{api}/orders/{rec.id}/actions/email_templates"}],
        }
        if d["customer_id"]:
            links["customer"] = [{"href": f"{api}/customers/{d['customer_id']}"}]
    elif rec.kind == "refund":
        href = f"{api}/orders/{rec.parent_id}/refunds"
        links = {"self": _self_links(f"{href}/{rec.id}", ["GET", "DELETE"]), "collection": [{"href": href}],
                 "up": [{"href": f"{api}/orders/{rec.parent_id}"}]}
    elif rec.kind == "customer":
        d["avatar_url"] = avatar_url(d["email"])
        allow = ALLOW_ALL if d["role"] != "administrator" else ["GET", "POST", "PUT", "PATCH"]
        links = {"self": _self_links(f"{api}/customers/{rec.id}", allow), "collection": [{"href": f"{api}/customers"}]}
    elif rec.kind == "product":
        if d["status"] == "trash":
            d["permalink"] = f"{base}/?post_type=product&p={rec.id}"
        else:
            d["permalink"] = f"{base}/product/{d['slug']}/"
        links = {"self": _self_links(f"{api}/products/{rec.id}", ALLOW_ALL), "collection": [{"href": f"{api}/products"}]}
    else:  # variation
        pslug = parent.doc["slug"] if parent is not None else "product"
        qs = "&".join(f"attribute_{slugify(a['name'])}={a['option']}" for a in d["attributes"])
        d["permalink"] = f"{base}/product/{pslug}/" + (f"?{qs}" if qs else "")
        if as_product:
            return _variation_as_product(rec, d, api, parent)
        links = {"self": _self_links(f"{api}/products/{rec.parent_id}/variations/{rec.id}", ALLOW_ALL),
                 "collection": [{"href": f"{api}/products/{rec.parent_id}/variations"}],
                 "up": [{"href": f"{api}/products/{rec.parent_id}"}]}
    d["_links"] = links
    return d


def _variation_as_product(rec: Rec, v: dict[str, Any], api: str, parent: Rec | None) -> dict[str, Any]:
    """A variation read through ``/products/{id}`` (71 keys, ``type: variation``)."""
    d = product_doc()
    pname = parent.doc["name"] if parent is not None else ""
    name = f"{pname} - {v['name']}" if pname else v["name"]
    for key in d:
        if key in v and key not in ("attributes", "meta_data"):
            d[key] = v[key]
    d.update({
        "id": rec.id, "name": name, "slug": slugify(name), "type": "variation", "short_description": "",
        "total_sales": str(rec.extra.get("total_sales", 0)), "reviews_allowed": False, "categories": [],
        "attributes": v["attributes"], "parent_id": rec.parent_id, "meta_data": v["meta_data"],
        "tax_class": "" if v["tax_class"] == "parent" else v["tax_class"],
    })
    d["price_html"] = _price_html(v["regular_price"] if v["on_sale"] else "", v["price"])
    d["_links"] = {"self": _self_links(f"{api}/products/{rec.id}", ALLOW_ALL),
                   "collection": [{"href": f"{api}/products"}], "up": [{"href": f"{api}/products/{rec.parent_id}"}]}
    return d
