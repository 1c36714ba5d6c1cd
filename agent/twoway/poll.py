"""Detect changes made in Salesforce to the fields Salesforce owns (or both own) and queue them for WooCommerce.

One poll of one store: a single Composite request carrying one SOQL query per mapped sObject
(``SystemModstamp > cursor - overlap`` on the store's own records, ``ORDER BY SystemModstamp, Id``); pages beyond
the first (``nextRecordsUrl``) go, for every sObject at once, into the next Composite request. Each call counts
against the store's API budget (the delivery engine's client and ``sf_budget``); a store over its budget share is
not polled.

A row is a change only where an owned field differs from what Wooforce last wrote or saw (``twoway_state``):
our own upserts come back with ``LastModifiedById`` = the integration user and equal values, and are skipped
(counted as ``own``). A human change becomes an event (``source='salesforce'``) heading the entity's outbox row
for ``destination='woocommerce'``, written by :mod:`agent.twoway.write`. When WooCommerce changed a ``both`` field
too (a newer version not yet in Salesforce), the newer change wins and the loser is recorded.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from loguru import logger

from agent.salesforce import SalesforceClient, in_thread, soql_datetime, soql_key_queries
from agent.twoway import born as B
from agent.twoway import ownership as O
from agent.twoway import state as S
from shared.db import Database
from shared.errors import PermanentError, RetryableError
from shared.models import NewEvent
from shared.outbox import OutboxManager
from shared.settings import Settings

if TYPE_CHECKING:
    from agent.delivery.engine import Deliverer


@dataclass
class PollReport:
    store_id: str
    api_calls: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    own: int = 0          # rows whose owned fields equal what Wooforce wrote (incl. the integration user's)
    unchanged: int = 0    # other rows without a change to an owned field
    changes: int = 0      # events queued for WooCommerce
    conflicts: int = 0
    born: int = 0         # records made in Salesforce for the store, queued to be created there
    deleted: int = 0      # Salesforce-owned products deleted in Salesforce, queued to be trashed in the store
    born_error: str | None = None  # the org lacks Woo_Store__c (wooforce salesforce check names it) ...
    error: str | None = None
    skipped: str | None = None
    duration_ms: int = 0


def build_soql_keys(obj: O.TwoWayObject, keys: list[str]) -> list[str]:
    """The queries reading the current values of these records (as many as the URI limit needs)."""
    cols = ["Id", "Wooforce_Key__c", "SystemModstamp", "LastModifiedById"] + [f.sf for f in obj.back]
    return soql_key_queries(obj.sobject, cols, keys)


def build_soql(obj: O.TwoWayObject, store_id: str, since: datetime, tw: O.TwoWay | None = None) -> str:
    cols = ["Id", "Wooforce_Key__c", "SystemModstamp", "LastModifiedById"] + [f.sf for f in obj.back]
    mine = f"Wooforce_Key__c LIKE '{store_id}:{obj.resource}:%'"
    born = B.born_condition(tw, obj, store_id) if tw is not None else None
    if born:  # records made in Salesforce for the store, not yet keyed (agent/twoway/born.py)
        cols += B.born_columns(tw, obj) if tw is not None else []
        mine = f"({mine} OR {born})"
    # SOQL (no bind parameters in the REST query API); store ids and resources are [a-z0-9_] only
    return (f"SELECT {', '.join(dict.fromkeys(cols))} FROM {obj.sobject} "  # noqa: S608
            f"WHERE SystemModstamp > {soql_datetime(since)} "
            f"AND {mine} ORDER BY SystemModstamp, Id")


class Poller:
    """Polls Salesforce for every two-way store; shares the delivery engine's clients (token, budget)."""

    def __init__(self, db: Database, deliverer: Deliverer, settings: Settings):
        self.db, self.deliverer, self.settings = db, deliverer, settings

    async def run(self) -> list[PollReport]:
        stores = [r["id"] for r in await self.db.fetch("twoway_poll_stores")]
        return [await self.poll_store(sid) for sid in stores]

    async def poll_store(self, store_id: str) -> PollReport:
        t0 = time.perf_counter()
        rep = PollReport(store_id)
        client = None
        try:
            store = await self.deliverer.stores.get(store_id)
            creds = store.get("wc_credentials") or {}
            if not (creds.get("consumer_key") and creds.get("consumer_secret")):
                rep.skipped = "no WooCommerce REST keys to write with"
                return rep
            client = await self.deliverer.client(store_id)
            mapping = await self.deliverer.mapping(store_id)
            tw = O.load_twoway(mapping)
            objects = [p for o in tw.objects.values() for p in o.parts if p.back]
            if not objects:
                rep.skipped = "no field flows back"
                return rep
            budget = await self.db.fetchrow("get_sf_budget", store_id)
            if client.budget.over() or (budget and budget["paused"] and budget["paused_until"]
                                        and budget["paused_until"] > datetime.now(UTC)):
                rep.skipped = "API budget share reached"
                return rep
            await self._poll(store_id, client, tw, objects, rep)
        except (PermanentError, RetryableError) as exc:
            rep.error = f"{exc.code}: {exc.message[:300]}"
            if isinstance(exc, PermanentError) and client is None:
                self.deliverer.drop_client(store_id)
        finally:
            rep.duration_ms = int((time.perf_counter() - t0) * 1000)
            if client is not None and rep.api_calls:
                await self.deliverer._save_budget(store_id, client)
            logger.bind(action="sfpoll.run", store_id=store_id, duration_ms=rep.duration_ms, api_calls=rep.api_calls,
                        rows=sum(rep.rows.values()), own=rep.own, changes=rep.changes, conflicts=rep.conflicts,
                        born=rep.born, born_error=rep.born_error, error=rep.error, skipped=rep.skipped).log(
                "WARNING" if rep.error else ("INFO" if rep.changes else "DEBUG"), "Salesforce poll")
        return rep

    async def _poll(self, store_id: str, client: SalesforceClient, tw: O.TwoWay, objects: list[O.TwoWayObject],
                    rep: PollReport) -> None:
        s = self.settings
        cursors = {r["sobject"]: r["cursor_at"] for r in await self.db.fetch("twoway_poll_cursors", store_id)}
        now = datetime.now(UTC)
        headers = {"Sforce-Query-Options": f"batchSize={s.sf_poll_batch_size}"}
        subs: list[dict[str, Any]] = []
        by_ref: dict[str, O.TwoWayObject] = {}
        for obj in objects:
            cur = cursors.get(obj.sobject)
            since = (cur - timedelta(seconds=s.sf_poll_overlap_s)) if cur else \
                now - timedelta(seconds=s.sf_poll_initial_lookback_s)
            url = client.query_path(build_soql(obj, store_id, since, tw))
            subs.append({"method": "GET", "url": url, "referenceId": obj.sobject, "httpHeaders": headers})
            by_ref[obj.sobject] = obj
        for ref, soql in B.born_queries(tw, store_id).items():  # records made in Salesforce for this store
            subs.append({"method": "GET", "url": client.query_path(soql), "referenceId": ref, "httpHeaders": headers})
        deleted_until = None
        if "product" in tw.objects:  # products deleted in Salesforce (getDeleted: no query, not one of the 5)
            cur = cursors.get(B.DELETED_CURSOR)
            since = (cur - timedelta(seconds=s.sf_poll_overlap_s)) if cur else \
                now - timedelta(seconds=s.sf_poll_initial_lookback_s)
            # up to now, or Salesforce's newest SystemModstamp seen if the agent's clock is behind it
            until = max([now, *(c for c in cursors.values() if c is not None)])
            subs.append({"method": "GET", "url": B.deleted_path(client, since, until),
                         "referenceId": "deleted_Product2"})
        born: dict[str, list[dict]] = {}
        newest: dict[str, datetime] = {}
        changes: dict[str, int] = {}
        errors = []
        while subs:
            before = client.calls
            try:
                items = await in_thread(client.composite, subs)
            finally:
                rep.api_calls += client.calls - before
            nxt = []
            for sub, item in zip(subs, items):
                body, status = item.get("body"), item.get("httpStatusCode") or 0
                if sub["referenceId"] == "deleted_Product2":
                    if status >= 300 or not isinstance(body, dict):
                        rep.born_error = f"getDeleted: {json.dumps(body)[:300]}"
                    else:
                        n = await B.queue_deleted(self.db, store_id, tw, body)
                        rep.changes += n
                        rep.deleted += n
                        deleted_until = O.parse_ts(body.get("latestDateCovered"))
                    continue
                if sub["referenceId"].startswith("born_"):
                    if status >= 300 or not isinstance(body, dict):
                        rep.born_error = f"{sub['referenceId'][5:]}: {json.dumps(body)[:300]}"
                    else:
                        born.setdefault(sub["referenceId"][5:], []).extend(body.get("records") or [])
                    continue
                obj = by_ref[sub["referenceId"]]
                if status >= 300 or not isinstance(body, dict):
                    errors.append(f"{obj.sobject}: {json.dumps(body)[:300]}")
                    newest.pop(obj.sobject, None)
                    by_ref.pop(obj.sobject, None)  # stop paging it; the cursor stays where it was
                    continue
                rows = body.get("records") or []
                born.setdefault(obj.sobject, []).extend(r for r in rows if not r.get("Wooforce_Key__c"))
                rep.rows[obj.sobject] = rep.rows.get(obj.sobject, 0) + len(rows)
                changes[obj.sobject] = changes.get(obj.sobject, 0) + await process_rows(
                    self.db, store_id, tw, obj, rows, client.user_id, rep)
                for r in rows:
                    ts = O.parse_ts(r.get("SystemModstamp"))
                    if ts and (obj.sobject not in newest or ts > newest[obj.sobject]):
                        newest[obj.sobject] = ts
                if body.get("nextRecordsUrl") and obj.sobject in by_ref:
                    nxt.append({"method": "GET", "url": body["nextRecordsUrl"], "referenceId": obj.sobject})
            subs = nxt
        if born:
            n = await B.queue_born(self.db, store_id, tw, born)
            rep.changes += n
            rep.born += n
        rep.error = "; ".join(errors) or None
        done = [o.sobject for o in objects if o.sobject in by_ref]
        if deleted_until is not None:
            done.append(B.DELETED_CURSOR)
            newest[B.DELETED_CURSOR] = deleted_until
        if done:
            await self.db.execute("twoway_save_poll", store_id, done, [newest.get(o) for o in done], rep.api_calls,
                                  [rep.rows.get(o, 0) for o in done], [changes.get(o, 0) for o in done], rep.error)



async def process_rows(db: Database, store_id: str, tw: O.TwoWay, obj: O.TwoWayObject, rows: list[dict],
                       integration_user: str | None, rep: PollReport | None = None) -> int:
    """Decide what each Salesforce row means (own echo, nothing new, a change to write, a conflict) and record
    it in one transaction: state patches, conflicts, events for the WooCommerce destination. Returns the events."""
    rep = rep or PollReport(store_id)
    prefix = f"{store_id}:{obj.resource}:"
    mine: dict[int, dict] = {}
    for r in rows:
        k = r.get("Wooforce_Key__c") or ""
        if k.startswith(prefix) and k[len(prefix):].isdigit():
            mine[int(k[len(prefix):])] = r  # ordered by SystemModstamp: the newest row of an entity wins
    if not mine:
        return 0
    rids = sorted(mine)
    states = await S.load_states(db, store_id, obj.resource, rids)
    heads = await S.load_heads(db, store_id, obj.resource, rids)
    ch = S.Changes()
    events = []
    for rid in rids:
        row = mine[rid]
        if _decide(tw, obj, rid, row, states.get(rid), heads.get(rid), ch):
            t = O.parse_ts(row["SystemModstamp"])
            assert t is not None  # build_soql selects SystemModstamp; Salesforce always sets it
            payload = {"sobject": obj.sobject, "sf_id": row.get("Id"), "modstamp": O.iso(t),
                       "last_modified_by": row.get("LastModifiedById"),
                       "fields": {f.sf: tw.sf_canon(f, row.get(f.sf)) for f in obj.back}}
            events.append(NewEvent(store_id=store_id, source="salesforce", resource=obj.resource, action="updated",
                                   resource_id=rid, version=t, occurred_at=t, payload_json=json.dumps(payload),
                                   dedup_key=f"sf:{obj.sobject}:{row.get('Id')}:{O.iso(t)}", sender_id=row.get("Id")))
        elif row.get("LastModifiedById") == integration_user or _all_equal(tw, obj, row, states.get(rid)):
            rep.own += 1
        else:
            rep.unchanged += 1
    rep.conflicts += len(ch.conflicts)
    async with db.transaction() as tx:
        if events:
            await OutboxManager(db).ingest(events, destination="woocommerce", conn=tx)
        if not ch.empty():
            await ch.save(db, store_id, conn=tx)
    rep.changes += len(events)
    return len(events)


def _all_equal(tw: O.TwoWay, obj: O.TwoWayObject, row: dict, st: S.State | None) -> bool:
    return st is not None and all(tw.sf_canon(f, row.get(f.sf)) == st.fields.get(f.sf, {}).get("v")
                                  for f in obj.back)


def _own_marker(f: O.Owned, value: str | None, head: S.Head | None) -> bool:
    """Wooforce's own marker on a record the store trashed or deleted (``Woo_Status__c = trash`` / ``deleted``, the
    mapping's trashed_order_status / deleted_order_status, written by the delivery): not a person's change, and no
    status WooCommerce could be given (issue 14)."""
    return (f.wc == "status" and value is not None and value not in O.WC_STATUSES and head is not None
            and head.action in ("trashed", "deleted"))


def _decide(tw: O.TwoWay, obj: O.TwoWayObject, rid: int, row: dict, st: S.State | None, head: S.Head | None,
            ch: S.Changes) -> bool:
    """Record what this row means for the entity's state; True if WooCommerce needs a write."""
    t = O.parse_ts(row.get("SystemModstamp"))
    fields = st.fields if st else {}
    write = False
    for f in obj.back:
        s = tw.sf_canon(f, row.get(f.sf))
        fs = fields.get(f.sf, {})
        w_head = O.field_value(head.doc, f) if head else None
        v = fs["v"] if "v" in fs else w_head
        pending = fs.get("sf_pending")
        lost = fs.get("sf_lost")
        if _own_marker(f, s, head):
            continue
        if s == v:
            if pending is not None:  # changed and changed back before it was written
                ch.patch(obj.resource, rid, f.sf, sf_pending=None, sf_at=t)
                write = True
            if lost is not None:
                ch.patch(obj.resource, rid, f.sf, sf_lost=None)
            continue
        if (pending is not None and s == pending) or (lost is not None and s == lost):
            continue  # seen before (the overlap window brings rows again)
        if S.is_own_ambiguous(fs, s):
            ch.patch(obj.resource, rid, f.sf, v=s, unsure=None, amb=None)  # our ambiguous upsert did land
            continue
        if f.kind == "stock":
            # a stock edit is applied to the store as a change from the value it was based on (the agreed value
            # when Salesforce changed it), so sales made in the store meanwhile are kept (agent/twoway/write.py)
            base = {"sf_base": v} if pending is None else {}
            ch.patch(obj.resource, rid, f.sf, sf_pending=s, sf_at=t, **base)
            write = True
            continue
        if head is not None and w_head == s:
            ch.patch(obj.resource, rid, f.sf, v=s, sf_pending=None)  # already equal on both sides
            continue
        if f.owner == "both" and head is not None and S.wc_changed(head, fs, w_head):
            # WooCommerce changed it too, in a version Salesforce has not received yet
            assert t is not None  # build_soql selects SystemModstamp; Salesforce always sets it
            if head.version > t:
                ch.conflicts.append(S.Conflict(obj.resource, rid, f.sf, "woocommerce", w_head, head.version, s, t))
                ch.patch(obj.resource, rid, f.sf, sf_lost=s, sf_at=t)
                continue
            ch.conflicts.append(S.Conflict(obj.resource, rid, f.sf, "salesforce", s, t, w_head, head.version))
        ch.patch(obj.resource, rid, f.sf, sf_pending=s, sf_at=t)
        write = True
    return write
