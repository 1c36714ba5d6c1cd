"""Control API under ``/_emulator/`` (no auth, not counted as API calls): inspect records and stats,
switch faults, reset, add/remove validation rules and custom fields, edit records as a human user.
``ops`` holds the operations shared with the Python API (``SalesforceEmulator``)."""
from __future__ import annotations

import json
from contextlib import contextmanager

from aiohttp import web

from . import dml
from .dml import Ctx
from .errors import ApiError, DmlFailure
from .faults import Faults
from .keys import FAULTS, ORG, SETTINGS
from .oauth import load_public_key
from .schema import custom_field
from .state import INTEGRATION_USERNAME, SETUP_PERMISSIONS, CcClient, JwtApp, OrgState, ValidationRule


class ControlError(Exception):
    def __init__(self, status: int, message: str, details=None):
        super().__init__(message)
        self.status, self.message, self.details = status, message, details


# ---- operations (shared by HTTP and Python) ----------------------------------------------------------------
def _sobject(org: OrgState, name: str):
    o = org.sobject(name)
    if o is None:
        raise ControlError(404, f"unknown sObject {name}")
    return o


def records(org: OrgState, sobject: str) -> list[dict]:
    return [dict(r) for r in org.records[_sobject(org, sobject).name].values()]


def stats(org: OrgState, faults: Faults) -> dict:
    by_endpoint = {k[4:]: v for k, v in sorted(org.stats.items()) if k.startswith("api.")}
    sub = {k[len("composite.sub."):]: v for k, v in sorted(org.stats.items()) if k.startswith("composite.sub.")}
    return {"api_usage": org.api_usage, "daily_api_max": org.daily_api_max, "requests": org.stats["requests"],
            "by_endpoint": by_endpoint, "composite_subrequests": sub, "unauthorized": org.stats["unauthorized"],
            "limit_exceeded": org.stats["limit_exceeded"], "oauth_tokens": org.stats["oauth.token"],
            "oauth_failures": org.stats["oauth.token_failed"], "faults": [f.to_dict() for f in faults.listed()],
            "record_counts": {n: len(r) for n, r in org.records.items()},
            "record_writes": {k[len("writes."):]: v for k, v in sorted(org.stats.items()) if k.startswith("writes.")}}


def _user_id(org: OrgState, user: str | None) -> str:
    if not user:
        return org.admin_user_id
    if user in org.records["User"]:
        return user
    found = org.user_by_username(user)
    if found is None:
        raise ControlError(404, f"unknown user {user}")
    return found["Id"]


@contextmanager
def _as_one_dml(org: OrgState):
    """Roll back on a DML or API error (reported like the REST API would, as a ControlError 400)."""
    sp = org.savepoint()
    try:
        yield
    except ApiError as e:
        org.rollback(sp)
        raise ControlError(400, "rejected", e.body()) from None
    except DmlFailure as e:
        org.rollback(sp)
        raise ControlError(400, "rejected", [x.rest() for x in e.errors]) from None
    finally:
        org.commit()


def write(org: OrgState, sobject: str, fields: dict, record_id: str | None = None, user: str | None = None) -> dict:
    """Insert (no id) or update a record through full DML validation, as ``user`` (default: the admin)."""
    o = _sobject(org, sobject)
    ctx = Ctx(user_id=_user_id(org, user))
    with _as_one_dml(org):
        parsed = dml.deserialize(org, o, fields)
        existing = org.get(o.name, dml.resolve_id(org, o, record_id)) if record_id else None
        rid = dml.save(org, ctx, o, parsed, existing)
    return dict(org.get(o.name, rid))


def delete(org: OrgState, sobject: str, record_id: str, user: str | None = None) -> None:
    """Delete a record (and its cascaded children) as ``user`` (default: the admin), with the API's rules."""
    o = _sobject(org, sobject)
    with _as_one_dml(org):
        dml.delete(org, Ctx(user_id=_user_id(org, user)), o, dml.resolve_id(org, o, record_id))


def add_rule(org: OrgState, sobject: str, name: str, message: str, predicate=None, *, condition: dict | None = None,
             error_field: str | None = None) -> ValidationRule:
    o = _sobject(org, sobject)
    if predicate is None and not condition:
        raise ControlError(400, "a validation rule needs a predicate or a condition")
    remove_rule(org, name)
    rule = ValidationRule(name=name, sobject=o.name, message=message, predicate=predicate, condition=condition,
                          error_field=error_field)
    org.rules.append(rule)
    return rule


def remove_rule(org: OrgState, name: str) -> bool:
    before = len(org.rules)
    org.rules = [r for r in org.rules if r.name != name]
    return len(org.rules) != before


def add_field(org: OrgState, sobject: str, name: str, type_: str = "string", length: int = 0, **kw) -> dict:
    o = _sobject(org, sobject)
    try:
        f = custom_field(name, type_, length, **kw)
        org.add_field(o.name, f)
    except ValueError as e:
        raise ControlError(400, str(e)) from None
    from .api import describe_field
    return describe_field(f)


def remove_field(org: OrgState, sobject: str, name: str) -> None:
    try:
        org.remove_field(_sobject(org, sobject).name, name)
    except ValueError as e:
        raise ControlError(400, str(e)) from None


def set_user_permissions(org: OrgState, username: str, permissions: set[str] | None) -> None:
    user = org.user_by_username(username) or org.ensure_user(username)
    if permissions is None:
        org.user_permissions.pop(user["Id"], None)
        return
    unknown = set(permissions) - SETUP_PERMISSIONS
    if unknown:
        raise ControlError(400, f"unknown permissions {sorted(unknown)} (known: {sorted(SETUP_PERMISSIONS)})")
    org.user_permissions[user["Id"]] = frozenset(permissions)


def register_jwt_app(org: OrgState, consumer_key: str, public_key_pem: str | bytes,
                     username: str = INTEGRATION_USERNAME) -> None:
    app = org.jwt_apps.get(consumer_key)
    key = load_public_key(public_key_pem)
    if app is None:
        org.jwt_apps[consumer_key] = app = JwtApp(consumer_key, key)
    app.public_key = key
    org.ensure_user(username)
    app.usernames.add(username)


def register_client_credentials(org: OrgState, client_id: str, secret: str,
                                username: str | None = INTEGRATION_USERNAME) -> None:
    if username:
        org.ensure_user(username)
    org.cc_clients[client_id] = CcClient(client_id, secret, username)


def configure(app_settings: dict, org: OrgState, body: dict) -> dict:
    if "person_accounts" in body or "currencies" in body:  # org features (orgmodel.py); resets the data
        org.person_accounts = bool(body.get("person_accounts", org.person_accounts))
        currencies = body.get("currencies", org.currencies)
        org.currencies = tuple(currencies) if currencies else None
        org.reset()
    if "latency_ms" in body:
        app_settings["latency_ms"] = float(body["latency_ms"])
    if "daily_api_max" in body:
        org.daily_api_max = int(body["daily_api_max"])
    if "api_usage" in body:
        org.api_usage = int(body["api_usage"])
    if "bulk_chunk_delay_s" in body:
        app_settings["bulk_chunk_delay_s"] = float(body["bulk_chunk_delay_s"])
    if "custom_field_limit" in body:
        org.custom_field_limit = int(body["custom_field_limit"])
    if "custom_fields" in body:  # seed with or without Wooforce's custom fields; resets the data
        org.custom_fields = bool(body["custom_fields"])
        org.reset()
    return {"custom_field_limit": org.custom_field_limit, "custom_fields": org.custom_fields, "latency_ms": app_settings["latency_ms"], "daily_api_max": org.daily_api_max,
            "api_usage": org.api_usage, "bulk_chunk_delay_s": app_settings["bulk_chunk_delay_s"]}


# ---- HTTP ------------------------------------------------------------------------------------------------
def _ok(body, status: int = 200) -> web.Response:
    return web.json_response(body, status=status)


async def _body(request: web.Request) -> dict:
    text = await request.text()
    if not text.strip():
        return {}
    try:
        body = json.loads(text)
    except json.JSONDecodeError as e:
        raise ControlError(400, f"invalid JSON: {e}") from None
    if not isinstance(body, dict):
        raise ControlError(400, "expected a JSON object")
    return body


@web.middleware
async def control_errors(request: web.Request, handler):
    try:
        return await handler(request)
    except ControlError as e:
        return _ok({"error": e.message, "details": e.details}, e.status)
    except (TypeError, ValueError, KeyError) as e:
        if not request.path.startswith("/_emulator"):
            raise
        return _ok({"error": f"bad request: {e}"}, 400)


async def get_records(request: web.Request) -> web.Response:
    return _ok(records(request.app[ORG], request.match_info["sobject"]))


async def post_record(request: web.Request) -> web.Response:
    body = await _body(request)
    fields = body.get("fields", body) if isinstance(body.get("fields"), dict) else body
    rec = write(request.app[ORG], request.match_info["sobject"], fields, user=body.get("user"))
    return _ok(rec, 201)


async def get_stats(request: web.Request) -> web.Response:
    return _ok(stats(request.app[ORG], request.app[FAULTS]))


async def post_fault(request: web.Request) -> web.Response:
    body = await _body(request)
    kind = body.pop("kind", None)
    try:
        fault = request.app[FAULTS].add(kind, **body)
    except (TypeError, ValueError) as e:
        raise ControlError(400, str(e)) from None
    return _ok(fault.to_dict(), 201)


async def get_faults(request: web.Request) -> web.Response:
    return _ok([f.to_dict() for f in request.app[FAULTS].listed()])


async def delete_faults(request: web.Request) -> web.Response:
    fault_id = request.match_info.get("id")
    if fault_id:
        request.app[FAULTS].remove(int(fault_id))
    else:
        request.app[FAULTS].clear()
    return _ok({"faults": [f.to_dict() for f in request.app[FAULTS].listed()]})


async def post_reset(request: web.Request) -> web.Response:
    request.app[ORG].reset()
    request.app[FAULTS].clear()
    return _ok({"reset": True})


async def post_rule(request: web.Request) -> web.Response:
    b = await _body(request)
    rule = add_rule(request.app[ORG], b["sobject"], b["name"], b["message"], condition=b.get("condition"),
                    error_field=b.get("errorField") or b.get("error_field"))
    return _ok(rule.describe(), 201)


async def get_rules(request: web.Request) -> web.Response:
    return _ok([r.describe() for r in request.app[ORG].rules])


async def delete_rule(request: web.Request) -> web.Response:
    return _ok({"removed": remove_rule(request.app[ORG], request.match_info["name"])})


async def post_field(request: web.Request) -> web.Response:
    b = await _body(request)
    kw = {k: b[j] for k, j in (("external_id", "externalId"), ("unique", "unique"), ("required", "required"),
                               ("case_sensitive", "caseSensitive"), ("reference_to", "referenceTo"),
                               ("picklist", "picklist"), ("label", "label")) if j in b}
    return _ok(add_field(request.app[ORG], b["sobject"], b["name"], b.get("type", "string"), int(b.get("length", 0)),
                         **kw), 201)


async def delete_field(request: web.Request) -> web.Response:
    remove_field(request.app[ORG], request.match_info["sobject"], request.match_info["name"])
    return _ok({"removed": True})


async def post_as_user(request: web.Request) -> web.Response:
    b = await _body(request)
    fields = b["fields"] if isinstance(b.get("fields"), dict) else {k: v for k, v in b.items() if k != "user"}
    return _ok(write(request.app[ORG], request.match_info["sobject"], fields, request.match_info["id"],
                     b.get("user")))


async def post_config(request: web.Request) -> web.Response:
    return _ok(configure(request.app[SETTINGS], request.app[ORG], await _body(request)))


async def post_expire(request: web.Request) -> web.Response:
    request.app[ORG].expire_sessions()
    return _ok({"expired": True})


async def post_permissions(request: web.Request) -> web.Response:
    b = await _body(request)
    perms = b.get("permissions")
    set_user_permissions(request.app[ORG], b.get("username", INTEGRATION_USERNAME),
                         None if perms is None else set(perms))
    return _ok({"username": b.get("username", INTEGRATION_USERNAME), "permissions": perms})


async def post_jwt_app(request: web.Request) -> web.Response:
    b = await _body(request)
    register_jwt_app(request.app[ORG], b["consumer_key"], b["public_key_pem"], b.get("username", INTEGRATION_USERNAME))
    return _ok({"registered": b["consumer_key"]}, 201)


async def post_cc(request: web.Request) -> web.Response:
    b = await _body(request)
    register_client_credentials(request.app[ORG], b["client_id"], b["secret"], b.get("username", INTEGRATION_USERNAME))
    return _ok({"registered": b["client_id"]}, 201)


async def get_health(request: web.Request) -> web.Response:
    return _ok({"ok": True, "instance_url": request.app[SETTINGS]["instance_url"]})


def setup_control_routes(app: web.Application) -> None:
    app.middlewares.append(control_errors)
    r = app.router
    r.add_get("/_emulator/health", get_health)
    r.add_get("/_emulator/records/{sobject}", get_records)
    r.add_post("/_emulator/records/{sobject}", post_record)
    r.add_get("/_emulator/stats", get_stats)
    r.add_get("/_emulator/faults", get_faults)
    r.add_post("/_emulator/faults", post_fault)
    r.add_delete("/_emulator/faults", delete_faults)
    r.add_delete("/_emulator/faults/{id}", delete_faults)
    r.add_post("/_emulator/reset", post_reset)
    r.add_get("/_emulator/validation-rules", get_rules)
    r.add_post("/_emulator/validation-rules", post_rule)
    r.add_delete("/_emulator/validation-rules/{name}", delete_rule)
    r.add_post("/_emulator/fields", post_field)
    r.add_delete("/_emulator/fields/{sobject}/{name}", delete_field)
    r.add_post("/_emulator/as-user/{sobject}/{id}", post_as_user)
    r.add_post("/_emulator/config", post_config)
    r.add_post("/_emulator/expire-sessions", post_expire)
    r.add_post("/_emulator/jwt-apps", post_jwt_app)
    r.add_post("/_emulator/permissions", post_permissions)
    r.add_post("/_emulator/client-credentials", post_cc)
