"""The plugin's sync buttons (issue 17): one entity's sync state and **Sync now**, over signed requests like ``/ping``.

``POST /v1/stores/{store_id}/entities/{resource}/{resource_id}/sync`` enqueues the entity as the console's sync
does: its outbox row (bound for Salesforce) is due now (a delivered or dead row goes back to pending, a leased one
is being sent already). The collector never calls WooCommerce: when there is no row (an entity Wooforce never saw),
it makes a ``jobs`` row of kind ``sync`` that the agent runs (it fetches the record from WooCommerce and enqueues it,
as ``wooforce sync`` does); a sync job of the entity still open is reused, and the same signed request again
(its ``webhook-id``) answers the job it made.

``POST /v1/stores/{store_id}/entities/{resource}/{resource_id}/state`` and ``POST /v1/stores/{store_id}/entities/state``
(``{"entities": [{"resource": "order", "id": 12}, ...]}``, at most :data:`MAX_ENTITIES`: a list screen in one call)
answer the state: ``synced`` (in Salesforce: ``sf_id``, ``delivered_at``), ``waiting`` (queued, being sent, or
retrying after an error), ``failed`` (given up, or the sync job failed) or ``not_synced`` (Wooforce knows nothing of
it), with the last error as text (:func:`collector.console.service.outbox.readable_errors`). Another store's
entities are never seen: every query is scoped to the signed store.
"""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from loguru import logger

from collector import keys
from collector.console.service.outbox import readable_errors
from collector.errors import ApiError
from collector.ingest import check_signature, json_response, parse_json, read_body, signed_json, store_auth
from shared import ids
from shared.jobs import JobKind
from shared.models import RESOURCES

MAX_ENTITIES = 100
MAX_RESOURCE_ID = 2**63 - 1
WAITING_STATUSES = frozenset({"pending", "leased", "retrying"})


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat(timespec="seconds") if value else None


def entity_key(resource: Any, resource_id: Any) -> tuple[str, int]:
    """A validated (resource, WooCommerce id); a 422 names what is wrong."""
    if resource not in RESOURCES:
        raise ApiError(422, "invalid_request", f"resource must be one of {', '.join(RESOURCES)}")
    if isinstance(resource_id, str) and resource_id.isascii() and resource_id.isdigit():
        resource_id = int(resource_id)
    if isinstance(resource_id, bool) or not isinstance(resource_id, int) or not 0 < resource_id <= MAX_RESOURCE_ID:
        raise ApiError(422, "invalid_request", "the id must be a positive WooCommerce id")
    return str(resource), resource_id


def error_text(errors: list[dict[str, Any]]) -> str:
    """Readable errors as one text: "CODE: message (fields: A, B)", one per line, repeated ones counted."""
    lines = []
    for e in errors:
        line = f"{e['code']}: {e['message']}" if e.get("code") else str(e.get("message") or "")
        if e.get("fields"):
            line += f" (fields: {', '.join(e['fields'])})"
        if e.get("count", 1) > 1:
            line += f" (x{e['count']})"
        lines.append(line)
    return "\n".join(lines)


def entity_state(row: Any) -> dict[str, Any]:
    """One row of ``plugin_entity_states`` as the plugin shows it."""
    out: dict[str, Any] = {"resource": row["resource"], "id": row["resource_id"], "status": row["status"],
                           "sf_id": row["sf_id"], "delivered_at": _iso(row["delivered_at"]),
                           "attempts": row["attempts"], "retry_at": None, "error_code": None, "error": None,
                           "errors": [], "job": None}
    if row["job_id"] is not None:
        out["job"] = {"job_id": row["job_id"], "status": row["job_status"], "error": row["job_error"],
                      "updated_at": _iso(row["job_updated_at"])}
    status = row["status"]
    if status is None:  # no outbox row: what a sync job says, else nothing known
        job_status = row["job_status"]
        if job_status in ("requested", "running"):
            out["state"] = "waiting"
        elif job_status == "failed":
            out["state"], out["error"] = "failed", row["job_error"]
        else:
            out["state"] = "not_synced"
        return out
    if status in ("retrying", "dead") and row["last_error"]:
        out["errors"] = readable_errors(row["last_error"])
        out["error"] = error_text(out["errors"])
        out["error_code"] = row["last_error_code"]
    if status == "retrying":
        out["retry_at"] = _iso(row["available_at"])
    out["state"] = "synced" if status == "delivered" else "failed" if status == "dead" else "waiting"
    return out


async def states(request: web.Request, store_id: str, entities: list[tuple[str, int]]) -> list[dict[str, Any]]:
    rows = await request.app[keys.DB].fetch("plugin_entity_states", store_id, [r for r, _ in entities],
                                            [i for _, i in entities])
    return [entity_state(r) for r in rows]


async def post_entity_state(request: web.Request) -> web.Response:
    """``POST .../entities/{resource}/{resource_id}/state``: one entity's sync state."""
    auth, _ = await signed_json(request)
    key = entity_key(request.match_info["resource"], request.match_info["resource_id"])
    return json_response((await states(request, auth.id, [key]))[0])


async def post_entity_states(request: web.Request) -> web.Response:
    """``POST .../entities/state``: the sync state of up to :data:`MAX_ENTITIES` entities, in the order asked."""
    auth, body = await signed_json(request)
    items = body.get("entities") if isinstance(body, dict) else None
    if not isinstance(items, list) or not items:
        raise ApiError(422, "invalid_request", 'the body must be {"entities": [{"resource": "order", "id": 12}, ...]}')
    if len(items) > MAX_ENTITIES:
        raise ApiError(422, "invalid_request", f"at most {MAX_ENTITIES} entities per request")
    wanted = [entity_key(i.get("resource"), i.get("id")) if isinstance(i, dict) else entity_key(None, None)
              for i in items]
    return json_response({"entities": await states(request, auth.id, list(dict.fromkeys(wanted)))})


async def post_entity_sync(request: web.Request) -> web.Response:
    """``POST .../entities/{resource}/{resource_id}/sync``: Sync now. 202 with how it was queued and the state."""
    auth = await store_auth(request)
    raw = await read_body(request)
    msg_id = check_signature(request, auth, raw)
    parse_json(raw)
    resource, rid = entity_key(request.match_info["resource"], request.match_info["resource_id"])
    db = request.app[keys.DB]
    log = logger.bind(action="ingest.entity_sync", store_id=auth.id, resource=resource, resource_id=rid)
    job_id: str | None = None
    due = await db.fetchrow("console_sync_entity", auth.id, "salesforce", resource, rid)
    if due is None and (await states(request, auth.id, [(resource, rid)]))[0]["status"] is None:
        open_job = await db.fetchrow("plugin_open_sync_job", auth.id, resource, rid)
        if open_job is not None:
            job_id = open_job["id"]
        for _ in range(2 if job_id is None else 0):  # no row: a copy of this request committed meanwhile; read it
            row = await db.fetchrow("insert_job_once", ids.new_id("job"), auth.id, JobKind.SYNC.value,
                                    {"resource": resource, "resource_id": rid}, "store:plugin", msg_id)
            if row is not None:
                job_id = row["id"]
                break
    queued = "outbox" if job_id is None else "job"
    log.bind(queued=queued, job_id=job_id).info("entity sync requested")
    state = (await states(request, auth.id, [(resource, rid)]))[0]
    return json_response({"queued": queued, "job_id": job_id, "state": state}, status=202)
