"""The plugin's view of its store's whole path, over signed requests like ``/ping`` (issue 21).

``POST /v1/stores/{store_id}/health``: each link from the store to Salesforce as the collector knows it (the
signature, the Salesforce connection as the delivery agent last tried it, the WooCommerce REST keys as the
reconciler last used them, native webhooks as the reconciler last read them, the backlog and the last delivery to
Salesforce). ``connected`` is true only when data can reach Salesforce. ``POST /v1/stores/{store_id}/jobs/{job_id}``:
one of the store's jobs (the resync the plugin requested), its status, progress and error. Both answer
machine-readable states: the plugin words them for the store owner.
"""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from loguru import logger

from collector import keys
from collector.errors import ApiError
from collector.ingest import json_response, signed_json


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat(timespec="seconds") if value else None


def salesforce_check(row: Any) -> dict:
    if not row["sf_configured"]:
        return {"id": "salesforce", "status": "not_configured"}
    if row["sf_status"] is None:  # set up, but the agent has not tried it yet (no delivery since, or no agent)
        return {"id": "salesforce", "status": "not_tried"}
    return {"id": "salesforce", "status": row["sf_status"], "error_code": row["sf_error_code"],
            "error": row["sf_error"], "failing_since": _iso(row["sf_failing_since"]),
            "last_ok_at": _iso(row["sf_last_ok_at"]), "checked_at": _iso(row["sf_checked_at"])}


def woocommerce_check(row: Any, has_keys: bool) -> dict:
    if not row["wc_url"] or not has_keys:
        return {"id": "woocommerce_keys", "status": "not_configured"}
    return {"id": "woocommerce_keys", "status": row["keys_status"], "error": row["keys_error"],
            "checked_at": _iso(row["keys_checked_at"])}


def webhooks_check(secret: str | None, last_event_at: datetime | None, found: Any) -> dict:
    """Native webhooks: set up (a webhook secret) or not, and the store's webhooks as the reconciler last read them
    (``store_webhooks``, agent/reconcile/webhooks.py): ``state`` ok | problems | none (none points at this collector)
    | error (could not be read) | unchecked, with the ids WooCommerce disabled and Wooforce re-activated, those it
    could not (read-only keys), paused ones, wrong delivery URLs and the synced topics no active webhook delivers."""
    out: dict[str, Any] = {"id": "webhooks", "status": "configured" if secret else "not_configured",
                           "last_event_at": _iso(last_event_at), "state": "unchecked"}
    if found is not None:
        st = found["state"] or {}
        out.update({"state": st.get("status", "unchecked"), "checked_at": _iso(found["checked_at"]),
                    "problems": found["problems"], "error": st.get("error"),
                    **{k: st.get(k) or [] for k in ("reactivated", "disabled", "paused", "wrong_url",
                                                    "missing_topics")}})
    return out


def delivery_check(row: Any, oldest_waiting_s: float | None, late_after_s: float, sf_ok: bool) -> dict:
    status = "ok"
    if row["dead"]:
        status = "dead"
    elif row["backlog"] and not sf_ok:
        status = "waiting"
    elif oldest_waiting_s is not None and oldest_waiting_s > late_after_s:
        status = "late"
    return {"id": "delivery", "status": status, "backlog": row["backlog"], "dead": row["dead"],
            "last_delivered_at": _iso(row["last_delivered_at"]),
            "oldest_waiting_s": None if oldest_waiting_s is None else round(oldest_waiting_s)}


async def post_health(request: web.Request) -> web.Response:
    """``POST /v1/stores/{store_id}/health``: the store's pipeline, link by link (signed like ``/ping``)."""
    auth, _ = await signed_json(request)
    db = request.app[keys.DB]
    row = await db.fetchrow("plugin_store_health", auth.id)
    if row is None:  # removed between the signature check and now
        raise ApiError(404, "unknown_store", f"no store with id {auth.id!r}")
    wc = (await request.app[keys.STORES].get(auth.id))["wc_credentials"] or {}  # (encrypted: is a REST key set?)
    oldest = await db.fetch("outbox_oldest_undelivered", None, auth.id, "salesforce")
    oldest_s = float(oldest[0]["age_s"]) if oldest and oldest[0]["age_s"] is not None else None
    sf = salesforce_check(row)
    sf_ok = sf["status"] == "ok"
    checks = [
        {"id": "signature", "status": "ok"},
        sf,
        woocommerce_check(row, bool(wc.get("consumer_key"))),
        webhooks_check(auth.wc_webhook_secret, row["last_event_at"], await db.fetchrow("store_webhooks_get", auth.id)),
        delivery_check(row, oldest_s, request.app[keys.SETTINGS].alert_lag_threshold_s, sf_ok),
    ]
    run = await db.fetchrow("plugin_last_reconcile", auth.id)
    last_reconcile = None if run is None else {"started_at": _iso(run["started_at"]), "outcome": run["outcome"],
                                               "error": run["error"]}
    public_url = request.app[keys.SETTINGS].public_url  # the console's link for this store's changes (issue 17)
    console_url = f"{public_url.rstrip('/')}/console/outbox?store={auth.id}" if public_url else None
    logger.bind(action="ingest.health", store_id=auth.id, connected=sf_ok).debug("pipeline health")
    return json_response({"ok": True, "store_id": auth.id, "store_name": auth.name, "connected": sf_ok,
                          "checks": checks, "last_reconcile": last_reconcile, "console_url": console_url,
                          "server_time": _iso(datetime.now(UTC))})


async def post_job(request: web.Request) -> web.Response:
    """``POST /v1/stores/{store_id}/jobs/{job_id}``: one of this store's jobs (signed like ``/ping``)."""
    auth, _ = await signed_json(request)
    job_id = request.match_info["job_id"]
    row = await request.app[keys.DB].fetchrow("plugin_store_job", job_id, auth.id)
    if row is None:
        raise ApiError(404, "unknown_job", f"this store has no job {job_id!r}")
    return json_response({"job_id": row["id"], "kind": row["kind"], "params": row["params"],
                          "status": row["status"], "progress": row["progress"], "error": row["error"],
                          "created_at": _iso(row["created_at"]), "updated_at": _iso(row["updated_at"])})
