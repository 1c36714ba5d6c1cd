"""Adopt the records the org already has (issue 17), before a batch creates its own.

A record Wooforce never wrote (no ``salesforce_records`` entry) is upserted by its ``Wooforce_Key__c``, which no
record in the org holds yet: the upsert would create a duplicate of the Contact or Product2 people made by hand.
So before the batch is sent, :func:`adopt` looks for them:

- a customer's or guest buyer's Contact by ``Email`` (case-insensitive, as SOQL compares text), with its Account
  (the Contact's ``AccountId``: the record people attached it to);
- a product's Product2 by ``StockKeepingUnit``, then ``ProductCode`` (the WooCommerce SKU), with its standard
  PricebookEntry (a product has at most one; creating a second is refused).

The lookup is one SOQL query per at most 200 keys (cut shorter so the GET stays under the URI limit), all of them
in one Composite request (one API call; a single query goes alone). A single free match is adopted: one
sObject Collections update stamps ``Wooforce_Key__c`` on it (Contact and its Account, or Product2 and its price
book entry; one call), and the batch's upsert then updates it instead of creating a duplicate. A batch with no
never-written customer or product makes no call here.

Ambiguous matches are never guessed: several records with the email/SKU, or one keyed to another entity or store
(its Contact, Account, Product2 or entry holds another ``Wooforce_Key__c``), or an Account another adopted Contact
of the batch takes. They are recorded in ``sf_matches`` (the review list) and the store's mapping option
``match_ambiguous`` decides: ``create`` a new record, ``oldest`` adopt the oldest free candidate (by CreatedDate,
then Id; none free: it waits), ``wait`` (the default) for a person to pick one in the console or with
``wooforce salesforce resolve``. A waiting entity's records are not sent: its own row is dead-lettered with code
``MATCH_REVIEW`` and the orders that need it wait for it (``waiting_for``, no attempt counted); the pick replays
the row and wakes the orders, and the next delivery applies the decision (stamps the chosen record, or creates).

If the lookup fails, nothing of the batch is sent (``StoreRun.broken``: retried), so a failed lookup never
creates a duplicate.
"""
from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import requests
from loguru import logger

from agent.delivery.plan import Plan, Rec, set_create_only
from agent.salesforce import SOQL_QUERY_MAX_BYTES, SalesforceClient
from shared.errors import SalesforcePermanent, SalesforceRetryable
from shared.mapping import KEY_FIELD, Mapping

if TYPE_CHECKING:
    from agent.delivery.engine import StoreRun

POLICIES = ("create", "oldest", "wait")
DEFAULT_POLICY = "wait"
MATCH_CODE = "MATCH_REVIEW"  # the error code of an entity waiting for a person's pick
WAIT_CODE = "MATCH_WAIT"  # an order's own records held while a customer or product it needs waits for that pick
KEYS_PER_QUERY = 200
# Salesforce: a Composite request holds at most 5 query or sObject Collections subrequests (LIMIT_EXCEEDED beyond)
COMPOSITE_MAX = 5
COLLECTION_MAX = 200
CONTACT_COLS = ["Id", "Name", "Email", "CreatedDate", KEY_FIELD, "AccountId", f"Account.{KEY_FIELD}"]
PRODUCT_COLS = ["Id", "Name", "StockKeepingUnit", "ProductCode", "CreatedDate", KEY_FIELD]
ENTRY_COLS = ["Id", "Product2Id", KEY_FIELD]


def policy(mapping: Mapping) -> str:
    """The store's ``match_ambiguous`` option (validated when the mapping loads)."""
    value = str(mapping.options.get("match_ambiguous", DEFAULT_POLICY))
    return value if value in POLICIES else DEFAULT_POLICY


# ---- SOQL ---------------------------------------------------------------------------------------------
def literal(value: str) -> str:
    """A SOQL string literal (backslash and quote escaped, as Salesforce reads them)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def key_queries(template: Callable[[str], str], values: list[str], *, uses: int = 1,
                max_keys: int = KEYS_PER_QUERY, max_bytes: int = SOQL_QUERY_MAX_BYTES) -> list[str]:
    """``template(in_list)`` for every at most ``max_keys`` values whose URL-encoded query (as the client sends it)
    stays within ``max_bytes``; ``uses``: how many times the template repeats the list."""
    base = len(requests.utils.quote(template("")))
    out: list[str] = []
    batch: list[str] = []
    size = base
    for v in values:
        cost = uses * len(requests.utils.quote(literal(v) + ", "))
        if batch and (len(batch) >= max_keys or size + cost > max_bytes):
            out.append(template(", ".join(literal(b) for b in batch)))
            batch, size = [], base
        batch.append(v)
        size += cost
    if batch:
        out.append(template(", ".join(literal(b) for b in batch)))
    return out


def contact_soql(in_list: str) -> str:
    return f"SELECT {', '.join(CONTACT_COLS)} FROM Contact WHERE Email IN ({in_list})"  # noqa: S608 (escaped)


def product_soql(in_list: str) -> str:
    return (f"SELECT {', '.join(PRODUCT_COLS)} FROM Product2 "  # noqa: S608 (escaped literals)
            f"WHERE StockKeepingUnit IN ({in_list}) OR ProductCode IN ({in_list})")


def entry_soql(pricebook_id: str) -> Callable[[str], str]:
    def soql(in_list: str) -> str:
        return (f"SELECT {', '.join(ENTRY_COLS)} FROM PricebookEntry "  # noqa: S608 (escaped literals)
                f"WHERE Pricebook2Id = {literal(pricebook_id)} "
                f"AND (Product2.StockKeepingUnit IN ({in_list}) OR Product2.ProductCode IN ({in_list}))")
    return soql


# ---- what to look for ---------------------------------------------------------------------------------
@dataclass
class Want:
    """One entity of the batch that Wooforce never wrote, and what to look it up by."""

    kind: str  # customer (a registered customer or a guest buyer) | product
    key: str
    value: str  # the email or SKU, lower-cased
    recs: list[Rec] = field(default_factory=list)  # its records in the plan (Account+Contact / Product2+entry)


@dataclass
class Candidate:
    sf_id: str
    created: str
    name: str
    key: str | None  # its own Wooforce_Key__c
    partner_id: str | None  # the Contact's Account, the Product2's standard PricebookEntry
    partner_key: str | None
    shown: dict[str, Any] = field(default_factory=dict)  # what it matched by (Email; StockKeepingUnit, ProductCode)

    def free(self, k: str) -> bool:
        return self.key in (None, k) and self.partner_key in (None, k)

    def doc(self, kind: str) -> dict[str, Any]:
        partner = "AccountId" if kind == "customer" else "PricebookEntryId"
        return {"Id": self.sf_id, "Name": self.name, "CreatedDate": self.created, "key": self.key,
                partner: self.partner_id, "partner_key": self.partner_key, **self.shown}


def wanted(plan: Plan, store_id: str) -> list[Want]:
    """The batch's customers and products with no record in the Id map, and an email or SKU to match by."""
    out: list[Want] = []
    for (sobject, k), rec in plan.records.items():
        if sobject == "Contact" and not _known(plan, store_id, ("Contact", "Account"), k):
            email = rec.fields.get("Email")
            if isinstance(email, str) and email.strip():
                recs = [r for r in (plan.records.get(("Account", k)), rec) if r is not None]
                out.append(Want("customer", k, email.strip().lower(), recs))
        elif sobject == "Product2" and not _known(plan, store_id, ("Product2", "PricebookEntry"), k):
            sku = rec.fields.get("StockKeepingUnit") or rec.fields.get("ProductCode")
            if isinstance(sku, str) and sku.strip():
                recs = [r for r in (rec, plan.records.get(("PricebookEntry", k))) if r is not None]
                out.append(Want("product", k, sku.strip().lower(), recs))
    return out


def _known(plan: Plan, store_id: str, sobjects: Iterable[str], k: str) -> bool:
    return any((store_id, s, k) in plan.known for s in sobjects)


# ---- matching -----------------------------------------------------------------------------------------
def candidates(want: Want, contacts: list[dict], products: list[dict], entries: list[dict]) -> list[Candidate]:
    """The org's records that match ``want``, oldest first (CreatedDate, then Id)."""
    if want.kind == "customer":
        found = [Candidate(r["Id"], str(r.get("CreatedDate") or ""), str(r.get("Name") or ""), r.get(KEY_FIELD),
                           r.get("AccountId"), (r.get("Account") or {}).get(KEY_FIELD), {"Email": r.get("Email")})
                 for r in contacts if str(r.get("Email") or "").lower() == want.value]
    else:
        by_sku = [r for r in products if str(r.get("StockKeepingUnit") or "").lower() == want.value]
        rows = by_sku or [r for r in products if str(r.get("ProductCode") or "").lower() == want.value]
        entry = {e["Product2Id"]: e for e in entries}
        found = [Candidate(r["Id"], str(r.get("CreatedDate") or ""), str(r.get("Name") or ""), r.get(KEY_FIELD),
                           (entry.get(r["Id"]) or {}).get("Id"), (entry.get(r["Id"]) or {}).get(KEY_FIELD),
                           {"StockKeepingUnit": r.get("StockKeepingUnit"), "ProductCode": r.get("ProductCode")})
                 for r in rows]
    return sorted({c.sf_id: c for c in found}.values(), key=lambda c: (c.created, c.sf_id))


@dataclass
class Decision:
    want: Want
    take: Candidate | None = None  # adopt this record
    hold: bool = False  # wait for a person
    review: dict[str, Any] | None = None  # a review-list row to record
    applied: bool = False  # a person's earlier decision, applied now


def decide(want: Want, found: list[Candidate], policy_: str, prior: dict[str, Any] | None,
           taken_accounts: set[str]) -> Decision:
    """What to do with one entity: adopt one candidate, create, or hold it for a person (see the module doc)."""
    d = Decision(want)
    if prior is not None and prior["status"] == "decided":
        d.applied = True
        if prior["decision"] != "create":
            docs = json.loads(prior["candidates"]) if isinstance(prior["candidates"], str) else prior["candidates"]
            doc = next((c for c in docs if c.get("Id") == prior["decision"]), None)
            if doc is not None:  # a person picked it: it is taken as it is (its keys are overwritten)
                d.take = Candidate(doc["Id"], doc.get("CreatedDate") or "", doc.get("Name") or "", None,
                                   doc.get("AccountId") or doc.get("PricebookEntryId"), None)
        return d
    if any(c.key == want.key for c in found):
        return d  # the org holds our own key already (the upsert finds it)
    # records this store's Wooforce wrote for its other entities are not candidates (they are not the org's own
    # people or products): a guest buyer with a registered customer's email keeps a Contact of its own, as before
    store_prefix = want.key.split(":", 1)[0] + ":"
    found = [c for c in found if not (c.key or "").startswith(store_prefix)]
    if not found:
        return d  # nothing to adopt: created
    free = [c for c in found if c.free(want.key)
            and not (want.kind == "customer" and c.partner_id in taken_accounts)]
    if len(found) == 1 and free:
        d.take = free[0]
        return d
    reason = "several" if len(found) > 1 else "keyed_elsewhere"
    row = {"key": want.key, "kind": want.kind, "reason": reason, "candidates": [c.doc(want.kind) for c in found],
           "status": "open", "decision": None, "decided_by": None}
    if policy_ == "create":
        row.update(status="applied", decision="create", decided_by="policy:create")
    elif policy_ == "oldest" and free:
        d.take = free[0]
        row.update(status="applied", decision=free[0].sf_id, decided_by="policy:oldest")
    else:
        d.hold = True
    d.review = row
    return d


# ---- the batch ------------------------------------------------------------------------------------------
async def adopt(run: StoreRun, plan: Plan, mapping: Mapping) -> None:
    """Look up the batch's never-written customers and products in the org, adopt single free matches, record
    and apply the policy to ambiguous ones (module doc). Called once per store batch, before the plan is sent."""
    wants = wanted(plan, run.store_id)
    if not wants or run.broken:
        return
    db = run.agent.db
    prior = {r["wooforce_key"]: dict(r) for r in await db.fetch("sf_matches_for_keys", run.store_id,
                                                                 [w.key for w in wants])}
    look = [w for w in wants if w.key not in prior or prior[w.key]["status"] == "open"]  # open: look again
    soqls = lookup_soqls(look, plan.pricebook_ids[run.store_id])
    found: dict[str, list[dict]] = {"c": [], "p": [], "e": []}
    try:
        for kind, records in await lookups(run.call, run.sf, soqls):
            found[kind] += records
    except (SalesforceRetryable, SalesforcePermanent) as exc:
        # nothing is sent without the lookup (it could create duplicates): every record takes the lookup's error
        run.broken = run.broken or f"{exc.code}: looking for records the org already has: {exc.message[:200]}"
        logger.bind(action="sync.adopt_lookup_failed", store_id=run.store_id, code=exc.code).warning(
            "looking up existing Salesforce records failed: nothing sent this batch")
        recs = list(plan.records.values())
        for rec in recs:
            rec.ok, rec.error_code, rec.status_code, rec.call = False, exc.code, exc.status_code, "adopt"
            rec.error = f"looking for records the org already has: {exc.message}"[:2000]
            rec.retryable = isinstance(exc, SalesforceRetryable)
        _set_aside(plan, recs)
        return
    pol = policy(mapping)
    decisions = decide_all(wants, found, pol, prior)
    await _stamp(run, plan, [d for d in decisions if d.take is not None])
    for d in decisions:
        if d.hold:
            hold(plan, d.want, len(d.review["candidates"]) if d.review else 0)
    reviews = [d.review for d in decisions if d.review is not None]
    if reviews:
        await db.execute("sf_matches_record", run.store_id, [r["key"] for r in reviews],
                         [r["kind"] for r in reviews], [r["reason"] for r in reviews],
                         [json.dumps(r["candidates"]) for r in reviews], [r["status"] for r in reviews],
                         [r["decision"] for r in reviews], [r["decided_by"] for r in reviews])
    if applied := [d.want.key for d in decisions if d.applied]:
        await db.execute("sf_matches_applied", run.store_id, applied)
    logger.bind(action="sync.adopt", store_id=run.store_id, looked_up=len(wants),
                adopted=sum(d.take is not None for d in decisions), review=len(reviews),
                held=sum(d.hold for d in decisions), policy=pol).info("existing Salesforce records matched")


def decide_all(wants: list[Want], found: dict[str, list[dict]], policy_: str,
               prior: dict[str, dict[str, Any]]) -> list[Decision]:
    """:func:`decide` for each entity of a batch, with what the lookups found (``found``: ``c`` Contacts, ``p``
    Product2s, ``e`` price book entries) and the review list's rows (``prior``, by key). An entity whose decision
    was applied before is left out; an Account adopted with one Contact is not free for another. The found records
    are indexed by email and SKU/ProductCode first, so a large store (``wooforce salesforce adopt``) stays linear."""
    by_email: dict[str, list[dict]] = {}
    by_code: dict[str, list[dict]] = {}
    for r in found["c"]:
        by_email.setdefault(str(r.get("Email") or "").lower(), []).append(r)
    for r in found["p"]:
        for code in {str(r.get("StockKeepingUnit") or "").lower(), str(r.get("ProductCode") or "").lower()}:
            by_code.setdefault(code, []).append(r)
    entry_of = {e.get("Product2Id"): e for e in found["e"]}
    taken: set[str] = set()
    decisions = []
    for w in wants:
        if w.key in prior and prior[w.key]["status"] == "applied":
            continue  # decided and applied before (e.g. create): nothing to look for
        contacts = by_email.get(w.value, []) if w.kind == "customer" else []
        products = by_code.get(w.value, []) if w.kind == "product" else []
        entries = [entry_of[r["Id"]] for r in products if r.get("Id") in entry_of]
        d = decide(w, candidates(w, contacts, products, entries), policy_, prior.get(w.key), taken)
        if d.review is None and not d.applied and w.key in prior:  # was open; the org has one free match now
            d.review = {**_row(prior[w.key]), "status": "applied", "decided_by": "agent:recheck",
                        "decision": d.take.sf_id if d.take else "create"}
        if d.take is not None and w.kind == "customer" and d.take.partner_id:
            taken.add(d.take.partner_id)
        decisions.append(d)
    return decisions


def lookup_soqls(wants: Iterable[Want], pricebook_id: str) -> list[tuple[str, str]]:
    """The lookups of these entities: (``c`` | ``p`` | ``e``, SOQL), Contacts by email, Product2 by SKU or
    ProductCode and their entries in the standard price book ``pricebook_id``, each for at most 200 keys."""
    wants = list(wants)
    emails = sorted({w.value for w in wants if w.kind == "customer"})
    skus = sorted({w.value for w in wants if w.kind == "product"})
    return [*(("c", q) for q in key_queries(contact_soql, emails)),
            *(("p", q) for q in key_queries(product_soql, skus, uses=2)),
            *(("e", q) for q in key_queries(entry_soql(pricebook_id), skus, uses=2))]


async def lookups(call: Callable[..., Awaitable[Any]], sf: SalesforceClient,
                  soqls: list[tuple[str, str]]) -> list[tuple[str, list[dict]]]:
    """Run the lookups: one query alone, several in Composite requests of up to 5 (one API call each);
    ``call(fn, *args)`` runs a blocking client call (the delivery's counts its calls)."""
    if not soqls:
        return []
    if len(soqls) == 1:
        return [(soqls[0][0], await call(sf.query, soqls[0][1]))]
    out: list[tuple[str, list[dict]]] = []
    for i in range(0, len(soqls), COMPOSITE_MAX):
        part = soqls[i:i + COMPOSITE_MAX]
        subs = [{"method": "GET", "referenceId": f"m{j}", "url": sf.query_path(q)} for j, (_, q) in enumerate(part)]
        for (kind, soql), item in zip(part, await call(sf.composite, subs)):
            body = item.get("body")
            if (item.get("httpStatusCode") or 500) >= 300 or not isinstance(body, dict):
                raise SalesforceRetryable(f"lookup failed: {json.dumps(body)[:300]}", code="LOOKUP_FAILED")
            records = list(body.get("records") or [])
            if not body.get("done", True):  # more than 2,000 matches for 200 keys: the rest on its own
                records = await call(sf.query, soql)
            out.append((kind, records))
    return out


async def _stamp(run: StoreRun, plan: Plan, taken: list[Decision]) -> None:
    """Write our key on each adopted record (and its Account / price book entry): sObject Collections update by Id,
    200 records a collection, one call (several collections go in Composite requests). A record that fails: its
    entity is not sent this batch (its error is its outcome), except DUPLICATE_VALUE (our key is on another record
    already, which the upsert then finds)."""
    if not taken:
        return
    stamps: list[tuple[Decision, str, str]] = []  # (decision, sobject, Id)
    for d in taken:
        assert d.take is not None
        kinds = ("Contact", "Account") if d.want.kind == "customer" else ("Product2", "PricebookEntry")
        stamps.append((d, kinds[0], d.take.sf_id))
        if d.take.partner_id:
            stamps.append((d, kinds[1], d.take.partner_id))
    chunks = [stamps[i:i + COLLECTION_MAX] for i in range(0, len(stamps), COLLECTION_MAX)]
    results: list[tuple[tuple[Decision, str, str], dict]] = []
    try:
        for i in range(0, len(chunks), COMPOSITE_MAX):
            group = chunks[i:i + COMPOSITE_MAX]
            bodies = [{"allOrNone": False, "records": [{"attributes": {"type": s}, "Id": sf_id, KEY_FIELD: d.want.key}
                                                       for d, s, sf_id in chunk]} for chunk in group]
            if len(group) == 1:
                send = functools.partial(run.sf.request, "PATCH", "/composite/sobjects", json=bodies[0])
                answers = [(await run.call(send)).body]
            else:
                subs = [{"method": "PATCH", "referenceId": f"s{j}", "url": run.sf.data_path("/composite/sobjects"),
                         "body": b} for j, b in enumerate(bodies)]
                answers = [item.get("body") for item in await run.call(run.sf.composite, subs)]
            for chunk, answer in zip(group, answers):
                rows = answer if isinstance(answer, list) and len(answer) == len(chunk) else [{}] * len(chunk)
                results += list(zip(chunk, rows))
    except (SalesforceRetryable, SalesforcePermanent) as exc:
        run.broken = run.broken or f"{exc.code}: adopting records the org already has: {exc.message[:200]}"
        return
    failed: dict[str, tuple[str, str]] = {}
    for (d, sobject, sf_id), res in results:
        if res.get("success"):
            run.new_records.append((sobject, d.want.key, sf_id))
            if sobject == "PricebookEntry" and (entry := next((r for r in d.want.recs if r.sobject == sobject), None)):
                set_create_only(entry, False)  # it exists now: an update, without Product2/Pricebook2Id
            continue
        errs = res.get("errors") or [{"statusCode": "NO_RESULT", "message": "Salesforce's answer lacked it"}]
        if errs[0].get("statusCode") != "DUPLICATE_VALUE":
            failed.setdefault(d.want.key, (str(errs[0].get("statusCode")), json.dumps(errs)[:2000]))
    for d in taken:
        if d.want.key in failed:
            code, text = failed[d.want.key]
            for rec in d.want.recs:
                rec.ok, rec.error_code, rec.error, rec.retryable, rec.call = False, code, text, False, "adopt"
            _set_aside(plan, d.want.recs)


def _row(prior: dict[str, Any]) -> dict[str, Any]:
    docs = json.loads(prior["candidates"]) if isinstance(prior["candidates"], str) else prior["candidates"]
    return {"key": prior["wooforce_key"], "kind": prior["kind"], "reason": prior["reason"], "candidates": docs}


def hold(plan: Plan, want: Want, n: int) -> None:
    """Keep a waiting entity's records out of the batch: they fail with MATCH_REVIEW (not retried: the entity's own
    row is dead-lettered until a person picks), and the orders needing them hold their own records (MATCH_WAIT,
    retryable) so that they wait for the entity rather than fail on its missing key."""
    what = "Contacts have this email" if want.kind == "customer" else "Product2 records have this SKU"
    text = json.dumps([{"statusCode": MATCH_CODE, "fields": [], "message": (
        f"{n} Salesforce {what}, or the match is another record's (Wooforce_Key__c): not guessed. Pick one in the "
        f"console's Matches page or with `wooforce salesforce resolve --key {want.key} --pick ID|create`")}])
    units: set[int] = set()
    for rec in want.recs:
        rec.ok, rec.error_code, rec.error, rec.retryable, rec.call = False, MATCH_CODE, text, False, "adopt"
        units |= {i for i in rec.needed_by if i != rec.owner}
    dependent = [r for r in plan.records.values() if r.owner in units and r not in want.recs]
    for rec in dependent:
        rec.ok, rec.error_code, rec.retryable, rec.call = False, WAIT_CODE, True, "adopt"
        rec.error = json.dumps([{"statusCode": WAIT_CODE, "fields": [],
                                 "message": f"waiting for a person to pick the Salesforce record of {want.key}"}])
    _set_aside(plan, [*want.recs, *dependent])


def _set_aside(plan: Plan, recs: list[Rec]) -> None:
    """Records decided here leave the records to send; they join ``plan.deletes``, the other list whose outcomes the
    engine reads for each unit (it sends only deletes still undecided, ``ok is None``)."""
    for rec in recs:
        if plan.records.get((rec.sobject, rec.key)) is rec:
            del plan.records[(rec.sobject, rec.key)]
            plan.deletes.append(rec)
