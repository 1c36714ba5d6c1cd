"""What the reconciler, backfills and manual syncs share: turning REST records into outbox events,
the outbox heads they compare against, variations, customer fingerprints, paging by modified date."""
from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from loguru import logger

from agent.woocommerce import WooClient, wc_gmt
from shared import ids
from shared.db import Database
from shared.models import (
    FutureVersion,
    NewEvent,
    check_version,
    is_draft_order,
    parse_wc_datetime,
    payload_dict,
    payload_text,
)
from shared.settings import Settings

# REST collection per outbox resource
PATHS = {"order": "orders", "product": "products", "customer": "customers"}
RESOURCE_OF = {"orders": "order", "products": "product", "customers": "customer"}
# what a customer's fingerprint covers: the fields Wooforce syncs (no dates, no avatar)
CUSTOMER_FIELDS = ("email", "first_name", "last_name", "username", "role", "billing", "shipping", "is_paying_customer")
# how far in the future a record's version may be, as for ingest (TIMESTAMP_TOLERANCE_S's default): a later one
# would outrank every real update of the entity in the outbox and freeze it
FUTURE_TOLERANCE_S: int = Settings.model_fields["timestamp_tolerance_s"].default
# records skipped because of such a version, per (store, resource), since the process started
future_skips: Counter[tuple[str, str]] = Counter()


@dataclass(frozen=True, slots=True)
class Head:
    version: datetime
    action: str | None
    payload: Any = None
    stub: bool = False  # the head is a trash/delete webhook's bare {"id": N}


def version_of(record: dict[str, Any]) -> datetime | None:
    return parse_wc_datetime(record.get("date_modified_gmt"))


def dedup_key(resource: str, rid: int, version: datetime) -> str:
    """The same key a native webhook of this version gets (``shared.models.event_from_wc_webhook``)."""
    return f"wc:{resource}:{rid}:{version.isoformat()}"


def make_event(store_id: str, source: str, resource: str, action: str, record: dict[str, Any], *,
               version: datetime | None = None, key: str | None = None) -> NewEvent:
    """An outbox event for a REST record; raises FutureVersion for a version in the future (see ``decide``)."""
    rid = int(record["id"])
    version = version or version_of(record) or datetime.now(UTC)
    check_version(version, max_version(), "record.date_modified_gmt")
    return NewEvent(store_id=store_id, source=source, resource=resource, action=action, resource_id=rid,
                    version=version, payload_json=payload_text(record, "record"),
                    dedup_key=key or dedup_key(resource, rid, version))


def deleted_event(store_id: str, source: str, resource: str, rid: int) -> NewEvent:
    now = datetime.now(UTC)
    return NewEvent(store_id=store_id, source=source, resource=resource, action="deleted", resource_id=rid,
                    version=now, payload_json=orjson.dumps({"id": rid}).decode(),
                    dedup_key=f"wc:{resource}:{rid}:deleted:{source}")


def manual_event(store_id: str, resource: str, record: dict[str, Any]) -> NewEvent:
    """A re-send: a unique dedup key, so it is stored (and delivered) even if this version was seen."""
    ev = make_event(store_id, "manual", resource, "updated", record)
    ev.dedup_key = f"manual:{resource}:{ev.resource_id}:{ids.new_id('event')}"
    return ev


async def heads(db: Database, store_id: str, resource: str, rids: list[int], *,
                payload: bool = True) -> dict[int, Head]:
    if not rids:
        return {}
    rows = await db.fetch("reconcile_heads_payload" if payload else "reconcile_heads", store_id, resource,
                          sorted(set(rids)))
    return {r["resource_id"]: Head(r["head_version"], r["action"], r["payload"] if payload else None, r["stub"])
            for r in rows}


def is_news(head: Head | None, version: datetime | None) -> bool:
    """Not yet in the outbox at this version (or newer)."""
    return head is None or (version is not None and version > head.version)


def action_for(head: Head | None, record: dict[str, Any]) -> str:
    if record.get("status") == "trash":
        return "trashed"
    if head is None:
        return "created"
    if head.action in ("trashed", "deleted"):
        return "restored"
    return "updated"


def variation_as_product(variation: dict[str, Any], parent: dict[str, Any]) -> dict[str, Any]:
    """A variation from ``/products/{id}/variations`` in the ``/products/{vid}`` terms webhooks use."""
    out = dict(variation)
    out["type"] = "variation"
    out["parent_id"] = parent["id"]
    if variation.get("name") and parent.get("name"):
        out["name"] = f"{parent['name']} - {variation['name']}"
    return out


def fingerprint(customer: dict[str, Any]) -> str:
    data = {k: customer.get(k) for k in CUSTOMER_FIELDS}
    return hashlib.sha256(orjson.dumps(data, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]


async def pages_modified_after(client: WooClient, path: str, since: datetime, *, per_page: int,
                               extra: dict[str, Any] | None = None, page: int = 1
                               ) -> AsyncIterator[tuple[list[dict[str, Any]], datetime, int]]:
    """Every record of ``path`` modified after ``since`` (exclusive, 1 s resolution), oldest first.

    Yields ``(new records, after, page)``: the records, and where to continue from once they are processed
    (a backfill stores that to resume). Keyset paging on ``date_modified_gmt``: after a full page the next
    request starts one second before the page's last record (records of that second come again and are
    skipped), so a record modified while we page (it moves to the end) cannot shift an unseen record out of
    view. Page numbers are only used inside one second holding more than a page of records.
    """
    after, seen = since, set[tuple[Any, ...]]()
    while True:
        params = {"modified_after": wc_gmt(after), "dates_are_gmt": True, "orderby": "modified", "order": "asc",
                  "per_page": per_page, "page": page, **(extra or {})}
        got = (await client.list(path, params)).records
        fresh = [r for r in got if (r["id"], r.get("date_modified_gmt")) not in seen]
        seen.update((r["id"], r.get("date_modified_gmt")) for r in got)
        if len(got) < per_page:
            if fresh:
                yield fresh, after, 0  # page 0: finished
            return
        last = version_of(got[-1])
        nxt = last - timedelta(seconds=1) if last else after
        if nxt > after:
            after, page = nxt, 1
        else:
            page += 1
        if fresh:
            yield fresh, after, page


async def variations_of(client: WooClient, parent: dict[str, Any], since: datetime, *, per_page: int
                        ) -> list[dict[str, Any]]:
    """The variations of a variable product modified after ``since``, in ``/products/{vid}`` terms."""
    out: list[dict[str, Any]] = []
    if parent.get("type") != "variable" or not parent.get("variations"):
        return out
    async for page, _, _ in pages_modified_after(client, f"products/{parent['id']}/variations", since,
                                                 per_page=per_page):
        out.extend(variation_as_product(v, parent) for v in page)
    return out


def max_version() -> datetime:
    return datetime.now(UTC) + timedelta(seconds=FUTURE_TOLERANCE_S)


def decide(store_id: str, source: str, resource: str, record: dict[str, Any], head: Head | None) -> NewEvent | None:
    """An event if the outbox has not seen this version of the record, or holds another state of it. A record
    whose version is in the future (or whose outbox head is: a frozen entity, see ``wooforce outbox unfreeze``)
    is skipped, logged and counted in ``future_skips``."""
    try:
        return _decide(store_id, source, resource, record, head)
    except FutureVersion as exc:
        _future_skipped(store_id, source, resource, record, exc)
        return None


def event_or_skip(store_id: str, source: str, resource: str, action: str, record: dict[str, Any], *,
                  version: datetime | None = None, key: str | None = None) -> NewEvent | None:
    """:func:`make_event`, or ``None`` (logged and counted like :func:`decide`) for a version in the future: one
    such record must not fail a reconcile run or a backfill."""
    try:
        return make_event(store_id, source, resource, action, record, version=version, key=key)
    except FutureVersion as exc:
        _future_skipped(store_id, source, resource, record, exc)
        return None


def _future_skipped(store_id: str, source: str, resource: str, record: dict[str, Any], exc: FutureVersion) -> None:
    future_skips[(store_id, resource)] += 1
    logger.bind(action="reconcile.future_version_skipped", store_id=store_id, resource=resource,
                resource_id=record.get("id"), source=source).warning(str(exc))


def _decide(store_id: str, source: str, resource: str, record: dict[str, Any], head: Head | None) -> NewEvent | None:
    version = version_of(record)
    action = action_for(head, record)
    if head is None:
        return make_event(store_id, source, resource, action, record)
    state = "trashed" if record.get("status") == "trash" else "live"
    head_state = head.action if head.action in ("trashed", "deleted") else "live"
    if state != head_state or (state == "trashed" and head.stub):
        # e.g. restored by a REST status change (no webhook), a missed trash, or a trash webhook that carried
        # only {"id": N} (the record itself never reached the outbox): the state decides, and the event must
        # outrank the head even at the same version
        v = max(version or head.version, head.version)
        suffix = f"{action}:full" if state == head_state else action
        return make_event(store_id, source, resource, action, record, version=v,
                          key=f"{dedup_key(resource, int(record['id']), v)}:{suffix}")
    if is_news(head, version):
        return make_event(store_id, source, resource, action, record)
    if version is not None and version == head.version and head.payload is not None and not head.stub:
        # WooCommerce dates have one-second resolution: two changes within a second share a version (and a
        # webhook dedup key), so the later one is only visible in the content
        # a variation listed under its parent has other fields than the /products/{vid} document its webhooks
        # carry (fewer, and a few of its own such as ``image``): compare the fields both have
        head_doc = payload_dict(head.payload)
        fields = set(record) & set(head_doc) if record.get("type") == "variation" else None
        fp = content_fingerprint(record, fields)
        if fp != content_fingerprint(head_doc, fields):
            return make_event(store_id, source, resource, action, record, version=version,
                              key=f"{dedup_key(resource, int(record['id']), version)}:fp:{fp}")
    return None


# what WooCommerce computes per request rather than stores: left out of the content fingerprint, or an unchanged
# record would look changed on every run (``related_ids`` is a fresh random pick of related products each time)
COMPUTED_FIELDS = frozenset(("_links", "related_ids"))


def content_fingerprint(record: dict[str, Any], fields: set[str] | None = None) -> str:
    """A hash of what the record holds (only ``fields`` when given), without the fields WooCommerce computes per
    request (COMPUTED_FIELDS)."""
    data = {k: v for k, v in record.items() if k not in COMPUTED_FIELDS and (fields is None or k in fields)}
    return hashlib.sha256(orjson.dumps(data, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]


def without_drafts(resource: str, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records minus draft orders (``checkout-draft``, ``auto-draft``, ``draft``: see
    ``shared.models.DRAFT_ORDER_STATUSES``), which WooCommerce's "any status" order lists include: a draft is not an
    order, and nothing about it is synced until it becomes one."""
    if resource != "order":
        return records
    return [r for r in records if not is_draft_order(r)]
