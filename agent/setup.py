"""``wooforce salesforce setup``: create the custom fields a store's mapping writes, and the permission set that lets
the integration user see and write them.

APIs (what a Salesforce admin would otherwise click through in Setup):
- ``GET /sobjects/{SObject}/describe`` per sObject: what the integration user already sees (one call each);
- Tooling API ``POST /tooling/sobjects/CustomField`` (``FullName`` + ``Metadata``) per missing field;
- ``query`` PermissionSet by Name, its FieldPermissions and the user's PermissionSetAssignment (3 calls);
- ``POST /sobjects/PermissionSet`` (when missing), ``POST /composite/sobjects`` FieldPermissions (200 a call),
  ``POST /sobjects/PermissionSetAssignment`` (when missing).
A field created through the Tooling API has no field-level security: not even its creator sees it in describe until
a permission set grants it, so the grants are always made for every field of the plan (also those that turned out
to exist already, hidden). Nothing that exists is ever changed: a field of the wrong type or with the wrong key
flags is reported. A second run finds everything in place and changes nothing.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from loguru import logger

from agent.admin import STORE_FIELD, born_fields, store_org
from agent.salesforce import SalesforceClient
from shared.errors import SalesforcePermanent
from shared.mapping import KEY_FIELD, PERSON_ACCOUNT, Mapping
from shared.mapping.twoway import load_twoway
from shared.settings import Settings
from shared.stores import StoreManager

PERMISSION_SET = "Wooforce_Integration"
PERMISSION_SET_LABEL = "Wooforce Integration"
DESCRIBE_TYPES = {"Text": "string", "LongTextArea": "textarea", "Number": "double", "Currency": "currency",
                  "Checkbox": "boolean", "Date": "date", "DateTime": "datetime"}
MISSING_PERMISSION = ('the integration user lacks the "Customize Application" permission (or "Modify Metadata '
                      'Through Metadata API Functions") to create fields')
MISSING_PS_PERMISSION = ('the integration user lacks "Manage Profiles and Permission Sets" / "Assign Permission '
                         'Sets" to grant itself access to the fields')


@dataclass(frozen=True)
class FieldDef:
    """A custom field as the Metadata API's CustomField describes it."""
    sobject: str
    name: str
    type: str  # Metadata type: Text, Number, Currency, Checkbox, Date, DateTime, LongTextArea
    label: str
    length: int | None = None
    precision: int | None = None
    scale: int | None = None
    external_id: bool = False
    unique: bool = False
    case_sensitive: bool = False

    @property
    def full_name(self) -> str:
        return f"{self.sobject}.{self.name}"

    def metadata(self) -> dict:
        meta: dict[str, Any] = {"label": self.label, "type": self.type, "required": False}
        if self.length is not None:
            meta["length"] = self.length
        if self.precision is not None:
            meta.update(precision=self.precision, scale=self.scale or 0)
        if self.type == "LongTextArea":
            meta["visibleLines"] = 3
        if self.type == "Checkbox":
            meta["defaultValue"] = "false"
        if self.external_id:
            meta["externalId"] = True
        if self.unique:
            meta.update(unique=True, caseSensitive=self.case_sensitive)
        return meta

    def describe(self) -> str:
        size = f"({self.length})" if self.length else f"({self.precision}, {self.scale})" if self.precision else ""
        flags = [f for f, on in (("External ID", self.external_id), ("Unique", self.unique),
                                 ("case-sensitive", self.case_sensitive)) if on]
        return f"{self.type}{size}" + (f" {', '.join(flags)}" if flags else "")


def _text(n: int, **kw: Any) -> dict:
    return {"type": "Text", "length": n, **kw}


_MONEY = {"type": "Currency", "precision": 16, "scale": 2}
_EXT = {"external_id": True}
# the shipped mapping's fields (types the emulator's seeded org has too); other fields follow their mapping type
SHIPPED: dict[str, dict] = {
    KEY_FIELD: _text(255, external_id=True, unique=True),  # unique, case-insensitive: keys are lower case
    "Woo_Email_Hash__c": _text(64), "Woo_Customer_Id__c": _text(255, **_EXT),
    "Woo_Product_Id__c": _text(255, **_EXT), "Woo_Order_Number__c": _text(255, **_EXT),
    "Woo_Stock_Quantity__c": {"type": "Number", "precision": 18, "scale": 0}, "Woo_Type__c": _text(40),
    "Woo_Status__c": _text(40), "Woo_Currency__c": _text(3), "Woo_Payment_Method__c": _text(255),
    "Woo_Transaction_Id__c": _text(255), "Woo_Date_Paid__c": {"type": "DateTime"},
    "Woo_Shipping_Method__c": _text(255), "Woo_Shipping_Total__c": _MONEY, "Woo_Discount_Total__c": _MONEY,
    "Woo_Tax_Total__c": _MONEY, "Woo_Total__c": _MONEY, "Woo_Date_Modified__c": {"type": "DateTime"},
    "Woo_Tracking_Number__c": _text(255), "Woo_Carrier__c": _text(255), "Woo_Line_Total__c": _MONEY,
    "Woo_Tax__c": _MONEY, "Woo_Sku__c": _text(255), "Woo_Store__c": _text(80),
}
_BY_SPEC: dict[str, dict] = {
    "number": {"type": "Number", "precision": 18, "scale": 6}, "int": {"type": "Number", "precision": 18, "scale": 0},
    "bool": {"type": "Checkbox"}, "date": {"type": "Date"}, "datetime": {"type": "DateTime"}}


def _label(name: str) -> str:
    return name[:-3].replace("_", " ")[:40]


def _marker_fields(mapping: Mapping) -> dict[str, set[str]]:
    """The fields `salesforce check` also asks for beyond the mapping: two-way's store marker (Woo_Store__c) on the
    sObjects whose records may be made in Salesforce (``agent.admin.born_fields``)."""
    return {sobject: {STORE_FIELD} for sobject in born_fields(mapping)}


def field_defs(mapping: Mapping) -> list[FieldDef]:
    """Every custom field the mapping writes or reads back (two-way), with its type, sorted by sObject and name."""
    specs: dict[tuple[str, str], Any] = {}
    for sobject, names in _marker_fields(mapping).items():
        for name in names:
            specs.setdefault((sobject, name), None)
    for (source, table), fields in mapping.tables.items():
        if not mapping.used(source, table):
            continue  # a table of a data model the store does not use (Opportunity, Lead, ...): nothing to create
        sobject = "Account" if table == PERSON_ACCOUNT else table
        specs.setdefault((sobject, KEY_FIELD), None)
        for name, spec in fields.items():
            if name.endswith("__c"):
                specs.setdefault((sobject, name), spec)
    for obj in load_twoway(mapping).objects.values():
        for owned in obj.fields:
            if owned.sf.endswith("__c"):
                specs.setdefault((owned.sobject or obj.sobject, owned.sf), None)
    out = []
    for (sobject, name), spec in sorted(specs.items()):
        if name in SHIPPED:
            kw = dict(SHIPPED[name])
        elif spec is not None and spec.type in _BY_SPEC:
            kw = dict(_BY_SPEC[spec.type])
        elif spec is not None and spec.sources and all(s in ("=true", "=false") for s in spec.sources):
            kw = {"type": "Checkbox"}
        else:
            length = spec.max_length if spec is not None and spec.max_length else 255
            kw = _text(length) if length <= 255 else {"type": "LongTextArea", "length": length}
        out.append(FieldDef(sobject=sobject, name=name, label=_label(name), **kw))
    return out


@dataclass
class SetupReport:
    store_id: str
    dry_run: bool
    user_id: str | None = None
    present: list[str] = field(default_factory=list)      # Object.Field, as wanted
    create: list[dict] = field(default_factory=list)      # planned: {field, type}
    created: list[str] = field(default_factory=list)
    wrong: list[dict] = field(default_factory=list)       # {field, want, have}: reported, never altered
    errors: list[dict] = field(default_factory=list)      # {field?, code, reason, message}
    permission_set: str = "present"                       # present | create | created
    grants: list[str] = field(default_factory=list)       # FieldPermissions to add (planned or made)
    assignment: str = "present"                           # present | create | created
    api_calls: dict[str, int] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(self.created or (not self.dry_run and (self.grants or self.permission_set == "created"
                                                            or self.assignment == "created")))

    @property
    def ok(self) -> bool:
        return not (self.wrong or self.errors)

    def as_dict(self) -> dict:
        return {"store_id": self.store_id, "dry_run": self.dry_run, "user_id": self.user_id,
                "present": self.present, "create": self.create, "created": self.created, "wrong": self.wrong,
                "errors": self.errors, "permission_set": self.permission_set, "grants": self.grants,
                "assignment": self.assignment, "changed": self.changed, "ok": self.ok, "api_calls": self.api_calls}


def _mismatch(want: FieldDef, have: dict) -> str | None:
    """Why an existing field does not do (type, key flags, a shorter text); None when it does."""
    expected = DESCRIBE_TYPES.get(want.type)
    if expected and have.get("type") != expected:
        return f"type {have.get('type')}"
    if want.external_id and not have.get("externalId"):
        return "not an External ID"
    if want.unique and not have.get("unique"):
        return "not Unique"
    if want.type == "Text" and want.length and (have.get("length") or 0) < want.length:
        return f"length {have.get('length')}"
    return None


def _classify(exc: SalesforcePermanent) -> tuple[str, str]:
    code = exc.code or ""
    if code.startswith("INSUFFICIENT_ACCESS") or exc.status_code == 403:
        return "missing_permission", MISSING_PERMISSION
    if code in ("DUPLICATE_DEVELOPER_NAME", "DUPLICATE_VALUE"):
        return "name_collision", ("a field of this name already exists (it may be hidden from the integration user "
                                  "by field-level security: the permission set grants it; run setup again)")
    if code == "LIMIT_EXCEEDED" or "maximum number" in exc.message:
        return "field_limit", "the org's custom-field limit for this object is reached: delete unused fields first"
    return "rejected", "Salesforce refused the field"


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def run_setup(client: SalesforceClient, mapping: Mapping, report: SetupReport) -> SetupReport:
    """Plan (describe, queries) and, unless ``report.dry_run``, apply. Blocking: call it in a thread."""
    calls: dict[str, int] = report.api_calls

    def count(kind: str) -> None:
        calls[kind] = calls.get(kind, 0) + 1

    client.login()
    report.user_id = client.user_id
    wanted = field_defs(mapping)
    by_object: dict[str, list[FieldDef]] = {}
    for d in wanted:
        by_object.setdefault(d.sobject, []).append(d)
    todo: list[FieldDef] = []
    for sobject, defs in by_object.items():
        described = client.describe(sobject)
        count("describe")
        have = {f["name"].lower(): f for f in described["fields"]}
        for d in defs:
            got = have.get(d.name.lower())
            if got is None:
                todo.append(d)
                report.create.append({"field": d.full_name, "type": d.describe()})
            elif (why := _mismatch(d, got)) is not None:
                report.wrong.append({"field": d.full_name, "want": d.describe(), "have": why})
            else:
                report.present.append(d.full_name)
    # SOQL (no bind parameters in the REST query API): names are our own, values quoted by _quote
    ps = client.query(f"SELECT Id FROM PermissionSet WHERE Name = {_quote(PERMISSION_SET)}")  # noqa: S608
    count("query")
    ps_id: str | None = ps[0]["Id"] if ps else None
    granted: set[str] = set()
    assigned = False
    if ps_id:
        rows = client.query(f"SELECT Field, PermissionsEdit FROM FieldPermissions "  # noqa: S608
                            f"WHERE ParentId = {_quote(ps_id)}")
        granted = {r["Field"].lower() for r in rows if r.get("PermissionsEdit")}
        assigned = bool(report.user_id) and bool(client.query(
            f"SELECT Id FROM PermissionSetAssignment WHERE PermissionSetId = {_quote(ps_id)} "  # noqa: S608
            f"AND AssigneeId = {_quote(report.user_id or '')}"))
        calls["query"] += 2
    else:
        report.permission_set = "create"
    wrong = {w["field"] for w in report.wrong}
    grants = [d for d in wanted if d.full_name.lower() not in granted and d.full_name not in wrong]
    report.grants = [d.full_name for d in grants]
    report.assignment = "present" if assigned else "create"
    if report.dry_run:
        return report
    for d in todo:
        try:
            client.request("POST", "/tooling/sobjects/CustomField", json={"FullName": d.full_name,
                                                                          "Metadata": d.metadata()})
        except SalesforcePermanent as exc:
            reason, hint = _classify(exc)
            report.errors.append({"field": d.full_name, "code": exc.code, "reason": reason, "message": hint,
                                  "salesforce": exc.message})
            if reason == "missing_permission":
                return report  # every other field would fail the same way
            if reason != "name_collision":
                report.grants = [g for g in report.grants if g != d.full_name]
            continue
        finally:
            count("tooling.CustomField")
        report.created.append(d.full_name)
    try:
        if ps_id is None:
            ps_id = client.request("POST", "/sobjects/PermissionSet", json={
                "Name": PERMISSION_SET, "Label": PERMISSION_SET_LABEL,
                "Description": "Field access for the Wooforce integration user (wooforce salesforce setup)"}).body["id"]
            count("create.PermissionSet")
            report.permission_set = "created"
        for i in range(0, len(grants), 200):
            chunk = [d for d in grants[i:i + 200] if d.full_name in report.grants]
            if not chunk:
                continue
            results = client.request("POST", "/composite/sobjects", json={"allOrNone": False, "records": [
                {"attributes": {"type": "FieldPermissions"}, "ParentId": ps_id, "SobjectType": d.sobject,
                 "Field": d.full_name, "PermissionsRead": True, "PermissionsEdit": True} for d in chunk]}).body
            count("collections.FieldPermissions")
            for d, res in zip(chunk, results):
                if not res.get("success"):
                    err = (res.get("errors") or [{}])[0]
                    report.errors.append({"field": d.full_name, "code": err.get("statusCode"), "reason": "grant",
                                          "message": "the field permission was refused",
                                          "salesforce": err.get("message")})
        if not assigned and report.user_id:
            client.request("POST", "/sobjects/PermissionSetAssignment", json={
                "AssigneeId": report.user_id, "PermissionSetId": ps_id})
            count("create.PermissionSetAssignment")
            report.assignment = "created"
    except SalesforcePermanent as exc:
        missing = (exc.code or "").startswith("INSUFFICIENT_ACCESS")
        report.errors.append({"code": exc.code, "reason": "missing_permission" if missing else "permission_set",
                              "message": MISSING_PS_PERMISSION if missing else "the permission set was refused",
                              "salesforce": exc.message})
    return report


async def salesforce_setup(stores: StoreManager, settings: Settings, store_id: str, *,
                           dry_run: bool = False) -> SetupReport:
    _, mapping, client = await store_org(stores, settings, store_id)
    report = SetupReport(store_id=store_id, dry_run=dry_run)
    try:
        await asyncio.to_thread(run_setup, client, mapping, report)
    finally:
        client.close()
    logger.bind(action="salesforce.setup", store_id=store_id, dry_run=dry_run, created=len(report.created),
                wrong=len(report.wrong), errors=len(report.errors), api_calls=sum(report.api_calls.values())).info(
        "salesforce setup {}", "planned" if dry_run else "applied")
    return report
