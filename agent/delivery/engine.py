"""Drain the outbox into Salesforce: claim with a lease, upsert dependencies first, decide record by record.

One batch: ``claim_outbox`` (one statement, ``FOR UPDATE SKIP LOCKED``, expired leases included) -> per
store a :class:`~agent.delivery.plan.Plan` -> sObject Collections upserts (<= 200 records) packed five to a Composite
request (one API call), or a Bulk API 2.0 job for an sObject above the bulk threshold -> calls run
concurrently (``sf_concurrency``) as a DAG: a call starts once every call holding a lower dependency
level finished -> each row's outcome from its own records (delivered / retrying / dead) -> one statement
each for attempts, outbox completion and the Salesforce Id map.

Ambiguous outcomes (a 5xx or timeout: Salesforce may have committed the request anyway) mark the request's
records (``Rec.ambiguous``) so two-way state stops trusting what it last saw delivered; and a delete of a record
the Id map lacks (its create may have landed unanswered) is looked up by ``Wooforce_Key__c`` first (one SOQL per
batch) rather than skipped as "not in Salesforce".
"""
from __future__ import annotations

import asyncio
import csv
import io
import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import quote

from loguru import logger
from prometheus_client import Gauge

from agent.delivery.adopt import adopt
from agent.delivery.models import activation_wrap, line_sobject, store_model_ids
from agent.delivery.plan import LEVELS, PRIMARY, STANDARD_PRICEBOOK_KEY, Plan, Rec, Unit, UnitResult, set_create_only
from agent.leases import leases_kept, new_owner
from agent.salesforce import LIMIT_CODE, RETRYABLE_CODES, SalesforceClient, in_thread, soql_key_queries
from agent.twoway import hooks
from shared import outbox
from shared.db import Database, retry_conflicts
from shared.errors import PermanentError, RetryableError, SalesforcePermanent, SalesforceRetryable
from shared.mapping import KEY_FIELD, Mapping, key, load_mapping, mapping_for
from shared.models import Outcome, payload_dict
from shared.settings import Settings
from shared.stores import StoreManager

COLLECTION_MAX = 200
COMPOSITE_MAX_COLLECTIONS = 5
COMPOSITE_MAX_SUBREQUESTS = 25
BUDGET_CODE = "API_BUDGET"
DAILY_LIMIT_TEXT = "Salesforce's daily API limit is reached (TotalRequests): the store waits until it recovers"
DEPENDENCIES = ("Account", "Contact", "Product2", "PricebookEntry")  # what an order waits for when it failed

API_USED_RATIO = Gauge("wooforce_salesforce_api_used_ratio", "share of the daily Salesforce API allocation used",
                       ["store_id"])
API_USED = Gauge("wooforce_salesforce_api_used", "Salesforce API calls used today (Sforce-Limit-Info)", ["store_id"])
DESTINATION = "salesforce"  # the outbox destination this engine drains
T = TypeVar("T")


@dataclass
class BatchStats:
    claimed: int = 0
    outcomes: Counter[Outcome] = field(default_factory=Counter)
    api_calls: int = 0
    records: int = 0

    def add(self, other: BatchStats) -> None:
        self.claimed += other.claimed
        self.outcomes.update(other.outcomes)
        self.api_calls += other.api_calls
        self.records += other.records


@dataclass
class Node:
    """One API request: a Composite of up to five collections, or one Bulk 2.0 job. A small batch's Composite may
    also send some sObjects record by record (``singles``: single-record upserts by ``Wooforce_Key__c``) so that
    the whole batch fits one request (:func:`one_call`)."""

    collections: list[tuple[str, list[Rec]]]
    bulk: bool = False
    singles: frozenset[str] = frozenset()  # sObjects of ``collections`` sent as single-record subrequests
    done: asyncio.Event = field(default_factory=asyncio.Event)
    deps: list[Node] = field(default_factory=list)
    failed: str | None = None

    @property
    def min_level(self) -> int:
        return min(LEVELS[s] for s, _ in self.collections)

    @property
    def max_level(self) -> int:
        return max(LEVELS[s] for s, _ in self.collections)


def one_call(groups: list[tuple[str, list[Rec]]]) -> Node | None:
    """The whole batch as one Composite request, if it fits: Salesforce takes 25 subrequests per Composite, at most
    5 of them collections. The largest groups go as collections (<= 200 records each), the rest record by record
    (one single-record upsert subrequest each), all in dependency order: a later subrequest's external-id
    reference finds what an earlier one wrote. ``None`` when it does not fit (the batch keeps the plan of five
    collections per request)."""
    need = {s: -(-len(recs) // COLLECTION_MAX) for s, recs in groups}
    heavy, as_collection = 0, set()
    for sobject, recs in sorted(groups, key=lambda g: -len(g[1])):
        if len(recs) > 1 and heavy + need[sobject] <= COMPOSITE_MAX_COLLECTIONS:
            heavy += need[sobject]
            as_collection.add(sobject)
    singles = frozenset(s for s, _ in groups if s not in as_collection)
    if heavy + sum(len(recs) for s, recs in groups if s in singles) > COMPOSITE_MAX_SUBREQUESTS:
        return None
    parts = [(s, recs[i:i + COLLECTION_MAX]) if s in as_collection else (s, recs) for s, recs in groups
             for i in (range(0, len(recs), COLLECTION_MAX) if s in as_collection else (0,))]
    return Node(parts, singles=singles)


def build_nodes(plan: Plan, bulk_threshold: int) -> list[Node]:
    groups = plan.by_sobject()
    if all(len(recs) <= bulk_threshold for _, recs in groups) and sum(
            -(-len(recs) // COLLECTION_MAX) for _, recs in groups) > COMPOSITE_MAX_COLLECTIONS:
        if (node := one_call(groups)) is not None:
            return [node]  # a small batch that would take two requests of collections: one
    nodes: list[Node] = []
    pending: list[tuple[str, list[Rec]]] = []
    for sobject, recs in groups:
        if len(recs) > bulk_threshold:
            if pending:
                nodes.append(Node(pending))
                pending = []
            nodes.append(Node([(sobject, recs)], bulk=True))
            continue
        for i in range(0, len(recs), COLLECTION_MAX):
            pending.append((sobject, recs[i:i + COLLECTION_MAX]))
            if len(pending) == COMPOSITE_MAX_COLLECTIONS:
                nodes.append(Node(pending))
                pending = []
    if pending:
        nodes.append(Node(pending))
    for k, node in enumerate(nodes):
        node.deps = [j for j in nodes[:k] if j.min_level < node.max_level]
    return nodes


def single_body(rec: Rec) -> dict:
    """A record's fields for a single-record upsert: the type and key are in the URL, not the body."""
    return {k: v for k, v in rec.fields.items() if k not in ("attributes", KEY_FIELD)}


def classify(rec: Rec, code: str | None, message: str) -> bool:
    """True if the record's error is worth retrying."""
    if code in RETRYABLE_CODES or code == BUDGET_CODE:
        return True
    if code == "INVALID_FIELD" and "Foreign key external ID" in message:
        return True  # a dependency is not in Salesforce yet (or failed in this batch)
    if code == "REQUIRED_FIELD_MISSING" and rec.create_only_omitted:
        return True  # our map said it exists but it was deleted in Salesforce: recreate next time
    if code == "INVALID_FIELD_FOR_INSERT_UPDATE" and not rec.create_only_omitted and rec.sobject in (
            "PricebookEntry", "OrderItem", "OpportunityLineItem", "OpportunityContactRole"):
        return True  # it exists although our map did not know: update without create-only fields next time
    return False


def _fail(rec: Rec, code: str | None, message: str, status: int | None, call: str, *, retry: bool | None = None,
          ambiguous: bool = False) -> None:
    rec.ok, rec.error_code, rec.error, rec.status_code, rec.call = False, code, message[:2000], status, call
    rec.retryable = classify(rec, code, message) if retry is None else retry
    rec.ambiguous = ambiguous


def _collection_failure(status: int | None, body: Any) -> tuple[str | None, bool | None, bool]:
    """(code, retry, ambiguous) for a Composite subrequest whose answer does not give one result per record.
    A 2xx with a malformed body and a 5xx may have been applied: retried, marked ambiguous. A 4xx names its error
    code, which ``classify`` decides (None)."""
    code = body[0].get("errorCode") if isinstance(body, list) and body and isinstance(body[0], dict) else None
    if status is not None and 300 <= status < 500:
        return code, None, False
    return code or "MALFORMED_RESULT", True, True


def ambiguous(exc: SalesforceRetryable) -> bool:
    """A request-level failure after which the request may still have been applied: a 5xx (Salesforce can
    commit and then answer 503), a timeout or a lost connection. 401/403/429 mean it was not processed."""
    return (exc.status_code is not None and exc.status_code >= 500) or exc.code in ("TIMEOUT", "CONNECTION_ERROR")


class StoreRun:
    """Deliver one store's units of a batch."""

    def __init__(self, agent: Deliverer, store_id: str, units: list[Unit]):
        self.agent, self.store_id, self.units = agent, store_id, units
        self.settings = agent.settings
        self.sem = asyncio.Semaphore(self.settings.sf_concurrency)
        self.client: SalesforceClient | None = None
        self.broken: str | None = None  # a request-level retryable failure: stop calling for this batch
        self.connection_error: tuple[str, str] | None = None  # (code, message): sign-in/setup failed (sf_connection)
        self.retry_after_s: float | None = None
        self.new_records: list[tuple[str, str, str]] = []  # (sobject, key, sf_id) to remember
        self.forget: list[tuple[str, str]] = []
        self.calls = 0
        self.plan: Plan | None = None
        self.org_ids: dict[str, str] = {}  # what the store's data models need (agent/delivery/models.py)
        self.twoway: hooks.DeliveryHook | None = None  # two-way sync: echoes, field ownership (issue 8)

    def written_dependencies(self) -> list[str]:
        """Keys of the customers, guest buyers and products whose records this batch all wrote (none failed)."""
        recs = [r for r in self.plan.records.values() if r.sobject in DEPENDENCIES] if self.plan else []
        failed = {r.key for r in recs if r.ok is not True}
        return sorted({r.key for r in recs if r.ok is True} - failed)

    @property
    def sf(self) -> SalesforceClient:
        """The store's client, once :meth:`run` has opened it."""
        if self.client is None:
            raise RuntimeError("StoreRun.run() opens the Salesforce client first")
        return self.client

    async def run(self) -> list[UnitResult]:
        try:
            self.client = await self.agent.client(self.store_id)
            mapping = await self.agent.mapping(self.store_id)
            await self._check_budget()
            if self.sf.budget.over():
                return [self._result(u, Outcome.PAUSED, code=BUDGET_CODE, error="daily API budget share reached")
                        for u in self.units]
            pricebook = await self._standard_pricebook()
            org_ids = self.org_ids = await store_model_ids(self.agent.db, self, mapping)  # data models (issue 18)
        except (PermanentError, RetryableError) as exc:
            # configuration or login trouble: not the rows' fault, so no attempt is counted
            logger.bind(action="sync.connection_failed", store_id=self.store_id, code=exc.code).warning(
                "Salesforce connection failed: {}", exc.message[:300])
            if self.client is not None and self.client.budget.limit_hit:  # the daily limit: pause the store
                return [self._result(u, Outcome.PAUSED, code=LIMIT_CODE, error=f"{DAILY_LIMIT_TEXT}: {exc.message}")
                        for u in self.units]
            self.connection_error = (exc.code, exc.message[:500])
            if isinstance(exc, PermanentError):
                self.agent.drop_client(self.store_id)
            return [self._result(u, Outcome.PAUSED if isinstance(exc, PermanentError) else Outcome.RETRYING,
                                 code=exc.code, error=exc.message, count=False, retry_after=exc.retry_after_s)
                    for u in self.units]
        await self._rebuild_trash_stubs()
        known = await self._known(mapping, pricebook)
        plan = self.plan = Plan(mapping, known, {self.store_id: pricebook})
        plan.org_ids = org_ids
        self.twoway = await hooks.before_plan(self.agent.db, self.store_id, mapping, self.units, self)
        for u in sorted(self.units, key=lambda u: u.resource != "order"):
            if u.skip_reason is None:  # two-way: an echo of Wooforce's own WooCommerce write is not sent back
                plan.add_unit(u)  # orders first: an entity's own row then amends any copy an order made of it
        if self.twoway is not None:
            self.twoway.filter(plan)
        await adopt(self, plan, mapping)  # records the org already has: matched, not duplicated (issue 17)
        nodes = build_nodes(plan, self.settings.sf_bulk_threshold_records)
        await asyncio.gather(*(self._run_node(n, i) for i, n in enumerate(nodes)))
        await self._second_round(plan)
        await self._delete_removed_lines(plan)
        needs: dict[int, list[Rec]] = {}
        for r in [*plan.records.values(), *plan.deletes, *plan.refused]:
            for i in r.needed_by:
                needs.setdefault(i, []).append(r)
        return [self._outcome(u, needs.get(u.index, [])) for u in self.units]

    async def _second_round(self, plan: Plan) -> None:
        """Our map of what exists was wrong (a lost answer, a record deleted in Salesforce): fix the create-only
        fields of those records and send them again, with the records that failed for want of them."""
        fixable = [r for r in plan.records.values() if r.ok is False and r.create_only and (
            (r.error_code == "INVALID_FIELD_FOR_INSERT_UPDATE" and not r.create_only_omitted)
            or (r.error_code == "REQUIRED_FIELD_MISSING" and r.create_only_omitted))]
        if not fixable or self.broken:
            return
        for r in fixable:
            set_create_only(r, r.create_only_omitted)
        waiting = [r for r in plan.records.values() if r.ok is False and r.error_code == "INVALID_FIELD"
                   and "Foreign key external ID" in (r.error or "")]
        again = Plan(plan.mapping, plan.known, plan.pricebook_ids)
        for r in fixable + waiting:
            r.ok = r.error_code = r.error = None
            again.records[(r.sobject, r.key)] = r
        nodes = build_nodes(again, self.settings.sf_bulk_threshold_records)
        await asyncio.gather(*(self._run_node(n, 100 + i) for i, n in enumerate(nodes)))

    async def _delete_removed_lines(self, plan: Plan) -> None:
        """Order lines removed in WooCommerce: the OrderItems the map holds under an order of this batch that its
        document no longer lists are deleted (one DB lookup per batch; one Composite call per 1,000 lines, made
        only when a line went away). Already deleted counts as done."""
        orders = {key(self.store_id, "order", u.resource_id): u for u in plan.units
                  if u.resource == "order" and u.skip_reason is None and u.action != "deleted"
                  and isinstance(u.payload.get("line_items"), list)}
        if not orders:
            return
        db = self.agent.db
        line, parent = line_sobject(plan.mapping)  # OrderItem, or OpportunityLineItem (order_model)
        found = await db.fetch("lookup_order_items", self.store_id, list(orders)) if line == "OrderItem" \
            else await db.fetch("lookup_line_items", self.store_id, list(orders), line)
        held = {r["wooforce_key"]: r["sf_id"] for r in found}
        unsure = [key(self.store_id, "order", r["resource_id"]) for r in await db.fetch(
            "orders_unconfirmed", self.store_id, [u.resource_id for u in orders.values()])]
        if unsure and not self.broken:
            # a write of these orders may have landed unanswered: Salesforce may hold lines the map lacks
            try:
                for soql in soql_key_queries(line, ["Id", KEY_FIELD], unsure, f"{parent}.{KEY_FIELD}",
                                             max_keys=COLLECTION_MAX):
                    for r in await self.call(self.sf.query, soql):
                        held.setdefault(r[KEY_FIELD], r["Id"])
            except (SalesforceRetryable, SalesforcePermanent) as exc:
                self.broken = self.broken or f"{exc.code}: {exc.message[:200]}"
        for k in unsure if self.broken else []:  # not sure which lines Salesforce holds: try again later
            u = orders[k]
            plan.deletes.append(rec := Rec(line, f"{k}:item:?", {}, u.index, {u.index}, delete=True))
            _fail(rec, "SKIPPED", f"order lines not checked: {self.broken}", None, "lines", retry=True)
        for k, sf_id in held.items():
            if (line, k) not in plan.records:
                u = orders[k.rpartition(":item:")[0]]
                plan.deletes.append(Rec(line, k, {}, u.index, {u.index}, sf_id=sf_id, delete=True))
        if plan.mapping.options.get("refunds", "fields") == "records":  # refunds the orders no longer list (issue 18)
            for r in await db.fetch("lookup_refunds", self.store_id, list(orders)):
                if ("Woo_Refund__c", r["wooforce_key"]) not in plan.records:
                    u = orders[r["wooforce_key"].rpartition(":refund:")[0]]
                    plan.deletes.append(Rec("Woo_Refund__c", r["wooforce_key"], {}, u.index, {u.index},
                                            sf_id=r["sf_id"], delete=True))
        todo = [r for r in plan.deletes if r.ok is None]
        for n, i in enumerate(range(0, len(todo), COLLECTION_MAX * COMPOSITE_MAX_COLLECTIONS)):
            chunk = todo[i:i + COLLECTION_MAX * COMPOSITE_MAX_COLLECTIONS]
            parts = [chunk[j:j + COLLECTION_MAX] for j in range(0, len(chunk), COLLECTION_MAX)]
            call = f"delete#{n}"
            if self.broken:
                for rec in chunk:
                    _fail(rec, "SKIPPED", f"not sent: {self.broken}", None, call, retry=True)
                continue
            subs = [{"method": "DELETE", "referenceId": f"d{j}",
                     "url": self.sf.data_path("/composite/sobjects?allOrNone=false&ids="
                                                  + ",".join(r.sf_id or "" for r in part))}
                    for j, part in enumerate(parts)]
            wrap = activation_wrap(plan, chunk, self.sf.collection_path("Order", KEY_FIELD))  # issue 18
            subs = [*wrap.before, *subs, *wrap.after]
            try:
                items = wrap.answers(await self.call(self.sf.composite, subs), call)
            except (SalesforceRetryable, SalesforcePermanent) as exc:
                retry = isinstance(exc, SalesforceRetryable)
                if retry:
                    self.broken = self.broken or f"{exc.code}: {exc.message[:200]}"
                for rec in chunk:
                    _fail(rec, exc.code, exc.message, exc.status_code, call, retry=retry)
                continue
            for part, item in zip(parts, items):
                status, body = item.get("httpStatusCode"), item.get("body")
                if status is None or status >= 300 or not isinstance(body, list) or len(body) != len(part):
                    code, part_retry, _ = _collection_failure(status, body)
                    for rec in part:
                        _fail(rec, code, json.dumps(body)[:2000], status, call, retry=part_retry)
                    continue
                for rec, res in zip(part, body):
                    errs = res.get("errors") or [{}]
                    if res.get("success") or errs[0].get("statusCode") == "ENTITY_IS_DELETED":
                        rec.ok, rec.status_code, rec.call = True, status, call
                        self.forget.append((rec.sobject, rec.key))
                    else:
                        _fail(rec, errs[0].get("statusCode"), json.dumps(errs), status, call)
            for rec in chunk:
                if rec.ok is None:
                    _fail(rec, "NO_RESULT", "Salesforce's answer lacked this record", None, call, retry=True)

    # ---- preparation ---------------------------------------------------------------------------------
    async def _check_budget(self) -> None:
        b = self.sf.budget
        stale = b.used is None or time.monotonic() - b.seen_at > self.settings.sf_budget_pause_s or b.over()
        if stale:
            await self.call(self.sf.limits)

    async def _standard_pricebook(self) -> str:
        db = self.agent.db
        row = await db.fetch("lookup_sf_records", self.store_id, ["Pricebook2"], [STANDARD_PRICEBOOK_KEY])
        if row:
            known: str = row[0]["sf_id"]
            return known
        recs = await self.call(self.sf.query, "SELECT Id FROM Pricebook2 WHERE IsStandard = true LIMIT 1")
        if not recs:
            raise SalesforcePermanent("the org has no standard price book", code="config")
        await db.execute("upsert_sf_records", [self.store_id], ["Pricebook2"], [STANDARD_PRICEBOOK_KEY],
                         [recs[0]["Id"]])
        found: str = recs[0]["Id"]
        return found

    async def _rebuild_trash_stubs(self) -> None:
        """A trash webhook carries only ``{"id": N}``. When Salesforce has not got the newest full version of the
        record (its create or update was still retrying when the trash came: the stub replaced it as the head), the
        stub alone would lose that version, or have nothing to mark at all. Such a stub is written as that newest
        full version, marked trashed: the store still holds the record in its trash. One query per resource."""
        stubs: dict[str, list[Unit]] = {}
        for u in self.units:
            if u.action == "trashed" and u.resource in ("order", "product") and u.payload.get("status") is None:
                stubs.setdefault(u.resource, []).append(u)
        for resource, units in stubs.items():
            rows = await self.agent.db.fetch("latest_full_payloads", self.store_id, resource,
                                             [u.resource_id for u in units])
            full = {r["resource_id"]: r for r in rows}
            for u in units:
                if (row := full.get(u.resource_id)) is not None:
                    u.payload = {**payload_dict(row["payload"]), "status": "trash"}
                    u.rebuilt_from = row["id"]

    async def _known(self, mapping: Mapping, pricebook: str) -> set[tuple[str, str, str]]:
        # a dry plan (nothing known) names every record the batch could touch
        dry = Plan(mapping, set(), {self.store_id: pricebook})
        dry.org_ids = self.org_ids
        for u in sorted(self.units, key=lambda u: u.resource != "order"):  # as the real plan adds them
            dry.add_unit(Unit(**{**u.__dict__, "skip_reason": None}))
        wanted = sorted(dry.asked | set(dry.records))
        rows = await self.agent.db.fetch("lookup_sf_records", self.store_id, [s for s, _ in wanted],
                                         [k for _, k in wanted])
        known = {(self.store_id, r["sobject"], r["wooforce_key"]) for r in rows}
        unknown = sorted(x for x in dry.unknown_deletes if (self.store_id, *x) not in known)
        if unknown:
            known |= await self._lookup(unknown)
        return known

    async def _lookup(self, wanted: list[tuple[str, str]]) -> set[tuple[str, str, str]]:
        """Deletes of records our map lacks: ask Salesforce by Wooforce_Key__c (a create may have landed with its
        answer lost), one SOQL per sObject and 200 keys, all in one Composite request when there are several.
        What it finds is remembered in the map. If the lookup fails nothing is sent this batch (retried)."""
        by_sobject: dict[str, list[str]] = {}
        asked = set(wanted)
        for sobject, k in wanted:
            by_sobject.setdefault(sobject, []).append(k)
        soqls = [q for sobject, keys in by_sobject.items()
                 for q in soql_key_queries(sobject, ["Id", KEY_FIELD], keys, max_keys=COLLECTION_MAX)]
        found: list[dict] = []
        try:
            if len(soqls) == 1:
                found = await self.call(self.sf.query, soqls[0])
            else:
                for i in range(0, len(soqls), COMPOSITE_MAX_COLLECTIONS):  # queries count like collections
                    subs = [{"method": "GET", "referenceId": f"q{j}", "url": self.sf.query_path(q)}
                            for j, q in enumerate(soqls[i:i + COMPOSITE_MAX_COLLECTIONS])]
                    for item in await self.call(self.sf.composite, subs):
                        body = item.get("body")
                        if (item.get("httpStatusCode") or 500) >= 300 or not isinstance(body, dict):
                            raise SalesforceRetryable(f"lookup by key failed: {json.dumps(body)[:300]}",
                                                      code="LOOKUP_FAILED")
                        found += body.get("records") or []
        except (SalesforceRetryable, SalesforcePermanent) as exc:
            self.broken = self.broken or f"{exc.code}: {exc.message[:200]}"
            return {(self.store_id, s, k) for s, k in wanted}  # so the deletes are planned, then not sent
        out = set()
        for r in found:
            typ = (r.get("attributes") or {}).get("type")
            if isinstance(typ, str) and (typ, r.get(KEY_FIELD)) in asked and r.get("Id"):
                out.add((self.store_id, typ, r[KEY_FIELD]))
                self.new_records.append((typ, r[KEY_FIELD], r["Id"]))
        return out

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a (blocking) client call in a thread under the store's concurrency limit, counting its API calls."""
        async with self.sem:
            before = self.sf.calls
            try:
                return await in_thread(fn, *args)
            finally:
                self.calls += self.sf.calls - before

    # ---- execution -----------------------------------------------------------------------------------
    async def _run_node(self, node: Node, n: int) -> None:
        try:
            for dep in node.deps:
                await dep.done.wait()
            call = f"{'bulk' if node.bulk else 'composite'}#{n}"
            if self.broken:
                self._fail_node(node, "SKIPPED", f"not sent: {self.broken}", None, call, retry=True)
            elif self.sf.budget.over():
                self._fail_node(node, BUDGET_CODE, "daily API budget share reached", None, call, retry=True)
            elif node.bulk:
                await self._run_bulk(node, call)
            else:
                await self._run_composite(node, call)
        finally:
            node.done.set()

    def _fail_node(self, node: Node, code: str | None, message: str, status: int | None, call: str,
                   retry: bool | None = None, ambiguous: bool = False) -> None:
        for _, recs in node.collections:
            for r in recs:
                _fail(r, code, message, status, call, retry=retry, ambiguous=ambiguous)

    async def _run_composite(self, node: Node, call: str) -> None:
        subs: list[dict] = []
        answered: list[tuple[list[Rec], bool]] = []  # per subrequest: its records, single-record or collection
        for i, (sobject, recs) in enumerate(node.collections):
            if sobject in node.singles:
                for j, r in enumerate(recs):
                    url = self.sf.data_path(f"/sobjects/{r.sobject}/{KEY_FIELD}/{quote(r.key, safe='')}")
                    subs.append({"method": "PATCH", "url": url,
                                 "referenceId": f"c{i}_{j}", "body": single_body(r)})
                    answered.append(([r], True))
            else:
                subs.append({"method": "PATCH", "url": self.sf.collection_path(recs[0].sobject, KEY_FIELD),
                             "referenceId": f"c{i}", "body": {"allOrNone": False, "records": [r.fields for r in recs]}})
                answered.append((recs, False))
        try:
            items = await self.call(self.sf.composite, subs)
        except SalesforceRetryable as exc:
            self.broken = self.broken or f"{exc.code}: {exc.message[:200]}"
            self.retry_after_s = max(self.retry_after_s or 0, exc.retry_after_s or 0) or None
            self._fail_node(node, exc.code, exc.message, exc.status_code, call, retry=True,
                            ambiguous=ambiguous(exc))
            return
        except SalesforcePermanent as exc:
            self._fail_node(node, exc.code, exc.message, exc.status_code, call, retry=False)
            return
        for (recs, single), item in zip(answered, items):
            status, body = item.get("httpStatusCode"), item.get("body")
            if single:
                self._single_answer(recs[0], status, body, item.get("httpHeaders") or {}, call)
            elif status is not None and status < 300 and isinstance(body, list) and len(body) == len(recs):
                for rec, res in zip(recs, body):
                    if res.get("success"):
                        rec.ok, rec.sf_id, rec.status_code, rec.call = True, res.get("id"), status, call
                        self.new_records.append((rec.sobject, rec.key, rec.sf_id or ""))
                    else:
                        errs = res.get("errors") or [{}]
                        _fail(rec, errs[0].get("statusCode"), json.dumps(errs), status, call)
                        self._learn(rec)
            else:
                code, retry, unsure = _collection_failure(status, body)
                for rec in recs:
                    _fail(rec, code, json.dumps(body)[:2000], status, call, retry=retry, ambiguous=unsure)
        for _, recs in node.collections:  # an answer without a result for a record: not delivered
            for rec in recs:
                if rec.ok is None:
                    _fail(rec, "NO_RESULT", "Salesforce's answer lacked this record", None, call, retry=True,
                          ambiguous=True)

    def _single_answer(self, rec: Rec, status: int | None, body: Any, headers: dict, call: str) -> None:
        """A single-record upsert's answer inside the Composite (allOrNone false: each subrequest stands alone).
        201 created / 200 updated (API 46.0+: ``{id, success, created}``) / 204 updated (API 45.0 and earlier: no
        body, so no Id to remember); 300 several records hold the key; 4xx the record's own error, decided by
        :func:`classify` as a collection result's would be; 5xx or an unreadable 2xx: may have been applied."""
        if status is not None and 200 <= status < 300 and (status == 204 or isinstance(body, dict)):
            sf_id = body.get("id") if isinstance(body, dict) else None
            sf_id = sf_id or str(headers.get("Location") or "").rstrip("/").rpartition("/")[2] or None
            if status == 204 or (isinstance(body, dict) and body.get("success") is not False):
                rec.ok, rec.sf_id, rec.status_code, rec.call = True, sf_id, status, call
                if sf_id:
                    self.new_records.append((rec.sobject, rec.key, sf_id))
                return
            errs = body.get("errors") or [{}]
            _fail(rec, errs[0].get("statusCode"), json.dumps(errs), status, call)
            self._learn(rec)
            return
        if status == 300:  # Multiple Choices: a key that is not Unique matches several records; nothing written
            _fail(rec, "DUPLICATE_EXTERNAL_ID", f"{KEY_FIELD}: more than one record found for external id "
                  f"field: {json.dumps(body)[:1500]}", status, call, retry=False)
            return
        if status is not None and 400 <= status < 500 and isinstance(body, list) and body \
                and isinstance(body[0], dict) and body[0].get("errorCode"):
            errs = [{"statusCode": e.get("errorCode"), "message": e.get("message", ""), "fields": e.get("fields", [])}
                    for e in body if isinstance(e, dict)]  # the collection result's shape, for one reader
            _fail(rec, errs[0]["statusCode"], json.dumps(errs), status, call)
            self._learn(rec)
            return
        code, retry, unsure = _collection_failure(status, body)
        _fail(rec, code, json.dumps(body)[:2000], status, call, retry=retry, ambiguous=unsure)

    def _learn(self, rec: Rec) -> None:
        if rec.error_code == "REQUIRED_FIELD_MISSING" and rec.create_only_omitted:
            self.forget.append((rec.sobject, rec.key))

    async def _run_bulk(self, node: Node, call: str) -> None:
        (_, recs), = node.collections
        try:
            await self.call(run_bulk_upsert, self.sf, recs[0].sobject, recs, self.settings.sf_bulk_poll_s, call)
        except SalesforceRetryable as exc:
            self.broken = self.broken or f"{exc.code}: {exc.message[:200]}"
            # a job may have been created and run: treat every record as possibly written
            self._fail_node(node, exc.code, exc.message, exc.status_code, call, retry=True,
                            ambiguous=True)
            return
        except SalesforcePermanent as exc:
            self._fail_node(node, exc.code, exc.message, exc.status_code, call, retry=False)
            return
        for rec in recs:
            if rec.ok:
                self.new_records.append((rec.sobject, rec.key, rec.sf_id or ""))
            else:
                self._learn(rec)

    # ---- outcome -------------------------------------------------------------------------------------
    def _outcome(self, u: Unit, recs: list[Rec]) -> UnitResult:
        if not recs:
            return self._result(u, Outcome.SKIPPED, error=u.skip_reason)
        own = [r for r in recs if r.owner == u.index]
        failed = [r for r in recs if r.ok is False]
        primary = next((r for r in own if r.sobject == PRIMARY[u.resource]), own[0] if own else recs[0])
        status = next((r.status_code for r in failed), primary.status_code)
        calls = sorted({r.call for r in recs if r.call})
        summary: dict[str, Any] = {"calls": calls, "records": dict(Counter(r.sobject for r in recs if not r.delete))}
        if deleted := sum(r.delete and r.ok is True for r in recs):
            summary["deleted"] = {"OrderItem": deleted}  # order lines WooCommerce no longer lists
        if any(r.ambiguous for r in recs):
            summary["ambiguous"] = True  # Salesforce may have applied it although it failed (orders_unconfirmed)
        if u.rebuilt_from:
            summary["rebuilt_from"] = u.rebuilt_from  # a trash stub written from that event's full record
        if not failed:
            return self._result(u, Outcome.DELIVERED, sf_id=primary.sf_id, status=status, summary=summary)
        errors = [{"sobject": r.sobject, "key": r.key, "code": r.error_code, "message": r.error,
                   "dependency": r.owner != u.index} for r in failed]
        first = next((r for r in failed if r.owner == u.index and not r.retryable), failed[0])
        text = json.dumps(errors)[:8000]
        if any(r.owner == u.index and not r.retryable for r in failed):
            return self._result(u, Outcome.DEAD, code=first.error_code, error=text, status=status, summary=summary)
        if self.sf.budget.limit_hit:  # the daily limit was hit during the batch: the store pauses
            return self._result(u, Outcome.PAUSED, code=LIMIT_CODE, error=DAILY_LIMIT_TEXT, summary=summary)
        if blocker := next((r for r in failed if r.owner != u.index and not r.retryable
                            and r.sobject in DEPENDENCIES), None):
            return self._waiting(u, blocker, errors, status, summary)
        if all(r.error_code == BUDGET_CODE for r in failed):
            return self._result(u, Outcome.PAUSED, code=BUDGET_CODE, error=text, summary=summary)
        return self._result(u, Outcome.RETRYING, code=first.error_code, error=text, status=status, summary=summary,
                            retry_after=self.retry_after_s)

    def _waiting(self, u: Unit, blocker: Rec, errors: list[dict], status: int | None,
                 summary: dict[str, Any]) -> UnitResult:
        """A record this unit needs (its customer or guest buyer, a product) failed permanently: the unit cannot be
        delivered before that is fixed, so it waits (retrying, no attempt counted, ``agent_dependency_wait_s``) with
        that record's error as its cause. The record's delivery (its own row, replayed or updated) wakes it; a
        replay of the unit sends the record again with it (the plan re-creates what Salesforce lacks)."""
        resource, _, rid = blocker.key.split(":", 1)[1].partition(":")
        who = f"guest buyer {rid[:12]}" if resource == "guest" else f"{resource} {rid}"
        try:
            found = json.loads(blocker.error or "")
            message = str(found[0].get("message", "")) if isinstance(found, list) and found else blocker.error
        except (ValueError, AttributeError):
            message = blocker.error
        cause = {"sobject": blocker.sobject, "key": blocker.key, "code": blocker.error_code,
                 "message": f"waiting for {who}: {message}", "waiting_for": blocker.key}
        return self._result(u, Outcome.RETRYING, code=blocker.error_code, error=json.dumps([cause, *errors])[:8000],
                            status=status, summary={**summary, "waiting_for": blocker.key}, count=False,
                            waiting_for=blocker.key)

    def _result(self, u: Unit, outcome: Outcome, *, code: str | None = None, error: str | None = None,
                sf_id: str | None = None, status: int | None = None, summary: dict[str, Any] | None = None,
                count: bool = True, retry_after: float | None = None, waiting_for: str | None = None) -> UnitResult:
        s = self.settings
        outcome, attempts, delay = outbox.next_try(s, outcome, u.attempts, count=count, retry_after_s=retry_after)
        if outcome is Outcome.PAUSED:
            delay = s.sf_budget_pause_s if code in (BUDGET_CODE, LIMIT_CODE) else s.agent_retry_schedule_s[0]
        if waiting_for is not None and outcome is Outcome.RETRYING:
            delay = s.agent_dependency_wait_s
        return UnitResult.of(u, outcome, code=code, error=error, sf_id=sf_id, status=status,
                             summary={**(summary or {}), "api_calls_in_batch": self.calls}, attempts=attempts,
                             delay_s=delay, waiting_for=waiting_for if outcome is Outcome.RETRYING else None)


def run_bulk_upsert(client: SalesforceClient, sobject: str, recs: list[Rec], poll_s: float, call: str) -> None:
    """Bulk API 2.0 upsert of ``recs`` (synchronous; sets each record's outcome)."""
    cols: list[str] = []
    for r in recs:
        for k, v in r.fields.items():
            if k == "attributes":
                continue
            col = f"{k}.{next(iter(v))}" if isinstance(v, dict) else k
            if col not in cols:
                cols.append(col)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for r in recs:
        row = []
        for col in cols:
            name, _, sub = col.partition(".")
            v = r.fields.get(name, "")
            v = v.get(sub) if isinstance(v, dict) else v
            row.append("#N/A" if v is None else ("true" if v is True else "false" if v is False else str(v)))
        w.writerow(row)
    job = client.request("POST", "/jobs/ingest", json={"object": sobject, "operation": "upsert",
                                                       "externalIdFieldName": KEY_FIELD, "contentType": "CSV",
                                                       "lineEnding": "LF"}).body
    jid = job["id"]
    client.request("PUT", f"/jobs/ingest/{jid}/batches", data=buf.getvalue().encode(), content_type="text/csv")
    client.request("PATCH", f"/jobs/ingest/{jid}", json={"state": "UploadComplete"})
    while True:
        info = client.request("GET", f"/jobs/ingest/{jid}").body
        if info["state"] in ("JobComplete", "Failed", "Aborted"):
            break
        time.sleep(poll_s)
    by_key = {r.key: r for r in recs}
    if info["state"] == "JobComplete":
        ok = csv.DictReader(io.StringIO(client.request("GET", f"/jobs/ingest/{jid}/successfulResults").body))
        for result in ok:
            if (rec := by_key.get(result.get(KEY_FIELD) or "")) is not None:
                rec.ok, rec.sf_id, rec.status_code, rec.call = True, result["sf__Id"], 200, call
        if any(r.ok is None for r in recs):
            bad = csv.DictReader(io.StringIO(client.request("GET", f"/jobs/ingest/{jid}/failedResults").body))
            for result in bad:
                if (rec := by_key.get(result.get(KEY_FIELD) or "")) is not None:
                    code, _, msg = (result.get("sf__Error") or "").partition(":")
                    _fail(rec, code or None, msg.rstrip(" -"), 200, call)
    for rec in recs:
        if rec.ok is None:
            _fail(rec, "BULK_" + info["state"].upper(), info.get("errorMessage") or "not processed", None, call,
                  retry=True)


class Deliverer:
    """Claims and delivers batches; one per agent process (``owner`` names its leases)."""

    def __init__(self, db: Database, stores: StoreManager, settings: Settings, *, owner: str | None = None):
        self.db, self.stores, self.settings = db, stores, settings
        self.owner = owner or new_owner()
        self.base_mapping = load_mapping(settings.mapping_file)
        self._clients: dict[str, SalesforceClient] = {}
        self._mappings: dict[str, Mapping] = {}
        self._backlog = False
        self.windows: dict[str, float] = {}  # store -> flush window in force, s (sf_budget.flush_window_s)
        self._hold: list[str] = []  # stores whose flush window is still open: not claimed this run

    # ---- per store ------------------------------------------------------------------------------------
    async def client(self, store_id: str) -> SalesforceClient:
        c = self._clients.get(store_id)
        if c is None:
            store = await self.stores.get(store_id)
            conn = store["sf_credentials"] or {}
            s = self.settings
            c = SalesforceClient(conn, api_version=s.sf_api_version, timeout_s=s.sf_timeout_s,
                                 pool_size=s.sf_concurrency, budget_share=s.sf_api_budget_share)
            self._clients[store_id] = c
            self._mappings[store_id] = mapping_for(store, s.mapping_file) if conn.get("mapping_file") \
                else self.base_mapping
        return c

    async def mapping(self, store_id: str) -> Mapping:
        await self.client(store_id)
        return self._mappings[store_id]

    def drop_client(self, store_id: str) -> None:
        c = self._clients.pop(store_id, None)
        self._mappings.pop(store_id, None)
        if c is not None:
            c.close()

    def close(self) -> None:
        for sid in list(self._clients):
            self.drop_client(sid)

    # ---- batches -------------------------------------------------------------------------------------
    async def claim(self, limit: int) -> list[Unit]:
        rows = await outbox.claim(self.db, DESTINATION, self.owner, limit, self.settings.agent_lease_s, self._hold)
        return [Unit.claimed(i, r) for i, r in enumerate(rows)]

    async def run_batch(self) -> BatchStats | None:
        """Claim and deliver one batch; ``None`` when there was nothing to claim."""
        limit = self.settings.sf_bulk_claim_batch if self._backlog else self.settings.agent_claim_batch
        units = await self.claim(limit)
        self._backlog = len(units) >= self.settings.agent_claim_batch
        if not units:
            return None
        t0 = time.perf_counter()
        started = datetime.now(UTC)
        by_store: dict[str, list[Unit]] = {}
        for u in units:
            by_store.setdefault(u.store_id, []).append(u)
        runs = [StoreRun(self, sid, us) for sid, us in by_store.items()]
        async with leases_kept(self.db, self.owner, self.settings.agent_lease_s):
            results = [r for rs in await asyncio.gather(*(run.run() for run in runs)) for r in rs]
        duration_ms = int((time.perf_counter() - t0) * 1000)
        await retry_conflicts(lambda: self._record(results, runs, started, duration_ms), action="sync.record_conflict")
        await self.db.execute("sf_connection_record", [r.store_id for r in runs],  # the alerts and dashboard read it
                              [r.connection_error and r.connection_error[0] for r in runs],
                              [r.connection_error and r.connection_error[1] for r in runs])
        await hooks.after_delivery(runs, results)
        stats = BatchStats(claimed=len(units), outcomes=Counter(r.outcome for r in results),
                           api_calls=sum(r.calls for r in runs),
                           records=sum(len(r.plan.records) + len(r.plan.deletes) for r in runs if r.plan))
        for action in (Outcome.DELIVERED, Outcome.DEAD, Outcome.RETRYING, Outcome.PAUSED, Outcome.SKIPPED):
            if stats.outcomes[action]:
                logger.bind(action=f"sync.{action}", count=stats.outcomes[action], duration_ms=duration_ms,
                            api_calls=stats.api_calls).info("{} outbox rows {}", stats.outcomes[action], action)
        for r in results:
            if r.outcome is Outcome.DEAD:
                logger.bind(action="sync.dead_letter", store_id=r.store_id, resource=r.resource,
                            resource_id=r.resource_id, code=r.code).warning("dead-lettered")
        return stats

    async def _record(self, results: list[UnitResult], runs: list[StoreRun], started: datetime,
                      duration_ms: int) -> None:
        async with self.db.transaction() as tx:
            await outbox.insert_attempts(self.db, results, started=started, duration_ms=duration_ms,
                                         destination=DESTINATION, conn=tx)
            for run in runs:
                if run.new_records:
                    recs = sorted(set(run.new_records))
                    await self.db.execute("upsert_sf_records", [run.store_id] * len(recs), [r[0] for r in recs],
                                          [r[1] for r in recs], [r[2] for r in recs], conn=tx)
            await outbox.complete(self.db, self.owner, results, destination=DESTINATION, conn=tx)
        for run in runs:
            saved = {(o, k) for o, k, _ in run.new_records}
            if woken := run.written_dependencies():
                # orders waiting for a customer, guest buyer or product that now reached Salesforce: due now
                await self.db.execute("wake_waiting", run.store_id, woken)
            if forget := sorted(set(run.forget) - saved):
                await self.db.execute("delete_sf_records", run.store_id, [f[0] for f in forget],
                                      [f[1] for f in forget])
            if run.client is not None:
                await self._save_budget(run.store_id, run.client)

    async def _save_budget(self, store_id: str, client: SalesforceClient) -> None:
        b = client.budget
        if b.max is None and not b.limit_hit:
            return
        over = b.over()
        until = datetime.now(UTC) + timedelta(seconds=self.settings.sf_budget_pause_s) if over else None
        window = self.next_window(store_id, b.ratio)
        await self.db.execute("upsert_sf_budget", store_id, b.used, b.max, b.share, over, until, window)
        API_USED.labels(store_id).set(b.used or 0)
        API_USED_RATIO.labels(store_id).set(b.ratio or 0)
        logger.bind(action="sf.budget" if not over else "sf.budget_paused", store_id=store_id, api_used=b.used,
                    api_max=b.max, share=b.share).log("WARNING" if over else "DEBUG", "Salesforce API budget")

    # ---- the flush window (issue 19) -------------------------------------------------------------------
    def next_window(self, store_id: str, ratio: float | None) -> float:
        """The store's flush window after a budget reading: past half the daily allocation it doubles (from at
        least 1 s) up to ``sf_max_delay_budget_s``; below, it halves back down to ``sf_max_delay_s``."""
        s = self.settings
        base, was = s.sf_max_delay_s, self.windows.get(store_id, s.sf_max_delay_s)
        if ratio is not None and ratio > 0.5:
            window = min(s.sf_max_delay_budget_s, max(was * 2, base, 1.0))
        else:
            window = base if was / 2 < max(base, 1.0) else was / 2
        if window != was:
            logger.bind(action="sf.flush_window", store_id=store_id, window_s=window, was_s=was,
                        api_used_ratio=None if ratio is None else round(ratio, 3)).info(
                "flush window {} s ({} the daily API allocation used)", window,
                "more than half" if window > was else "no more than half")
        self.windows[store_id] = window
        return window

    async def held_stores(self) -> list[str] | None:
        """Stores with due rows whose flush window is still open: the oldest has waited less than the window and
        they do not fill a claim. ``None`` when no store has a due row at all."""
        rows = await self.db.fetch("sf_flush_due")
        if not rows:
            return None
        hold = []
        for r in rows:
            if r["store_id"] not in self.windows and r["flush_window_s"] is not None:
                self.windows[r["store_id"]] = float(r["flush_window_s"])  # another agent's (or an earlier run's)
            window = self.windows.get(r["store_id"], self.settings.sf_max_delay_s)
            if r["waited_s"] < window and r["n"] < self.settings.agent_claim_batch:
                hold.append(r["store_id"])
        return hold if len(hold) < len(rows) else None

    async def drain(self, *, stop: asyncio.Event | None = None, max_batches: int | None = None,
                    windowed: bool = False) -> BatchStats:
        """Deliver batches until nothing is claimable (or ``stop`` is set between batches). ``windowed`` (the
        scheduled runs): a store's changes wait until the oldest has waited its flush window, so that they share
        calls; not while a backlog lasts (it fills calls anyway)."""
        total = BatchStats()
        self._hold = []
        windowed = windowed and self.settings.sf_max_delay_s + self.settings.sf_max_delay_budget_s > 0
        n = 0
        while not (stop and stop.is_set()) and (max_batches is None or n < max_batches):
            if windowed and not self._backlog:
                # before every batch: the rows that came in while the last one was sent start a new window
                hold = await self.held_stores()
                if hold is None:
                    break  # nothing due, or every store's window still open
                self._hold = hold
            stats = await self.run_batch()
            if stats is None:
                break
            total.add(stats)
            n += 1
            if all(o is Outcome.PAUSED for o in stats.outcomes) or stats.outcomes[Outcome.RETRYING] == stats.claimed:
                break  # nothing moved: wait for the next run
        return total

    async def release(self) -> int:
        return await outbox.release(self.db, self.owner)
