"""REST API logic, independent of aiohttp so composite subrequests reuse it: ``dispatch(org, call)``.

Paths are relative to ``/services/data/vNN.0`` (e.g. ``/sobjects/Account``).
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from . import dml, soql
from .dml import Ctx
from .errors import ApiError, DmlFailure, MultipleMatches, RecordError, not_found, rolled_back
from .limits_data import LIMITS
from .schema import SOAP_TYPES, SObject
from .sfids import make_id
from .state import OrgState
from .values import fmt_dt, parse_dt

MAX_COLLECTION = 200
_SEASONS = ("Winter", "Spring", "Summer")


@dataclass
class Call:
    method: str
    path: str  # after /services/data/vNN.0, no query string
    version: str  # "66.0"
    ctx: Ctx
    query: dict[str, str] = field(default_factory=dict)
    body_text: str = ""
    body: Any = None  # already-parsed JSON (composite subrequests)
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return f"/services/data/v{self.version}"

    def json(self):
        if self.body is not None:
            return self.body
        if not self.body_text.strip():
            raise ApiError(400, "JSON_PARSER_ERROR", "The HTTP entity body is required, but this request has no "
                           "entity body.")
        try:
            return json.loads(self.body_text)
        except json.JSONDecodeError as e:
            ch = self.body_text[e.pos] if e.pos < len(self.body_text) else " "
            raise ApiError(400, "JSON_PARSER_ERROR", f"Unexpected character ('{ch}' (code {ord(ch)})): {e.msg} at "
                           f"[line:{e.lineno}, column:{e.colno}]") from None


@dataclass
class Resp:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"
    kind: str = ""  # "collection" for sObject Collections results (composite needs to know)


Handler = Callable[[OrgState, Call, re.Match], Resp]
ROUTES: list[tuple[str, re.Pattern, str, Handler]] = []


def route(method: str, pattern: str, name: str):
    def deco(fn: Handler) -> Handler:
        ROUTES.append((method, re.compile(f"^{pattern}/?$"), name, fn))
        return fn
    return deco


def match(method: str, path: str) -> tuple[str, Handler, re.Match] | None:
    for m, rx, name, fn in ROUTES:
        if m == method and (hit := rx.match(path)):
            return name, fn, hit
    return None


def dispatch(org: OrgState, call: Call) -> tuple[str, Resp]:
    """Run one API call; returns (endpoint name, response). Never raises ApiError."""
    found = match(call.method, call.path)
    if found is None:
        methods = {m for m, rx, _, _ in ROUTES if rx.match(call.path)}
        if methods:
            return "unknown", Resp(405, [{"message": f"HTTP Method '{call.method}' not allowed. Allowed are "
                                          f"{','.join(sorted(methods))}", "errorCode": "METHOD_NOT_ALLOWED"}])
        return "unknown", Resp(404, not_found().body())
    name, fn, hit = found
    sp = org.savepoint()
    try:
        return name, fn(org, call, hit)
    except ApiError as e:
        org.rollback(sp)
        return name, Resp(e.status, e.body())


def versions() -> list[dict]:
    out = []
    for v in range(31, 68):
        k = v - 65
        season, year = _SEASONS[k % 3], 26 + k // 3
        out.append({"label": f"{season} '{year:02d}", "url": f"/services/data/v{v}.0", "version": f"{v}.0"})
    return out


def as_bool(value) -> bool:
    return value.strip().lower() == "true" if isinstance(value, str) else bool(value)


def _sobject(org: OrgState, name: str) -> SObject:
    o = org.sobject(unquote(name))
    if o is None:
        raise not_found()
    return o


def _rest_failure(e: DmlFailure) -> ApiError:
    return ApiError.of(400, e.errors)


# ---- resources ---------------------------------------------------------------------------------------
@route("GET", r"", "resources")
def resources(org: OrgState, call: Call, m) -> Resp:
    b = call.base
    return Resp(200, {k: f"{b}/{v}" for k, v in (("sobjects", "sobjects"), ("query", "query"), ("limits", "limits"),
                                                  ("composite", "composite"), ("jobs", "jobs"),
                                                  ("queryAll", "queryAll"))})


@route("GET", r"/limits", "limits")
def limits(org: OrgState, call: Call, m) -> Resp:
    body = json.loads(json.dumps(LIMITS))
    body["DailyApiRequests"] = {"Max": org.daily_api_max, "Remaining": max(org.daily_api_max - org.api_usage, 0)}
    return Resp(200, body)


# ---- describe -------------------------------------------------------------------------------------------
def describe_field(f, editable: bool = True) -> dict:
    """``editable`` False: the caller's field-level security grants read access only."""
    return {
        "name": f.name, "type": f.type, "label": f.label, "length": f.length, "nillable": f.nillable,
        "createable": f.createable and editable, "updateable": f.updateable and editable, "externalId": f.external_id,
        "idLookup": f.id_lookup, "unique": f.unique, "caseSensitive": f.case_sensitive,
        "defaultedOnCreate": f.defaulted_on_create, "nameField": f.name_field,
        "picklistValues": [{"value": v, "active": True, "label": v, "defaultValue": i == 0 and f.type == "picklist"
                            and f.restricted_picklist, "validFor": None} for i, v in enumerate(f.picklist)],
        "referenceTo": list(f.reference_to), "relationshipName": f.relationship_name, "custom": f.custom,
        "calculated": f.calculated, "autoNumber": f.auto_number, "soapType": SOAP_TYPES.get(f.type, "xsd:string"),
        "restrictedPicklist": f.restricted_picklist, "defaultValue": f.default, "filterable": True,
        "sortable": f.type != "textarea", "groupable": f.type not in ("textarea", "double", "currency"),
        "precision": f.precision or (18 if f.type in ("currency", "double") else 0),
        "scale": f.scale if f.precision else (2 if f.type in ("currency", "double") else 0),
        "digits": 9 if f.type == "int" else 0, "byteLength": f.length * 3, "dependentPicklist": False,
        "controllerName": None, "htmlFormatted": False, "inlineHelpText": None,
    }


def _urls(o: SObject, base: str) -> dict:
    return {"sobject": f"{base}/sobjects/{o.name}", "describe": f"{base}/sobjects/{o.name}/describe",
            "rowTemplate": f"{base}/sobjects/{o.name}/{{ID}}"}


def _summary(o: SObject, base: str) -> dict:
    return {"name": o.name, "label": o.label, "labelPlural": o.label_plural, "custom": o.custom,
            "keyPrefix": o.key_prefix, "createable": o.createable, "updateable": True, "deletable": True,
            "queryable": True, "searchable": True, "undeletable": True, "triggerable": True, "urls": _urls(o, base)}


@route("GET", r"/sobjects", "sobjects.list")
def sobjects_list(org: OrgState, call: Call, m) -> Resp:
    return Resp(200, {"encoding": "UTF-8", "maxBatchSize": 200,
                      "sobjects": [_summary(o, call.base) for o in org.schema.values()]})


@route("GET", r"/sobjects/(?P<o>\w+)/describe", "sobjects.describe")
def describe(org: OrgState, call: Call, m) -> Resp:
    o = _sobject(org, m["o"])
    children = [{"childSObject": c.name, "field": f.name, "relationshipName": c.label_plural.replace(" ", "") if
                 c.name != "OrderItem" else "OrderItems", "cascadeDelete": False}
                for c in org.schema.values() for f in c.fields.values()
                if f.type == "reference" and o.name in f.reference_to and f.name not in ("CreatedById",
                                                                                          "LastModifiedById")]
    fields = [describe_field(f, org.editable(o.name, f)) for f in o.fields.values() if org.visible(o.name, f)]
    return Resp(200, {**_summary(o, call.base), "fields": fields,
                      "childRelationships": children, "recordTypeInfos": []})


@route("GET", r"/sobjects/(?P<o>\w+)", "sobjects.info")
def sobject_info(org: OrgState, call: Call, m) -> Resp:
    o = _sobject(org, m["o"])
    recent = [{"attributes": {"type": o.name, "url": f"{call.base}/sobjects/{o.name}/{r['Id']}"}, "Id": r["Id"]}
              for r in list(org.records[o.name].values())[-5:]]
    return Resp(200, {"objectDescribe": _summary(o, call.base), "recentItems": recent})


@route("GET", r"/sobjects/(?P<o>\w+)/deleted", "sobjects.deleted")
def get_deleted(org: OrgState, call: Call, m) -> Resp:
    """getDeleted: the records of one sObject deleted between ``start`` and ``end`` (ISO date-times)."""
    o = _sobject(org, m["o"])
    start, end = (parse_dt(call.query.get(k) or "") for k in ("start", "end"))
    if start is None or end is None:
        raise ApiError(400, "MALFORMED_QUERY", "start and end must be ISO 8601 date-times")
    if end < start:
        raise ApiError(400, "INVALID_REPLICATION_DATE", "startDate must chronologically precede endDate")
    gone = org.deleted_between(o.name, start, end)
    return Resp(200, {"deletedRecords": [{"id": rid, "deletedDate": fmt_dt(t)} for rid, t in gone],
                      "earliestDateAvailable": fmt_dt(min((t for _, t in gone), default=start)),
                      "latestDateCovered": fmt_dt(end)})


# ---- single records ----------------------------------------------------------------------------------
def record_body(o: SObject, rec: dict, base: str, fields: list[str] | None = None) -> dict:
    out = {"attributes": {"type": o.name, "url": f"{base}/sobjects/{o.name}/{rec['Id']}"}}
    names = [o.field(n).name for n in fields if o.field(n)] if fields else [f.name for f in o.fields.values()]
    out.update({n: rec.get(n) for n in names})
    return out


@route("POST", r"/sobjects/(?P<o>\w+)", "sobjects.create")
def create(org: OrgState, call: Call, m) -> Resp:
    o = _sobject(org, m["o"])
    parsed = dml.deserialize(org, o, call.json(), call.body_text)
    try:
        rid = dml.save(org, call.ctx, o, parsed, None)
    except DmlFailure as e:
        raise _rest_failure(e) from None
    return Resp(201, {"id": rid, "success": True, "errors": []},
                {"Location": f"{call.base}/sobjects/{o.name}/{rid}"})


@route("POST", r"/sobjects/(?P<o>\w+)/Id", "sobjects.insert_via_id")
def insert_via_id(org: OrgState, call: Call, m) -> Resp:
    resp = create(org, call, m)
    resp.body["created"] = True
    return resp


@route("GET", r"/sobjects/(?P<o>\w+)/(?P<id>[a-zA-Z0-9]{15}|[a-zA-Z0-9]{18})", "sobjects.get")
def get_record(org: OrgState, call: Call, m) -> Resp:
    o = _sobject(org, m["o"])
    rid = dml.resolve_id(org, o, m["id"])
    fields = [f for f in call.query.get("fields", "").split(",") if f] or None
    return Resp(200, record_body(o, org.get(o.name, rid), call.base, fields))


@route("PATCH", r"/sobjects/(?P<o>\w+)/(?P<id>[a-zA-Z0-9]{15}|[a-zA-Z0-9]{18})", "sobjects.update")
def update_record(org: OrgState, call: Call, m) -> Resp:
    o = _sobject(org, m["o"])
    rid = dml.resolve_id(org, o, m["id"])
    parsed = dml.deserialize(org, o, call.json(), call.body_text)
    try:
        dml.save(org, call.ctx, o, parsed, org.get(o.name, rid))
    except DmlFailure as e:
        raise _rest_failure(e) from None
    return Resp(204)


@route("DELETE", r"/sobjects/(?P<o>\w+)/(?P<id>[a-zA-Z0-9]{15}|[a-zA-Z0-9]{18})", "sobjects.delete")
def delete_record(org: OrgState, call: Call, m) -> Resp:
    o = _sobject(org, m["o"])
    rid = dml.resolve_id(org, o, m["id"])
    try:
        dml.delete(org, call.ctx, o, rid)
    except DmlFailure as e:
        raise _rest_failure(e) from None
    return Resp(204)


def _multiple(o: SObject, ids: list[str], base: str) -> Resp:
    return Resp(300, [f"{base}/sobjects/{o.name}/{i}" for i in ids])


@route("GET", r"/sobjects/(?P<o>\w+)/(?P<f>\w+)/(?P<v>[^/]+)", "sobjects.get_by_external_id")
def get_by_ext(org: OrgState, call: Call, m) -> Resp:
    o = _sobject(org, m["o"])
    f = o.field(m["f"])
    if f is None or not (f.external_id or f.id_lookup):
        raise ApiError(404, "NOT_FOUND", f"Provided external ID field does not exist or is not accessible: {m['f']}")
    ids = org.find_by(o.name, f, unquote(m["v"]))
    if not ids:
        raise not_found()
    if len(ids) > 1:
        return _multiple(o, ids, call.base)
    return Resp(200, record_body(o, org.get(o.name, ids[0]), call.base))


@route("PATCH", r"/sobjects/(?P<o>\w+)/(?P<f>\w+)/(?P<v>[^/]+)", "sobjects.upsert")
def upsert_single(org: OrgState, call: Call, m) -> Resp:
    o = _sobject(org, m["o"])
    parsed = dml.deserialize(org, o, call.json(), call.body_text)
    value = unquote(m["v"])
    f = o.field(m["f"])
    if call.query.get("updateOnly", "").lower() == "true" and f is not None:
        if not org.find_by(o.name, f, value):
            raise not_found()
    try:
        rid, created = dml.upsert(org, call.ctx, o, m["f"], value, parsed)
    except MultipleMatches as e:
        return _multiple(o, e.ids, call.base)
    except DmlFailure as e:
        raise _rest_failure(e) from None
    legacy = float(call.version) < 46.0
    if created:
        body = {"id": rid, "success": True, "errors": []} if legacy else \
            {"id": rid, "success": True, "errors": [], "created": True}
        return Resp(201, body, {"Location": f"{call.base}/sobjects/{o.name}/{rid}"})
    if legacy:
        return Resp(204)
    return Resp(200, {"id": rid, "success": True, "errors": [], "created": False})


# ---- query -----------------------------------------------------------------------------------------------
def _batch_size(call: Call) -> int:
    opt = call.headers.get("sforce-query-options", "")
    hit = re.search(r"batchSize=(\d+)", opt)
    return max(200, min(2000, int(hit.group(1)))) if hit else 2000


def _page(org: OrgState, call: Call, locator: str, rows: list[dict], total: int, offset: int, size: int) -> Resp:
    chunk = rows[offset:offset + size]
    nxt = offset + len(chunk)
    body: dict = {"totalSize": total, "done": nxt >= len(rows)}
    if nxt < len(rows):
        body["nextRecordsUrl"] = f"{call.base}/query/{locator}-{nxt}"
    else:
        org.query_cursors.pop(locator, None)
    body["records"] = chunk
    return Resp(200, body)


@route("GET", r"/query", "query")
def query(org: OrgState, call: Call, m) -> Resp:
    return _query(org, call)


@route("GET", r"/queryAll", "queryAll")
def query_all(org: OrgState, call: Call, m) -> Resp:
    return _query(org, call)


def _query(org: OrgState, call: Call) -> Resp:
    text = call.query.get("q")
    if text is None:
        raise ApiError(400, "MALFORMED_QUERY", "A query string has to be specified")
    rows, is_count, total = soql.execute(org, text, call.base)
    if is_count:
        return Resp(200, {"totalSize": total, "done": True, "records": []})
    size = _batch_size(call)
    if len(rows) <= size:
        return Resp(200, {"totalSize": total, "done": True, "records": rows})
    org.counter += 1
    locator = make_id("01g", org.counter)
    org.query_cursors[locator] = (rows, size)
    return _page(org, call, locator, rows, total, 0, size)


@route("GET", r"/query/(?P<loc>01g\w+)-(?P<off>\d+)", "query.more")
def query_more(org: OrgState, call: Call, m) -> Resp:
    cursor = org.query_cursors.get(m["loc"])
    if cursor is None:
        raise ApiError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
    rows, size = cursor
    return _page(org, call, m["loc"], rows, len(rows), int(m["off"]), size)


# ---- sObject Collections -------------------------------------------------------------------------------
def _records(call: Call) -> tuple[list, bool]:
    body = call.json()
    if not isinstance(body, dict) or not isinstance(body.get("records"), list):
        raise ApiError(400, "JSON_PARSER_ERROR", "Cannot deserialize instance of SObject[] from "
                       "request body: 'records' is required at [line:1, column:1]")
    if len(body["records"]) > MAX_COLLECTION:
        raise ApiError(400, "EXCEEDED_ID_LIMIT",
                       "record limit reached. cannot submit more than 200 records into this call")
    return body["records"], as_bool(body.get("allOrNone", False))


def _type_of(org: OrgState, rec, default: SObject | None = None) -> SObject:
    t = (rec.get("attributes") or {}).get("type") if isinstance(rec, dict) else None
    if t is None and default is not None:
        return default
    o = org.sobject(t) if t else None
    if o is None:
        raise ApiError(400, "INVALID_TYPE", f"sObject type '{t}' is not supported." if t else
                       "Each record in a collection must specify attributes.type")
    return o


def _run_collection(org: OrgState, jobs: list[Callable[[], dict]], all_or_none: bool, keep_id: bool) -> Resp:
    """Run per-record jobs (each returns a success dict or raises DmlFailure); apply allOrNone."""
    sp = org.savepoint()
    results: list[tuple[dict | None, list[RecordError] | None]] = []
    for job in jobs:
        try:
            results.append((job(), None))
        except DmlFailure as e:
            results.append((None, e.errors))
        except ApiError as e:
            results.append((None, e.errors))
    failed = any(err for _, err in results)
    if all_or_none and failed:
        org.rollback(sp)
    out = []
    for ok, err in results:
        if err:
            out.append({"success": False, "errors": [x.collection() for x in err]})
        elif all_or_none and failed:
            item = {"id": ok["id"]} if keep_id and ok.get("id") else {}
            out.append({**item, "success": False, "errors": [rolled_back().collection()]})
        else:
            out.append(ok)
    return Resp(200, out, kind="collection")


@route("POST", r"/composite/sobjects", "collections.create")
def collections_create(org: OrgState, call: Call, m) -> Resp:
    records, aon = _records(call)
    prepared = []
    for rec in records:
        o = _type_of(org, rec)
        prepared.append((o, dml.deserialize(org, o, rec)))

    def job(o, parsed):
        return lambda: {"id": dml.save(org, call.ctx, o, parsed, None), "success": True, "errors": []}
    return _run_collection(org, [job(o, p) for o, p in prepared], aon, keep_id=False)


@route("PATCH", r"/composite/sobjects", "collections.update")
def collections_update(org: OrgState, call: Call, m) -> Resp:
    records, aon = _records(call)
    prepared = []
    for rec in records:
        o = _type_of(org, rec)
        rid = next((v for k, v in rec.items() if k.lower() == "id"), None)
        prepared.append((o, rid, dml.deserialize(org, o, {k: v for k, v in rec.items() if k.lower() != "id"})))

    def job(o, rid, parsed):
        def run():
            try:
                real = dml.resolve_id(org, o, str(rid))
            except ApiError as e:
                raise DmlFailure([RecordError(e.errors[0].code, e.errors[0].message, e.errors[0].fields or [])]) from None
            dml.save(org, call.ctx, o, parsed, org.get(o.name, real))
            return {"id": real, "success": True, "errors": []}
        return run
    return _run_collection(org, [job(*p) for p in prepared], aon, keep_id=True)


@route("PATCH", r"/composite/sobjects/(?P<o>\w+)/(?P<f>\w+)", "collections.upsert")
def collections_upsert(org: OrgState, call: Call, m) -> Resp:
    o = _sobject(org, m["o"])
    f = o.field(m["f"])
    if f is None or not (f.external_id or f.id_lookup) or f.name == "Id":
        raise ApiError(400, "INVALID_FIELD", f"Field name provided, {m['f']} is not an External ID or indexed field "
                       f"for {o.name}")
    records, aon = _records(call)
    prepared = []
    for rec in records:
        if _type_of(org, rec, o).name != o.name:
            raise ApiError(400, "INVALID_TYPE", f"Records in an upsert collection must all be of type {o.name}")
        prepared.append(dml.deserialize(org, o, rec))
    keys = [org.norm(f, p.values.get(f.name)) for p in prepared]
    dupes = {k for k in keys if k is not None and keys.count(k) > 1}

    def job(parsed, key):
        def run():
            value = parsed.values.get(f.name)
            if key in dupes:
                raise DmlFailure([RecordError("DUPLICATE_VALUE", f"Duplicate external id specified: {value}",
                                              [f.name])])
            try:
                rid, created = dml.upsert(org, call.ctx, o, f.name, value, parsed)
            except MultipleMatches as e:
                raise DmlFailure([RecordError("DUPLICATE_EXTERNAL_ID", f"{f.label}: more than one record found "
                                              f"for external id field: {[i[:15] for i in e.ids]}", [f.name])]) from None
            return {"id": rid, "success": True, "errors": [], "created": created}
        return run
    return _run_collection(org, [job(p, k) for p, k in zip(prepared, keys)], aon, keep_id=True)


@route("DELETE", r"/composite/sobjects", "collections.delete")
def collections_delete(org: OrgState, call: Call, m) -> Resp:
    ids = [i for i in call.query.get("ids", "").split(",") if i]
    if len(ids) > MAX_COLLECTION:
        raise ApiError(400, "EXCEEDED_ID_LIMIT",
                       "record limit reached. cannot submit more than 200 records into this call")
    aon = call.query.get("allOrNone", "false").lower() == "true"

    def job(raw):
        def run():
            o = org.sobject_by_prefix(raw[:3])
            if o is None:
                raise DmlFailure([RecordError("MALFORMED_ID", f"malformed id {raw}", [])])
            try:
                rid = dml.resolve_id(org, o, raw)
            except ApiError:
                raise DmlFailure([RecordError("ENTITY_IS_DELETED", "entity is deleted", [])]) from None
            dml.delete(org, call.ctx, o, rid)
            return {"id": rid, "success": True, "errors": []}
        return run
    return _run_collection(org, [job(i) for i in ids], aon, keep_id=True)
