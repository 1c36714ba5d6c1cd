"""Field ownership for two-way sync (``[twoway.*]`` in ``agent/mapping.toml``) and the per-entity sync state.

A two-way field is a Salesforce field of the record standing for a WooCommerce order or customer, with an
``owner`` (``woocommerce`` = one-way, ``salesforce``, ``both``) and a WooCommerce location (``wc``). Values are
compared in one canonical form (stripped text, ``None`` for empty; order statuses as WooCommerce statuses).

``twoway_state.fields`` keeps per field: ``v`` (the value both sides agree on, or that Wooforce wrote),
``wc_at`` (WooCommerce version of its last change there), ``wc_synced`` (the version our last PUT produced),
``sf_at`` / ``sf_pending`` (a human change in Salesforce not yet written to WooCommerce), ``sf_lost`` (a
Salesforce value that lost a conflict), ``unsure`` / ``amb`` (upserts of the values ``amb`` ended ambiguously - a 5xx
or timeout after which Salesforce may or may not hold them - so ``v`` is not trusted until a delivery is confirmed or
Salesforce is seen holding one of them).

Hooks of the WooCommerce -> Salesforce delivery (:class:`DeliveryHook`): an echo of Wooforce's own WooCommerce
write (same ``date_modified`` as our PUT returned, same values) is skipped; a ``both`` field WooCommerce did not
change is left out of the upsert (so it cannot overwrite a Salesforce change), unless its last upsert was ambiguous
(then Salesforce is read first and the store's value is sent); a ``salesforce`` field is never sent;
a field both sides changed goes to the newer change, and the loser is recorded in ``twoway_conflicts``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from loguru import logger

from agent.mapping import Mapping, key
from shared.db import Database
from shared.errors import ConfigError, PermanentError, RetryableError

OWNERS = ("woocommerce", "salesforce", "both")
RESOURCES = {"order": ("Order",), "customer": ("Account", "Contact")}
WC_STATUSES = ("pending", "processing", "on-hold", "completed", "cancelled", "refunded", "failed")
_STREETS = {"@billing_street": "billing", "@shipping_street": "shipping"}
AMBIGUOUS_KEEP = 10  # unconfirmed values remembered per field


class InvalidValue(PermanentError):
    """A Salesforce value WooCommerce cannot take (e.g. a status with no WooCommerce equivalent)."""

    code = "twoway_invalid_value"


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
    cached = getattr(mapping, "_twoway_cfg", None)
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
                if not isinstance(wc, str) or not wc or (wc.startswith("@") and wc not in _STREETS) \
                        or (wc.startswith("meta:") and len(wc) == 5):
                    raise ConfigError(f"mapping {where}: wc must be a dotted path, meta:<key>, @billing_street or "
                                      "@shipping_street")
                owned.append(Owned(name, wc, owner))
            if owned:
                objects[resource] = TwoWayObject(resource, sobject, tuple(owned))
    tw = TwoWay(objects, {str(k).strip().lower(): v for k, v in smap.items()})
    setattr(mapping, "_twoway_cfg", tw)
    return tw


# ---- values ---------------------------------------------------------------------------------------------
def norm(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        value = "true" if value else "false"
    text = str(value).replace("\r\n", "\n").strip()
    return text or None


def _street(addr: Any) -> str | None:
    addr = addr if isinstance(addr, dict) else {}
    parts = [norm(addr.get("address_1")), norm(addr.get("address_2"))]
    return "\n".join(p for p in parts if p) or None


def wc_value(doc: dict | None, wc: str) -> str | None:
    """The canonical value at ``wc`` of a WooCommerce REST document."""
    if not isinstance(doc, dict):
        return None
    if wc in _STREETS:
        return _street(doc.get(_STREETS[wc]))
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


def put_body(tw: TwoWay, obj: TwoWayObject, values: dict[str, str | None]) -> dict:
    """The ``PUT /orders|customers/{id}`` body writing ``values`` ({Salesforce field: canonical value})."""
    body: dict[str, Any] = {}
    by_sf = {f.sf: f for f in obj.fields}
    for sf, value in values.items():
        f = by_sf[sf]
        if f.wc == "status":
            status = tw.map_status(value or "")
            if status is None:
                allowed = ", ".join(list(WC_STATUSES) + sorted(tw.status_map))
                raise InvalidValue(f"Salesforce {obj.sobject}.{sf} = {value!r} has no WooCommerce order status "
                                   f"(allowed: {allowed}; map more in [twoway.options] status_map)",
                                   code="twoway_invalid_status")
            body["status"] = status
        elif f.wc in _STREETS:
            line1, _, line2 = (value or "").partition("\n")
            addr = body.setdefault(_STREETS[f.wc], {})
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
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    text = str(value)
    for fmt in ("%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z"):
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            pass
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def iso(dt: datetime | None) -> str | None:
    return dt.astimezone(timezone.utc).isoformat() if dt else None


def payload_dict(payload: Any) -> dict:
    if isinstance(payload, str):
        try:
            payload = json.loads(payload)
        except ValueError:
            return {}
    return payload if isinstance(payload, dict) else {}


def wc_changed(head: "Head | None", fs: dict, w_head: str | None) -> bool:
    """WooCommerce holds a change of this field Salesforce has not received: the outbox head (newer than the
    version the field was last synced at) differs from the agreed value."""
    if head is None or "v" not in fs or w_head == fs["v"] or head.action == "deleted":
        return False
    known = [t for t in (parse_ts(fs.get("wc_at")), parse_ts(fs.get("wc_synced"))) if t is not None]
    return not known or head.version > max(known)


def _unconfirmed(fs: dict) -> list:
    """The values our unconfirmed upserts of a field may have left in Salesforce (newest last)."""
    return fs["amb"] if fs.get("unsure") and isinstance(fs.get("amb"), list) else []


def ambiguous_values(fs: dict, w: str | None) -> list:
    """:func:`_unconfirmed` with ``w`` added as the newest."""
    return ([x for x in _unconfirmed(fs) if x != w] + [w])[-AMBIGUOUS_KEEP:]


def is_own_ambiguous(fs: dict, s: str | None) -> bool:
    """Salesforce holds a value one of our unconfirmed upserts sent (it landed after all)."""
    return s in _unconfirmed(fs)


# ---- state ----------------------------------------------------------------------------------------------
@dataclass
class State:
    fields: dict[str, dict]
    written_version: datetime | None = None
    written: dict | None = None


async def load_states(db: Database, store_id: str, resource: str, rids: list[int], conn=None) -> dict[int, State]:
    if not rids:
        return {}
    rows = await db.fetch("twoway_states", store_id, resource, sorted(set(rids)), conn=conn)
    return {r["resource_id"]: State(payload_dict(r["fields"]), r["wc_written_version"],
                                    payload_dict(r["wc_written"]) if r["wc_written"] is not None else None)
            for r in rows}


@dataclass
class Head:
    version: datetime
    action: str
    doc: dict


async def load_heads(db: Database, store_id: str, resource: str, rids: list[int], conn=None) -> dict[int, Head]:
    """The newest WooCommerce version of each entity the outbox holds (``None`` docs for bare delete stubs)."""
    if not rids:
        return {}
    rows = await db.fetch("twoway_wc_heads", store_id, resource, sorted(set(rids)), conn=conn)
    return {r["resource_id"]: Head(r["head_version"], r["action"], payload_dict(r["payload"])) for r in rows}


@dataclass
class Conflict:
    resource: str
    resource_id: int
    field: str
    winner: str
    winner_value: str | None
    winner_at: datetime | None
    loser_value: str | None
    loser_at: datetime | None


@dataclass
class Changes:
    """State patches and conflicts to write in one go."""

    patches: dict[tuple[str, int], dict] = field(default_factory=dict)
    written: dict[tuple[str, int], tuple[datetime, dict]] = field(default_factory=dict)
    conflicts: list[Conflict] = field(default_factory=list)

    def patch(self, resource: str, rid: int, sf_field: str, **kv) -> None:
        self.patches.setdefault((resource, rid), {}).setdefault(sf_field, {}).update(
            {k: iso(v) if isinstance(v, datetime) else v for k, v in kv.items()})

    def empty(self) -> bool:
        return not (self.patches or self.written or self.conflicts)

    async def save(self, db: Database, store_id: str, conn=None) -> None:
        by_resource: dict[str, list[tuple[int, dict, datetime | None, dict | None]]] = {}
        for (resource, rid) in sorted(set(self.patches) | set(self.written)):
            version, written = self.written.get((resource, rid), (None, None))
            by_resource.setdefault(resource, []).append((rid, self.patches.get((resource, rid), {}), version, written))
        for resource, rows in by_resource.items():
            await db.execute("twoway_patch_states", store_id, resource, [r[0] for r in rows],
                             [r[1] for r in rows], [r[2] for r in rows], [r[3] for r in rows], conn=conn)
        if self.conflicts:
            c = self.conflicts
            await db.execute("twoway_insert_conflicts", store_id, [x.resource for x in c], [x.resource_id for x in c],
                             [x.field for x in c], [x.winner for x in c], [x.winner_value for x in c],
                             [x.winner_at for x in c], [x.loser_value for x in c], [x.loser_at for x in c], conn=conn)
            for x in c:
                logger.bind(action="twoway.conflict", store_id=store_id, resource=x.resource,
                            resource_id=x.resource_id, field=x.field, winner=x.winner).info(
                    "both sides changed a field; the newer change won")


# ---- WooCommerce -> Salesforce delivery hooks -----------------------------------------------------------
class DeliveryHook:
    """One store's batch: echo skipping before the plan, field filtering after it, state after delivery."""

    def __init__(self, db: Database, store_id: str, tw: TwoWay):
        self.db, self.store_id, self.tw = db, store_id, tw
        self.states: dict[tuple[str, int], State] = {}
        self.pending: dict[int, Changes] = {}  # unit index -> what to record once it is delivered
        self.sent: dict[int, tuple[Any, dict[str, str | None]]] = {}  # unit index -> (its record, both fields sent)

    @classmethod
    async def prepare(cls, db: Database, store_id: str, mapping: Mapping, units: list, run=None) -> "DeliveryHook":
        hook = cls(db, store_id, load_twoway(mapping))
        for resource in hook.tw.objects:
            mine = [u for u in units if u.resource == resource]
            if not mine:
                continue
            states = await load_states(db, store_id, resource, [u.resource_id for u in mine])
            for rid, st in states.items():
                hook.states[(resource, rid)] = st
            for u in mine:
                st = states.get(u.resource_id)
                if st is not None and hook.is_echo(u, st):
                    u.skip_reason = "echo: this WooCommerce version is Wooforce's own write (not sent back)"
        if run is not None:
            try:
                await hook.preflight(run, units)
            except (RetryableError, PermanentError) as exc:
                # degrade to what the poller has seen; the delivery itself goes on
                logger.bind(action="twoway.preflight_failed", store_id=store_id, code=exc.code).warning(
                    "could not read Salesforce before delivery: {}", exc.message[:300])
        return hook

    async def preflight(self, run, units: list) -> None:
        """Before WooCommerce's change of a ``both`` field overwrites Salesforce, read the current Salesforce
        values of those records (one SOQL call per 200): a newer human change there must win, and be recorded."""
        from agent import sfpoll

        for resource, obj in self.tw.objects.items():
            both = [f for f in obj.fields if f.owner == "both"]
            keys, rids = [], []
            for u in units:
                if u.resource != resource or u.skip_reason or u.action == "deleted":
                    continue
                st = self.states.get((resource, u.resource_id))
                if st is None:
                    continue  # first sync of this entity: nothing of Salesforce's to protect yet
                if any("v" in st.fields.get(f.sf, {}) and (wc_value(u.payload, f.wc) != st.fields[f.sf]["v"]
                                                            or st.fields[f.sf].get("unsure")) for f in both):
                    keys.append(key(self.store_id, resource, u.resource_id))
                    rids.append(u.resource_id)
            for i in range(0, len(keys), 200):
                rows = await run._call(run.client.query, sfpoll.build_soql_keys(obj, keys[i:i + 200]))
                await sfpoll.process_rows(self.db, self.store_id, self.tw, obj, rows, run.client.user_id)
            if rids:
                for rid, st in (await load_states(self.db, self.store_id, resource, rids)).items():
                    self.states[(resource, rid)] = st

    def is_echo(self, u, st: State) -> bool:
        if st.written_version is None or not st.written or u.action in ("trashed", "deleted"):
            return False
        if u.version != st.written_version:
            return False
        obj = self.tw.objects[u.resource]
        return all(wc_value(u.payload, f.wc) == st.written.get(f.sf) for f in obj.back if f.sf in st.written)

    def filter(self, plan) -> None:
        for u in plan.units:
            obj = self.tw.objects.get(u.resource)
            if obj is None or u.skip_reason or u.action == "deleted":
                continue
            rec = plan.records.get((obj.sobject, key(self.store_id, u.resource, u.resource_id)))
            if rec is None or rec.owner != u.index:
                continue
            st = self.states.get((u.resource, u.resource_id))
            ch = self.pending[u.index] = Changes()
            sent = {}
            self.sent[u.index] = (rec, sent)
            version = u.version
            for f in obj.fields:
                if f.owner == "woocommerce":
                    continue
                # what the upsert would send (e.g. "trash" for a trashed order), else the document's value
                w = self.tw.sf_canon(f, rec.fields[f.sf]) if f.sf in rec.fields else wc_value(u.payload, f.wc)
                if f.owner == "salesforce":
                    rec.fields.pop(f.sf, None)  # Salesforce owns it: never overwritten from WooCommerce
                    if st is None or "v" not in st.fields.get(f.sf, {}):
                        ch.patch(u.resource, u.resource_id, f.sf, v=w)
                    continue
                fs = st.fields.get(f.sf, {}) if st else {}
                if "v" in fs and w == fs["v"] and not fs.get("unsure"):
                    rec.fields.pop(f.sf, None)  # WooCommerce did not change it: leave Salesforce's value alone
                    continue
                pending, sf_at = fs.get("sf_pending"), parse_ts(fs.get("sf_at"))
                if pending is not None and pending != w and sf_at is not None and sf_at >= version:
                    # Salesforce changed it later (not yet written to WooCommerce): Salesforce wins
                    rec.fields.pop(f.sf, None)
                    ch.conflicts.append(Conflict(u.resource, u.resource_id, f.sf, "salesforce", pending, sf_at, w,
                                                 version))
                    ch.patch(u.resource, u.resource_id, f.sf, wc_at=version)
                    continue
                if pending is not None and pending != w:
                    ch.conflicts.append(Conflict(u.resource, u.resource_id, f.sf, "woocommerce", w, version, pending,
                                                 sf_at))
                sent[f.sf] = w
                ch.patch(u.resource, u.resource_id, f.sf, v=w, wc_at=version, sf_pending=None, unsure=None,
                         amb=None)

    async def delivered(self, results: list[dict]) -> None:
        total = Changes()
        for r in results:
            u = r["unit"]
            ch = self.pending.get(u.index)
            if ch is None:
                continue
            if r["outcome"] != "delivered":
                rec, sent = self.sent.get(u.index, (None, {}))
                if rec is not None and (rec.ambiguous or rec.ok):
                    # Salesforce may hold these values now (or does: the record went through but the unit did not,
                    # e.g. its Contact or order lines failed): stop trusting v until we know
                    st = self.states.get((u.resource, u.resource_id))
                    for sf_field, w in sent.items():
                        total.patch(u.resource, u.resource_id, sf_field, unsure=True,
                                    amb=ambiguous_values(st.fields.get(sf_field, {}) if st else {}, w))
                continue
            for k, p in ch.patches.items():
                for sf_field, kv in p.items():
                    total.patches.setdefault(k, {}).setdefault(sf_field, {}).update(kv)
            total.conflicts.extend(ch.conflicts)
        if not total.empty():
            await total.save(self.db, self.store_id)


async def before_plan(db: Database, store_id: str, mapping: Mapping, units: list, run=None) -> DeliveryHook | None:
    """Delivery hook entry point; never fails the delivery (two-way trouble is logged)."""
    try:
        tw = load_twoway(mapping)
        if not tw.objects:
            return None
        return await DeliveryHook.prepare(db, store_id, mapping, units, run)
    except Exception as exc:  # noqa: BLE001 - a bug in two-way must not stop one-way delivery
        logger.bind(action="twoway.hook_failed", store_id=store_id).warning("two-way hook failed: {}", exc)
        return None


async def after_delivery(runs: list, results: list[dict]) -> None:
    for run in runs:
        hook = getattr(run, "twoway", None)
        if hook is None:
            continue
        mine = [r for r in results if r["unit"].store_id == run.store_id]
        try:
            await hook.delivered(mine)
        except Exception as exc:  # noqa: BLE001
            logger.bind(action="twoway.hook_failed", store_id=run.store_id).warning("two-way state not saved: {}", exc)
