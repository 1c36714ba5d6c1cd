"""Request validation of the product, variation and customer write routes, as WooCommerce 10 / WordPress 6.8 do it.

Two layers, in WordPress's order: the REST schema (``rest_validate_value_from_schema``: types, enums, formats; every
invalid parameter of a request is named in one ``400 rest_invalid_param``; a missing required one is ``400
rest_missing_callback_param``), then the data layer (``WC_Product::set_sku``: a SKU another product or variation
holds is ``400 product_invalid_sku`` "Invalid or duplicated SKU." with the holder's id and the unique SKU WooCommerce
suggests). Nothing is stored when a request fails. Only the REST routes validate: the store's Python API (seeding,
tests) takes what it is given.
"""
from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from .errors import ParamErrors, enum_list
from .store import Store, StoreError

PRODUCT_TYPES = ["simple", "grouped", "external", "variable"]
PRODUCT_STATUSES = ["draft", "pending", "private", "publish", "future"]
VARIATION_STATUSES = ["draft", "pending", "private", "publish"]
STOCK_STATUSES = ["instock", "outofstock", "onbackorder"]
BACKORDERS = ["no", "notify", "yes"]
STRINGS = ("name", "slug", "description", "short_description", "sku", "regular_price", "sale_price", "weight",
           "purchase_note", "tax_class", "global_unique_id")
BOOLEANS = ("manage_stock", "featured", "virtual", "downloadable", "sold_individually", "reviews_allowed")
INTEGERS = ("stock_quantity", "menu_order", "low_stock_amount")
EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


def _is_integer(value: Any) -> bool:
    """rest_is_integer: a number or numeric string with no fractional part (bools are not numbers here)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    if isinstance(value, float | str):
        try:
            d = Decimal(str(value).strip())
        except InvalidOperation:
            return False
        return d.is_finite() and d == d.to_integral_value()
    return False


def _is_boolean(value: Any) -> bool:
    """rest_is_boolean: true/false, 0/1 and their string forms."""
    if isinstance(value, bool):
        return True
    if isinstance(value, int):
        return value in (0, 1)
    return isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "")


def _schema(errors: ParamErrors, data: dict[str, Any], statuses: list[str], *, variation: bool) -> None:
    for name in STRINGS:
        if name in data and data[name] is not None and not isinstance(data[name], str):
            errors.add(name, "rest_invalid_type", f"{name} is not of type string.", {"param": name})
    for name in BOOLEANS:
        if name in data and not _is_boolean(data[name]):
            errors.add(name, "rest_invalid_type", f"{name} is not of type boolean.", {"param": name})
    for name in INTEGERS:
        if name in data and data[name] is not None and not _is_integer(data[name]):
            errors.add(name, "rest_invalid_type", f"{name} is not of type integer.", {"param": name})
    enums = [("status", statuses), ("stock_status", STOCK_STATUSES), ("backorders", BACKORDERS)]
    if not variation:
        enums.append(("type", PRODUCT_TYPES))
    for name, allowed in enums:
        if name in data and data[name] not in allowed:
            errors.add(name, "rest_not_in_enum", f"{name} is not one of {enum_list(allowed)}.")


def _unique_sku(store: Store, sku: str, own_id: int) -> None:
    """WC_Product::set_sku: a SKU held by another product or variation (not in the trash) is refused."""
    if not sku.strip():
        return
    taken = {r.doc.get("sku"): r.id for coll in (store.products, store.variations) for r in coll.values()
             if r.id != own_id and r.status != "trash" and r.doc.get("sku")}
    holder = taken.get(sku)
    if holder is None:
        return
    n = 1
    while f"{sku}-{n}" in taken:  # wc_product_generate_unique_sku
        n += 1
    raise StoreError(400, "product_invalid_sku", "Invalid or duplicated SKU.",
                     {"resource_id": holder, "unique_sku": f"{sku}-{n}"})


def product(store: Store, data: dict[str, Any], own_id: int = 0, *, variation: bool = False) -> None:
    """POST /products, PUT /products/{id}, POST /products/{id}/variations, PUT .../variations/{vid}."""
    errors = ParamErrors()
    _schema(errors, data, VARIATION_STATUSES if variation else PRODUCT_STATUSES, variation=variation)
    if errors.items:
        raise errors
    if isinstance(data.get("sku"), str):
        _unique_sku(store, data["sku"], own_id)


def customer(data: dict[str, Any], *, create: bool) -> None:
    """POST /customers (email required) and PUT /customers/{id}; a registered email is the store's own check."""
    if create and "email" not in data:
        raise StoreError(400, "rest_missing_callback_param", "Missing parameter(s): email", {"params": ["email"]})
    errors = ParamErrors()
    for name in ("email", "first_name", "last_name", "username", "password"):
        if name in data and not isinstance(data[name], str):
            errors.add(name, "rest_invalid_type", f"{name} is not of type string.", {"param": name})
    email = data.get("email")
    if isinstance(email, str) and "email" not in errors.items and not EMAIL.match(email.strip()):
        errors.add("email", "rest_invalid_email", "Invalid email address.")
    if errors.items:
        raise errors
