"""Event models: what senders post (the ingest contract) and what the outbox stores.

Validation happens here, before anything touches the database, and reports every bad field.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

import orjson
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from shared import ids
from shared.pii import email_hash_of

RESOURCES = ("order", "customer", "product")
ACTIONS = ("created", "updated", "trashed", "restored", "deleted")
SOURCES = ("plugin", "webhook", "reconciler", "backfill", "manual", "salesforce")
EVENT_TYPES = tuple(f"{r}.{a}" for r in RESOURCES for a in ACTIONS)
# Orders that are not orders yet: the block checkout's ``checkout-draft`` (made when a shopper opens the checkout,
# cleaned up daily when abandoned), the admin's new-order ``auto-draft`` and ``draft``. Nothing about them is synced,
# by any path, until they become a real order (then their first real status comes as an update or is found by the
# reconciler, and the order is created in Salesforce).
DRAFT_ORDER_STATUSES = frozenset(("checkout-draft", "auto-draft", "draft"))


def is_draft_order(data: Any, resource: str = "order") -> bool:
    """An order document (REST or webhook body, or a plugin event's ``data``) in a draft status."""
    return resource == "order" and isinstance(data, dict) and data.get("status") in DRAFT_ORDER_STATUSES


class OutboxStatus(StrEnum):
    """``outbox.status``: where an entity's row for one destination stands. The values are the stored strings."""

    PENDING = "pending"  # due at available_at
    LEASED = "leased"  # claimed by lease_owner until lease_expires_at
    DELIVERED = "delivered"  # the head event reached the destination
    RETRYING = "retrying"  # failed, due again at available_at
    DEAD = "dead"  # given up (permanent error or agent_max_attempts): waits for a replay


class Outcome(StrEnum):
    """What one delivery try decided for a claimed row (``attempts.outcome``; ``complete_outbox`` applies it)."""

    DELIVERED = "delivered"
    RETRYING = "retrying"
    DEAD = "dead"
    PAUSED = "paused"  # not tried (API budget, connection trouble): back to pending, no attempt recorded
    SKIPPED = "skipped"  # nothing to send (an echo, a delete Salesforce never had): the row counts as delivered

    @property
    def recorded(self) -> bool:
        """An attempt row is written for it (a pause is not a try)."""
        return self is not Outcome.PAUSED

    @property
    def completes_as(self) -> Outcome:
        """The outcome ``complete_outbox`` applies: a skipped row is done, like a delivered one."""
        return Outcome.DELIVERED if self is Outcome.SKIPPED else self

EventType = Literal[EVENT_TYPES]  # type: ignore[valid-type]
SenderId = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$")]


class InvalidEvent(ValueError):
    """The body parsed as JSON but breaks the ingest contract (maps to 422)."""

    def __init__(self, fields: list[dict[str, str]]):
        super().__init__("; ".join(f"{f['field']}: {f['message']}" for f in fields))
        self.fields = fields


class FutureVersion(InvalidEvent):
    """An entity version later than now plus the timestamp tolerance (maps to 422)."""


class IncomingEvent(BaseModel):
    """One event as a sender posts it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: SenderId
    type: EventType
    occurred_at: AwareDatetime
    resource_id: Annotated[int, Field(gt=0, lt=2**63, strict=True)]
    data: dict[str, Any]

    @model_validator(mode="after")
    def _data_matches(self) -> IncomingEvent:
        data_id = self.data.get("id")
        if data_id is None:
            raise ValueError("data.id is required")
        if data_id != self.resource_id or isinstance(data_id, bool):
            raise ValueError("data.id must equal resource_id")
        return self

    @property
    def resource(self) -> str:
        resource: str = self.type.split(".", 1)[0]
        return resource

    @property
    def action(self) -> str:
        action: str = self.type.split(".", 1)[1]
        return action


class EventBatch(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    events: Annotated[list[IncomingEvent], Field(min_length=1)]


def parse_wc_datetime(value: Any) -> datetime | None:
    """WooCommerce ``*_gmt`` fields: ``2026-11-22T15:35:24`` in UTC, no suffix."""
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise ValueError("must be a string like 2026-11-22T15:35:24")
    dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


@dataclass(slots=True)
class NewEvent:
    """An event ready for the outbox."""

    store_id: str
    source: str
    resource: str
    action: str
    resource_id: int
    version: datetime
    payload_json: str
    dedup_key: str
    sender_id: str | None = None
    occurred_at: datetime | None = None
    id: str = field(default_factory=lambda: ids.new_id("event"))
    email_sha256: bytes | None = None  # sha256 of the customer's email (console search); never the email itself
    draft: bool = False  # a draft order's (see DRAFT_ORDER_STATUSES): the collector stores nothing and says so


def _loc(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _fields(exc: ValidationError, prefix: tuple = ()) -> list[dict[str, str]]:
    return [{"field": _loc(prefix + tuple(e["loc"])) or "body", "message": e["msg"]} for e in exc.errors()]


def payload_dict(payload: Any) -> dict[str, Any]:
    """A stored payload (jsonb decoded or not) as a dict; ``{}`` for anything else."""
    if isinstance(payload, str):
        try:
            payload = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return {}
    return payload if isinstance(payload, dict) else {}


def payload_text(data: dict, where: str) -> str:
    """Serialise for the outbox, refusing what Postgres's JSON types cannot hold (NUL, lone surrogates)."""
    try:
        raw = orjson.dumps(data)
    except orjson.JSONEncodeError as exc:
        raise InvalidEvent([{"field": where, "message": f"cannot be stored: {exc}"}]) from None
    if b"\\u0000" in raw:
        raise InvalidEvent([{"field": where, "message": "NUL characters (\\u0000) are not allowed"}])
    return raw.decode()


# The fast path: plain checks on the parsed body for the common, well-formed case. It accepts only what the
# pydantic models accept and builds the same events; anything else (every error, every unusual form) returns
# None and goes through the models, which name the failing fields. tests/unit/test_fast_validation.py holds
# the two paths to the same answers.
_EVENT_KEYS = frozenset(("id", "type", "occurred_at", "resource_id", "data"))
_TYPES = {t: tuple(t.split(".", 1)) for t in EVENT_TYPES}
_SENDER_ID = re.compile(r"[\x21-\x7e]{1,200}")
_RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?(?:Z|[+-]\d\d:\d\d)")


def _fast_events(body: Any, store_id: str, max_events: int, source: str,
                 max_version: datetime | None = None) -> list[NewEvent] | None:
    if type(body) is not dict:
        return None
    if "events" in body:
        incoming = body["events"]
        if len(body) != 1 or type(incoming) is not list or not 0 < len(incoming) <= max_events:
            return None
    else:
        incoming = (body,)
    out = []
    for ev in incoming:
        if type(ev) is not dict or ev.keys() != _EVENT_KEYS:
            return None
        sender_id, type_, occurred, rid, data = ev["id"], ev["type"], ev["occurred_at"], ev["resource_id"], ev["data"]
        if (type(sender_id) is not str or not _SENDER_ID.fullmatch(sender_id) or type(type_) is not str
                or type_ not in _TYPES or type(occurred) is not str or not _RFC3339.fullmatch(occurred)
                or type(rid) is not int or not 0 < rid < 2**63 or type(data) is not dict):
            return None
        data_id = data.get("id")
        if type(data_id) is not int or data_id != rid:
            return None
        resource, action = _TYPES[type_]
        try:
            out.append(_new_event(store_id, source, resource, action, rid, sender_id, datetime.fromisoformat(occurred),
                                  data, "body", max_version))
        except (ValueError, InvalidEvent):
            return None
    return out


def check_version(version: datetime, max_version: datetime | None, where: str) -> None:
    """Refuse an entity version later than ``max_version`` (now plus the timestamp tolerance): the outbox keeps the
    newest version, so a far-future one would outrank every real update of the entity and freeze it."""
    if max_version is not None and version > max_version:
        raise FutureVersion([{"field": where, "message": f"is in the future ({version.isoformat()}): an entity version "
                             f"must not be later than {max_version.isoformat(timespec='seconds')}"}])


def _new_event(store_id: str, source: str, resource: str, action: str, rid: int, sender_id: str,
               occurred_at: datetime, data: dict, where: str, max_version: datetime | None = None) -> NewEvent:
    """A validated event as the outbox stores it (both paths build events here). The entity version is WooCommerce's
    ``date_modified_gmt`` (a delete has none: the time it happened); it must not be after ``max_version``."""
    version, version_field = occurred_at, f"{where}.occurred_at"
    if action != "deleted":
        try:
            modified = parse_wc_datetime(data.get("date_modified_gmt"))
        except ValueError as exc:
            raise InvalidEvent([{"field": f"{where}.data.date_modified_gmt", "message": str(exc)}]) from None
        if modified is not None:
            version, version_field = modified, f"{where}.data.date_modified_gmt"
    check_version(version, max_version, version_field)
    return NewEvent(
        store_id=store_id, source=source, resource=resource, action=action, resource_id=rid, version=version,
        payload_json=payload_text(data, f"{where}.data"), dedup_key="id:" + sender_id, sender_id=sender_id,
        occurred_at=occurred_at, email_sha256=email_hash_of(resource, data), draft=is_draft_order(data, resource))


def events_from_body(body: Any, *, store_id: str, max_events: int, source: str = "plugin",
                     max_version: datetime | None = None) -> list[NewEvent]:
    """Validate a plugin-format body (one event or ``{"events": [...]}``) into outbox events; an entity version
    after ``max_version`` is refused."""
    fast = _fast_events(body, store_id, max_events, source, max_version)
    return fast if fast is not None else _model_events(body, store_id, max_events, source, max_version)


def _model_events(body: Any, store_id: str, max_events: int, source: str,
                  max_version: datetime | None = None) -> list[NewEvent]:
    """The reference path: the pydantic models, with every failing field named (raises InvalidEvent)."""
    if isinstance(body, dict) and "events" in body:
        try:
            batch = EventBatch.model_validate(body)
        except ValidationError as exc:
            raise InvalidEvent(_fields(exc)) from None
        if len(batch.events) > max_events:
            raise InvalidEvent([{"field": "events", "message": f"at most {max_events} events per request"}])
        incoming, prefix = batch.events, lambda i: f"events[{i}]"
    else:
        try:
            incoming = [IncomingEvent.model_validate(body)]
        except ValidationError as exc:
            raise InvalidEvent(_fields(exc)) from None
        prefix = lambda i: "body"  # noqa: E731
    return [_new_event(store_id, source, ev.resource, ev.action, ev.resource_id, ev.id, ev.occurred_at, ev.data,
                       prefix(i), max_version) for i, ev in enumerate(incoming)]


# Native WooCommerce webhooks -----------------------------------------------------------------
# order.deleted / product.deleted fire on trash (a permanent delete fires no webhook at all);
# customer.deleted is a real delete (customers have no trash).
_WC_ACTIONS = {
    ("order", "deleted"): "trashed",
    ("product", "deleted"): "trashed",
}


def event_from_wc_webhook(topic: str, body: Any, *, store_id: str, delivery_id: str | None,
                          received_at: datetime, source: str = "webhook",
                          max_version: datetime | None = None) -> NewEvent | None:
    """Turn one native delivery into an outbox event; ``None`` for topics we do not sync and for draft orders. A
    ``date_modified_gmt`` after ``max_version`` is refused."""
    resource, _, wc_action = topic.partition(".")
    if resource not in RESOURCES or wc_action not in ("created", "updated", "deleted", "restored"):
        return None
    if not isinstance(body, dict):
        raise InvalidEvent([{"field": "body", "message": "must be a JSON object"}])
    if is_draft_order(body, resource):
        return None  # not an order yet (see DRAFT_ORDER_STATUSES)
    rid = body.get("id")
    if not isinstance(rid, int) or isinstance(rid, bool) or rid <= 0:
        raise InvalidEvent([{"field": "body.id", "message": "must be a positive integer"}])
    action = _WC_ACTIONS.get((resource, wc_action), wc_action)
    try:
        version = parse_wc_datetime(body.get("date_modified_gmt"))
    except ValueError as exc:
        raise InvalidEvent([{"field": "body.date_modified_gmt", "message": str(exc)}]) from None
    if version is not None:
        check_version(version, max_version, "body.date_modified_gmt")
        # created and updated carry identical bodies; the entity version identifies the change
        dedup = f"wc:{resource}:{rid}:{version.isoformat()}"
    else:
        # deletes carry only {"id": N}; one per entity per delivery
        dedup = f"wc:{resource}:{rid}:{action}:{delivery_id or received_at.isoformat()}"
        version = received_at
    return NewEvent(
        store_id=store_id, source=source, resource=resource, action=action, resource_id=rid, version=version,
        payload_json=payload_text(body, "body"), dedup_key=dedup, sender_id=delivery_id, occurred_at=None,
        email_sha256=email_hash_of(resource, body),
    )
