"""The declarative WooCommerce -> Salesforce mapping (``shared/mapping/mapping.toml``, overridable).

:func:`load_mapping` reads the shipped defaults and merges an owner's file over them; :func:`mapping_for` is the
mapping of one store (shipped, global override, the store's own override), for every caller;
:meth:`Mapping.fields` turns one WooCommerce document into the Salesforce fields of one sObject.
Keys and references are structural (``agent/delivery/plan.py``), not configurable.
"""
from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from shared.errors import ConfigError
from shared.mapping.twoway import TwoWay, load_twoway
from shared.models import parse_wc_datetime

TYPES = ("text", "number", "int", "bool", "date", "datetime")
SOURCES = {"customer": ("Account", "Contact", "PersonAccount"), "buyer": ("Account", "Contact", "PersonAccount"),
           "guest": ("Lead",), "product": ("Product2", "PricebookEntry"),
           "line_product": ("Product2", "PricebookEntry"), "order": ("Order", "Opportunity"),
           "order_item": ("OrderItem", "OpportunityLineItem"), "refund": ("Woo_Refund__c",)}
KEY_FIELD = "Wooforce_Key__c"
# the org's data model, per store ([options]): which tables a model writes (the rest of the mapping stays unused)
CUSTOMER_MODELS = {"account_contact": ("Account", "Contact"), "person_account": ("PersonAccount",)}
ORDER_MODELS = {"order": ("Order", "OrderItem"), "opportunity": ("Opportunity", "OpportunityLineItem")}
PERSON_ACCOUNT = "PersonAccount"  # a table name: an Account written as a Person Account


def key(store_id: str, resource: str, rid: Any) -> str:
    return f"{store_id}:{resource}:{rid}"


def email_hash(email: str | None) -> str | None:
    email = (email or "").strip().lower()
    return hashlib.sha256(email.encode()).hexdigest() if email else None


def _get(doc: Any, path: str) -> Any:
    for part in path.split("."):
        if isinstance(doc, dict):
            doc = doc.get(part)
        elif isinstance(doc, list) and part.isdigit() and int(part) < len(doc):
            doc = doc[int(part)]
        else:
            return None
    return doc


def _empty(v: Any) -> bool:
    return v is None or v == "" or v == []


def _join(*parts: Any, sep: str = " ") -> str | None:
    text = sep.join(str(p).strip() for p in parts if not _empty(p) and str(p).strip())
    return text or None


def _street(addr: Any) -> str | None:
    addr = addr if isinstance(addr, dict) else {}
    return _join(addr.get("address_1"), addr.get("address_2"), sep="\n")


def _number(v: Any) -> float | None:
    if _empty(v):
        return None
    try:
        return round(float(v), 6)
    except (TypeError, ValueError):
        return None


def _wc_dt(v: Any) -> datetime | None:
    """Lenient :func:`shared.models.parse_wc_datetime`: anything unparseable maps to no value."""
    if _empty(v) or not isinstance(v, str):
        return None
    try:
        return parse_wc_datetime(v)
    except ValueError:
        return None


@dataclass(frozen=True)
class Ctx:
    """What a computed value may look at besides the document."""

    store_id: str
    resource: str
    action: str
    options: dict


def _price(d: dict, c: Ctx) -> float:
    for k in ("price", "regular_price"):
        if (n := _number(d.get(k))) is not None:
            return n
    return 0.0


def _line_unit_price(d: dict, c: Ctx) -> float:
    if (n := _number(d.get("price"))) is not None:
        return n
    qty = _number(d.get("quantity")) or 1
    return round((_number(d.get("subtotal")) or 0) / qty, 6)


def _date_created(d: dict, c: Ctx) -> str:
    dt = _wc_dt(d.get("date_created_gmt")) or _wc_dt(d.get("date_modified_gmt"))
    return (dt.date() if dt else date.today()).isoformat()


def _order_status(d: dict, c: Ctx) -> str | None:
    status: str | None
    if c.action == "trashed":
        status = c.options.get("trashed_order_status", "trash")
    elif c.action == "deleted":
        status = c.options.get("deleted_order_status", "deleted")
    else:
        status = d.get("status")
    return status


def _opportunity_stage(d: dict, c: Ctx) -> str:
    status = _order_status(d, c)
    stages = c.options.get("opportunity_stages") or {}
    if status in stages:
        return str(stages[status])
    if not _empty(d.get("date_paid_gmt")) or not _empty(d.get("date_paid")):
        return "Closed Won"
    return str(c.options.get("opportunity_open_stage", "Prospecting"))


def _close_date(d: dict, c: Ctx) -> str:
    for k in ("date_completed_gmt", "date_paid_gmt"):
        if (dt := _wc_dt(d.get(k))) is not None:
            return dt.date().isoformat()
    return _date_created(d, c)


def _product_active(d: dict, c: Ctx) -> bool:
    return c.action not in ("trashed", "deleted") and d.get("status", "publish") in ("publish", None, "")


COMPUTED: dict[str, Callable[[dict, Ctx], Any]] = {
    "full_name": lambda d, c: _join(d.get("first_name"), d.get("last_name")),
    "billing_name": lambda d, c: _join(_get(d, "billing.first_name"), _get(d, "billing.last_name")),
    "anonymous_name": lambda d, c: c.options.get("anonymous_name", "Guest buyer"),
    "billing_street": lambda d, c: _street(d.get("billing")),
    "shipping_street": lambda d, c: _street(d.get("shipping")),
    "email_hash": lambda d, c: email_hash(d.get("email") or _get(d, "billing.email")),
    "customer_ref": lambda d, c: key(c.store_id, "customer", d.get("id")),
    "product_ref": lambda d, c: key(c.store_id, "product", d.get("id")),
    "order_ref": lambda d, c: key(c.store_id, "order", d.get("id")),
    "product_active": _product_active,
    "price": _price,
    "date_created": _date_created,
    "order_status": _order_status,
    "shipping_method": lambda d, c: _join(*(s.get("method_title") or s.get("method_id")
                                            for s in d.get("shipping_lines") or [] if isinstance(s, dict)), sep=", "),
    "line_unit_price": _line_unit_price,
    "opportunity_name": lambda d, c: f"Order {d.get('number') or d.get('id')}",
    "opportunity_stage": _opportunity_stage,
    "close_date": _close_date,
    "refund_amount": lambda d, c: None if (n := _number(d.get("total"))) is None else abs(n),
}


def _convert(v: Any, typ: str) -> Any:
    if _empty(v):
        return None
    if typ == "text":
        return v if isinstance(v, str) else ("true" if v is True else "false" if v is False else str(v))
    if typ == "number":
        return _number(v)
    if typ == "int":
        n = _number(v)
        return None if n is None else int(n)
    if typ == "bool":
        return v if isinstance(v, bool) else str(v).strip().lower() in ("1", "true", "yes", "on")
    dt = _wc_dt(v) if isinstance(v, str) else None
    if dt is None:
        return None
    return dt.date().isoformat() if typ == "date" else dt.strftime("%Y-%m-%dT%H:%M:%S.000Z")


@dataclass(frozen=True)
class Spec:
    sources: tuple[str, ...]
    type: str | None = None  # None: keep computed values' own type, text for paths
    max_length: int | None = None


def _spec(where: str, raw: Any) -> Spec | None:
    typ, max_length = None, None
    if isinstance(raw, dict):
        unknown = set(raw) - {"value", "type", "max_length"}
        if unknown or "value" not in raw:
            raise ConfigError(f"mapping {where}: a table needs `value` (and optional `type`, `max_length`)")
        typ, max_length, raw = raw.get("type"), raw.get("max_length"), raw["value"]
        if typ is not None and typ not in TYPES:
            raise ConfigError(f"mapping {where}: type must be one of {', '.join(TYPES)}")
    sources = tuple(raw) if isinstance(raw, list) else (raw,)
    if not all(isinstance(s, str) for s in sources):
        raise ConfigError(f"mapping {where}: values are strings (path, @computed, =constant) or lists of them")
    sources = tuple(s for s in sources if s)
    for s in sources:
        if s.startswith("@") and s[1:] not in COMPUTED:
            raise ConfigError(f"mapping {where}: unknown computed value {s} (known: {', '.join(sorted(COMPUTED))})")
    return Spec(sources, typ, max_length) if sources else None


@dataclass
class Mapping:
    options: dict
    tables: dict[tuple[str, str], dict[str, Spec]]
    # raw [twoway] section: field ownership (shared/mapping/twoway.py, agent/twoway/)
    twoway: dict = field(default_factory=dict)
    # the validated form of ``twoway``, filled on first use by shared.mapping.twoway.load_twoway
    _twoway_cfg: TwoWay | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def customer_model(self) -> str:
        return str(self.options.get("customer_model", "account_contact"))

    @property
    def order_model(self) -> str:
        return str(self.options.get("order_model", "order"))

    @property
    def lead_for_guests(self) -> bool:
        return bool(self.options.get("lead_for_guests", False))

    def used(self, source: str, table: str) -> bool:
        """Whether the store's models write this table ([source.table])."""
        if table in ("Account", "Contact", PERSON_ACCOUNT):
            return table in CUSTOMER_MODELS[self.customer_model]
        if table in ("Order", "OrderItem", "Opportunity", "OpportunityLineItem"):
            return table in ORDER_MODELS[self.order_model]
        if table == "Lead":
            return self.lead_for_guests
        if table == "Woo_Refund__c":
            return bool(self.options.get("refunds", "fields") == "records")
        return True

    def sobject_fields(self) -> dict[str, set[str]]:
        """Every Salesforce field the mapping writes with the store's models, per sObject (plus Wooforce_Key__c)."""
        out: dict[str, set[str]] = {}
        for (source, table), fields in self.tables.items():
            if self.used(source, table):
                sobject = "Account" if table == PERSON_ACCOUNT else table
                out.setdefault(sobject, {KEY_FIELD}).update(fields)
        for sobject, extra in self.model_fields().items():
            out.setdefault(sobject, {KEY_FIELD}).update(extra)
        return out

    def model_fields(self) -> dict[str, set[str]]:
        """The structural fields a model writes besides the mapped ones (references, record type, stage rules)."""
        out: dict[str, set[str]] = {}
        if self.customer_model == "person_account":
            out["Account"] = {"RecordTypeId"}
        if self.order_model == "opportunity":
            out["Opportunity"] = {"AccountId", "Pricebook2Id"}
            out["OpportunityLineItem"] = {"OpportunityId", "PricebookEntryId"}
            if self.customer_model == "account_contact":
                out["OpportunityContactRole"] = {"OpportunityId", "ContactId", "Role", "IsPrimary"}
        if self.lead_for_guests and self.order_model == "order":
            out.setdefault("Account", set()).add("Name")
        if self.options.get("multi_currency"):
            out.setdefault("Opportunity" if self.order_model == "opportunity" else "Order", set()).add(
                "CurrencyIsoCode")
            out.setdefault("PricebookEntry", set()).add("CurrencyIsoCode")
        if self.options.get("refunds", "fields") == "records":
            parent = "Opportunity" if self.order_model == "opportunity" else "Order"
            out.setdefault(parent, set()).add("Woo_Refunded_Total__c")
            out["Woo_Refund__c"] = {f"Woo_{parent}__c"}
        return out

    def fields(self, source: str, sobject: str, doc: dict, ctx: Ctx) -> dict:
        out = {}
        for name, spec in self.tables.get((source, sobject), {}).items():
            value = None
            for src in spec.sources:
                if src.startswith("="):
                    value = _convert(src[1:], spec.type or "text")
                    if spec.type is None and src[1:] in ("true", "false"):
                        value = src[1:] == "true"
                elif src.startswith("@"):
                    value = COMPUTED[src[1:]](doc, ctx)
                    if spec.type:
                        value = _convert(value, spec.type)
                else:
                    value = _convert(_get(doc, src), spec.type or "text")
                if not _empty(value):
                    break
            if isinstance(value, str):
                value = value.strip() or None
                if value and spec.max_length:
                    value = value[:spec.max_length]
            out[name] = None if _empty(value) else value
        return out


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) and k != "value" \
            and not {"value"} & set(v) else v
    return out


def _read(path: Path | str) -> dict:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except OSError as exc:
        raise ConfigError(f"mapping file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"mapping file {path}: {exc}") from None


def default_text() -> str:
    return resources.files("shared.mapping").joinpath("mapping.toml").read_text()


def mapping_for(store: dict[str, Any] | None, global_file: Path | str | None) -> Mapping:
    """The mapping one store's records are written with, for every caller (delivery, ``salesforce check``, the
    Salesforce erasure, the console's "sent to Salesforce" view): the shipped mapping, the global override
    ``settings.mapping_file`` (``global_file``) over it, and the store's own ``mapping_file`` (in its decrypted
    Salesforce connection, ``store["sf_credentials"]``, as :meth:`shared.stores.StoreManager.get` returns it) on top.
    A store without a connection or an override gets the shipped and global mapping."""
    conn = (store or {}).get("sf_credentials") or {}
    own = conn.get("mapping_file") if isinstance(conn, dict) else None
    return load_mapping(global_file, own)


def load_mapping(*overrides: Path | str | None) -> Mapping:
    """The shipped mapping with each override file merged over it (later files win)."""
    raw = tomllib.loads(default_text())
    for path in overrides:
        if path:
            raw = _merge(raw, _read(path))
    options = raw.pop("options", {})
    twoway = raw.pop("twoway", {})
    if options.get("customer_on_delete", "keep") not in ("keep", "erase"):
        raise ConfigError("mapping options.customer_on_delete must be \"keep\" or \"erase\"")
    for name, allowed in (("customer_model", CUSTOMER_MODELS), ("order_model", ORDER_MODELS)):
        if options.get(name, next(iter(allowed))) not in allowed:
            raise ConfigError(f"mapping options.{name} must be one of {', '.join(allowed)} "
                              f"(got {options.get(name)!r})")
    active = options.get("activate_order_statuses", [])
    if not isinstance(active, list) or not all(isinstance(s, str) for s in active):
        raise ConfigError("mapping options.activate_order_statuses must be a list of WooCommerce statuses")
    if options.get("refunds", "fields") not in ("fields", "records"):
        raise ConfigError("mapping options.refunds must be \"fields\" or \"records\"")
    if not isinstance(options.get("lead_for_guests", False), bool):
        raise ConfigError("mapping options.lead_for_guests must be true or false")
    if not isinstance(options.get("money_lines", False), bool):
        raise ConfigError("mapping options.money_lines must be true or false")
    if not isinstance(options.get("multi_currency", False), bool):
        raise ConfigError("mapping options.multi_currency must be true or false")
    if not isinstance(options.get("opportunity_stages", {}), dict):
        raise ConfigError("mapping options.opportunity_stages must be a table of WooCommerce status = StageName")
    if options.get("match_ambiguous", "wait") not in ("create", "oldest", "wait"):
        raise ConfigError("mapping options.match_ambiguous must be \"create\", \"oldest\" or \"wait\"")
    tables: dict[tuple[str, str], dict[str, Spec]] = {}
    for source, objs in raw.items():
        if source not in SOURCES or not isinstance(objs, dict):
            raise ConfigError(f"mapping: unknown section [{source}] (known: {', '.join(SOURCES)}, options)")
        for sobject, fields in objs.items():
            if sobject not in SOURCES[source]:
                raise ConfigError(f"mapping: [{source}.{sobject}] is not mapped (use {', '.join(SOURCES[source])})")
            specs = {}
            for name, rawspec in fields.items():
                spec = _spec(f"[{source}.{sobject}] {name}", rawspec)
                if spec is not None:
                    specs[name] = spec
            tables[(source, sobject)] = specs
    mapping = Mapping(options, tables, twoway)
    load_twoway(mapping)  # validates the ownership declarations (ConfigError)
    return mapping
