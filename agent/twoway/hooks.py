"""Hooks of the WooCommerce -> Salesforce delivery into two-way sync (:class:`DeliveryHook`).

An echo of Wooforce's own WooCommerce write (same ``date_modified`` as our PUT returned, same values) is skipped;
a ``both`` field WooCommerce did not change is left out of the upsert (so it cannot overwrite a Salesforce change),
unless its last upsert was ambiguous (then Salesforce is read first and the store's value is sent); a
``salesforce`` field is never sent; a field both sides changed goes to the newer change, and the loser is recorded
in ``twoway_conflicts``.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from loguru import logger

from agent.delivery.plan import Plan, Unit, UnitResult
from agent.salesforce import SalesforceClient
from agent.twoway import poll
from agent.twoway.ownership import field_value, load_twoway, parse_ts
from agent.twoway.state import Changes, Conflict, State, ambiguous_values, load_states
from shared.db import Database
from shared.errors import PermanentError, RetryableError
from shared.mapping import Mapping, key
from shared.mapping.twoway import TwoWay, TwoWayObject
from shared.models import Outcome

T = TypeVar("T")


class Run(Protocol):
    """What the hook needs of the delivery engine's per-store run (:class:`agent.delivery.engine.StoreRun`)."""

    store_id: str
    twoway: DeliveryHook | None


class CallingRun(Run, Protocol):
    """A run whose Salesforce client is open: the preflight reads current values through it."""

    @property
    def sf(self) -> SalesforceClient: ...

    async def call(self, fn: Callable[..., T], *args: Any) -> T: ...


class DeliveryHook:
    """One store's batch: echo skipping before the plan, field filtering after it, state after delivery."""

    def __init__(self, db: Database, store_id: str, tw: TwoWay):
        self.db, self.store_id, self.tw = db, store_id, tw
        self.states: dict[tuple[str, int], State] = {}
        self.pending: dict[int, Changes] = {}  # unit index -> what to record once it is delivered
        self.sent: dict[int, list[tuple[Any, dict[str, str | None]]]] = {}  # unit index -> [(record, fields sent)]

    @classmethod
    async def prepare(cls, db: Database, store_id: str, mapping: Mapping, units: list[Unit],
                      run: CallingRun | None = None) -> DeliveryHook:
        hook = cls(db, store_id, load_twoway(mapping))
        for resource in hook.tw.objects:
            mine = [u for u in units if u.resource == resource]
            if not mine:
                continue
            states = await load_states(db, store_id, resource, [u.resource_id for u in mine])
            for rid, st in states.items():
                hook.states[(resource, rid)] = st
            for u in mine:
                known = states.get(u.resource_id)
                if known is not None and hook.is_echo(u, known):
                    u.skip_reason = "echo: this WooCommerce version is Wooforce's own write (not sent back)"
                elif known is not None and u.action in ("trashed", "deleted") and \
                        (known.fields.get("@sf_deleted") or {}).get("v"):
                    u.skip_reason = "deleted in Salesforce: the store's trash of it is not sent back"
        if run is not None:
            try:
                await hook.preflight(run, units)
            except (RetryableError, PermanentError) as exc:
                # degrade to what the poller has seen; the delivery itself goes on
                logger.bind(action="twoway.preflight_failed", store_id=store_id, code=exc.code).warning(
                    "could not read Salesforce before delivery: {}", exc.message[:300])
        return hook

    async def preflight(self, run: CallingRun, units: list[Unit]) -> None:
        """Before WooCommerce's change of a ``both`` field overwrites Salesforce, read the current Salesforce
        values of those records (one SOQL call per 200): a newer human change there must win, and be recorded."""
        for resource, whole in self.tw.objects.items():
            rids: list[int] = []
            for obj in whole.parts:
                rids += await self._preflight(run, units, resource, obj)
            if rids:
                for rid, st in (await load_states(self.db, self.store_id, resource, rids)).items():
                    self.states[(resource, rid)] = st

    async def _preflight(self, run: CallingRun, units: list[Unit], resource: str, obj: TwoWayObject) -> list[int]:
        """One sObject's part of the preflight; returns the entities whose state it refreshed."""
        both = [f for f in obj.fields if f.owner == "both"]
        keys, rids = [], []
        for u in units:
            if u.resource != resource or u.skip_reason or u.action == "deleted":
                continue
            st = self.states.get((resource, u.resource_id))
            if st is None:
                continue  # first sync of this entity: nothing of Salesforce's to protect yet
            if any("v" in st.fields.get(f.sf, {}) and (field_value(u.payload, f) != st.fields[f.sf]["v"]
                                                        or st.fields[f.sf].get("unsure")) for f in both):
                keys.append(key(self.store_id, resource, u.resource_id))
                rids.append(u.resource_id)
        for soql in poll.build_soql_keys(obj, keys):
            rows = await run.call(run.sf.query, soql)
            await poll.process_rows(self.db, self.store_id, self.tw, obj, rows, run.sf.user_id)
        return rids

    def is_echo(self, u: Unit, st: State) -> bool:
        if st.written_version is None or not st.written or u.action in ("trashed", "deleted"):
            return False
        if u.version != st.written_version:
            return False
        obj = self.tw.objects[u.resource]
        return all(field_value(u.payload, f) == st.written.get(f.sf) for f in obj.back if f.sf in st.written)

    def filter(self, plan: Plan) -> None:
        for u in plan.units:
            whole = self.tw.objects.get(u.resource)
            if whole is None or u.skip_reason or u.action == "deleted":
                continue
            k = key(self.store_id, u.resource, u.resource_id)
            recs = [(obj, plan.records.get((obj.sobject, k))) for obj in whole.parts]
            mine = [(obj, rec) for obj, rec in recs if rec is not None and rec.owner == u.index]
            if not mine:
                continue
            st = self.states.get((u.resource, u.resource_id))
            ch = self.pending[u.index] = Changes()
            self.sent[u.index] = []
            for obj, rec in mine:
                sent: dict[str, str | None] = {}
                self.sent[u.index].append((rec, sent))
                self._filter_record(u, obj, rec, st, ch, sent)

    def _filter_record(self, u: Unit, obj: TwoWayObject, rec: Any, st: State | None, ch: Changes,
                       sent: dict[str, str | None]) -> None:
        """Decide, field by field, what the upsert of one record (Product2, PricebookEntry, Order ...) sends."""
        version = u.version
        for f in obj.fields:
            if f.owner == "woocommerce":
                continue
            # what the upsert would send (e.g. "trash" for a trashed order), else the document's value
            w = self.tw.sf_canon(f, rec.fields[f.sf]) if f.sf in rec.fields else field_value(u.payload, f)
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
            if f.kind == "stock" and pending is not None:
                # a Salesforce stock change waits to be applied to the store as a delta (write.py); the store's
                # sales are in that result, which comes back here once written: not a conflict, nothing lost
                rec.fields.pop(f.sf, None)
                ch.patch(u.resource, u.resource_id, f.sf, wc_at=version)
                continue
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

    async def delivered(self, results: Sequence[UnitResult]) -> None:
        total = Changes()
        for r in results:
            u = r.unit
            ch = self.pending.get(u.index)
            if ch is None:
                continue
            if r.outcome is not Outcome.DELIVERED:
                for rec, sent in self.sent.get(u.index, []):
                    if not (rec.ambiguous or rec.ok):
                        continue
                    # Salesforce may hold these values now (or does: the record went through but the unit did not,
                    # e.g. its Contact or order lines failed): stop trusting v until we know
                    st = self.states.get((u.resource, u.resource_id))
                    for sf_field, w in sent.items():
                        total.patch(u.resource, u.resource_id, sf_field, unsure=True,
                                    amb=ambiguous_values(st.fields.get(sf_field, {}) if st else {}, w))
                continue
            total.merge(ch)
        if not total.empty():
            await total.save(self.db, self.store_id)


async def before_plan(db: Database, store_id: str, mapping: Mapping, units: list[Unit],
                      run: CallingRun | None = None) -> DeliveryHook | None:
    """Delivery hook entry point; never fails the delivery (two-way trouble is logged)."""
    try:
        tw = load_twoway(mapping)
        if not tw.objects:
            return None
        return await DeliveryHook.prepare(db, store_id, mapping, units, run)
    except Exception as exc:  # noqa: BLE001 - a bug in two-way must not stop one-way delivery
        logger.bind(action="twoway.hook_failed", store_id=store_id).warning("two-way hook failed: {}", exc)
        return None


async def after_delivery(runs: Sequence[Run], results: Sequence[UnitResult]) -> None:
    for run in runs:
        hook = run.twoway
        if hook is None:
            continue
        mine = [r for r in results if r.store_id == run.store_id]
        try:
            await hook.delivered(mine)
        except Exception as exc:  # noqa: BLE001
            logger.bind(action="twoway.hook_failed", store_id=run.store_id).warning("two-way state not saved: {}", exc)
