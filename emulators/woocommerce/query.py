"""Query parameters as WordPress parses, validates and echoes them; list filtering and pagination."""
from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_plus

from .clock import StoreTime, parse_rest_date
from .errors import ParamErrors, enum_list
from .records import Rec

ORDER_STATUS_ENUM = ["any", "trash", "auto-draft", "pending", "processing", "on-hold", "completed", "cancelled",
                     "refunded", "failed", "checkout-draft"]
PRODUCT_STATUS_ENUM = ["any", "future", "trash", "draft", "pending", "private", "publish"]
ROLE_ENUM = ["all", "administrator", "editor", "author", "contributor", "subscriber", "customer", "shop_manager"]
ORDERBY = {
    "order": ["date", "id", "include", "title", "slug", "modified"],
    "product": ["date", "modified", "id", "include", "title", "slug", "price", "popularity", "rating", "menu_order"],
    "variation": ["date", "modified", "id", "include", "title", "slug", "menu_order"],
    "customer": ["id", "include", "name", "registered_date"],
    "refund": ["date", "id", "include", "title", "slug", "modified"],
}
DEFAULT_ORDERBY = {"order": "date", "product": "date", "variation": "date", "customer": "name", "refund": "date"}
DATE_PARAMS = ("after", "before", "modified_after", "modified_before")


def php_params(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """``a=1&b[]=x&b[]=y&c[0]=z`` -> {"a": "1", "b": ["x", "y"], "c": ["z"]}, first-seen key order."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key.endswith("]") and "[" in key:
            name = key[: key.index("[")]
            current = out.get(name)
            if not isinstance(current, list):
                current = out[name] = []
            current.append(value)
        else:
            out[key] = value
    return out


def php_urlencode(value: str) -> str:
    return quote_plus(value, safe="").replace("~", "%7E")


def build_query(params: dict[str, Any]) -> str:
    """WordPress ``build_query`` of url-encoded values; arrays as ``key%5B0%5D=``, booleans 1 / dropped."""
    parts = []
    for key, value in params.items():
        if value is False or value is None:
            continue
        if isinstance(value, list):
            parts.extend(f"{key}%5B{i}%5D={php_urlencode(_php_str(v))}" for i, v in enumerate(value))
        else:
            parts.append(f"{key}={php_urlencode(_php_str(value))}")
    return "&".join(parts)


def _php_str(value: Any) -> str:
    if value is True:
        return "1"
    return str(value)


def _int(errors: ParamErrors, params: dict[str, Any], name: str, default: int | None, lo: int | None = None,
         hi: int | None = None) -> int | None:
    raw = params.get(name)
    if raw is None:
        return default
    try:
        value = int(str(raw).strip())
    except ValueError:
        errors.add(name, "rest_invalid_type", f"{name} is not of type integer.")
        return default
    if lo is not None and hi is not None and not lo <= value <= hi:
        errors.add(name, "rest_out_of_bounds", f"{name} must be between {lo} (inclusive) and {hi} (inclusive)")
    elif lo is not None and value < lo:
        errors.add(name, "rest_out_of_bounds", f"{name} must be greater than or equal to {lo}")
    return value


def _bool(errors: ParamErrors, params: dict[str, Any], name: str) -> bool:
    raw = params.get(name)
    if raw is None:
        return False
    text = str(raw).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    errors.add(name, "rest_invalid_type", f"{name} is not of type boolean.")
    return False


def _int_list(errors: ParamErrors, params: dict[str, Any], name: str) -> list[int] | None:
    raw = params.get(name)
    if raw is None:
        return None
    items = raw if isinstance(raw, list) else [p for p in str(raw).split(",") if p.strip()]
    out = []
    for i, item in enumerate(items):
        try:
            out.append(int(str(item).strip()))
        except ValueError:
            errors.add(name, "rest_invalid_type", f"{name}[{i}] is not of type integer.")
    return out


def _enum(errors: ParamErrors, name: str, value: str, allowed: list[str], label: str | None = None) -> None:
    if value not in allowed:
        errors.add(name, "rest_not_in_enum", f"{label or name} is not one of {enum_list(allowed)}.")


@dataclass
class ListSpec:
    resource: str
    page: int = 1
    per_page: int = 10
    offset: int | None = None
    orderby: str = "date"
    order: str = "desc"
    statuses: list[str] = field(default_factory=list)
    include: list[int] | None = None
    exclude: list[int] | None = None
    search: str = ""
    customer: int | None = None
    role: str = "customer"
    email: str = ""
    sku: str = ""
    ptype: str = ""
    dates: dict[str, tuple[int, bool]] = field(default_factory=dict)  # param -> (epoch threshold, compare gmt column)
    echo: dict[str, Any] = field(default_factory=dict)  # sanitized query, for Link headers


def parse_list(resource: str, params: dict[str, Any], times: StoreTime) -> ListSpec:
    errors = ParamErrors()
    spec = ListSpec(resource=resource, orderby=DEFAULT_ORDERBY[resource], order="asc" if resource == "customer" else "desc")
    echo = dict(params)
    spec.page = _int(errors, params, "page", 1, lo=1) or 1
    spec.per_page = _int(errors, params, "per_page", 10, lo=1, hi=100) or 10
    spec.offset = _int(errors, params, "offset", None)
    for key in ("page", "per_page", "offset"):
        if key in echo and key not in errors.items:
            echo[key] = int(str(echo[key]).strip())
    if "order" in params:
        spec.order = str(params["order"])
        _enum(errors, "order", spec.order, ["asc", "desc"])
    if "orderby" in params:
        spec.orderby = str(params["orderby"])
        _enum(errors, "orderby", spec.orderby, ORDERBY[resource])
    spec.include = _int_list(errors, params, "include")
    spec.exclude = _int_list(errors, params, "exclude")
    for key in ("include", "exclude"):
        if key in echo and getattr(spec, key) is not None:
            echo[key] = getattr(spec, key)
    spec.search = str(params.get("search", "") or "")
    if resource == "order":
        raw = params.get("status", ["any"])
        statuses = raw if isinstance(raw, list) else list(str(raw).split(","))
        for i, s in enumerate(statuses):
            _enum(errors, "status", s, ORDER_STATUS_ENUM, f"status[{i}]")
        spec.statuses = statuses
        echo["status"] = statuses
        spec.customer = _int(errors, params, "customer", None)
    elif resource in ("product", "variation"):
        status = str(params.get("status", "any"))
        _enum(errors, "status", status, PRODUCT_STATUS_ENUM)
        spec.statuses = [status]
        spec.sku = str(params.get("sku", "") or "")
        spec.ptype = str(params.get("type", "") or "")
    elif resource == "customer":
        spec.role = str(params.get("role", "customer"))
        _enum(errors, "role", spec.role, ROLE_ENUM)
        spec.email = str(params.get("email", "") or "")
    if resource in ("order", "product", "variation"):
        gmt = _bool(errors, params, "dates_are_gmt")
        if "dates_are_gmt" in echo:
            echo["dates_are_gmt"] = gmt
        for name in DATE_PARAMS:
            if name not in params:
                continue
            parsed = parse_rest_date(str(params[name]))
            if parsed is None:
                errors.add(name, "rest_invalid_date", "Invalid date.")
                continue
            value, has_tz = parsed
            if has_tz:
                # WP_Date_Query turns a value with a zone into a store-local string, then compares it
                # with whichever column dates_are_gmt picked: right for local, 8 h off for *_gmt.
                local = times.to_local_naive(value)
                threshold = times.local_naive_to_epoch(local) if not gmt else _naive_utc_epoch(local)
            else:
                threshold = _naive_utc_epoch(value) if gmt else times.local_naive_to_epoch(value)
            spec.dates[name] = (threshold, gmt)
    if errors.items:
        raise errors
    spec.echo = echo
    return spec


def _naive_utc_epoch(naive: Any) -> int:
    from calendar import timegm

    return timegm(naive.timetuple())


def paginate(ids: list[int], spec: ListSpec, *, zero_past_end: bool = True) -> tuple[list[int], int, int]:
    total = len(ids)
    start = spec.offset if spec.offset is not None else (spec.page - 1) * spec.per_page
    page_ids = ids[start:start + spec.per_page]
    pages = math.ceil(total / spec.per_page) if total else 0
    if not page_ids and zero_past_end:
        total = pages = 0
    return page_ids, total, pages


def link_header(collection_url: str, echo: dict[str, Any], page: int, pages: int) -> str | None:
    links = []
    if page > 1:
        links.append(f'<{_page_url(collection_url, echo, min(page - 1, pages))}>; rel="prev"')
    if pages > page:
        links.append(f'<{_page_url(collection_url, echo, page + 1)}>; rel="next"')
    return ", ".join(links) or None


def _page_url(collection_url: str, echo: dict[str, Any], page: int) -> str:
    params = dict(echo)
    params["page"] = page  # replaces in place when present, else appended (add_query_arg)
    return f"{collection_url}?{build_query(params)}"


def date_filter(rec: Rec, spec: ListSpec, skip: tuple[str, ...] = ()) -> bool:
    for name, (threshold, _) in spec.dates.items():
        if name in skip:
            continue
        ts = rec.modified if name.startswith("modified") else rec.created
        if name.endswith("after") and not ts > threshold:
            return False
        if name.endswith("before") and not ts < threshold:
            return False
    return True
