"""The dashboard (per-store counts, lag, freshness, Salesforce connection, native webhooks, outcomes, budget, reconciler
runs), the audit log and store names."""
from __future__ import annotations

from loguru import logger

from collector.console.service.base import STATUSES, Principal, ServiceBase
from shared.errors import DatabaseError

LAG_SAMPLE = 5000  # lag percentiles over the newest deliveries of the window (bounded cost on any table size)
FRESHNESS_SAMPLE_MIN = 500  # freshness: each store's newest max(this, LAG_SAMPLE / stores) deliveries


def _percentiles(row: dict | None) -> dict:
    p = (row or {}).get("p") or [None] * 4
    return {"sample": (row or {}).get("n", 0), "p50_s": p[0], "p90_s": p[1], "p95_s": p[2], "p99_s": p[3]}


def _sf_connection(s: dict) -> dict:
    """The store's Salesforce connection as the agent last tried it: ``not configured``, ``untried``, ``ok``, or
    ``failing`` since a time, with the cause."""
    raw = {k: s.pop(f"sf_{k}") for k in ("configured", "status", "error_code", "error", "failing_since", "last_ok_at",
                                          "checked_at")}
    state = (raw["status"] or "untried") if raw["configured"] else "not configured"
    failing = state == "failing"
    return {"state": state, "error_code": raw["error_code"] if failing else None,
            "error": raw["error"] if failing else None, "failing_since": raw["failing_since"] if failing else None,
            "last_ok_at": raw["last_ok_at"], "checked_at": raw["checked_at"]}


class DashboardService(ServiceBase):
    # -- dashboard, audit ----------------------------------------------------------------------
    async def _optional(self, table: str, name: str, *args: object) -> list[dict] | None:
        """Rows of a query over a colleague's table; None when that table does not exist (yet)."""
        if not await self.db.fetchval("console_table_exists", table):
            return None
        try:
            return [dict(r) for r in await self.db.fetch(name, *args)]
        except DatabaseError as exc:  # a column renamed under us: show "not available", keep the page up
            logger.bind(action="console.optional_failed", table=table).warning(str(exc))
            return None

    async def dashboard(self, p: Principal, store_id: str | None = None, *, hours: int = 24) -> dict:
        scope = self.scope(p, store_id)
        stores = [dict(r) for r in await self.db.fetch("console_dash_stores", scope, store_id)]
        counts: dict[str, dict[str, int]] = {}
        for r in await self.db.fetch("console_dash_counts", scope, store_id):
            counts.setdefault(r["store_id"], {})[r["status"]] = r["n"]
        for r in await self.db.fetch("console_dash_delivered", scope, store_id, hours):  # "delivered" = in the window
            counts.setdefault(r["store_id"], {})["delivered"] = r["n"]
        total = {s: sum(c.get(s, 0) for c in counts.values()) for s in STATUSES}
        per_store = max(FRESHNESS_SAMPLE_MIN, LAG_SAMPLE // max(1, len(stores)))
        fresh = {r["store_id"]: dict(r) for r in await self.db.fetch("console_dash_freshness", scope, store_id, hours,
                                                                     per_store)}
        waiting = {r["store_id"]: dict(r) for r in await self.db.fetch("outbox_oldest_undelivered", scope, store_id,
                                                                       "salesforce")}
        for s in stores:
            c = counts.get(s["id"], {})
            s["counts"] = {k: c.get(k, 0) for k in STATUSES}
            s["backlog"] = c.get("pending", 0) + c.get("leased", 0) + c.get("retrying", 0)
            s["sf_connection"] = _sf_connection(s)
            w = waiting.get(s["id"]) or {}
            s["freshness"] = {**_percentiles(fresh.get(s["id"])), "oldest_undelivered_s": w.get("age_s"),
                              "oldest_undelivered_at": w.get("oldest_change_at"), "waiting": w.get("n", 0)}
        # the store's native webhooks as the reconciler last found them (store_webhooks, issue 14)
        hooks = await self._optional("store_webhooks", "console_dash_webhooks", scope, store_id)
        by_store = {h["store_id"]: {**h["state"], "checked_at": h["checked_at"]} for h in hooks or []}
        for s in stores:
            s["webhooks"] = by_store.get(s["id"])
        oldest = max(waiting.values(), key=lambda w: w["age_s"] or 0, default={})
        lag = await self.db.fetchrow("console_dash_lag", scope, store_id, hours, LAG_SAMPLE)
        assert lag is not None  # an aggregate: always one row
        pct = lag["p"] or [None] * 4
        outcomes = [dict(r) for r in await self.db.fetch("console_dash_outcomes", scope, store_id, hours)]
        return {
            "stores": stores,
            "totals": total,
            "backlog": total["pending"] + total["leased"] + total["retrying"],
            "lag": {"sample": lag["n"], "p50_s": pct[0], "p90_s": pct[1], "p95_s": pct[2], "p99_s": pct[3],
                    "window_h": hours, "delivered": total["delivered"]},
            # store change (date_modified_gmt) -> written to Salesforce, and the oldest change still waiting
            "freshness": {**_percentiles(fresh.get(None)), "window_h": hours,
                          "oldest_undelivered_s": oldest.get("age_s"),
                          "oldest_undelivered_at": oldest.get("oldest_change_at"),
                          "waiting": sum(w["n"] for w in waiting.values())},
            "outcomes": outcomes,
            "budget": await self._optional("sf_budget", "console_dash_budget", scope, store_id),
            "reconcile_runs": await self._optional("reconcile_runs", "console_dash_reconcile", scope, store_id, 10),
        }

    async def audit_entries(self, p: Principal, *, action: str | None = None, before_id: int | None = None,
                            limit: int = 100) -> list[dict]:
        self.require(p, "admin")
        return [dict(r) for r in await self.db.fetch("console_list_audit", p.store_id, action, before_id,
                                                       max(1, min(limit, 1000)))]

    async def store_names(self, p: Principal) -> list[dict]:
        return [dict(r) for r in await self.db.fetch("console_store_names", p.store_id)]
