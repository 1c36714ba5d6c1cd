"""Control endpoints under ``/_emulator/`` (no auth) so other processes can drive the store."""
from __future__ import annotations

import json
from dataclasses import fields
from typing import Any

from aiohttp import web

from . import keys as K
from .delivery import DeliveryTarget
from .seed import seed as seed_store
from .store import StoreError
from .traffic import TrafficConfig

routes = web.RouteTableDef()


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status)


async def _body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        data = json.loads(await request.read() or b"{}")
    except ValueError:
        raise web.HTTPBadRequest(text='{"error": "invalid JSON"}', content_type="application/json") from None
    return data if isinstance(data, dict) else {}


def counts(app: web.Application) -> dict[str, Any]:
    s = app[K.STORE]
    return {"orders": len(s.orders), "products": len(s.products), "variations": len(s.variations),
            "customers": sum(1 for c in s.customers.values() if c.doc["role"] == "customer"),
            "refunds": len(s.refunds), "changes_total": s.changes_total}


@routes.get("/_emulator/stats")
async def stats(request: web.Request) -> web.Response:
    app = request.app
    return _json({**app[K.STATS].as_dict(), "store": counts(app), "deliveries": app[K.DISPATCHER].summary(),
                  "traffic": app[K.TRAFFIC].status(), "clock": {"now": app[K.STORE].clock.now(),
                                                                 "offset_s": app[K.STORE].clock.offset_s}})


@routes.post("/_emulator/reset")
async def reset(request: web.Request) -> web.Response:
    app = request.app
    await app[K.TRAFFIC].stop()
    app[K.STORE].reset()
    app[K.STATS].reset()
    app[K.DISPATCHER].records.clear()
    return _json({"ok": True})


@routes.post("/_emulator/seed")
async def seed(request: web.Request) -> web.Response:
    b = await _body(request)
    result = seed_store(request.app[K.STORE], orders=int(b.get("orders", 0)), products=int(b.get("products", 0)),
                        customers=int(b.get("customers", 0)), seed=int(b.get("seed", 1)), days=float(b.get("days", 30)))
    return _json(result)


@routes.post("/_emulator/keys")
async def create_key(request: web.Request) -> web.Response:
    b = await _body(request)
    key = request.app[K.KEYRING].add(b.get("permissions", "read_write"), consumer_key=b.get("consumer_key"),
                                     consumer_secret=b.get("consumer_secret"))
    return _json({"key_id": key.key_id, "consumer_key": key.consumer_key, "consumer_secret": key.consumer_secret,
                  "permissions": key.permissions}, 201)


@routes.post("/_emulator/webhooks")
async def configure_webhooks(request: web.Request) -> web.Response:
    b = await _body(request)
    names = {f.name for f in fields(DeliveryTarget)}
    try:
        target = DeliveryTarget(**{k: v for k, v in b.items() if k in names})
    except TypeError as exc:
        return _json({"error": str(exc)}, 400)
    disp = request.app[K.DISPATCHER]
    disp.configure(target)
    ping_status = await disp.ping() if b.get("ping") and target.mode == "native" else None
    return _json({"target": target.public(), "ping_status": ping_status})


@routes.delete("/_emulator/webhooks")
async def disable_webhooks(request: web.Request) -> web.Response:
    request.app[K.DISPATCHER].configure(None)
    return _json({"ok": True})


@routes.post("/_emulator/drop_share")
async def drop_share(request: web.Request) -> web.Response:
    b = await _body(request)
    disp = request.app[K.DISPATCHER]
    if disp.target is None:
        return _json({"error": "no delivery target configured"}, 409)
    disp.set_drop_share(float(b.get("drop_share", 0)))
    if "delay_ms" in b:
        disp.target.delay_ms = int(b["delay_ms"])
    return _json({"drop_share": disp.target.drop_share, "delay_ms": disp.target.delay_ms})


@routes.get("/_emulator/deliveries")
async def deliveries(request: web.Request) -> web.Response:
    status = request.query.get("status")
    since = int(request.query.get("since_seq", 0))
    recs = [r.public() for r in request.app[K.DISPATCHER].records if r.seq > since and (not status or r.status == status)]
    return _json({"summary": request.app[K.DISPATCHER].summary(), "deliveries": recs})


@routes.post("/_emulator/traffic/start")
async def traffic_start(request: web.Request) -> web.Response:
    b = await _body(request)
    names = {f.name for f in fields(TrafficConfig)}
    cfg = TrafficConfig(**{k: v for k, v in b.items() if k in names})
    request.app[K.TRAFFIC].start(cfg)
    return _json(request.app[K.TRAFFIC].status())


@routes.post("/_emulator/traffic/stop")
async def traffic_stop(request: web.Request) -> web.Response:
    await request.app[K.TRAFFIC].stop()
    return _json(request.app[K.TRAFFIC].status())


@routes.post("/_emulator/traffic/run")
async def traffic_run(request: web.Request) -> web.Response:
    b = await _body(request)
    import random

    done = request.app[K.TRAFFIC].run_ops(int(b.get("n", 1)), random.Random(b.get("seed")))
    return _json({"ops": done})


@routes.post("/_emulator/clock")
async def clock(request: web.Request) -> web.Response:
    b = await _body(request)
    c = request.app[K.STORE].clock
    if "offset_s" in b:
        c.offset_s = float(b["offset_s"])
    if "advance_s" in b:
        c.advance(float(b["advance_s"]))
    if b.get("freeze"):
        c.freeze(b.get("at"))
    if b.get("unfreeze"):
        c.unfreeze()
    return _json({"now": c.now(), "offset_s": c.offset_s, "frozen_at": c.frozen_at})


@routes.post("/_emulator/faults")
async def faults(request: web.Request) -> web.Response:
    b = await _body(request)
    cfg = request.app[K.CONFIG]
    for name in ("api_latency_ms", "api_error_share", "api_error_status"):
        if name in b:
            setattr(cfg, name, type(getattr(cfg, name))(b[name]))
    return _json({"api_latency_ms": cfg.api_latency_ms, "api_error_share": cfg.api_error_share,
                  "api_error_status": cfg.api_error_status})


@routes.post("/_emulator/mutate")
async def mutate(request: web.Request) -> web.Response:
    """{"resource": "order|product|variation|customer", "action": "create|update|trash|restore|delete|refund",
    "id": N, "parent_id": N (variations), "data": {...}, "via": "admin|rest" (restore)}"""
    b = await _body(request)
    s = request.app[K.STORE]
    resource, action, data = b.get("resource"), b.get("action"), b.get("data") or {}
    rid = int(b.get("id") or 0)
    try:
        result = _mutate(s, resource, action, rid, int(b.get("parent_id") or 0), data, b.get("via", "admin"))
    except StoreError as exc:
        return _json({"code": exc.code, "message": exc.message, "data": {"status": exc.status}}, exc.status)
    except (KeyError, ValueError) as exc:
        return _json({"error": f"bad mutation: {exc}"}, 400)
    if not isinstance(result, dict):
        result = s.render(result, as_product=True)
    return _json(result)


def _mutate(s: Any, resource: str, action: str, rid: int, parent_id: int, data: dict, via: str) -> Any:
    table = {
        ("order", "create"): lambda: s.create_order(data),
        ("order", "update"): lambda: s.update_order(rid, data),
        ("order", "trash"): lambda: s.trash_order(rid),
        ("order", "restore"): lambda: s.restore_order(rid, via=via),
        ("order", "delete"): lambda: s.delete_order(rid),
        ("order", "refund"): lambda: s.create_refund(rid, data),
        ("product", "create"): lambda: s.create_product(data),
        ("product", "update"): lambda: s.update_product(rid, data),
        ("product", "trash"): lambda: s.trash_product(rid),
        ("product", "restore"): lambda: s.restore_product(rid, via=via),
        ("product", "delete"): lambda: s.delete_product(rid),
        ("variation", "create"): lambda: s.create_variation(parent_id, data),
        ("variation", "update"): lambda: s.update_variation(parent_id, rid, data),
        ("variation", "delete"): lambda: s.delete_product(rid),
        ("customer", "create"): lambda: s.create_customer(data),
        ("customer", "update"): lambda: s.update_customer(rid, data),
        ("customer", "delete"): lambda: s.delete_customer(rid),
    }
    fn = table.get((resource, action))
    if fn is None:
        raise ValueError(f"unknown resource/action {resource}/{action}")
    return fn()


@routes.get("/_emulator/snapshot")
async def snapshot(request: web.Request) -> web.Response:
    """Current state per resource for convergence checks: {"order": {"<id>": {"status", "date_modified_gmt"}}, ...}."""
    s = request.app[K.STORE]
    times = s.times

    def state(coll: dict) -> dict:
        return {str(i): {"status": r.status, "date_modified_gmt": times.gmt(r.modified)} for i, r in coll.items()}

    return _json({"order": state(s.orders), "product": {**state(s.products), **state(s.variations)},
                  "customer": {str(i): {"status": "", "date_modified_gmt": times.gmt(r.modified)}
                               for i, r in s.customers.items() if r.doc["role"] == "customer"}})


def setup_control_routes(app: web.Application) -> None:
    app.router.add_routes(routes)
