"""POST /composite: up to 25 subrequests (at most 5 collections/query), run in order, ``@{ref.path}``
references, allOrNone with PROCESSING_HALTED. The whole request is one API call."""
from __future__ import annotations

import json
import re
from urllib.parse import parse_qsl, urlsplit

from .api import Call, Resp, as_bool, dispatch, route
from .dml import Ctx
from .errors import HALTED_MSG, ApiError
from .state import OrgState

MAX_SUBREQUESTS = 25
MAX_HEAVY = 5
_REF_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_]*$")
_REF_RE = re.compile(r"@\{([^}]*)\}")
_URL_RE = re.compile(r"^/services/data/v(\d+\.\d)(/.*)?$")
_FORBIDDEN_HEADERS = {"accept", "authorization", "content-type"}


class _Unresolved(Exception):
    def __init__(self, expr: str):
        super().__init__(expr)
        self.expr = expr


def _lookup(results: dict, expr: str):
    ref, _, rest = expr.partition(".")
    head = re.match(r"^(\w+)((?:\[\d+\])*)$", ref)
    if head is None or head.group(1) not in results:
        raise _Unresolved(expr)
    value = results[head.group(1)]
    for part in re.findall(r"\[(\d+)\]|([^.\[\]]+)", head.group(2) + ("." + rest if rest else "")):
        idx, key = part
        try:
            value = value[int(idx)] if idx else value[key]
        except (KeyError, IndexError, TypeError, ValueError):
            raise _Unresolved(expr) from None
    if value is None:
        raise _Unresolved(expr)
    return value


def _substitute(node, results: dict):
    if isinstance(node, str):
        whole = _REF_RE.fullmatch(node)
        if whole:
            return _lookup(results, whole.group(1))
        return _REF_RE.sub(lambda m: str(_lookup(results, m.group(1))), node)
    if isinstance(node, list):
        return [_substitute(x, results) for x in node]
    if isinstance(node, dict):
        return {k: _substitute(v, results) for k, v in node.items()}
    return node


def _heavy(path: str) -> bool:
    return path.startswith(("/query", "/composite/sobjects"))


def _failed(resp: Resp) -> bool:
    if resp.status >= 400:
        return True
    return resp.kind == "collection" and any(not r.get("success") for r in resp.body or [])


def _validate(subs) -> None:
    if not isinstance(subs, list) or not subs:
        raise ApiError(400, "JSON_PARSER_ERROR", "compositeRequest is required and can't be empty")
    if len(subs) > MAX_SUBREQUESTS:
        raise ApiError(400, "LIMIT_EXCEEDED", f"Composite request can't contain more than {MAX_SUBREQUESTS} "
                       f"subrequests; found {len(subs)}.")
    heavy = 0
    for sub in subs:
        ref = sub.get("referenceId") if isinstance(sub, dict) else None
        if not isinstance(ref, str) or not _REF_ID_RE.match(ref):
            raise ApiError(400, "JSON_PARSER_ERROR", f"Provided referenceId ('{ref}') must start with a letter or a "
                           "number, and it can contain only letters, numbers and underscores ('_').")
        if {h.lower() for h in (sub.get("httpHeaders") or {})} & _FORBIDDEN_HEADERS:
            raise ApiError(400, "INVALID_HEADER_TYPE", "Subrequests can't set the Accept, Authorization or "
                           "Content-Type headers")
        m = _URL_RE.match(urlsplit(str(sub.get("url", ""))).path)
        if m and _heavy(m.group(2) or ""):
            heavy += 1
    if heavy > MAX_HEAVY:
        raise ApiError(400, "LIMIT_EXCEEDED", f"Composite request can't contain more than {MAX_HEAVY} sObject "
                       f"Collections, Query or QueryAll subrequests; found {heavy}.")


def _halted() -> list[dict]:
    return [{"errorCode": "PROCESSING_HALTED", "message": HALTED_MSG}]


def _item(resp: Resp, ref: str) -> dict:
    headers = {k: v for k, v in resp.headers.items() if k == "Location"}
    return {"body": resp.body, "httpHeaders": headers, "httpStatusCode": resp.status, "referenceId": ref}


@route("POST", r"/composite", "composite")
def composite(org: OrgState, call: Call, m) -> Resp:
    body = call.json()
    if not isinstance(body, dict):
        raise ApiError(400, "JSON_PARSER_ERROR", "Cannot deserialize instance of CompositeRequest")
    subs = body.get("compositeRequest")
    _validate(subs)
    all_or_none = as_bool(body.get("allOrNone", False))
    sp = org.savepoint()
    results: dict = {}
    items: list[dict] = []
    failed_at: int | None = None
    for n, sub in enumerate(subs):
        ref = sub["referenceId"]
        try:
            url = _substitute(str(sub.get("url", "")), results)
            sub_body = _substitute(sub.get("body"), results)
        except _Unresolved as e:
            msg = (f"Invalid reference specified. No value for {e.expr} found in {e.expr.split('.')[0].split('[')[0]}. "
                   f"Provided referenceId ('{e.expr}') must start with a letter or a number, and it can contain only "
                   "letters, numbers and underscores ('_').")
            resp = Resp(400, [{"errorCode": "PROCESSING_HALTED", "message": msg}])
        else:
            resp = _run_sub(org, call, str(sub.get("method", "GET")).upper(), url, sub_body,
                            sub.get("httpHeaders") or {})
        items.append(_item(resp, ref))
        if resp.status < 400 and resp.body is not None:
            results[ref] = resp.body
        if all_or_none and _failed(resp):
            failed_at = n
            break
    if failed_at is not None:
        org.rollback(sp)
        for i, item in enumerate(items):
            if i != failed_at:
                item.update(body=_halted(), httpHeaders={}, httpStatusCode=400)
        for sub in subs[failed_at + 1:]:
            items.append({"body": _halted(), "httpHeaders": {}, "httpStatusCode": 400,
                          "referenceId": sub["referenceId"]})
    return Resp(200, {"compositeResponse": items})


def _run_sub(org: OrgState, call: Call, method: str, url: str, body, headers: dict) -> Resp:
    parts = urlsplit(url)
    m = _URL_RE.match(parts.path)
    if m is None:
        return Resp(404, [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}])
    path = (m.group(2) or "").rstrip("/")
    if path == "/composite" or path.startswith(("/composite/batch", "/jobs")):
        return Resp(400, [{"errorCode": "INVALID_API_INPUT", "message": f"{path} isn't supported in a composite "
                           "request"}])
    sub = Call(method=method, path=path, version=m.group(1), query=dict(parse_qsl(parts.query)),
               body=body, body_text=json.dumps(body) if body is not None else "",
               headers={k.lower(): v for k, v in headers.items()},
               ctx=Ctx(user_id=call.ctx.user_id, version=float(m.group(1)), lock=call.ctx.lock))
    name, resp = dispatch(org, sub)
    org.stats[f"composite.sub.{name}"] += 1
    return resp
