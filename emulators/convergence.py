"""Compare a WooCommerce emulator store with a Salesforce emulator org: does Salesforce hold the store's truth?

Used by ``wooforce demo`` for its reconciliation report and by tests. Records are matched on the
``Wooforce_Key__c`` external id (``{store}:{resource}:{id}``) that the default mapping writes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from shared.models import is_draft_order


@dataclass
class ObjectReport:
    name: str
    store: int = 0
    salesforce: int = 0
    mismatches: list[str] = field(default_factory=list)
    note: str = ""


@dataclass
class ConvergenceReport:
    objects: list[ObjectReport]
    duplicates: list[str]

    @property
    def mismatch_count(self) -> int:
        return sum(len(o.mismatches) for o in self.objects) + len(self.duplicates)

    @property
    def converged(self) -> bool:
        return self.mismatch_count == 0


def _dec(value) -> Decimal | None:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def _by_key(records: list[dict], store_id: str, duplicates: list[str], sobject: str) -> dict[str, dict]:
    out: dict[str, dict] = {}
    prefix = f"{store_id}:"
    for r in records:
        key = r.get("Wooforce_Key__c") or ""
        if not key.startswith(prefix):
            continue
        short = key[len(prefix):]
        if short in out:
            duplicates.append(f"{sobject} {short}")
        out[short] = r
    return out


def compare(store, sf_records, store_id: str, *, deleted_order_status: str = "deleted",
            customer_on_delete: str = "keep", customer_model: str = "account_contact",
            order_model: str = "order", refunds: str = "fields", money_lines: bool = False) -> ConvergenceReport:
    """``store``: the WooCommerce emulator's store; ``sf_records(sobject)``: the org's records of that object.
    ``customer_model`` / ``order_model``: the store's data models (mapping [options]): a registered customer is a
    Contact, or a Person Account (``person_account``: its ``PersonEmail``); an order is an Order with OrderItems, or
    an Opportunity with OpportunityLineItems (``opportunity``); ``refunds = "records"``: each refund the order lists
    is a Woo_Refund__c (amount) and the order's Woo_Refunded_Total__c their sum; ``money_lines``: shipping, fees and
    the discount are order lines too (shipping-{id}, fee-{id}, discount)."""
    order_sobject, line_sobject = ("Opportunity", "OpportunityLineItem") if order_model == "opportunity" \
        else ("Order", "OrderItem")
    person = customer_model == "person_account"
    dup: list[str] = []
    reports: list[ObjectReport] = []

    # orders -> Order (status, total, modification time) + OrderItem (the same lines); a draft order (an open
    # checkout) is not an order and must not be in Salesforce
    store_orders = {i: r for i, r in store.orders.items() if not is_draft_order(r.doc)}
    orders = _by_key(sf_records(order_sobject), store_id, dup, order_sobject)
    live = {k: o for k, o in orders.items() if o.get("Woo_Status__c") != deleted_order_status}
    lines: dict[str, set[str]] = {}
    for k in _by_key(sf_records(line_sobject), store_id, dup, line_sobject):
        order_key, _, line = k.rpartition(":item:")
        lines.setdefault(order_key, set()).add(line)
    refunded: dict[str, dict[str, Decimal | None]] = {}
    for k, r in (_by_key(sf_records("Woo_Refund__c"), store_id, dup, "Woo_Refund__c") if refunds == "records"
                 else {}).items():
        order_key, _, rid = k.rpartition(":refund:")
        refunded.setdefault(order_key, {})[rid] = _dec(r.get("Woo_Amount__c"))
    rep = ObjectReport("orders", store=len(store_orders), salesforce=len(live))
    for oid, rec in store_orders.items():
        o, d = live.get(f"order:{oid}"), rec.doc
        if o is None:
            rep.mismatches.append(f"order {oid} missing")
            continue
        if o.get("Woo_Status__c") != d["status"]:
            rep.mismatches.append(f"order {oid} status {o.get('Woo_Status__c')} != {d['status']}")
        if _dec(o.get("Woo_Total__c")) != _dec(d["total"]):
            rep.mismatches.append(f"order {oid} total {o.get('Woo_Total__c')} != {d['total']}")
        want = {str(li["id"]) for li in d.get("line_items") or []}
        if money_lines:
            want |= {f"shipping-{s['id']}" for s in d.get("shipping_lines") or []}
            want |= {f"fee-{f['id']}" for f in d.get("fee_lines") or []}
            want |= {"discount"} if (_dec(d.get("discount_total")) or 0) > 0 else set()
        if lines.get(f"order:{oid}", set()) != want:
            rep.mismatches.append(f"order {oid} lines {sorted(lines.get(f'order:{oid}', set()))} != {sorted(want)}")
        if refunds == "records":
            wanted = {str(r["id"]): abs(_dec(r["total"]) or 0) for r in d.get("refunds") or []}
            if refunded.get(f"order:{oid}", {}) != wanted:
                rep.mismatches.append(f"order {oid} refunds {refunded.get(f'order:{oid}')} != {wanted}")
            if _dec(o.get("Woo_Refunded_Total__c")) != sum(wanted.values(), Decimal(0)):
                rep.mismatches.append(f"order {oid} refunded total {o.get('Woo_Refunded_Total__c')}")
    for key in set(live) - {f"order:{i}" for i in store_orders}:
        rep.mismatches.append(f"{key} is in Salesforce but not in the store")
    reports.append(rep)

    # products and variations -> Product2 (name, SKU, active, stock)
    products = _by_key(sf_records("Product2"), store_id, dup, "Product2")
    catalogue = {**store.products, **getattr(store, "variations", {})}
    rep = ObjectReport("products", store=len(catalogue),
                       salesforce=sum(1 for k in products if k.startswith("product:")))
    for pid, rec in catalogue.items():
        # compare with what the REST API serves (a variation's own doc has only its attribute as name)
        p, d = products.get(f"product:{pid}"), store.render(rec, as_product=True)
        if p is None:
            rep.mismatches.append(f"product {pid} missing")
            continue
        if p.get("Name") != d.get("name"):
            rep.mismatches.append(f"product {pid} name {p.get('Name')!r} != {d.get('name')!r}")
        if (p.get("ProductCode") or None) != (d.get("sku") or None):
            rep.mismatches.append(f"product {pid} SKU differs")
        active = rec.status == "publish"
        if bool(p.get("IsActive")) != active:
            rep.mismatches.append(f"product {pid} IsActive {p.get('IsActive')} != {active}")
    in_store = {f"product:{i}" for i in catalogue}
    # (Wooforce's own placeholder products - the unknown product of lines with product_id 0, money-line products -
    # have no numeric id and no store product: not deletions)
    deleted = {k: p for k, p in products.items()
               if k.startswith("product:") and k.split(":")[1].isdigit() and k not in in_store}
    rep.mismatches.extend(f"{k} deleted in the store but active in Salesforce"
                          for k in sorted(deleted) if deleted[k].get("IsActive"))
    if kept := sum(not p.get("IsActive") for p in deleted.values()):
        rep.note = f"{kept} deleted product(s) kept in Salesforce as inactive (order lines refer to them)"
    reports.append(rep)

    # customers -> Contact (email, city)
    contacts = _by_key(sf_records("Account" if person else "Contact"), store_id, dup, "Contact")
    current = {f"customer:{i}": r for i, r in store.customers.items() if r.doc.get("role") == "customer"}
    known = {k: c for k, c in contacts.items() if k.startswith("customer:")}
    rep = ObjectReport("customers", store=len(current), salesforce=sum(1 for k in known if k in current))
    for key, rec in current.items():
        c = known.get(key)
        if c is None:
            rep.mismatches.append(f"{key} missing")
        elif (c.get("PersonEmail" if person else "Email") or "") != (rec.doc.get("email") or ""):
            rep.mismatches.append(f"{key} email differs")
    retained = set(known) - set(current)
    if retained:
        if customer_on_delete == "erase":
            rep.mismatches.extend(f"{k} deleted in the store but not erased" for k in sorted(retained)
                                  if known[k].get("LastName") != "Erased")
        rep.note = f"{len(retained)} deleted customer(s) kept in Salesforce (customer_on_delete={customer_on_delete})"
    guests = sum(1 for k in contacts if k.startswith("guest:"))
    if guests:
        rep.note = (rep.note + "; " if rep.note else "") + f"{guests} guest buyer contact(s)"
    reports.append(rep)
    return ConvergenceReport(reports, dup)
