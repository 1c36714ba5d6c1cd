"""Records born in Salesforce: a Product2 or Contact a person created there and marked for a store
(``Woo_Store__c`` = the store id, no ``Wooforce_Key__c`` yet) becomes a WooCommerce product or customer.

The poll's Composite call finds them: the Product2 and PricebookEntry change queries also match marked records
without a key (``Woo_Store__c = '{store}' AND Wooforce_Key__c = null``; the entry of the standard price book, for the
price), and one more query reads marked Contacts (a Composite call takes at most 5 queries: Order, Account, Product2,
PricebookEntry and Contact). Each such record is an event (``action`` created, ``source`` salesforce) for the
``woocommerce`` destination under a stand-in entity id (:func:`standin_id`: from 2**62 up, from the Salesforce Id, as
the WooCommerce id does not exist yet). The writer (:func:`create`) then POSTs it (``/products``: simple, with price
and stock; ``/customers``: a registered email links the existing customer instead), and stamps the key back
(``Wooforce_Key__c`` = ``{store}:{resource}:{id}`` on the Product2 and its PricebookEntry, on the Contact and its
Account when that has no key), so the store's webhook of the new record is delivered by key onto these records and
later edits flow both ways by ownership. The stand-in entity's state remembers the WooCommerce id once created
(``@created``), so a retry after a failed stamp never creates twice. The event dedup key (Salesforce Id and
``SystemModstamp``) keeps a repeat from queueing again.
"""
from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from agent.twoway import ownership as O
from agent.twoway import state as S
from shared.db import Database
from shared.errors import PermanentError
from shared.mapping import KEY_FIELD, key
from shared.models import NewEvent
from shared.outbox import OutboxManager

if TYPE_CHECKING:
    from agent.salesforce import SalesforceClient
    from agent.woocommerce import WooClient

STANDIN_BASE = 1 << 62  # stand-in entity ids of records made in Salesforce start here (standin_id)
STORE_FIELD = "Woo_Store__c"  # on Product2 and Contact: the store a record made in Salesforce is for
BORN = {"product": "Product2", "customer": "Contact"}  # resource -> the sObject marked for a store
CONTACT_FIELDS = ("FirstName", "LastName", "Email", "Phone", "MailingStreet", "MailingCity", "MailingState",
                  "MailingPostalCode", "MailingCountry")
CONTACT_WC = {"Phone": "phone", "MailingCity": "city", "MailingState": "state", "MailingPostalCode": "postcode",
              "MailingCountry": "country"}


class CreateRefused(PermanentError):
    """WooCommerce refused to create the record (its own code and message are kept)."""

    code = "twoway_create_refused"


def standin_id(sf_id: str) -> int:
    """The outbox entity id of a record not yet in WooCommerce: 2**62 and above (far beyond any WordPress post or
    user id; event ids must be positive), stable per Salesforce record (the 18-character Id's first 15 characters
    are the case-sensitive id)."""
    digest = hashlib.sha256(sf_id[:15].encode()).digest()
    return STANDIN_BASE | (int.from_bytes(digest[:8], "big") >> 2)


def born_condition(tw: O.TwoWay, obj: O.TwoWayObject, store_id: str) -> str | None:
    """The SOQL condition (ORed into the part's change query) matching this sObject's marked, not yet keyed
    records: a product and its standard price ride in the Product2 / PricebookEntry queries the poll makes anyway
    (a Composite call takes at most 5 queries). Store ids are [a-z0-9_] only."""
    if obj.resource != "product":
        return None
    if obj.sobject == "Product2":
        return f"({STORE_FIELD} = '{store_id}' AND {KEY_FIELD} = null)"
    return (f"(Product2.{STORE_FIELD} = '{store_id}' AND Product2.{KEY_FIELD} = null "
            "AND Pricebook2.IsStandard = true)")


def born_columns(tw: O.TwoWay, obj: O.TwoWayObject) -> list[str]:
    """What a creation needs beyond the change query's columns."""
    if obj.resource != "product":
        return []
    if obj.sobject == "Product2":
        return ["ProductCode", "StockKeepingUnit"] + [f.sf for f in obj.fields]
    return ["Product2Id"] + [f.sf for f in obj.fields]


def born_queries(tw: O.TwoWay, store_id: str) -> dict[str, str]:
    """referenceId -> SOQL of marked records with a query of their own: Contacts (the customer's change query reads
    Accounts)."""
    out: dict[str, str] = {}
    if "customer" in tw.objects:
        cols = ["Id", "SystemModstamp", "AccountId", f"Account.{KEY_FIELD}", *CONTACT_FIELDS]
        out["born_Contact"] = (f"SELECT {', '.join(cols)} FROM Contact "  # noqa: S608
                               f"WHERE {STORE_FIELD} = '{store_id}' AND {KEY_FIELD} = null "
                               "ORDER BY SystemModstamp, Id")
    return out


async def queue_born(db: Database, store_id: str, tw: O.TwoWay, rows: dict[str, list[dict]]) -> int:
    """Events for the marked records the poll found (``rows``: sObject -> its not yet keyed rows)."""
    events: list[NewEvent] = []
    prices: dict[str, dict] = {}
    for r in rows.get("PricebookEntry") or []:
        prices[str(r.get("Product2Id"))[:15]] = r
    for resource, sobject in BORN.items():
        if resource not in tw.objects:
            continue
        for row in rows.get(sobject) or []:
            t = O.parse_ts(row.get("SystemModstamp"))
            sf_id = str(row.get("Id") or "")
            if t is None or not sf_id:
                continue
            payload = born_payload(tw, resource, row, prices.get(sf_id[:15]))
            events.append(NewEvent(store_id=store_id, source="salesforce", resource=resource, action="created",
                                   resource_id=standin_id(sf_id), version=t, occurred_at=t,
                                   payload_json=json.dumps(payload), dedup_key=f"sf:born:{sf_id}:{O.iso(t)}",
                                   sender_id=sf_id))
    if events:
        await OutboxManager(db).ingest(events, destination="woocommerce")
    return len(events)


def born_payload(tw: O.TwoWay, resource: str, row: dict, entry: dict | None = None) -> dict[str, Any]:
    """What creating the store's record of a marked Salesforce row needs (its standard price ``entry``)."""
    sf_id = str(row.get("Id") or "")
    t = O.parse_ts(row.get("SystemModstamp"))
    payload: dict[str, Any] = {"born": True, "sobject": BORN[resource], "sf_id": sf_id, "modstamp": O.iso(t)}
    if resource == "product":
        obj = tw.objects["product"]
        entry = entry or {}
        fields = {f.sf: tw.sf_canon(f, (entry if f.sobject == "PricebookEntry" else row).get(f.sf))
                  for f in obj.fields}
        payload.update(fields=fields, sku=O.norm(row.get("StockKeepingUnit") or row.get("ProductCode")),
                       pricebook_entry_id=entry.get("Id"))
    else:
        payload.update(contact={k: O.norm(row.get(k)) for k in CONTACT_FIELDS}, account_id=row.get("AccountId"),
                       account_keyed=bool((row.get("Account") or {}).get(KEY_FIELD)))
    return payload


def product_body(tw: O.TwoWay, payload: dict) -> dict[str, Any]:
    obj = tw.objects["product"]
    values = {k: v for k, v in (payload.get("fields") or {}).items() if v is not None}
    body: dict[str, Any] = {"type": "simple", **O.put_body(tw, obj, values)}
    if payload.get("sku"):
        body["sku"] = payload["sku"]
    body.setdefault("status", "publish")
    return body


def customer_body(payload: dict) -> dict[str, Any]:
    c = payload.get("contact") or {}
    billing: dict[str, str] = {k: c[sf] for sf, k in CONTACT_WC.items() if c.get(sf)}
    line1, _, line2 = (c.get("MailingStreet") or "").partition("\n")
    if line1:
        billing.update(address_1=line1.strip(), address_2=line2.strip())
    body: dict[str, Any] = {"email": c.get("Email") or "", "first_name": c.get("FirstName") or "",
                            "last_name": c.get("LastName") or ""}
    billing.update(first_name=body["first_name"], last_name=body["last_name"], email=body["email"])
    body["billing"] = billing
    return body


async def find_existing(client: WooClient, resource: str, payload: dict) -> int | None:
    """The store's record this one matches: a product by SKU, a customer by email."""
    if resource == "product":
        sku = payload.get("sku")
        if not sku:
            return None
        page = await client.list("products", {"sku": sku})
    else:
        email = (payload.get("contact") or {}).get("Email")
        if not email:
            return None
        page = await client.list("customers", {"email": email, "role": "all"})
    for r in page.records:
        if isinstance(r, dict) and r.get("id"):
            return int(r["id"])
    return None


async def create(db: Database, store_id: str, tw: O.TwoWay, client: WooClient, resource: str, rid: int,
                 payload: dict, *, match_first: bool = False) -> tuple[int, bool, dict[str, Any]]:
    """Create (or link) the WooCommerce record of a marked Salesforce record. Returns (WooCommerce id, whether it
    was linked rather than created, request summary). Raises CreateRefused with WooCommerce's own code and message
    for a validation error (duplicate SKU, invalid price ...)."""
    from agent.woocommerce import WooCommerceBadRequest

    summary: dict[str, Any] = {"sf_id": payload.get("sf_id"), "born": True}
    st = (await S.load_states(db, store_id, resource, [rid])).get(rid)
    done = ((st.fields.get("@created") or {}) if st else {}).get("v")
    if done:
        summary["again"] = True  # created before; only the stamp is left
        return int(done), False, summary
    path = "products" if resource == "product" else "customers"
    linked = None
    if match_first:
        linked = await find_existing(client, resource, payload)
    if linked is None:
        body = product_body(tw, payload) if resource == "product" else customer_body(payload)
        summary.update(method="POST", path=path)
        try:
            saved = await client.post(path, body)
            wc_id = int(saved["id"])
        except WooCommerceBadRequest as exc:
            err = exc.body if isinstance(exc.body, dict) else {}
            if err.get("code") == "registration-error-email-exists":
                linked = await find_existing(client, resource, payload)
            if linked is None:
                text = err.get("message") or exc.message
                raise CreateRefused(f"WooCommerce refused to create this {resource}: {text}",
                                    code=str(err.get("code") or exc.code), status_code=exc.status_code,
                                    body=err) from None
    if linked is not None:
        wc_id = linked
        summary["linked"] = wc_id
    ch = S.Changes()
    ch.patch(resource, rid, "@created", v=wc_id)
    ch.patch(resource, wc_id, "@origin", v="salesforce", sf_id=payload.get("sf_id"))
    await ch.save(db, store_id)
    return wc_id, linked is not None, summary


def stamp_requests(sf: SalesforceClient, store_id: str, resource: str, wc_id: int, payload: dict) -> list[dict]:
    """The Composite subrequests writing the key onto the Salesforce records."""
    k = key(store_id, resource, wc_id)
    subs = []

    def patch(sobject: str, sf_id: str) -> None:
        subs.append({"method": "PATCH", "url": sf.data_path(f"/sobjects/{sobject}/{sf_id}"),
                     "referenceId": f"stamp_{sobject}", "body": {KEY_FIELD: k}})
    if resource == "product":
        patch("Product2", payload["sf_id"])
        if payload.get("pricebook_entry_id"):
            patch("PricebookEntry", payload["pricebook_entry_id"])
    else:
        patch("Contact", payload["sf_id"])
        if payload.get("account_id") and not payload.get("account_keyed"):
            patch("Account", payload["account_id"])
    return subs


async def stamp(db: Database, sf: SalesforceClient, store_id: str, resource: str, wc_id: int, payload: dict) -> None:
    """Write the key back (one Composite call) and remember the records (``salesforce_records``)."""
    from agent.salesforce import in_thread
    from shared.errors import RetryableError

    subs = stamp_requests(sf, store_id, resource, wc_id, payload)
    answers = await in_thread(sf.composite, subs)
    bad = [a for a in answers if (a.get("httpStatusCode") or 0) >= 300]
    if bad:
        body = bad[0].get("body")
        first = body[0] if isinstance(body, list) and body and isinstance(body[0], dict) else {}
        code, message = str(first.get("errorCode") or "stamp_failed"), str(first.get("message") or body)
        err = (f"created as WooCommerce {resource} {wc_id}, but Salesforce refused its key "
               f"{key(store_id, resource, wc_id)}: {code}: {message}")
        if code in ("DUPLICATE_VALUE", "INVALID_FIELD", "FIELD_INTEGRITY_EXCEPTION", "ENTITY_IS_DELETED",
                    "NOT_FOUND", "INVALID_CROSS_REFERENCE_KEY"):
            raise PermanentError(err, code=code.lower())
        raise RetryableError(err, code=code.lower())
    k = key(store_id, resource, wc_id)
    sobjects = [s["url"].rsplit("/", 2)[-2] for s in subs]
    ids = [s["url"].rsplit("/", 1)[-1] for s in subs]
    await db.execute("upsert_sf_records", [store_id] * len(subs), sobjects, [k] * len(subs), ids)


DELETED_CURSOR = "Product2:deleted"  # sf_poll_state row of the getDeleted window


def deleted_path(sf: SalesforceClient, start: datetime, end: datetime) -> str:
    """getDeleted of Product2 (a Composite subrequest that is no query: it does not count against the 5)."""
    def iso_ms(t: datetime) -> str:
        return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+00:00"
    q = urlencode({"start": iso_ms(start), "end": iso_ms(end)})
    return sf.data_path(f"/sobjects/Product2/deleted/?{q}")


async def queue_deleted(db: Database, store_id: str, tw: O.TwoWay, body: dict) -> int:
    """Products deleted in Salesforce that Salesforce owns (made there, or IsActive owned by Salesforce) are trashed
    in the store: an event ``deleted`` for the woocommerce destination. Others are left alone (the store's product
    stays; its next change creates the Salesforce record again). Customers are never deleted from the store."""
    gone = {str(d.get("id")): O.parse_ts(d.get("deletedDate")) for d in body.get("deletedRecords") or []
            if d.get("id")}
    if not gone:
        return 0
    rows = await db.fetch("twoway_keys_by_sf_ids", store_id, "Product2", sorted(gone))
    prefix = f"{store_id}:product:"
    by_rid = {int(r["wooforce_key"][len(prefix):]): r["sf_id"] for r in rows
              if r["wooforce_key"].startswith(prefix) and r["wooforce_key"][len(prefix):].isdigit()}
    if not by_rid:
        return 0
    states = await S.load_states(db, store_id, "product", sorted(by_rid))
    active_owned = any(f.sf == "IsActive" and f.owner == "salesforce" for f in tw.objects["product"].fields)
    events = []
    for rid, sf_id in sorted(by_rid.items()):
        st = states.get(rid)
        origin = ((st.fields.get("@origin") or {}) if st else {}).get("v")
        if origin != "salesforce" and not active_owned:
            continue
        t = gone[sf_id] or datetime.now(UTC)
        payload = {"sf_deleted": True, "sobject": "Product2", "sf_id": sf_id, "modstamp": O.iso(t),
                   "why": "made in Salesforce" if origin == "salesforce" else "IsActive is Salesforce's"}
        events.append(NewEvent(store_id=store_id, source="salesforce", resource="product", action="deleted",
                               resource_id=rid, version=t, occurred_at=t, payload_json=json.dumps(payload),
                               dedup_key=f"sf:deleted:{sf_id}", sender_id=sf_id))
    if events:
        await OutboxManager(db).ingest(events, destination="woocommerce")
    return len(events)


async def trash(db: Database, store_id: str, client: WooClient, rid: int, head_doc: dict | None,
                summary: dict[str, Any]) -> str | None:
    """Trash the store's product (never a permanent delete; a variation, which has no trash, is made private).
    Returns why nothing was done, or None when it was."""
    doc = await client.get(f"products/{rid}")
    if doc is None:
        return "the store no longer has this product"
    if doc.get("status") == "trash":
        return "the store already trashed this product"
    parent = doc.get("parent_id") or 0
    if parent:
        path = f"products/{parent}/variations/{rid}"
        summary.update(method="PUT", path=path, status="private")
        await client.put(path, {"status": "private"})
    else:
        summary.update(method="DELETE", path=f"products/{rid}")
        await client.delete(f"products/{rid}")
    ch = S.Changes()
    ch.patch("product", rid, "@sf_deleted", v=True)
    await ch.save(db, store_id)
    return None
