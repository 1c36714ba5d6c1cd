"""Turn claimed outbox rows into Salesforce upserts, dependencies first.

Each claimed row is a :class:`Unit`; it owns the records of its entity (customer -> Account + Contact,
product -> Product2 + PricebookEntry, order -> Order + OrderItems) and *needs* the records its order
references. A referenced customer or product that Salesforce does not hold yet (not in
``salesforce_records``) and that is not in this batch is created from the order's own data (buyer from
the billing address, product from the line item), so an order never waits forever for a dependency.
Records are deduplicated by (sObject, Wooforce_Key__c); an entity's own record beats an embedded copy.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shared.mapping import KEY_FIELD, Ctx, Mapping, email_hash, key
from shared.models import Outcome
from shared.outbox import ClaimedRow, Completion

# dependency levels: a level only references lower levels
LEVELS = {"Account": 0, "Product2": 0, "Contact": 1, "PricebookEntry": 1, "Order": 2, "OrderItem": 3,
          # the other models of the mapping's [options] (customer_model, lead_for_guests, order_model)
          "Lead": 0, "Opportunity": 2, "OpportunityLineItem": 3, "OpportunityContactRole": 3}
SOBJECT_ORDER: tuple[str, ...] = ("Account", "Product2", "Contact", "PricebookEntry", "Order", "OrderItem",
                                  "Lead", "Opportunity", "OpportunityLineItem", "OpportunityContactRole")
PRIMARY = {"customer": "Account", "product": "Product2", "order": "Order"}
STANDARD_PRICEBOOK_KEY = "__standard__"
PERSON_RECORD_TYPE_KEY = "__person_account__"  # Plan.org_ids: the Person Account record type's Id
CURRENCIES_KEY = "__currencies__"  # Plan.org_ids (options.multi_currency): the org's ISO codes, corporate first
CURRENCY_REFUSED = "CURRENCY_NOT_IN_ORG"
# options.activate_order_statuses: an Order whose lines were written is activated by a second write of it, in
# the same request after its lines (Plan.records key ACTIVATE; the Rec's sobject is Order)
ACTIVATE = "Order@activate"
LEVELS[ACTIVATE] = 4
LEVELS["Woo_Refund__c"] = 3  # options.refunds = "records": a refund is a record under its Order or Opportunity
SOBJECT_ORDER = (*SOBJECT_ORDER, "Woo_Refund__c", ACTIVATE)


@dataclass
class Unit:
    """One claimed outbox row."""

    index: int
    store_id: str
    resource: str
    resource_id: int
    event_id: str
    version: Any
    seq: int
    attempts: int
    action: str
    payload: dict
    skip_reason: str | None = None  # nothing to write (e.g. delete of something Salesforce never had)
    rebuilt_from: str | None = None  # a trash stub written from this earlier event's full record

    @classmethod
    def claimed(cls, index: int, row: ClaimedRow) -> Unit:
        return cls(index=index, store_id=row.store_id, resource=row.resource, resource_id=row.resource_id,
                   event_id=row.event_id, version=row.version, seq=row.seq, attempts=row.attempts,
                   action=row.action, payload=row.payload)


@dataclass
class Rec:
    sobject: str
    key: str
    fields: dict
    owner: int | None  # unit index whose own record this is; None = created from an order's embedded data
    needed_by: set[int] = field(default_factory=set)
    create_only: dict = field(default_factory=dict)  # create-only fields (references), sent only on create
    create_only_omitted: bool = False
    # outcome
    ok: bool | None = None
    sf_id: str | None = None
    error_code: str | None = None
    error: str | None = None
    retryable: bool = False
    status_code: int | None = None
    call: str | None = None  # which request carried it (for the attempt's summary)
    ambiguous: bool = False  # its request failed after it may have been applied (5xx, timeout): outcome unknown
    delete: bool = False  # to delete (an order line removed in WooCommerce), not to upsert; sf_id names it

    @property
    def level(self) -> int:
        return LEVELS[self.sobject]


class Plan:
    def __init__(self, mapping: Mapping, known: set[tuple[str, str, str]], pricebook_ids: dict[str, str]):
        self.mapping = mapping
        self.known = known  # (store_id, sobject, key) Salesforce already holds
        self.pricebook_ids = pricebook_ids  # store_id -> standard price book Id
        self.records: dict[tuple[str, str], Rec] = {}
        self.units: list[Unit] = []
        self.asked: set[tuple[str, str]] = set()  # every (sobject, key) whose existence was consulted
        # deletes of records our map does not hold: Salesforce may have them all the same (a create whose answer
        # was lost), so the delivery looks these up by key before concluding they are not in Salesforce
        self.unknown_deletes: set[tuple[str, str]] = set()
        self.deletes: list[Rec] = []  # records to delete in Salesforce (order lines WooCommerce no longer lists)
        self.org_ids: dict[str, str] = {}  # Ids the store's models need (agent/delivery/models.py)
        self.refused: list[Rec] = []  # records not sent, failed in advance (an order in a currency the org lacks)

    # ---- records ---------------------------------------------------------------------------------
    def _exists(self, store_id: str, sobject: str, k: str) -> bool:
        self.asked.add((sobject, k))
        return (store_id, sobject, k) in self.known

    def _delete_target_exists(self, store_id: str, sobject: str, k: str) -> bool:
        if self._exists(store_id, sobject, k):
            return True
        self.unknown_deletes.add((sobject, k))
        return False

    def _add(self, unit: Unit, sobject: str, k: str, fields: dict, own: bool, partial: bool = False) -> Rec:
        fields = {"attributes": {"type": sobject}, **fields, KEY_FIELD: k}
        rec = self.records.get((sobject, k))
        if rec is None:
            rec = self.records[(sobject, k)] = Rec(sobject, k, fields, unit.index if own else None)
        elif own and rec.owner is None:
            # the entity's own data beats an order's copy (a partial change, e.g. deactivate, amends it)
            rec.fields, rec.owner = ({**rec.fields, **fields} if partial else fields), unit.index
        elif not own and rec.owner is None:
            rec.fields = fields  # two orders of one guest: the later-claimed copy
        rec.needed_by.add(unit.index)
        return rec

    def _ctx(self, unit: Unit, resource: str | None = None) -> Ctx:
        return Ctx(unit.store_id, resource or unit.resource, unit.action, self.mapping.options)

    def add_unit(self, unit: Unit) -> None:
        self.units.append(unit)
        build = {"customer": self._customer, "product": self._product, "order": self._order}[unit.resource]
        build(unit)

    def _customer(self, u: Unit) -> None:
        k = key(u.store_id, "customer", u.resource_id)
        if u.action == "deleted":
            if self.mapping.options.get("customer_on_delete", "keep") != "erase":
                u.skip_reason = "customer deleted: records kept (customer_on_delete = keep)"
                return
            if not self._delete_target_exists(u.store_id, "Account", k):
                u.skip_reason = "customer deleted: not in Salesforce"
                return
            erase: tuple[tuple[str, tuple[str, str]], ...] = (("Account", ("Name", "Erased customer")),
                                                             ("Contact", ("LastName", "Erased")))
            if self.mapping.customer_model == "person_account":
                fields = dict.fromkeys(self.mapping.tables.get(("customer", "PersonAccount"), {}))
                self._add(u, "Account", k, {**fields, "LastName": "Erased"}, own=True)
                erase = ()
            for sobject, placeholder in erase:
                fields = dict.fromkeys(self.mapping.tables.get(("customer", sobject), {}))
                fields[placeholder[0]] = placeholder[1]
                if sobject == "Contact":
                    fields["Account"] = {KEY_FIELD: k}
                self._add(u, sobject, k, fields, own=True)
            return
        doc = u.payload
        if self.mapping.customer_model == "person_account":
            self._add(u, "Account", k, self._person("customer", doc, u), own=True)
            return
        self._add(u, "Account", k, self.mapping.fields("customer", "Account", doc, self._ctx(u)), own=True)
        contact = self.mapping.fields("customer", "Contact", doc, self._ctx(u))
        self._add(u, "Contact", k, {**contact, "Account": {KEY_FIELD: k}}, own=True)

    def _person(self, source: str, doc: dict, u: Unit) -> dict:
        """A Person Account's fields (customer_model = "person_account"): the mapping's [source.PersonAccount] and
        the record type."""
        fields = self.mapping.fields(source, "PersonAccount", doc, self._ctx(u, "customer"))
        return {**fields, "RecordTypeId": self.org_ids.get(PERSON_RECORD_TYPE_KEY)}

    def _product(self, u: Unit) -> None:
        k = key(u.store_id, "product", u.resource_id)
        doc = u.payload
        if u.action in ("trashed", "deleted") and not doc.get("name"):
            # a delete carries only {"id"}: deactivate what Salesforce has
            if not self._delete_target_exists(u.store_id, "Product2", k) and ("Product2", k) not in self.records:
                u.skip_reason = "product deleted: not in Salesforce"
                return
            # Product2 only: its price book entry stays usable by order lines (see mapping.toml)
            self._add(u, "Product2", k, {"IsActive": False}, own=True, partial=True)
            return
        self._product_records(u, k, "product", doc, own=True)

    def _product_records(self, u: Unit, k: str, source: str, doc: dict, own: bool) -> None:
        ctx = self._ctx(u, "product")
        self._add(u, "Product2", k, self.mapping.fields(source, "Product2", doc, ctx), own)
        entry = self.mapping.fields(source, "PricebookEntry", doc, ctx)
        rec = self._add(u, "PricebookEntry", k, entry, own)
        self._create_only(rec, u, {"Product2": {KEY_FIELD: k}, "Pricebook2Id": self.pricebook_ids[u.store_id]})

    def _buyer_key(self, u: Unit, doc: dict) -> str:
        cid = doc.get("customer_id") or 0
        if isinstance(cid, int) and cid > 0:
            return key(u.store_id, "customer", cid)
        return key(u.store_id, "guest", email_hash(_billing_email(doc)) or "anonymous")

    def _buyer(self, u: Unit, doc: dict, buyer: str) -> str | None:
        """The buyer's records in the store's customer model, each one Salesforce lacks (a record it rejected, too)
        written from the order's billing address; returns the key of the Account the order belongs to (None: none,
        a guest Lead of the opportunity model)."""
        m = self.mapping
        guest = m.lead_for_guests and buyer.split(":", 2)[1] == "guest"
        if guest:
            wanted = [("Lead", "guest", "Lead")]
        elif m.customer_model == "person_account":
            wanted = [("Account", "buyer", "PersonAccount")]
        else:
            wanted = [("Account", "buyer", "Account"), ("Contact", "buyer", "Contact")]
        for sobject, source, table in wanted:
            if (sobject, buyer) in self.records:
                self.records[(sobject, buyer)].needed_by.add(u.index)
            elif not self._exists(u.store_id, sobject, buyer):
                if table == "PersonAccount":
                    fields = self._person(source, doc, u)
                else:
                    fields = m.fields(source, table, doc, self._ctx(u, "customer"))
                if sobject == "Contact":
                    fields = {**fields, "Account": {KEY_FIELD: buyer}}
                self._add(u, sobject, buyer, fields, own=False)
        if not guest:
            return buyer
        if m.order_model == "opportunity":
            return None
        shared = key(u.store_id, "guest", "orders")  # an Order needs an Account: one for every guest's orders
        if ("Account", shared) in self.records:
            self.records[("Account", shared)].needed_by.add(u.index)
        elif not self._exists(u.store_id, "Account", shared):
            self._add(u, "Account", shared, {"Name": m.options.get("guest_account_name", "WooCommerce guests")},
                      own=False)
        return shared

    def _opportunity(self, u: Unit, k: str, doc: dict, buyer: str) -> None:
        """order_model = "opportunity": the Opportunity, one OpportunityLineItem per line, the buyer's primary
        contact role (account_contact customers)."""
        m = self.mapping
        if u.action in ("trashed", "deleted") and not doc.get("line_items") and not doc.get("billing"):
            if not self._delete_target_exists(u.store_id, "Opportunity", k):
                u.skip_reason = "order deleted: not in Salesforce"
                return
            fields = m.fields("order", "Opportunity", {}, self._ctx(u))
            self._add(u, "Opportunity", k, {n: fields.get(n) for n in ("Woo_Status__c", "StageName")}, own=True)
            return
        account = self._buyer(u, doc, buyer)
        fields = m.fields("order", "Opportunity", doc, self._ctx(u))
        fields.update({"Account": {KEY_FIELD: account} if account else None,
                       "Pricebook2Id": self.pricebook_ids[u.store_id]})
        if fields["Account"] is None:
            del fields["Account"]
        contact = account is not None and m.customer_model == "account_contact"
        if contact and (extra := m.options.get("opportunity_primary_contact_field")):
            fields[str(extra)[:-3] + "__r" if str(extra).endswith("__c") else str(extra)] = {KEY_FIELD: buyer}
        self._add(u, "Opportunity", k, fields, own=True)
        self._lines(u, k, doc, "OpportunityLineItem", "Opportunity")
        self._refunds(u, k, doc, "Opportunity")
        if contact:
            rec = self._add(u, "OpportunityContactRole", f"{k}:role", {
                "Contact": {KEY_FIELD: buyer}, "IsPrimary": True,
                "Role": m.options.get("opportunity_contact_role", "Economic Buyer")}, own=True)
            self._create_only(rec, u, {"Opportunity": {KEY_FIELD: k}})

    def _order(self, u: Unit) -> None:
        k = key(u.store_id, "order", u.resource_id)
        doc = u.payload
        if self.mapping.order_model == "opportunity":
            self._opportunity(u, k, doc, self._buyer_key(u, doc))
            return
        if self.mapping.customer_model != "account_contact" or self.mapping.lead_for_guests:
            self._order_of_model(u, k, doc)
            return
        if u.action in ("trashed", "deleted") and not doc.get("line_items") and not doc.get("billing"):
            if not self._delete_target_exists(u.store_id, "Order", k):
                u.skip_reason = "order deleted: not in Salesforce"
                return
            self._add(u, "Order", k, {"Woo_Status__c": self.mapping.fields(
                "order", "Order", {}, self._ctx(u)).get("Woo_Status__c")}, own=True)
            return
        buyer = self._buyer_key(u, doc)
        # WooCommerce resets customer_id to 0 on every order of a deleted user (direct SQL, a new date_modified, no
        # hook): an order Salesforce already holds keeps the buyer it has, and no guest buyer is made (issue 14)
        keep_buyer = not _registered(doc) and self._exists(u.store_id, "Order", k)
        for sobject in ("Account", "Contact"):  # each one Salesforce lacks (a Contact it rejected, too) goes again
            if keep_buyer:
                break
            if (sobject, buyer) in self.records:
                self.records[(sobject, buyer)].needed_by.add(u.index)
            elif not self._exists(u.store_id, sobject, buyer):
                fields = self.mapping.fields("buyer", sobject, doc, self._ctx(u, "customer"))
                if sobject == "Contact":
                    fields = {**fields, "Account": {KEY_FIELD: buyer}}
                self._add(u, sobject, buyer, fields, own=False)
        fields = self.mapping.fields("order", "Order", doc, self._ctx(u))
        fields.update({"Account": {KEY_FIELD: buyer}, "Pricebook2Id": self.pricebook_ids[u.store_id],
                       "BillToContact": {KEY_FIELD: buyer}})
        if keep_buyer:
            del fields["Account"], fields["BillToContact"]
        if not self._exists(u.store_id, "Order", k):
            fields["Status"] = self.mapping.options.get("order_status", "Draft")
        self._add(u, "Order", k, fields, own=True)
        self._lines(u, k, doc, "OrderItem", "Order")
        self._refunds(u, k, doc, "Order")
        self._activation(u, k, doc)

    def _refunds(self, u: Unit, k: str, doc: dict, parent: str) -> None:
        """options.refunds = "records" (default "fields": none): one Woo_Refund__c per refund the order lists
        ({order key}:refund:{id}, from [refund.Woo_Refund__c]) and Woo_Refunded_Total__c on the parent; a refund the
        order no longer lists is deleted (agent/delivery/engine.py, with removed lines)."""
        refunds = doc.get("refunds")
        if self.mapping.options.get("refunds", "fields") != "records" or not isinstance(refunds, list) \
                or (parent, k) not in self.records:
            return
        refunds = [r for r in refunds if isinstance(r, dict) and "id" in r]
        total = round(sum(_amount(r.get("total")) for r in refunds), 2)
        self.records[(parent, k)].fields["Woo_Refunded_Total__c"] = total
        rel = "Woo_Order__r" if parent == "Order" else "Woo_Opportunity__r"
        for r in refunds:
            fields = self.mapping.fields("refund", "Woo_Refund__c", r, self._ctx(u))
            self._add(u, "Woo_Refund__c", f"{k}:refund:{r['id']}", {**fields, rel: {KEY_FIELD: k}}, own=True)

    def _activation(self, u: Unit, k: str, doc: dict) -> None:
        """options.activate_order_statuses (none by default): Salesforce locks an Activated order's lines, so an
        order whose lines are written is set to Draft first, its lines written, then (status mapped as active)
        activated again: three steps of one request (levels Order, OrderItem, ACTIVATE)."""
        active = self.mapping.options.get("activate_order_statuses") or []
        if not active or not isinstance(doc.get("line_items"), list) or ("Order", k) not in self.records:
            return
        self.records[("Order", k)].fields["Status"] = "Draft"
        if doc.get("status") in active and u.action not in ("trashed", "deleted"):
            rec = self.records.get((ACTIVATE, k))
            if rec is None:
                rec = self.records[(ACTIVATE, k)] = Rec("Order", k, {"attributes": {"type": "Order"},
                                                                     "Status": "Activated", KEY_FIELD: k}, u.index)
            rec.needed_by.add(u.index)
        else:
            self.records.pop((ACTIVATE, k), None)

    def _order_of_model(self, u: Unit, k: str, doc: dict) -> None:
        """An Order of a store whose customers are Person Accounts or whose guests are Leads: it points at the
        buyer's Account (a Person Account, or the guests' Account); no BillToContact (a person contact has no key)."""
        if u.action in ("trashed", "deleted") and not doc.get("line_items") and not doc.get("billing"):
            if not self._delete_target_exists(u.store_id, "Order", k):
                u.skip_reason = "order deleted: not in Salesforce"
                return
            self._add(u, "Order", k, {"Woo_Status__c": self.mapping.fields(
                "order", "Order", {}, self._ctx(u)).get("Woo_Status__c")}, own=True)
            return
        account = self._buyer(u, doc, self._buyer_key(u, doc))
        fields = self.mapping.fields("order", "Order", doc, self._ctx(u))
        fields.update({"Account": {KEY_FIELD: account}, "Pricebook2Id": self.pricebook_ids[u.store_id]})
        if self.mapping.customer_model == "account_contact" and account and account.split(":", 2)[1] != "guest":
            fields["BillToContact"] = {KEY_FIELD: account}
        if not self._exists(u.store_id, "Order", k):
            fields["Status"] = self.mapping.options.get("order_status", "Draft")
        self._add(u, "Order", k, fields, own=True)
        self._lines(u, k, doc, "OrderItem", "Order")
        self._refunds(u, k, doc, "Order")
        self._activation(u, k, doc)

    def _lines(self, u: Unit, k: str, doc: dict, line_sobject: str, parent: str) -> None:
        """One line record per line item ({order key}:item:{line id}), each product Salesforce lacks made from it."""
        if not self._currency(u, k, doc, parent):
            return
        for line in [*(doc.get("line_items") or []), *self._money_lines(doc)]:
            if not isinstance(line, dict) or "id" not in line:
                continue
            pid = line.get("variation_id") or line.get("product_id") or 0
            # product_id 0: a product never known, or one deleted for good (WooCommerce then lists its lines with
            # product_id 0 and sku null): a line Salesforce holds keeps its product (the PricebookEntry reference is
            # create-only); a new one gets the store's one placeholder product, not one per line (issue 14)
            pkey = key(u.store_id, "product", pid or UNKNOWN_PRODUCT)
            if not pid and self._line_known(u.store_id, k, line):
                pass
            elif not self._exists(u.store_id, "PricebookEntry", pkey) and ("PricebookEntry", pkey) not in self.records:
                self._product_records(u, pkey, "line_product", line.get("_product", line) if pid
                                      else UNKNOWN_PRODUCT_LINE, own=False)
            else:
                for sobject in ("Product2", "PricebookEntry"):
                    if (sobject, pkey) in self.records:
                        self.records[(sobject, pkey)].needed_by.add(u.index)
            ik = f"{k}:item:{line['id']}"
            item = self.mapping.fields("order_item", line_sobject, line, self._ctx(u))
            rec = self._add(u, line_sobject, ik, item, own=True)
            self._create_only(rec, u, {parent: {KEY_FIELD: k},
                                       "PricebookEntry": {KEY_FIELD: self._entry(u, pkey, line, doc)}})

    def _line_known(self, store_id: str, order_key: str, line: dict) -> bool:
        ik = f"{order_key}:item:{line['id']}"
        return any(self._exists(store_id, sobject, ik) for sobject in ("OrderItem", "OpportunityLineItem"))

    def _currency(self, u: Unit, k: str, doc: dict, parent: str) -> bool:
        """options.multi_currency (off by default: one currency, ``Woo_Currency__c`` only): the order's
        ``CurrencyIsoCode``; an order in a currency the org lacks is refused (dead, the currency named) and nothing of
        it is sent. False when refused."""
        if not self.mapping.options.get("multi_currency") or (parent, k) not in self.records:
            return True
        codes = [c for c in self.org_ids.get(CURRENCIES_KEY, "").split(",") if c]
        cur = str(doc.get("currency") or "").upper() or (codes[0] if codes else "")
        if cur in codes or not codes:  # (not looked up: the dry plan that only names the keys)
            self.records[(parent, k)].fields["CurrencyIsoCode"] = cur or None
            return True
        rec = self.records.pop((parent, k))
        rec.ok, rec.retryable, rec.error_code, rec.call = False, False, CURRENCY_REFUSED, "plan"
        rec.error = (f"the order is in {cur}, a currency this Salesforce org does not have (it has "
                     f"{', '.join(codes)}): add {cur} in Setup > Manage Currencies, then replay it")
        self.refused.append(rec)
        return False

    def _entry(self, u: Unit, pkey: str, line: dict, doc: dict) -> str:
        """The price book entry of a line: the product's standard entry, or in a multi-currency org for an order in
        another currency than the corporate one the standard entry of that currency ({product key}:{ISO code}),
        created from the line when Salesforce lacks it."""
        codes = [c for c in self.org_ids.get(CURRENCIES_KEY, "").split(",") if c]
        cur = str(doc.get("currency") or "").upper()
        if not self.mapping.options.get("multi_currency") or not codes or cur in ("", codes[0]):
            return pkey
        ekey = f"{pkey}:{cur}"
        if ("PricebookEntry", ekey) in self.records:
            self.records[("PricebookEntry", ekey)].needed_by.add(u.index)
        elif not self._exists(u.store_id, "PricebookEntry", ekey):
            entry = self.mapping.fields("line_product", "PricebookEntry", line, self._ctx(u, "product"))
            rec = self._add(u, "PricebookEntry", ekey, entry, own=False)
            self._create_only(rec, u, {"Product2": {KEY_FIELD: pkey}, "CurrencyIsoCode": cur,
                                       "Pricebook2Id": self.pricebook_ids[u.store_id]})
        return ekey

    def _money_lines(self, doc: dict) -> list[dict]:
        """options.money_lines (false by default: the Woo_*_Total__c fields only): shipping, fees and the discount as
        order lines too (ids shipping-{id}, fee-{id}, discount), each on its kind's product
        ([options.money_line_products]: {store}:product:shipping, :fee, :discount)."""
        if not self.mapping.options.get("money_lines"):
            return []
        names = {"shipping": "Shipping", "fee": "Fee", "discount": "Discount",
                 **(self.mapping.options.get("money_line_products") or {})}

        def line(kind: str, lid: Any, name: Any, total: float, tax: Any) -> dict:
            return {"id": f"{kind}-{lid}" if lid is not None else kind, "name": name or names[kind],
                    "product_id": kind, "variation_id": 0, "quantity": 1, "price": total, "total": total,
                    "total_tax": tax, "sku": None, "_product": {"name": names[kind], "price": 0}}
        out = [line("shipping", s.get("id"), s.get("method_title"), _signed(s.get("total")), s.get("total_tax"))
               for s in doc.get("shipping_lines") or [] if isinstance(s, dict) and "id" in s]
        out += [line("fee", f.get("id"), f.get("name"), _signed(f.get("total")), f.get("total_tax"))
                for f in doc.get("fee_lines") or [] if isinstance(f, dict) and "id" in f]
        if (discount := _signed(doc.get("discount_total"))) > 0:
            out.append(line("discount", None, None, -discount, doc.get("discount_tax")))
        return out

    def _create_only(self, rec: Rec, u: Unit, fields: dict) -> None:
        rec.create_only = fields
        set_create_only(rec, not self._exists(u.store_id, rec.sobject, rec.key))

    # ---- output ----------------------------------------------------------------------------------
    def by_sobject(self) -> list[tuple[str, list[Rec]]]:
        out = []
        for sobject in SOBJECT_ORDER:
            recs = [r for (o, _), r in self.records.items() if o == sobject]
            if recs:
                out.append((sobject, recs))
        return out


def set_create_only(rec: Rec, send: bool) -> None:
    """Send the create-only fields (the record is new) or leave them out (it exists: an update)."""
    for name, value in rec.create_only.items():
        if send:
            rec.fields[name] = value
        else:
            rec.fields.pop(name, None)
    rec.create_only_omitted = not send


# the placeholder product of lines whose product Wooforce never knew (product_id 0): one per store
UNKNOWN_PRODUCT = "unknown"
UNKNOWN_PRODUCT_LINE = {"name": "Unknown WooCommerce product", "sku": None, "price": 0}


def _registered(doc: dict) -> bool:
    cid = doc.get("customer_id") or 0
    return isinstance(cid, int) and cid > 0


def _signed(v: Any) -> float:
    try:
        return round(float(v), 2)
    except (TypeError, ValueError):
        return 0.0


def _amount(v: Any) -> float:
    try:
        return abs(float(v))
    except (TypeError, ValueError):
        return 0.0


def _billing_email(doc: dict) -> str | None:
    billing = doc.get("billing")
    return billing.get("email") if isinstance(billing, dict) else None



@dataclass(frozen=True, slots=True, kw_only=True)
class UnitResult(Completion):
    """What the batch decided for one unit: its :class:`~shared.outbox.Completion`, with the unit (two-way sync's
    hook reads which unit it was)."""

    unit: Unit

    @classmethod
    def of(cls, unit: Unit, outcome: Outcome, **decided: Any) -> UnitResult:
        return cls(unit=unit, store_id=unit.store_id, resource=unit.resource, resource_id=unit.resource_id,
                   event_id=unit.event_id, seq=unit.seq, version=unit.version, outcome=outcome, **decided)
