"""Tooling API: ``POST /tooling/sobjects/CustomField`` creates a custom field on a standard object, with the rules of
the Metadata API's CustomField (Tooling API Developer Guide: CustomField, ``FullName`` + ``Metadata``; Metadata API
Developer Guide: CustomField), and adds it to the org's schema. Like in a real org the new field has no field-level
security: nobody sees it (describe, DML, SOQL) until a permission set assigned to them grants it (FieldPermissions).

Request: ``{"FullName": "Account.Woo_Total__c", "Metadata": {"label", "type", "length"?, "precision"?, "scale"?,
"externalId"?, "unique"?, "caseSensitive"?, "required"?, "defaultValue"?, "visibleLines"?, "description"?}}``.
Answer 201 ``{"id": "00N...", "success": true, "errors": [], "warnings": [], "infos": []}``; errors are the REST
error array. The error codes and messages for a taken name (DUPLICATE_DEVELOPER_NAME "There is already a field
named X on Y.", quoted by client issues), for the field limit and for a missing permission are modelled on what
clients report; their exact text is not in the captured fixtures.
"""
from __future__ import annotations

import re

from .api import Call, Resp, route
from .errors import ApiError
from .schema import F, Field
from .sfids import make_id
from .state import OrgState

# Metadata type -> (describe type, default length)
TYPES = {"Text": ("string", 0), "TextArea": ("textarea", 255), "LongTextArea": ("textarea", 0),
         "Number": ("double", 0), "Currency": ("currency", 0), "Percent": ("percent", 0),
         "Checkbox": ("boolean", 0), "Date": ("date", 0), "DateTime": ("datetime", 0), "Email": ("email", 80),
         "Phone": ("phone", 40), "Url": ("url", 255)}
EXTERNAL_ID_TYPES = {"Text", "Number", "Email"}  # Help: only custom text, number or email fields
_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
NAME_RULE = ("The API Name can only contain underscores and alphanumeric characters. It must be unique, begin with "
             "a letter, not include spaces, not end with an underscore, and not contain two consecutive underscores.")
MISSING_PERMISSION_MSG = "insufficient access rights on object id"


def _bad(message: str, fields: list[str] | None = None) -> ApiError:
    return ApiError(400, "FIELD_INTEGRITY_EXCEPTION", message, fields or [])


def _int(meta: dict, key: str) -> int | None:
    v = meta.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, str)) or not str(v).isdigit():
        raise ApiError(400, "JSON_PARSER_ERROR", f"Cannot deserialize instance of int from value {v!r}")
    return int(v)


def _flag(meta: dict, key: str) -> bool:
    v = meta.get(key, False)
    if isinstance(v, str):
        return v.strip().lower() == "true"
    return bool(v)


def build_field(org: OrgState, full_name: str, meta: dict) -> tuple[str, Field]:
    """Validate a CustomField definition; (sObject name, the field) or an ApiError as Salesforce words it."""
    sobject, _, name = full_name.partition(".")
    o = org.sobject(sobject) if sobject else None
    if o is None or not name:
        raise _bad(f"Cannot find the object for FullName {full_name!r}: use SObject.Field__c", ["FullName"])
    base = name[:-3] if name.endswith("__c") else None
    if base is None:
        raise _bad(f"Custom field names end with __c: {name}", ["FullName"])
    if not _NAME_RE.match(base) or "__" in base or base.endswith("_") or len(base) > 40:
        raise _bad(NAME_RULE, ["FullName"])
    if o.field(name) is not None:
        raise ApiError(400, "DUPLICATE_DEVELOPER_NAME", f"There is already a field named {base} on {o.name}.",
                       ["FullName"])
    if sum(1 for f in o.fields.values() if f.custom) >= org.custom_field_limit:
        raise ApiError(400, "LIMIT_EXCEEDED", f"You have reached the maximum number of {org.custom_field_limit} "
                       f"custom fields on {o.name}.", [])
    label = meta.get("label")
    if not isinstance(label, str) or not label.strip():
        raise _bad("Must specify a non-empty label for the CustomField", ["label"])
    if len(label) > 40:
        raise _bad(f"Field Label: data value too large: {label} (max length=40)", ["label"])
    mtype = meta.get("type")
    if mtype not in TYPES:
        raise _bad(f"Invalid field type {mtype!r} (use one of {', '.join(TYPES)})", ["type"])
    sf_type, length = TYPES[mtype]
    external_id, unique, case_sensitive = _flag(meta, "externalId"), _flag(meta, "unique"), _flag(meta, "caseSensitive")
    required = _flag(meta, "required")
    if (external_id or unique) and mtype not in EXTERNAL_ID_TYPES:
        raise _bad(f"{'External ID' if external_id else 'Unique'} is only allowed on Text, Number and Email fields",
                   ["externalId" if external_id else "unique"])
    if case_sensitive and not (unique and mtype == "Text"):
        raise _bad("Case sensitivity only applies to a unique Text field", ["caseSensitive"])
    kw: dict = {"label": label.strip(), "external_id": external_id, "id_lookup": external_id or unique,
                "unique": unique, "case_sensitive": case_sensitive, "nillable": not required, "fls": True}
    given = _int(meta, "length")
    if mtype == "Text":
        if given is None or not 1 <= given <= 255:
            raise _bad("Length: the length of a Text field is between 1 and 255", ["length"])
        length = given
    elif mtype == "LongTextArea":
        if given is None or not 256 <= given <= 131072:
            raise _bad("Length: the length of a Long Text Area field is between 256 and 131,072", ["length"])
        if _int(meta, "visibleLines") is None:
            raise _bad("Visible Lines: a Long Text Area field needs visibleLines", ["visibleLines"])
        length = given
    elif mtype in ("Number", "Currency", "Percent"):
        precision, scale = _int(meta, "precision"), _int(meta, "scale")
        if precision is None or not 1 <= precision <= 18:
            raise _bad("Precision: the total number of digits is between 1 and 18", ["precision"])
        if scale is None or scale > precision:
            raise _bad("Scale: the decimal places cannot exceed the length (precision)", ["scale"])
        kw.update(precision=precision, scale=scale)
    elif mtype == "Checkbox":
        default = meta.get("defaultValue")
        if str(default).lower() not in ("true", "false"):
            raise _bad("Default Value: a Checkbox field needs defaultValue true or false", ["defaultValue"])
        kw.update(nillable=False, defaulted_on_create=True, default=str(default).lower() == "true")
    if required and mtype == "Checkbox":
        raise _bad("A Checkbox field cannot be required", ["required"])
    return o.name, F(name, sf_type, length, **kw)


@route("POST", r"/tooling/sobjects/CustomField", "tooling.customfield.create")
def create_custom_field(org: OrgState, call: Call, m: re.Match[str]) -> Resp:
    if not (org.has_permission(call.ctx.user_id, "CustomizeApplication")
            or org.has_permission(call.ctx.user_id, "ModifyMetadata")):
        raise ApiError(400, "INSUFFICIENT_ACCESS_OR_READONLY", MISSING_PERMISSION_MSG, [])
    body = call.json()
    if not isinstance(body, dict):
        raise ApiError(400, "JSON_PARSER_ERROR", "Cannot deserialize instance of CustomField from START_ARRAY value")
    unknown = sorted(set(body) - {"FullName", "Metadata", "attributes"})
    if unknown:
        raise ApiError(400, "INVALID_FIELD", f"No such column '{unknown[0]}' on sobject of type CustomField")
    full_name, meta = body.get("FullName"), body.get("Metadata")
    if not isinstance(full_name, str) or not isinstance(meta, dict):
        raise ApiError(400, "REQUIRED_FIELD_MISSING", "Required fields are missing: [FullName, Metadata]",
                       ["FullName", "Metadata"])
    sobject, f = build_field(org, full_name, meta)
    org.add_field(sobject, f)
    org.counter += 1
    tooling_id = make_id("00N", org.counter)
    org.tooling_ids[(sobject, f.name)] = tooling_id
    org.stats["tooling.fields_created"] += 1
    return Resp(201, {"id": tooling_id, "success": True, "errors": [], "warnings": [], "infos": []},
                {"Location": f"{call.base}/tooling/sobjects/CustomField/{tooling_id}"})
