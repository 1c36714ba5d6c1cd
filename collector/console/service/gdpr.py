"""GDPR erasure of one customer's personal data."""
from __future__ import annotations

import time
from typing import Any

import orjson
from loguru import logger

from collector.console.service.base import Principal, ServiceBase
from shared import pii

class GdprService(ServiceBase):
    # -- GDPR --------------------------------------------------------------------------------
    async def erase_customer(self, p: Principal, email: str, *, store_id: str | None = None,
                             salesforce: bool = False, ip: str | None = None,
                             salesforce_eraser: Any = None) -> dict:
        """Overwrite one customer's personal data in stored events, attempts and outbox errors (audited).

        Entities are found by the hashed email (orders billed to it, the customer record). With ``salesforce``
        and a ``salesforce_eraser`` (``agent.erasure``: ``async (entities, email) -> report``), the records
        Wooforce wrote to Salesforce for them are blanked too, after the local erasure (which never waits on
        Salesforce); without an eraser the result says ``salesforce: "not_done"``. The audit entry records both.
        """
        self.require(p, "admin")
        scope = self.scope(p, store_id) or store_id
        h = pii.email_sha256(email)
        t0 = time.perf_counter()
        async with self.db.transaction() as tx:
            ents = await self.db.fetch("console_entities_by_email", h, scope, conn=tx)
            cols = ([e["store_id"] for e in ents], [e["resource"] for e in ents], [e["resource_id"] for e in ents])
            events = await self.db.fetch("console_events_for_erase", *cols, conn=tx)
            values = {email.strip()}
            sf_entities = {(e["store_id"], e["resource"], e["resource_id"]) for e in ents}
            for e in events:
                pii.pii_values(e["payload"], values)
                cid = e["payload"].get("customer_id") if isinstance(e["payload"], dict) else None
                if isinstance(cid, int) and cid > 0:  # a registered buyer: its customer record in Salesforce
                    sf_entities.add((e["store_id"], "customer", cid))
            ev_ids, ev_payloads = [], []
            for e in events:
                ev_ids.append(e["id"])
                ev_payloads.append(orjson.dumps(pii.erase(e["payload"], values)).decode())
            if ev_ids:
                await self.db.execute("console_erase_events", ev_ids, ev_payloads, conn=tx)
            attempts = await self.db.fetch("console_attempts_for_erase", *cols, conn=tx)
            if attempts:
                await self.db.execute(
                    "console_erase_attempts", [a["id"] for a in attempts],
                    [orjson.dumps(pii.erase(a["request_summary"] or {}, values)).decode() for a in attempts],
                    [pii.ERASED if a["error"] else None for a in attempts], conn=tx)
            await self.db.execute("console_erase_outbox_errors", *cols, conn=tx)
            await self.db.execute("console_delete_entity_emails", h, scope, conn=tx)
            result = {"entities": len(ents), "events": len(ev_ids), "attempts": len(attempts),
                      "salesforce": "not_done" if salesforce else "not_requested",
                      "entity_keys": [f"{e['store_id']}/{e['resource']}/{e['resource_id']}" for e in ents][:100]}
            if salesforce and salesforce_eraser:
                result["salesforce"] = "requested"
            await self.audit(p, "gdpr.erase", store_id=scope, target="email:" + h.hex()[:12],
                             params={"salesforce": salesforce}, result=result, ip=ip, conn=tx)
        if salesforce and salesforce_eraser:  # after the local erasure is committed (and audited)
            try:
                report = await salesforce_eraser(sorted(sf_entities), email)
                result["salesforce"] = "done" if not report["failed"] else "partial"
                result["salesforce_report"] = report
            except Exception as exc:  # the local erasure stands; Salesforce is reported as failed
                logger.bind(action="console.erase_salesforce_failed").warning(f"{type(exc).__name__}")
                result["salesforce"] = "failed"
                result["salesforce_report"] = {"error": f"{type(exc).__name__}: {str(exc)[:200]}"}
            await self.audit(p, "gdpr.erase_salesforce", store_id=scope, target="email:" + h.hex()[:12],
                             result={"salesforce": result["salesforce"], **result.get("salesforce_report", {})},
                             ip=ip)
        logger.bind(action="console.erased", entities=len(ents), events=len(ev_ids),
                    duration_ms=round((time.perf_counter() - t0) * 1000, 1)).info("customer data erased")
        return result
