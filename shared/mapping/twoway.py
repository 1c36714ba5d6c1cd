"""Field ownership declarations of two-way sync (``[twoway.*]`` in ``shared/mapping/mapping.toml``).

A two-way field is a Salesforce field of the record standing for a WooCommerce order, customer or product
(Product2, and its standard PricebookEntry for the price), with an ``owner`` (``woocommerce`` = one-way,
``salesforce``, ``both``) and a WooCommerce location (``wc``). Values are compared in one canonical form
(:func:`norm`: stripped text, ``None`` for empty; order statuses as WooCommerce statuses; a product's ``status``
as ``true``/``false`` for published or not (``IsActive``); prices and stock quantities as plain decimals, so
``10.00`` and ``10.0`` are one value). The agent's two-way sync (``agent/twoway/``) acts on these declarations;
they live here because loading a mapping validates them.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from shared.errors import ConfigError

if TYPE_CHECKING:
    from shared.mapping import Mapping

OWNERS = ("woocommerce", "salesforce", "both")
RESOURCES = {"order": ("Order",), "customer": ("Account", "Contact"), "product": ("Product2", "PricebookEntry")}
# sObjects that may join the resource's first sObject with fields of their own (same key, one entity)
SECONDARY = {"product": ("PricebookEntry",)}
# value kinds, from the WooCommerce location of a product field
KINDS = ("text", "publish", "money", "stock")
WC_STATUSES = ("pending", "processing", "on-hold", "completed", "cancelled", "refunded", "failed")
STREETS = {"@billing_street": "billing", "@shipping_street": "shipping"}




@dataclass(frozen=True)
class Owned:
    sf: str      # Salesforce field
    wc: str      # "status", "billing.phone", "meta:key", "@billing_street"
    owner: str   # woocommerce | salesforce | both
    sobject: str = ""   # the sObject holding it (a product's price lives on its PricebookEntry)
    kind: str = "text"  # text | publish (status publish/draft <-> IsActive) | money | stock (applied as a delta)


@dataclass(frozen=True)
class TwoWayObject:
    resource: str
    sobject: str
    fields: tuple[Owned, ...]

    @property
    def back(self) -> tuple[Owned, ...]:
        """Fields that flow from Salesforce to WooCommerce."""
        return tuple(f for f in self.fields if f.owner != "woocommerce")

    @property
    def parts(self) -> tuple[TwoWayObject, ...]:
        """One view per sObject holding some of the fields (Product2 and PricebookEntry for a product): what the
        poll queries and the delivery hook filters, one record each."""
        names = list(dict.fromkeys([self.sobject] + [f.sobject or self.sobject for f in self.fields]))
        if len(names) == 1:
            return (self,)
        return tuple(TwoWayObject(self.resource, n, tuple(f for f in self.fields if (f.sobject or self.sobject) == n))
                     for n in names)


def field_kind(resource: str, wc: str) -> str:
    if resource != "product":
        return "text"
    if wc == "status":
        return "publish"
    if wc in ("regular_price", "sale_price"):
        return "money"
    if wc == "stock_quantity":
        return "stock"
    return "text"


def canon_number(value: Any) -> str | None:
    """A price or quantity as a plain decimal (``10.00`` -> ``10``, ``10.50`` -> ``10.5``); None when empty."""
    v = norm(value)
    if v is None:
        return None
    try:
        d = Decimal(v)
    except InvalidOperation:
        return v  # not a number: kept as text, rejected when written
    if not d.is_finite():
        return v
    d = d.normalize()
    return f"{d:f}" if d != 0 else "0"


def canon_active(value: Any) -> str | None:
    """Published or not: Salesforce's IsActive (true/false) or a WooCommerce product status."""
    v = norm(value)
    if v is None:
        return None
    low = v.lower()
    if low in ("true", "1", "publish"):
        return "true"
    return "false"


@dataclass(frozen=True)
class TwoWay:
    objects: dict[str, TwoWayObject]  # resource -> object
    status_map: dict[str, str]

    def sf_canon(self, f: Owned, value: Any) -> str | None:
        """A Salesforce value in canonical form (a mappable status becomes its WooCommerce status)."""
        if f.kind == "publish":
            return canon_active(value)
        if f.kind in ("money", "stock"):
            return canon_number(value)
        v = norm(value)
        if f.wc == "status" and v is not None:
            return self.map_status(v) or v
        return v

    def map_status(self, value: str) -> str | None:
        low = value.strip().lower()
        if low in WC_STATUSES:
            return low
        return self.status_map.get(low)


def load_twoway(mapping: Mapping) -> TwoWay:
    """The ownership declarations of ``mapping`` (validated once, cached on the mapping)."""
    cached = mapping._twoway_cfg
    if cached is not None:
        return cached
    raw = dict(mapping.twoway or {})
    options = raw.pop("options", {}) or {}
    smap = options.get("status_map", {}) or {}
    if not isinstance(smap, dict) or not all(isinstance(v, str) for v in smap.values()):
        raise ConfigError("mapping [twoway.options] status_map must map Salesforce values to WooCommerce statuses")
    bad = sorted(v for v in smap.values() if v not in WC_STATUSES)
    if bad:
        raise ConfigError(f"mapping [twoway.options] status_map: {', '.join(bad)} are not WooCommerce statuses "
                          f"({', '.join(WC_STATUSES)})")
    objects: dict[str, TwoWayObject] = {}
    pending: dict[str, list[tuple[str, bool, list[Owned]]]] = {}
    for resource, objs in raw.items():
        if resource not in RESOURCES or not isinstance(objs, dict):
            raise ConfigError(f"mapping: unknown section [twoway.{resource}] (known: {', '.join(RESOURCES)}, options)")
        for sobject, fields in objs.items():
            if sobject not in RESOURCES[resource] or not isinstance(fields, dict):
                raise ConfigError(f"mapping: [twoway.{resource}.{sobject}] is not supported "
                                  f"(use {', '.join(RESOURCES[resource])})")
            secondary = sobject in SECONDARY.get(resource, ())
            owned = []
            for name, spec in fields.items():
                where = f"[twoway.{resource}.{sobject}] {name}"
                if not isinstance(spec, dict) or set(spec) - {"owner", "wc"} or "wc" not in spec:
                    raise ConfigError(f"mapping {where}: use {{ owner = \"both\", wc = \"billing.phone\" }}")
                owner = spec.get("owner", "woocommerce")
                if owner not in OWNERS:
                    raise ConfigError(f"mapping {where}: owner must be one of {', '.join(OWNERS)}")
                wc = spec["wc"]
                if not isinstance(wc, str) or not wc or (wc.startswith("@") and wc not in STREETS) \
                        or (wc.startswith("meta:") and len(wc) == 5):
                    raise ConfigError(f"mapping {where}: wc must be a dotted path, meta:<key>, @billing_street or "
                                      "@shipping_street")
                owned.append(Owned(name, wc, owner, sobject, field_kind(resource, wc)))
            if not owned:
                continue
            pending.setdefault(resource, []).append((sobject, secondary, owned))
    for resource, parts in pending.items():
        parts.sort(key=lambda p: p[1])  # the resource's own sObject first
        if len([p for p in parts if not p[1]]) > 1:
            raise ConfigError(f"mapping: [twoway.{resource}] may name one sObject")
        seen: dict[str, str] = {}
        for sobject, _, owned in parts:
            for f in owned:
                if f.sf in seen:
                    raise ConfigError(f"mapping: [twoway.{resource}] names {f.sf} on {seen[f.sf]} and {sobject}; "
                                      "a field name may appear once per resource")
                seen[f.sf] = sobject
        objects[resource] = TwoWayObject(resource, parts[0][0], tuple(f for p in parts for f in p[2]))
    tw = TwoWay(objects, {str(k).strip().lower(): v for k, v in smap.items()})
    mapping._twoway_cfg = tw
    return tw


def norm(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        value = "true" if value else "false"
    text = str(value).replace("\r\n", "\n").strip()
    return text or None
