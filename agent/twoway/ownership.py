"""Field ownership at work: canonical values read from WooCommerce documents, and the PUT bodies that write
Salesforce's values back. The declarations themselves (:class:`TwoWay`, owners, statuses) are
:mod:`shared.mapping.twoway`, re-exported here for the two-way modules.
"""
from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from shared.errors import PermanentError
from shared.mapping.twoway import (
    OWNERS,
    RESOURCES,
    STREETS,
    WC_STATUSES,
    Owned,
    TwoWay,
    TwoWayObject,
    canon_active,
    canon_number,
    load_twoway,
    norm,
)

__all__ = ["OWNERS", "RESOURCES", "WC_STATUSES", "InvalidValue", "Owned", "TwoWay", "TwoWayObject", "canon_number",
           "field_value", "iso", "load_twoway", "norm", "parse_ts", "put_body", "wc_value"]


class InvalidValue(PermanentError):
    """A Salesforce value WooCommerce cannot take (e.g. a status with no WooCommerce equivalent)."""

    code = "twoway_invalid_value"


def _street(addr: Any) -> str | None:
    addr = addr if isinstance(addr, dict) else {}
    parts = [norm(addr.get("address_1")), norm(addr.get("address_2"))]
    return "\n".join(p for p in parts if p) or None


def wc_value(doc: dict | None, wc: str) -> str | None:
    """The canonical value at ``wc`` of a WooCommerce REST document."""
    if not isinstance(doc, dict):
        return None
    if wc in STREETS:
        return _street(doc.get(STREETS[wc]))
    if wc.startswith("meta:"):
        k = wc[5:]
        for m in doc.get("meta_data") or []:
            if isinstance(m, dict) and m.get("key") == k:
                return norm(m.get("value"))
        return None
    cur: Any = doc
    for part in wc.split("."):
        cur = cur.get(part) if isinstance(cur, dict) else None
    return norm(cur)


def field_value(doc: dict | None, f: Owned) -> str | None:
    """The canonical value of field ``f`` in a WooCommerce REST document (a product's status as published or not,
    prices and quantities as plain decimals)."""
    raw = wc_value(doc, f.wc)
    if f.kind == "publish":
        return canon_active(raw)
    if f.kind in ("money", "stock"):
        return canon_number(raw)
    return raw


def _money(obj: TwoWayObject, f: Owned, value: str | None) -> str:
    if value is None:
        return ""
    try:
        d = Decimal(value)
    except InvalidOperation:
        d = Decimal("NaN")
    if not d.is_finite() or d < 0:
        raise InvalidValue(f"Salesforce {f.sobject or obj.sobject}.{f.sf} = {value!r} is not a price WooCommerce "
                           "takes (a number, 0 or more)", code="twoway_invalid_price")
    return f"{d:.2f}" if d == d.quantize(Decimal("0.01")) else f"{d.normalize():f}"


def _stock(obj: TwoWayObject, f: Owned, value: str | None) -> int | None:
    if value is None:
        return None
    try:
        d = Decimal(value)
    except InvalidOperation:
        d = Decimal("NaN")
    if not d.is_finite() or d != d.to_integral_value():
        raise InvalidValue(f"Salesforce {f.sobject or obj.sobject}.{f.sf} = {value!r} is not a whole stock quantity",
                           code="twoway_invalid_stock")
    return int(d)


def put_body(tw: TwoWay, obj: TwoWayObject, values: dict[str, str | None]) -> dict:
    """The ``PUT /orders|customers|products/{id}`` body writing ``values`` ({Salesforce field: canonical value})."""
    body: dict[str, Any] = {}
    by_sf = {f.sf: f for f in obj.fields}
    for sf, value in values.items():
        f = by_sf[sf]
        if f.kind == "publish":
            body[f.wc] = "publish" if canon_active(value) == "true" else "draft"
        elif f.kind == "money":
            body[f.wc] = _money(obj, f, value)
        elif f.kind == "stock":
            qty = _stock(obj, f, value)
            body.update({"manage_stock": qty is not None, f.wc: qty})
        elif f.wc == "status":
            status = tw.map_status(value or "")
            if status is None:
                allowed = ", ".join(list(WC_STATUSES) + sorted(tw.status_map))
                raise InvalidValue(f"Salesforce {obj.sobject}.{sf} = {value!r} has no WooCommerce order status "
                                   f"(allowed: {allowed}; map more in [twoway.options] status_map)",
                                   code="twoway_invalid_status")
            body["status"] = status
        elif f.wc in STREETS:
            line1, _, line2 = (value or "").partition("\n")
            addr = body.setdefault(STREETS[f.wc], {})
            addr["address_1"], addr["address_2"] = line1.strip(), line2.replace("\n", ", ").strip()
        elif f.wc.startswith("meta:"):
            body.setdefault("meta_data", []).append({"key": f.wc[5:], "value": value or ""})
        else:
            *path, leaf = f.wc.split(".")
            target = body
            for part in path:
                target = target.setdefault(part, {})
            target[leaf] = value or ""
    return body


def parse_ts(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    text = str(value)
    for fmt in ("%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z"):
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            pass
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def iso(dt: datetime | None) -> str | None:
    return dt.astimezone(UTC).isoformat() if dt else None


