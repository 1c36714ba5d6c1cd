"""The WooCommerce REST API v3 routes (``/wp-json/wc/v3/...``): auth, routing, lists, CRUD."""
from __future__ import annotations

import asyncio
import json
import random
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web
from loguru import logger

from . import errors as E
from . import keys as K
from . import validate
from .phpjson import php_json_bytes
from .query import ListSpec, date_filter, link_header, paginate, parse_list, php_params
from .records import Rec
from .store import Store, StoreError
from .webhooks import WebhookError, Webhooks

PREFIX = "/wp-json/wc/v3"
ALLOW_ITEM = "GET, POST, PUT, PATCH, DELETE"
ALLOW_LIST = "GET, POST"


@dataclass
class Ctx:
    request: web.Request
    store: Store
    params: dict[str, Any]
    base: str  # home URL for bodies and links
    match: dict[str, str]

    def int(self, name: str) -> int:
        return int(self.match[name])

    async def body(self) -> dict[str, Any]:
        if not self.request.can_read_body:
            return {}
        raw = await self.request.read()
        ctype = self.request.content_type
        if ctype == "application/x-www-form-urlencoded":
            return php_params(parse_qsl(raw.decode(), keep_blank_values=True))
        try:
            data = json.loads(raw or b"{}")
        except ValueError:
            raise StoreError(400, "rest_invalid_json", "Invalid JSON body passed.") from None
        return data if isinstance(data, dict) else {}


class Reply:
    def __init__(self, body: Any, status: int = 200, allow: str | None = ALLOW_ITEM, headers: dict[str, str] | None = None):
        self.body, self.status, self.allow, self.headers = body, status, allow, headers or {}


Handler = Callable[[Ctx], Awaitable[Reply]]
ROUTES: list[tuple[str, re.Pattern[str], str, str, Handler]] = []  # (method, pattern, kind list|item, allow, handler)


def route(method: str, pattern: str, kind: str, allow: str = ALLOW_ITEM) -> Callable[[Handler], Handler]:
    def deco(fn: Handler) -> Handler:
        for m in method.split("|"):
            ROUTES.append((m, re.compile(f"^{pattern}$"), kind, allow, fn))
        return fn
    return deco


def is_https(request: web.Request) -> bool:
    cfg = request.app[K.CONFIG]
    if cfg.assume_https is not None:
        return cfg.assume_https
    if cfg.trust_forwarded_proto and request.headers.get("X-Forwarded-Proto"):
        return request.headers["X-Forwarded-Proto"].split(",")[0].strip().lower() == "https"
    return request.secure


def home_url(request: web.Request) -> str:
    cfg = request.app[K.CONFIG]
    if cfg.public_url:
        return cfg.public_url.rstrip("/")
    return f"{'https' if is_https(request) else 'http'}://{request.host}"


def json_response(status: int, body: Any, base: str, allow: str | None = None, headers: dict[str, str] | None = None,
                  link: str | None = None) -> web.Response:
    hdrs = {"Link": link or f'<{base}/wp-json/>; rel="https://api.w.org/"'}
    if allow:
        hdrs["Allow"] = allow
    hdrs.update(headers or {})
    return web.Response(status=status, body=php_json_bytes(body), headers=hdrs,
                        content_type="application/json", charset="UTF-8")


def error_response(status: int, code: str, message: str, base: str, allow: str | None = None,
                   data: dict | None = None) -> web.Response:
    return json_response(status, E.body(code, message, status, **(data or {})), base, allow)


async def handle_rest(request: web.Request) -> web.StreamResponse:
    app = request.app
    store, stats, cfg = app[K.STORE], app[K.STATS], app[K.CONFIG]
    path = request.path[len(PREFIX):] or "/"
    method = request.method.upper()
    base = home_url(request)
    if cfg.api_latency_ms:
        await asyncio.sleep(cfg.api_latency_ms / 1000)
    if cfg.api_error_share and random.random() < cfg.api_error_share:
        return error_response(cfg.api_error_status, "emulator_injected_error", "Injected failure.", base)
    pairs = list(request.query.items())
    params = php_params(pairs)
    form: dict[str, Any] = {}
    if request.content_type == "application/x-www-form-urlencoded" and request.can_read_body:
        form = php_params(parse_qsl((await request.read()).decode(), keep_blank_values=True))
    url = f"{'https' if is_https(request) else 'http'}://{request.host}{request.path}"
    auth = app[K.KEYRING].authenticate(method, url, params, form, request.headers.get("Authorization", ""),
                                       is_https(request), store.clock.now())
    if auth.error is not None:
        stats.auth_failures += 1
        return error_response(401, auth.error[0], auth.error[1], base)
    for r_method, pattern, kind, allow, handler in ROUTES:
        # EDITABLE routes take POST, PUT and PATCH alike
        if r_method != method and not (r_method == "PUT" and kind == "item" and method in ("POST", "PATCH")):
            continue
        m = pattern.match(path)
        if m is None:
            continue
        if auth.key is None:
            stats.auth_failures += 1
            code, message = E.UNAUTHENTICATED.get((r_method, kind), E.CANNOT_LIST)
            return error_response(401, code, message, base)
        ctx = Ctx(request, store, params, base, m.groupdict())
        try:
            reply = await handler(ctx)
        except E.ParamErrors as exc:
            return json_response(400, exc.body(), base, allow)
        except StoreError as exc:
            no_allow = exc.code == "wc_user_invalid_id" and method == "GET"
            return error_response(exc.status, exc.code, exc.message, base, None if no_allow else allow, exc.data)
        return json_response(reply.status, reply.body, base, reply.allow if reply.allow is not None else allow,
                             reply.headers, reply.headers.pop("__link__", None))
    return error_response(404, "rest_no_route", "No route was found matching the URL and request method.", base)


# ---------------------------------------------------------------- lists


def _sort_key(store: Store, spec: ListSpec) -> Callable[[Rec], Any]:
    ob = spec.orderby
    if ob == "modified":
        return lambda r: (r.modified, r.id)
    if ob in ("id", "include") and not (ob == "include" and spec.include):
        return lambda r: r.id
    if ob == "include":
        pos = {v: i for i, v in enumerate(spec.include or [])}
        return lambda r: pos.get(r.id, 1 << 30)
    if ob in ("title", "slug"):
        field = "name" if ob == "title" else "slug"
        return lambda r: (r.doc.get(field, "") if r.kind != "order" else "", r.id)
    if ob == "price":
        return lambda r: (float(r.doc["price"] or 0), r.id)
    if ob == "popularity":
        return lambda r: (r.extra.get("total_sales", 0), r.id)
    if ob in ("name",):
        return lambda r: (r.doc["username"].lower(), r.id)
    if ob == "registered_date":
        return lambda r: (r.created, r.id)
    if ob == "menu_order":
        return lambda r: (r.doc.get("menu_order", 0), r.id)
    return lambda r: (r.created, r.id)  # date


def _matches_search(rec: Rec, needle: str) -> bool:
    d = rec.doc
    if rec.kind == "order":
        hay = [str(v) for k in ("billing", "shipping") for v in d[k].values()] + [li["name"] for li in d["line_items"]]
        hay.append(str(rec.id))
    elif rec.kind == "customer":
        hay = [d["email"], d["first_name"], d["last_name"], d["username"]]
    else:
        hay = [d.get("name", ""), d.get("sku", ""), d.get("description", "")]
    needle = needle.lower()
    return any(needle in h.lower() for h in hay)


def select(store: Store, spec: ListSpec, coll: dict[int, Rec], *, indexed: str | None) -> list[int]:
    """Ids matching ``spec``, in the requested order."""
    candidates: list[int] | None = None
    presorted = False
    satisfied: tuple[str, ...] = ()
    if indexed and ("modified_after" in spec.dates or "modified_before" in spec.dates):
        lo = spec.dates.get("modified_after", (None,))[0]
        hi = spec.dates.get("modified_before", (None,))[0]
        candidates = store.index_modified[indexed].range_ids(lo, hi)
        presorted = spec.orderby == "modified"
        satisfied = ("modified_after", "modified_before")
    elif indexed and ("after" in spec.dates or "before" in spec.dates):
        lo = spec.dates.get("after", (None,))[0]
        hi = spec.dates.get("before", (None,))[0]
        candidates = store.index_created[indexed].range_ids(lo, hi)
        presorted = spec.orderby == "date"
        satisfied = ("after", "before")
    elif indexed and spec.orderby in ("date", "modified"):
        idx = store.index_created if spec.orderby == "date" else store.index_modified
        candidates = [k[1] for k in idx[indexed].keys]
        presorted = True
    ids = candidates if candidates is not None else list(coll)
    scan_dates = any(name not in satisfied for name in spec.dates)
    statuses = set(spec.statuses)
    any_status = "any" in statuses
    include = set(spec.include) if spec.include else None
    exclude = set(spec.exclude) if spec.exclude else None
    out: list[int] = []
    for rid in ids:
        rec = coll.get(rid)
        if rec is None:
            continue
        if (include is not None and rid not in include) or (exclude is not None and rid in exclude):
            continue
        if statuses:
            if any_status:
                if rec.status in ("trash", "auto-draft"):
                    continue
            elif rec.status not in statuses:
                continue
        if spec.customer is not None and rec.customer_id != spec.customer:
            continue
        if spec.resource == "customer":
            if spec.role != "all" and rec.doc["role"] != spec.role:
                continue
            if spec.email and rec.doc["email"].lower() != spec.email.lower():
                continue
        if spec.sku and rec.doc.get("sku") != spec.sku:
            continue
        if spec.ptype and rec.doc.get("type") != spec.ptype:
            continue
        if scan_dates and not date_filter(rec, spec, satisfied):
            continue
        if spec.search and not _matches_search(rec, spec.search):
            continue
        out.append(rid)
    if not presorted:
        key = _sort_key(store, spec)
        out.sort(key=lambda i: key(coll[i]))
    if spec.order == "desc":
        out.reverse()
    return out


def list_reply(ctx: Ctx, resource: str, coll: dict[int, Rec], collection_path: str, *, indexed: str | None = None,
               render: Callable[[Rec], dict[str, Any]], zero_past_end: bool = True,
               extra_echo: Callable[[dict[str, Any], bool], None] | None = None) -> Reply:
    spec = parse_list(resource, ctx.params, ctx.store.times)
    ids = select(ctx.store, spec, coll, indexed=indexed)
    page_ids, total, pages = paginate(ids, spec, zero_past_end=zero_past_end)
    body = [render(coll[i]) for i in page_ids]
    echo = dict(spec.echo)
    if resource == "order" and "status" not in ctx.params:
        echo.pop("status")
        echo["status"] = spec.statuses  # the orders controller writes the default status into the query
    elif resource != "order":
        echo = {k: v for k, v in echo.items() if k in ctx.params}
    if extra_echo is not None:
        extra_echo(echo, bool(body))
    headers = {"X-WP-Total": str(total), "X-WP-TotalPages": str(pages)}
    link = link_header(f"{ctx.base}{PREFIX}{collection_path}", echo, spec.page, pages)
    if link:
        headers["__link__"] = link
    return Reply(body, allow=ALLOW_LIST, headers=headers)


def _order_echo(echo: dict[str, Any], has_items: bool) -> None:
    if has_items:  # prepare_object_for_response sets dp and context on the request
        echo.setdefault("dp", 2)
        echo.setdefault("context", "view")


# ---------------------------------------------------------------- orders


@route("GET", "/orders", "list", ALLOW_LIST)
async def list_orders(ctx: Ctx) -> Reply:
    s = ctx.store
    return list_reply(ctx, "order", s.orders, "/orders", indexed="order",
                      render=lambda r: s.render(r, base=ctx.base), extra_echo=_order_echo)


@route("POST", "/orders", "list", ALLOW_LIST)
async def create_order(ctx: Ctx) -> Reply:
    rec = ctx.store.create_order(await ctx.body())
    return Reply(ctx.store.render(rec, base=ctx.base), 201, ALLOW_LIST,
                 {"Location": f"{ctx.base}{PREFIX}/orders/{rec.id}"})


@route("GET", r"/orders/(?P<id>\d+)", "item")
async def get_order(ctx: Ctx) -> Reply:
    return Reply(ctx.store.render(ctx.store.get_order(ctx.int("id")), base=ctx.base))


@route("PUT", r"/orders/(?P<id>\d+)", "item")
async def update_order(ctx: Ctx) -> Reply:
    rec = ctx.store.update_order(ctx.int("id"), await ctx.body())
    return Reply(ctx.store.render(rec, base=ctx.base))


def _force(ctx: Ctx) -> bool:
    return str(ctx.params.get("force", "")).lower() in ("1", "true", "yes")


@route("DELETE", r"/orders/(?P<id>\d+)", "item")
async def delete_order(ctx: Ctx) -> Reply:
    s = ctx.store
    oid = ctx.int("id")
    s.get_order(oid)
    body = s.delete_order(oid) if _force(ctx) else s.trash_order(oid)
    return Reply(_rebase(body, s.base_url, ctx.base))


def _rebase(body: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    if old == new:
        return body
    return json.loads(json.dumps(body).replace(old, new))


@route("GET", r"/orders/(?P<id>\d+)/refunds", "list", ALLOW_LIST)
async def list_refunds(ctx: Ctx) -> Reply:
    s = ctx.store
    order = s.get_order(ctx.int("id"))
    coll = {rid: s.refunds[rid] for rid in order.extra.get("refund_ids", []) if rid in s.refunds}
    return list_reply(ctx, "refund", coll, f"/orders/{order.id}/refunds", render=lambda r: s.render(r, base=ctx.base))


@route("POST", r"/orders/(?P<id>\d+)/refunds", "list", ALLOW_LIST)
async def create_refund(ctx: Ctx) -> Reply:
    rec = ctx.store.create_refund(ctx.int("id"), await ctx.body())
    return Reply(ctx.store.render(rec, base=ctx.base), 201, ALLOW_LIST,
                 {"Location": f"{ctx.base}{PREFIX}/orders/(?P<order_id>[\\d]+)/refunds/{rec.id}"})


@route("GET", r"/orders/(?P<id>\d+)/refunds/(?P<rid>\d+)", "item", "GET, DELETE")
async def get_refund(ctx: Ctx) -> Reply:
    rec = ctx.store.get_refund(ctx.int("id"), ctx.int("rid"))
    return Reply(ctx.store.render(rec, base=ctx.base), allow="GET, DELETE")


# ---------------------------------------------------------------- products and variations


@route("GET", "/products", "list", ALLOW_LIST)
async def list_products(ctx: Ctx) -> Reply:
    s = ctx.store
    return list_reply(ctx, "product", s.products, "/products", indexed="product", render=lambda r: s.render(r, base=ctx.base))


@route("POST", "/products", "list", ALLOW_LIST)
async def create_product(ctx: Ctx) -> Reply:
    data = await ctx.body()
    validate.product(ctx.store, data)
    rec = ctx.store.create_product(data)
    return Reply(ctx.store.render(rec, base=ctx.base), 201, ALLOW_LIST,
                 {"Location": f"{ctx.base}{PREFIX}/products/{rec.id}"})


@route("GET", r"/products/(?P<id>\d+)", "item")
async def get_product(ctx: Ctx) -> Reply:
    return Reply(ctx.store.render(ctx.store.get_product(ctx.int("id")), as_product=True, base=ctx.base))


@route("PUT", r"/products/(?P<id>\d+)", "item")
async def update_product(ctx: Ctx) -> Reply:
    data = await ctx.body()
    own = ctx.store.get_product(ctx.int("id"))
    validate.product(ctx.store, data, own.id, variation=own.kind == "variation")
    rec = ctx.store.update_product(ctx.int("id"), data)
    return Reply(ctx.store.render(rec, as_product=True, base=ctx.base))


@route("DELETE", r"/products/(?P<id>\d+)", "item")
async def delete_product(ctx: Ctx) -> Reply:
    s = ctx.store
    pid = ctx.int("id")
    s.get_product(pid)
    body = s.delete_product(pid) if _force(ctx) else s.trash_product(pid)
    return Reply(_rebase(body, s.base_url, ctx.base))


@route("GET", r"/products/(?P<id>\d+)/variations", "list", ALLOW_LIST)
async def list_variations(ctx: Ctx) -> Reply:
    s = ctx.store
    parent = s.get_product(ctx.int("id"), allow_variation=False)
    coll = {v: s.variations[v] for v in parent.doc["variations"] if v in s.variations}
    return list_reply(ctx, "variation", coll, f"/products/{parent.id}/variations", render=lambda r: s.render(r, base=ctx.base))


@route("POST", r"/products/(?P<id>\d+)/variations", "list", ALLOW_LIST)
async def create_variation(ctx: Ctx) -> Reply:
    data = await ctx.body()
    ctx.store.get_product(ctx.int("id"), allow_variation=False)
    validate.product(ctx.store, data, variation=True)
    rec = ctx.store.create_variation(ctx.int("id"), data)
    return Reply(ctx.store.render(rec, base=ctx.base), 201, ALLOW_LIST,
                 {"Location": f"{ctx.base}{PREFIX}/products/(?P<product_id>[\\d]+)/variations/{rec.id}"})


@route("GET", r"/products/(?P<id>\d+)/variations/(?P<vid>\d+)", "item")
async def get_variation(ctx: Ctx) -> Reply:
    return Reply(ctx.store.render(ctx.store.get_variation(ctx.int("id"), ctx.int("vid")), base=ctx.base))


@route("PUT", r"/products/(?P<id>\d+)/variations/(?P<vid>\d+)", "item")
async def update_variation(ctx: Ctx) -> Reply:
    data = await ctx.body()
    ctx.store.get_variation(ctx.int("id"), ctx.int("vid"))
    validate.product(ctx.store, data, ctx.int("vid"), variation=True)
    rec = ctx.store.update_variation(ctx.int("id"), ctx.int("vid"), data)
    return Reply(ctx.store.render(rec, base=ctx.base))


@route("DELETE", r"/products/(?P<id>\d+)/variations/(?P<vid>\d+)", "item")
async def delete_variation(ctx: Ctx) -> Reply:
    s = ctx.store
    rec = s.get_variation(ctx.int("id"), ctx.int("vid"))
    body = s.render(rec, base=ctx.base)
    if not _force(ctx):
        raise StoreError(501, "woocommerce_rest_trash_not_supported", "Variations do not support trashing.")
    s.delete_product(rec.id)
    return Reply(body)


# ---------------------------------------------------------------- customers


@route("GET", "/customers", "list", ALLOW_LIST)
async def list_customers(ctx: Ctx) -> Reply:
    s = ctx.store
    return list_reply(ctx, "customer", s.customers, "/customers", render=lambda r: s.render(r, base=ctx.base),
                      zero_past_end=False)


@route("POST", "/customers", "list", ALLOW_LIST)
async def create_customer(ctx: Ctx) -> Reply:
    data = await ctx.body()
    validate.customer(data, create=True)
    rec = ctx.store.create_customer(data)
    return Reply(ctx.store.render(rec, base=ctx.base), 201, ALLOW_LIST,
                 {"Location": f"{ctx.base}{PREFIX}/customers/{rec.id}"})


@route("GET", r"/customers/(?P<id>\d+)", "item")
async def get_customer(ctx: Ctx) -> Reply:
    return Reply(ctx.store.render(ctx.store.get_customer(ctx.int("id")), base=ctx.base))


@route("PUT", r"/customers/(?P<id>\d+)", "item")
async def update_customer(ctx: Ctx) -> Reply:
    data = await ctx.body()
    ctx.store.get_customer(ctx.int("id"))
    validate.customer(data, create=False)
    rec = ctx.store.update_customer(ctx.int("id"), data)
    return Reply(ctx.store.render(rec, base=ctx.base))


@route("DELETE", r"/customers/(?P<id>\d+)", "item")
async def delete_customer(ctx: Ctx) -> Reply:
    s = ctx.store
    cid = ctx.int("id")
    s.get_customer(cid)
    if not _force(ctx):
        raise StoreError(501, "woocommerce_rest_trash_not_supported", "Customers do not support trashing.")
    body = _rebase(s.delete_customer(cid), s.base_url, ctx.base)
    body["_links"]["self"] = [{"href": link["href"]} for link in body["_links"]["self"]]  # the user is gone by then
    return Reply(body, allow="")


# ---------------------------------------------------------------- webhooks (emulators/woocommerce/webhooks.py)


def _webhooks(ctx: Ctx) -> Webhooks:
    return ctx.request.app[K.DISPATCHER].webhooks


def _webhook_call(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except WebhookError as exc:
        raise StoreError(exc.status, exc.code, exc.message, exc.data) from None


@route("GET", "/webhooks", "list", ALLOW_LIST)
async def list_webhooks(ctx: Ctx) -> Reply:
    """Newest first, ``per_page`` (10, at most 100) and ``page``, ``status`` = all | active | paused | disabled."""
    try:
        per_page, page = int(ctx.params.get("per_page", 10)), int(ctx.params.get("page", 1))
    except (TypeError, ValueError):
        raise StoreError(400, "rest_invalid_param", "Invalid parameter(s): per_page") from None
    if not 1 <= per_page <= 100 or page < 1:
        raise StoreError(400, "rest_invalid_param", "Invalid parameter(s): per_page")
    status = str(ctx.params.get("status", "all"))
    hooks = sorted((w for w in _webhooks(ctx).by_id.values() if status == "all" or w.status == status),
                   key=lambda w: -w.id)
    pages = max(1, -(-len(hooks) // per_page)) if hooks else 0
    body = [w.render(ctx.store.times, ctx.base) for w in hooks[(page - 1) * per_page:page * per_page]]
    headers = {"X-WP-Total": str(len(hooks)), "X-WP-TotalPages": str(pages)}
    echo = {k: v for k, v in ctx.params.items() if k in ("per_page", "status")}
    link = link_header(f"{ctx.base}{PREFIX}/webhooks", echo, page, pages)
    if link:
        headers["__link__"] = link
    return Reply(body, allow=ALLOW_LIST, headers=headers)


@route("GET", r"/webhooks/(?P<id>\d+)", "item")
async def get_webhook(ctx: Ctx) -> Reply:
    wh = _webhook_call(lambda: _webhooks(ctx).get(ctx.int("id")))
    return Reply(wh.render(ctx.store.times, ctx.base))


@route("PUT", r"/webhooks/(?P<id>\d+)", "item")
async def update_webhook(ctx: Ctx) -> Reply:
    data = await ctx.body()
    wh = _webhook_call(lambda: _webhooks(ctx).update(ctx.int("id"), data))
    return Reply(wh.render(ctx.store.times, ctx.base))


_ID_SEGMENT = re.compile(r"/\d+")


@web.middleware
async def count_requests(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    stats = request.app[K.STATS]
    if request.path.startswith("/_emulator/"):
        return await handler(request)
    stats.requests_total += 1
    key = f"{request.method} {_ID_SEGMENT.sub('/{id}', request.path)}"
    stats.by_path[key] += 1
    response = await handler(request)
    stats.by_status[response.status] += 1
    # method and path only: queries may carry consumer keys or OAuth parameters
    logger.bind(action="wc_emulator.request").trace("{} {} -> {}", request.method, request.path, response.status)
    return response


def setup_routes(app: web.Application) -> None:
    app.router.add_route("*", PREFIX + "{tail:.*}", handle_rest)
