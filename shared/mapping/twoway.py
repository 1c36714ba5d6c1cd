"""Field ownership declarations of two-way sync (``[twoway.*]`` in ``shared/mapping/mapping.toml``).

A two-way field is a Salesforce field of the record standing for a WooCommerce order or customer, with an
``owner`` (``woocommerce`` = one-way, ``salesforce``, ``both``) and a WooCommerce location (``wc``). Values are
compared in one canonical form (:func:`norm`: stripped text, ``None`` for empty; order statuses as WooCommerce
statuses). The agent's two-way sync (``agent/twoway/``) acts on these declarations; they live here because
loading a mapping validates them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared.errors import ConfigError

if TYPE_CHECKING:
    from shared.mapping import Mapping

OWNERS = ("woocommerce", "salesforce", "both")
RESOURCES = {"order": ("Order",), "customer": ("Account", "Contact")}
WC_STATUSES = ("pending", "processing", "on-hold", "completed", "cancelled", "refunded", "failed")
STREETS = {"@billing_street": "billing", "@shipping_street": "shipping"}




@dataclass(frozen=True)
class Owned:
    sf: str      # Salesforce field
    wc: str      # "status", "billing.phone", "meta:key", "@billing_street"
    owner: str   # woocommerce | salesforce | both


@dataclass(frozen=True)
class TwoWayObject:
    resource: str
    sobject: str
    fields: tuple[Owned, ...]

    @property
    def back(self) -> tuple[Owned, ...]:
        """Fields that flow from Salesforce to WooCommerce."""
        return tuple(f for f in self.fields if f.owner != "woocommerce")


@dataclass(frozen=True)
class TwoWay:
    objects: dict[str, TwoWayObject]  # resource -> object
    status_map: dict[str, str]

    def sf_canon(self, f: Owned, value: Any) -> str | None:
        """A Salesforce value in canonical form (a mappable status becomes its WooCommerce status)."""
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
    for resource, objs in raw.items():
        if resource not in RESOURCES or not isinstance(objs, dict):
            raise ConfigError(f"mapping: unknown section [twoway.{resource}] (known: {', '.join(RESOURCES)}, options)")
        for sobject, fields in objs.items():
            if sobject not in RESOURCES[resource] or not isinstance(fields, dict):
                raise ConfigError(f"mapping: [twoway.{resource}.{sobject}] is not supported "
                                  f"(use {', '.join(RESOURCES[resource])})")
            if resource in objects and objects[resource].sobject != sobject and fields:
                raise ConfigError(f"mapping: [twoway.{resource}] may name one sObject")
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
                owned.append(Owned(name, wc, owner))
            if owned:
                objects[resource] = TwoWayObject(resource, sobject, tuple(owned))
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
