"""DML: body deserialisation, per-record validation, insert/update/upsert/delete with org side effects.

Deserialisation problems (unknown field, wrong JSON type) fail the whole request (``ApiError``);
record problems raise ``DmlFailure`` so collections can report them per record.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from . import orgmodel
from .errors import ApiError, DmlFailure, MultipleMatches, RecordError, lock_row
from .schema import SObject
from .sfids import to18
from .state import OrgState
from .values import coerce, column_of, fmt_dt

_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
LOCKED_ORDER_MSG = ("Unable to modify activated or superseded Order: cannot delete Order, "
                    "or add or remove Order Products")


@dataclass
class Ctx:
    user_id: str
    version: float = 66.0
    lock: Callable[[], bool] = lambda: False  # fault hook: True -> UNABLE_TO_LOCK_ROW for this record


@dataclass
class Parsed:
    values: dict
    refs: dict  # lookup field name -> {ExtField: value}


def deserialize(org: OrgState, o: SObject, body, raw: str | None = None) -> Parsed:
    if not isinstance(body, dict):
        raise ApiError(400, "JSON_PARSER_ERROR", "Cannot deserialize instance of SObject from "
                       f"{'START_ARRAY' if isinstance(body, list) else 'VALUE_STRING'} value at [line:1, column:1]")
    values, refs = {}, {}
    for key, val in body.items():
        if key == "attributes":
            continue
        f = o.field(key)
        if f is not None and not org.visible(o.name, f):
            f = None  # field-level security hides it from the caller: to them the field does not exist
        if f is None:
            rel = o.relationship(key)
            if rel is not None and isinstance(val, dict):
                refs[rel.name] = {k: v for k, v in val.items() if k != "attributes"}
                continue
            raise ApiError(400, "INVALID_FIELD", f"No such column '{key}' on sobject of type {o.name}")
        values[f.name] = coerce(f, val, column_of(raw, key))
    return Parsed(values, refs)


def _resolve_refs(org: OrgState, o: SObject, parsed: Parsed, errors: list[RecordError]) -> None:
    for fname, spec in parsed.refs.items():
        f = o.field(fname)
        parent = org.schema[f.reference_to[0]]
        if len(spec) != 1:
            errors.append(RecordError("INVALID_FIELD", f"The relationship {f.relationship_name} must specify "
                                      "exactly one external ID field", []))
            continue
        (key, value), = spec.items()
        pf = parent.field(key)
        if pf is None or not (pf.external_id or pf.id_lookup):
            errors.append(RecordError("INVALID_FIELD", f"Field name provided, {key} is not an External ID or "
                                      f"indexed field for {parent.name}", []))
            continue
        ids = org.find_by(parent.name, pf, value)
        if not ids:
            errors.append(RecordError("INVALID_FIELD", f"Foreign key external ID: {value} not found for field "
                                      f"{pf.name} in entity {parent.name}", []))
        elif len(ids) > 1:
            errors.append(RecordError("INVALID_FIELD", f"Foreign key external ID: {value} matched more than one "
                                      f"record for field {pf.name} in entity {parent.name}", []))
        else:
            parsed.values[f.name] = ids[0]


def _check_fields(org: OrgState, o: SObject, values: dict, merged: dict, creating: bool) -> list[RecordError]:
    errors: list[RecordError] = []
    locked = [n for n in values if n != "Id" and (not (o.field(n).createable if creating else o.field(n).updateable)
                                                  or not org.editable(o.name, o.field(n)))]
    if "Id" in values and creating:
        errors.append(RecordError("INVALID_FIELD_FOR_INSERT_UPDATE", "cannot specify Id in an insert call", ["Id"]))
    if locked:
        errors.append(RecordError("INVALID_FIELD_FOR_INSERT_UPDATE", f"Unable to create/update fields: "
                                  f"{', '.join(locked)}. Please check the security settings of this field and "
                                  "verify that it is read/write for your profile or permission set.", locked))
    for name, value in values.items():
        f = o.field(name)
        if value is None or name == "Id":
            continue
        if f.type == "reference":
            rid = to18(value)
            targets = [org.schema[t] for t in f.reference_to if t in org.schema]
            if rid is None or not any(rid.startswith(t.key_prefix) for t in targets):
                errors.append(RecordError("MALFORMED_ID", f"{f.label}: id value of incorrect type: {value}",
                                          [f.name]))
            elif not any(org.get(t.name, rid) for t in targets):
                errors.append(RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", []))
            else:
                merged[name] = values[name] = rid
        elif f.type in ("string", "textarea", "email", "phone", "url") and f.length and len(value) > f.length:
            errors.append(RecordError("STRING_TOO_LONG", f"{f.label}: data value too large: {value} "
                                      f"(max length={f.length})", [f.name]))
        elif f.type == "picklist" and f.restricted_picklist and value not in f.picklist:
            errors.append(RecordError("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                                      f"{f.label}: bad value for restricted picklist field: {value}", [f.name]))
        elif f.type == "email" and not _EMAIL_RE.match(value):
            errors.append(RecordError("INVALID_EMAIL_ADDRESS", f"{f.label}: invalid email address: {value}",
                                      [f.name]))
    missing = [f.name for f in o.fields.values()
               if f.required and merged.get(f.name) in (None, "")
               and (creating or f.name in values) and f.name not in orgmodel.not_required(org, o.name, merged)]
    if missing:
        errors.insert(0, RecordError("REQUIRED_FIELD_MISSING",
                                     f"Required fields are missing: [{', '.join(missing)}]", missing))
    return errors


def _object_rules(org: OrgState, o: SObject, merged: dict, existing: dict | None) -> list[RecordError]:
    name = o.name
    if name == "PricebookEntry" and existing is None and not org.currencies:  # per currency: orgmodel.py
        pb, prod = merged.get("Pricebook2Id"), merged.get("Product2Id")
        entries = org.children("PricebookEntry", "Product2Id", prod) if prod else []
        if any(e["Pricebook2Id"] == pb for e in entries):
            return [RecordError("DUPLICATE_VALUE", "This price definition already exists in this price book", [])]
        if pb != org.standard_pricebook_id and not any(e["Pricebook2Id"] == org.standard_pricebook_id
                                                       for e in entries):
            return [RecordError("STANDARD_PRICE_NOT_DEFINED",
                                "Before creating a custom price, create a standard price.", [])]
    if name == "Order" and existing is None and merged.get("Status") == "Activated":
        return [RecordError("FIELD_INTEGRITY_EXCEPTION",
                            "field integrity exception: Status (create the order as Draft, then activate it)",
                            ["Status"])]
    if name == "OrderItem" and existing is None:
        order = org.get("Order", merged["OrderId"])
        entry = org.get("PricebookEntry", merged["PricebookEntryId"])
        if order.get("StatusCode") == "Activated":
            return [RecordError("ENTITY_IS_LOCKED", LOCKED_ORDER_MSG, [])]
        if not order.get("Pricebook2Id") or entry["Pricebook2Id"] != order["Pricebook2Id"]:
            return [RecordError("FIELD_INTEGRITY_EXCEPTION", "field integrity exception: PricebookEntryId "
                                "(pricebook entry is in a different pricebook than the order)", ["PricebookEntryId"])]
        if not entry.get("IsActive"):
            return [RecordError("FIELD_INTEGRITY_EXCEPTION",
                                "field integrity exception: PricebookEntryId (pricebook entry is inactive)",
                                ["PricebookEntryId"])]
    return []


INSUFFICIENT_ACCESS = "insufficient access rights on object id"
_SETUP_PERMISSION = {"PermissionSet": "ManageProfilesPermissionsets", "FieldPermissions": "ManageProfilesPermissionsets",
                     "PermissionSetAssignment": "AssignPermissionSets"}


def _setup_rules(org: OrgState, ctx: Ctx, o: SObject, merged: dict, existing: dict | None) -> list[RecordError]:
    """Permission sets, field permissions and assignments (Object Reference): the caller needs "Manage Profiles and
    Permission Sets" / "Assign Permission Sets"; a field permission names an existing ``SobjectType.Field``, needs
    read access for edit access, and is one per permission set and field; an assignment is one per user and set."""
    need = _SETUP_PERMISSION.get(o.name)
    if need is None:
        return []
    if not org.has_permission(ctx.user_id, need):
        return [RecordError("INSUFFICIENT_ACCESS_OR_READONLY", INSUFFICIENT_ACCESS, [])]
    if o.name == "FieldPermissions":
        sobject, _, fname = str(merged.get("Field") or "").partition(".")
        target = org.sobject(sobject)
        f = target.field(fname) if target is not None else None
        if target is None or f is None or target.name != merged.get("SobjectType") or not (f.custom or f.nillable):
            return [RecordError("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                                f"Field Name: bad value for restricted picklist field: {merged.get('Field')}",
                                ["Field"])]
        if merged.get("PermissionsEdit") and not merged.get("PermissionsRead"):
            return [RecordError("FIELD_INTEGRITY_EXCEPTION", "Permission Read Access depends on permission(s): "
                                "Edit Access", ["PermissionsRead"])]
        same = [r["Id"] for r in org.records["FieldPermissions"].values() if r["Id"] != merged.get("Id")
                and r["ParentId"] == merged["ParentId"] and str(r["Field"]).lower() == str(merged["Field"]).lower()]
        if same:
            return [RecordError("DUPLICATE_VALUE", f"duplicate value found: <unknown> duplicates value on record "
                                f"with id: {same[0][:15]}", [])]
    if o.name == "PermissionSetAssignment" and existing is None:
        same = [r["Id"] for r in org.records["PermissionSetAssignment"].values()
                if r["AssigneeId"] == merged["AssigneeId"] and r["PermissionSetId"] == merged["PermissionSetId"]]
        if same:
            return [RecordError("DUPLICATE_VALUE", f"duplicate value found: <unknown> duplicates value on record "
                                f"with id: {same[0][:15]}", [])]
    return []


def _validation_rules(org: OrgState, o: SObject, merged: dict) -> list[RecordError]:
    return [RecordError("FIELD_CUSTOM_VALIDATION_EXCEPTION", r.message, [r.error_field] if r.error_field else [])
            for r in org.rules if r.sobject.lower() == o.name.lower() and r.fires(dict(merged))]


def _unique(org: OrgState, o: SObject, merged: dict) -> list[RecordError]:
    clashes = []
    for f in o.fields.values():
        if f.unique and merged.get(f.name) not in (None, ""):
            other = [i for i in org.find_by(o.name, f, merged[f.name]) if i != merged.get("Id")]
            if other:
                clashes.append(f"{f.name} duplicates value on record with id: {other[0][:15]}")
    return [RecordError("DUPLICATE_VALUE", "duplicate value found: " + ", ".join(clashes))] if clashes else []


def _derive(org: OrgState, o: SObject, rec: dict, creating: bool) -> None:
    name = o.name
    if name in ("Contact", "User"):
        rec["Name"] = " ".join(p for p in (rec.get("FirstName"), rec.get("LastName")) if p)
    elif name == "PricebookEntry":
        prod = org.get("Product2", rec["Product2Id"])
        rec["Name"], rec["ProductCode"] = prod.get("Name"), prod.get("ProductCode")
        if rec.get("UseStandardPrice"):
            std = next((e for e in org.children("PricebookEntry", "Product2Id", rec["Product2Id"])
                        if e["Pricebook2Id"] == org.standard_pricebook_id), None)
            if std:
                rec["UnitPrice"] = std["UnitPrice"]
    elif name == "Order":
        rec["StatusCode"] = "Activated" if rec.get("Status") == "Activated" else "Draft"
        if creating:
            rec["OrderNumber"] = org.next_autonumber("Order", 8)
            rec["TotalAmount"] = 0.0
    elif name == "OrderItem":
        if creating:
            entry = org.get("PricebookEntry", rec["PricebookEntryId"])
            rec["Product2Id"], rec["ListPrice"] = entry["Product2Id"], entry["UnitPrice"]
            rec["OrderItemNumber"] = org.next_autonumber("OrderItem", 10)
        rec["TotalPrice"] = round((rec.get("UnitPrice") or 0) * (rec.get("Quantity") or 0), 2)


def _rollup_order(org: OrgState, order_id: str | None) -> None:
    order = org.get("Order", order_id) if order_id else None
    if order is None:
        return
    total = sum(i.get("TotalPrice") or 0 for i in org.children("OrderItem", "OrderId", order_id))
    if order.get("TotalAmount") != round(total, 2):
        org.put("Order", {**order, "TotalAmount": round(total, 2)})


def save(org: OrgState, ctx: Ctx, o: SObject, parsed: Parsed, existing: dict | None) -> str:
    """Validate and write one record (insert when ``existing`` is None). Raises DmlFailure."""
    if ctx.lock():
        raise DmlFailure([lock_row()])
    creating = existing is None
    errors: list[RecordError] = []
    _resolve_refs(org, o, parsed, errors)
    if errors:
        raise DmlFailure(errors)
    values = dict(parsed.values)
    if creating:
        base = {f.name: f.default for f in o.fields.values() if f.default is not None}
        base.update({"OwnerId": ctx.user_id} if o.field("OwnerId") else {})
    else:
        base = dict(existing)
        values.pop("Id", None)
    merged = {**base, **values}
    errors = _check_fields(org, o, values, merged, creating) or _object_rules(org, o, merged, existing) \
        or _setup_rules(org, ctx, o, merged, existing)
    errors = errors or orgmodel.rules(org, o, merged, existing, values) or _validation_rules(org, o, merged) \
        or _unique(org, o, merged)
    if errors:
        raise DmlFailure(errors)
    now = fmt_dt(org.now())
    if creating:
        merged.update(org.system_fields(now, ctx.user_id), Id=org.new_id(o.name))
    else:
        merged.update(LastModifiedDate=now, LastModifiedById=ctx.user_id, SystemModstamp=now)
    _derive(org, o, merged, creating)
    orgmodel.derive(org, o, merged, creating)
    org.put(o.name, merged)
    orgmodel.after_save(org, o, merged, creating)
    org.stats[f"writes.{o.name}"] += 1  # record writes (inserts + updates) per sObject, for tests and benches
    if o.name == "OrderItem":
        _rollup_order(org, merged["OrderId"])
    return merged["Id"]


def upsert(org: OrgState, ctx: Ctx, o: SObject, ext_field: str, ext_value, parsed: Parsed) -> tuple[str, bool]:
    f = o.field(ext_field)
    if f is None or not (f.external_id or f.id_lookup):
        raise ApiError(404, "NOT_FOUND", f"Provided external ID field does not exist or is not accessible: "
                       f"{ext_field}")
    ids = org.find_by(o.name, f, ext_value) if ext_value not in (None, "") else []
    if len(ids) > 1:
        raise MultipleMatches(ids)
    if ids:
        parsed.values.pop("Id", None)
        return save(org, ctx, o, parsed, org.get(o.name, ids[0])), False
    if f.name != "Id" and ext_value not in (None, ""):
        parsed.values[f.name] = coerce(f, ext_value)
    parsed.values.pop("Id", None)
    return save(org, ctx, o, parsed, None), True


def delete(org: OrgState, ctx: Ctx, o: SObject, rid: str) -> None:
    if ctx.lock():
        raise DmlFailure([lock_row()])
    rec = org.get(o.name, rid)
    if o.name == "Order" and rec.get("StatusCode") == "Activated":
        raise DmlFailure([RecordError("ENTITY_IS_LOCKED", LOCKED_ORDER_MSG, [])])
    if o.name == "OrderItem":
        order = org.get("Order", rec["OrderId"])
        if order and order.get("StatusCode") == "Activated":
            raise DmlFailure([RecordError("ENTITY_IS_LOCKED", LOCKED_ORDER_MSG, [])])
    if refused := orgmodel.on_delete(org, o, rec):
        raise DmlFailure(refused)
    if o.name == "Pricebook2" and rec.get("IsStandard"):
        raise DmlFailure([RecordError("DELETE_FAILED", "You can't delete the standard price book.", [])])
    org.note_deleted(o.name, rid)
    org.remove(o.name, rid)
    children = {"Order": [("OrderItem", "OrderId")], "Product2": [("PricebookEntry", "Product2Id")],
                "Account": [("Contact", "AccountId")], **orgmodel.CHILDREN}.get(o.name, [])
    for child, fk in children:
        for cid in [c["Id"] for c in org.children(child, fk, rid)]:
            org.note_deleted(child, cid)
            org.remove(child, cid)
    if o.name == "OrderItem":
        _rollup_order(org, rec["OrderId"])
    if o.name == "OpportunityLineItem":
        orgmodel.rollup_opportunity(org, rec["OpportunityId"])


def resolve_id(org: OrgState, o: SObject, raw_id: str) -> str:
    """Path id -> 18-char id of an existing record; MALFORMED_ID / NOT_FOUND ApiErrors like the REST API."""
    rid = to18(raw_id)
    if rid is None or not rid.startswith(o.key_prefix):
        raise ApiError(400, "MALFORMED_ID", f"{o.label} ID: id value of incorrect type: {raw_id}", ["Id"])
    if org.get(o.name, rid) is None:
        raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
    return rid
