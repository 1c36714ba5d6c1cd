"""The per-entity two-way sync state (``twoway_state``) and the conflicts it records.

``twoway_state.fields`` keeps per field: ``v`` (the value both sides agree on, or that Wooforce wrote),
``wc_at`` (WooCommerce version of its last change there), ``wc_synced`` (the version our last PUT produced),
``sf_at`` / ``sf_pending`` (a human change in Salesforce not yet written to WooCommerce), ``sf_lost`` (a
Salesforce value that lost a conflict), ``unsure`` / ``amb`` (upserts of the values ``amb`` ended ambiguously - a 5xx
or timeout after which Salesforce may or may not hold them - so ``v`` is not trusted until a delivery is confirmed or
Salesforce is seen holding one of them).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from loguru import logger

from agent.twoway.ownership import iso, parse_ts
from shared.db import Database
from shared.models import payload_dict

if TYPE_CHECKING:
    import asyncpg

AMBIGUOUS_KEEP = 10  # unconfirmed values remembered per field


def wc_changed(head: Head | None, fs: dict, w_head: str | None) -> bool:
    """WooCommerce holds a change of this field Salesforce has not received: the outbox head (newer than the
    version the field was last synced at) differs from the agreed value."""
    if head is None or "v" not in fs or w_head == fs["v"] or head.action == "deleted":
        return False
    known = [t for t in (parse_ts(fs.get("wc_at")), parse_ts(fs.get("wc_synced"))) if t is not None]
    return not known or head.version > max(known)


def _unconfirmed(fs: dict) -> list:
    """The values our unconfirmed upserts of a field may have left in Salesforce (newest last)."""
    return fs["amb"] if fs.get("unsure") and isinstance(fs.get("amb"), list) else []


def ambiguous_values(fs: dict, w: str | None) -> list:
    """:func:`_unconfirmed` with ``w`` added as the newest."""
    return ([x for x in _unconfirmed(fs) if x != w] + [w])[-AMBIGUOUS_KEEP:]


def is_own_ambiguous(fs: dict, s: str | None) -> bool:
    """Salesforce holds a value one of our unconfirmed upserts sent (it landed after all)."""
    return s in _unconfirmed(fs)


@dataclass
class State:
    fields: dict[str, dict]
    written_version: datetime | None = None
    written: dict | None = None


async def load_states(db: Database, store_id: str, resource: str, rids: list[int],
                      conn: asyncpg.Connection | None = None) -> dict[int, State]:
    if not rids:
        return {}
    rows = await db.fetch("twoway_states", store_id, resource, sorted(set(rids)), conn=conn)
    return {r["resource_id"]: State(payload_dict(r["fields"]), r["wc_written_version"],
                                    payload_dict(r["wc_written"]) if r["wc_written"] is not None else None)
            for r in rows}


@dataclass
class Head:
    version: datetime
    action: str
    doc: dict


async def load_heads(db: Database, store_id: str, resource: str, rids: list[int],
                      conn: asyncpg.Connection | None = None) -> dict[int, Head]:
    """The newest WooCommerce version of each entity the outbox holds (``None`` docs for bare delete stubs)."""
    if not rids:
        return {}
    rows = await db.fetch("twoway_wc_heads", store_id, resource, sorted(set(rids)), conn=conn)
    return {r["resource_id"]: Head(r["head_version"], r["action"], payload_dict(r["payload"])) for r in rows}


@dataclass
class Conflict:
    resource: str
    resource_id: int
    field: str
    winner: str
    winner_value: str | None
    winner_at: datetime | None
    loser_value: str | None
    loser_at: datetime | None


@dataclass
class Changes:
    """State patches and conflicts to write in one go."""

    patches: dict[tuple[str, int], dict] = field(default_factory=dict)
    written: dict[tuple[str, int], tuple[datetime, dict]] = field(default_factory=dict)
    conflicts: list[Conflict] = field(default_factory=list)

    def patch(self, resource: str, rid: int, sf_field: str, **kv: Any) -> None:
        self.patches.setdefault((resource, rid), {}).setdefault(sf_field, {}).update(
            {k: iso(v) if isinstance(v, datetime) else v for k, v in kv.items()})

    def empty(self) -> bool:
        return not (self.patches or self.written or self.conflicts)

    def merge(self, other: Changes) -> None:
        """Add ``other``'s patches (field by field, later keys win), writes and conflicts to these."""
        for k, p in other.patches.items():
            for sf_field, kv in p.items():
                self.patches.setdefault(k, {}).setdefault(sf_field, {}).update(kv)
        self.written.update(other.written)
        self.conflicts.extend(other.conflicts)

    async def save(self, db: Database, store_id: str, conn: asyncpg.Connection | None = None) -> None:
        by_resource: dict[str, list[tuple[int, dict, datetime | None, dict | None]]] = {}
        for (resource, rid) in sorted(set(self.patches) | set(self.written)):
            version, written = self.written.get((resource, rid), (None, None))
            by_resource.setdefault(resource, []).append((rid, self.patches.get((resource, rid), {}), version, written))
        for resource, rows in by_resource.items():
            await db.execute("twoway_patch_states", store_id, resource, [r[0] for r in rows],
                             [r[1] for r in rows], [r[2] for r in rows], [r[3] for r in rows], conn=conn)
        if self.conflicts:
            c = self.conflicts
            await db.execute("twoway_insert_conflicts", store_id, [x.resource for x in c], [x.resource_id for x in c],
                             [x.field for x in c], [x.winner for x in c], [x.winner_value for x in c],
                             [x.winner_at for x in c], [x.loser_value for x in c], [x.loser_at for x in c], conn=conn)
            for x in c:
                logger.bind(action="twoway.conflict", store_id=store_id, resource=x.resource,
                            resource_id=x.resource_id, field=x.field, winner=x.winner).info(
                    "both sides changed a field; the newer change won")
