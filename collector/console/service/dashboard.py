"""The dashboard (per-store counts, lag, outcomes, budget, reconciler runs), the audit log and store names."""
from __future__ import annotations

from loguru import logger

from collector.console.service.base import STATUSES, Principal, ServiceBase
from shared.errors import DatabaseError

LAG_SAMPLE = 5000  # lag percentiles over the newest deliveries of the window (bounded cost on any table size)


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
        for s in stores:
            c = counts.get(s["id"], {})
            s["counts"] = {k: c.get(k, 0) for k in STATUSES}
            s["backlog"] = c.get("pending", 0) + c.get("leased", 0) + c.get("retrying", 0)
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
