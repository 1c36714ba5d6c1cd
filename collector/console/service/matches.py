"""The review list of records the org already had (issue 17): ambiguous matches the agent found before creating a
customer's Account/Contact or a product's Product2 (``sf_matches``), and an operator's pick.

The collector never calls Salesforce: a pick is recorded (``decided``), the entity's dead ``MATCH_REVIEW`` row (or,
for a guest buyer, the orders dead on it) goes back to pending, the orders waiting for it are due now, and the
agent applies the pick on that delivery (stamps ``Wooforce_Key__c`` on the chosen record, or creates a new one).
"""
from __future__ import annotations

import json
from typing import Any

from loguru import logger

from collector.console.service.base import InvalidInput, Principal, ServiceBase
from shared.errors import NotFound

MATCH_STATUSES = ("open", "decided", "applied")
CREATE = "create"  # the pick that makes a new record instead of adopting a candidate
LIST_MAX = 500


def _candidates(value: Any) -> list[dict[str, Any]]:
    docs = json.loads(value) if isinstance(value, str) else value
    return [d for d in docs or [] if isinstance(d, dict)]


def entity_of(key: str) -> tuple[str, int | None]:
    """``{store}:customer:12`` -> ("customer", 12); a guest buyer (``{store}:guest:{hash}``) has no outbox row."""
    parts = key.split(":")
    resource = parts[1] if len(parts) == 3 else ""
    if resource in ("customer", "product") and parts[2].isdigit():
        return resource, int(parts[2])
    return resource, None


class MatchesService(ServiceBase):
    async def _store_known(self, store_id: str) -> None:
        if not await self.db.fetch("console_store_names", store_id):
            raise NotFound(f"unknown store {store_id}")

    async def matches(self, p: Principal, store_id: str, status: str | None = "open",
                      limit: int = LIST_MAX) -> list[dict[str, Any]]:
        """The store's review list (``status``: open by default; None: every row), oldest first; each row with its
        candidates (Id, Name, Email or StockKeepingUnit/ProductCode, CreatedDate, their Wooforce_Key__c)."""
        self.require(p, "viewer")
        self.scope(p, store_id)
        if status is not None and status not in MATCH_STATUSES:
            raise InvalidInput(f"status must be one of {', '.join(MATCH_STATUSES)}")
        await self._store_known(store_id)
        rows = await self.db.fetch("sf_matches_list", store_id, status, max(1, min(limit, LIST_MAX)))
        out = []
        for r in rows:
            resource, rid = entity_of(r["wooforce_key"])
            out.append({"key": r["wooforce_key"], "kind": r["kind"], "reason": r["reason"], "status": r["status"],
                        "resource": resource, "resource_id": rid, "candidates": _candidates(r["candidates"]),
                        "decision": r["decision"], "decided_by": r["decided_by"], "decided_at": r["decided_at"],
                        "applied_at": r["applied_at"], "created_at": r["created_at"]})
        return out

    async def resolve_match(self, p: Principal, store_id: str, key: str, pick: str,
                            ip: str | None = None) -> dict[str, Any]:
        """Record an operator's pick for an open match: a candidate's Id or ``create``. The entity's dead row goes
        back to pending and the orders waiting for it are due now; the agent applies the pick. Audited
        (``salesforce.match_resolved``)."""
        self.require(p, "operator")
        self.scope(p, store_id)
        if not isinstance(key, str) or not key or "\x00" in key:
            raise InvalidInput("key must be the entity's Wooforce key, e.g. st_...:customer:12")
        if not isinstance(pick, str) or not pick.strip():
            raise InvalidInput("pick must be a candidate's Salesforce Id or create")
        pick = pick.strip()
        await self._store_known(store_id)
        async with self.db.transaction() as tx:
            found = await self.db.fetch("sf_matches_for_keys", store_id, [key], conn=tx)
            if not found:
                raise NotFound(f"no match to review for {key} in store {store_id}")
            row = found[0]
            ids = [str(c.get("Id")) for c in _candidates(row["candidates"])]
            if row["status"] != "open":
                raise InvalidInput(f"{key} is not open: {row['status']} ({row['decision']}, by {row['decided_by']})")
            if pick != CREATE and pick not in ids:
                raise InvalidInput(f"pick must be one of {', '.join(ids)} or {CREATE}")
            decided = await self.db.fetchrow("sf_matches_decide", store_id, key, pick, p.actor, conn=tx)
            if decided is None:  # another operator picked in between
                raise InvalidInput(f"{key} was decided meanwhile: reload")
            resource, rid = entity_of(key)
            replayed = await self.db.fetch("sf_matches_replay", store_id, resource if rid is not None else None,
                                           rid, f"--key {key} --pick", conn=tx)
            await self.db.execute("wake_waiting", store_id, [key], conn=tx)
            result = {"key": key, "decision": pick, "status": "decided",
                      "replayed": [{"resource": r["resource"], "resource_id": r["resource_id"]} for r in replayed]}
            await self.audit(p, "salesforce.match_resolved", store_id=store_id, target=key,
                             params={"pick": pick, "candidates": ids}, result={"replayed": len(replayed)}, ip=ip,
                             conn=tx)
        logger.bind(action="console.match_resolved", store_id=store_id, kind=row["kind"],
                    create=pick == CREATE, replayed=len(replayed)).info("match picked; the agent applies it")
        return result
