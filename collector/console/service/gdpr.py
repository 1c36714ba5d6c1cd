"""GDPR erasure of one customer's personal data: locally at once, in Salesforce as agent jobs."""
from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import orjson
from loguru import logger

from collector.console.service.base import Principal, ServiceBase
from shared import ids, pii
from shared.errors import NotFound
from shared.jobs import ErasureState, JobKind, erasure_params, erasure_view
from shared.mapping import email_hash
from shared.models import payload_dict


class GdprService(ServiceBase):
    # -- GDPR --------------------------------------------------------------------------------
    async def erase_customer(self, p: Principal, email: str, *, store_id: str | None = None,
                             salesforce: bool = False, ip: str | None = None) -> dict[str, Any]:
        """Overwrite one customer's personal data in stored events, attempts, outbox errors and the two-way sync
        state (audited).

        The person's entities: those behind the hashed email (orders billed to it, the customer record), the
        registered customers among them or their orders' buyers (``customer_id``), and every order of those
        customers whatever its billing email. Their events' personal fields (and any string holding one of
        their personal values) are overwritten, attempt errors and request summaries erased, outbox errors
        cleared, ``twoway_state`` deleted, personal ``twoway_conflicts`` values erased, their email hashes
        deleted. With ``salesforce``, one ``erasure`` job per store concerned is enqueued in the same transaction
        (the agent blanks the records Wooforce wrote to Salesforce: :mod:`agent.erasure_jobs`); the local erasure
        never waits on Salesforce. The job params hold no personal data: the entities and the email's hash (the
        guest key). The result has ``salesforce``: ``not_requested``, ``queued`` (with ``salesforce_jobs``: job
        ids) or ``done`` when there is nothing to erase there.
        """
        self.require(p, "admin")
        scope = self.scope(p, store_id) or store_id
        h = pii.email_sha256(email)
        t0 = time.perf_counter()
        async with self.db.transaction() as tx:
            found = await self.db.fetch("console_entities_by_email", h, scope, conn=tx)
            entities = {(e["store_id"], e["resource"], e["resource_id"]) for e in found}
            events = await self.db.fetch("console_events_for_erase", *_cols(entities), conn=tx)
            customers = {(s, rid) for s, r, rid in entities if r == "customer"}
            for e in events:
                cid = e["payload"].get("customer_id") if isinstance(e["payload"], dict) else None
                if e["resource"] == "order" and isinstance(cid, int) and cid > 0:  # a registered buyer
                    customers.add((e["store_id"], cid))
            if customers:  # the customers' own records and all their orders, whatever their billing email
                orders = await self.db.fetch("console_orders_by_customer", [c[0] for c in customers],
                                             [str(c[1]) for c in customers], conn=tx)
                more = {(c[0], "customer", c[1]) for c in customers} | {
                    (o["store_id"], o["resource"], o["resource_id"]) for o in orders}
                if more - entities:
                    entities |= more
                    events = await self.db.fetch("console_events_for_erase", *_cols(entities), conn=tx)
            ents = sorted(entities)
            cols = _cols(ents)
            values = {email.strip()}
            hashes = {h}
            for e in events:
                pii.pii_values(e["payload"], values)
                if isinstance(e["payload"], dict) and (eh := pii.email_hash_of(e["resource"], e["payload"])):
                    hashes.add(eh)
            for st in await self.db.fetch("twoway_states_for_erase", *cols, conn=tx):
                _state_values(st["fields"], values)
                _state_values(st["wc_written"], values)
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
            await self.db.execute("console_erase_twoway_state", *cols, conn=tx)
            conflicts = [c for c in await self.db.fetch("console_twoway_conflicts_for_erase", *cols, conn=tx)
                         if pii.is_pii_key(c["field"]) or pii.scrub_text(f"{c['winner_value']}\n{c['loser_value']}",
                                                                          values) == pii.ERASED]
            if conflicts:
                await self.db.execute("console_erase_twoway_conflicts", [c["id"] for c in conflicts],
                                      [None if c["winner_value"] is None else pii.ERASED for c in conflicts],
                                      [None if c["loser_value"] is None else pii.ERASED for c in conflicts], conn=tx)
            await self.db.execute("console_delete_entity_emails", h, scope, conn=tx)
            await self.db.execute("console_delete_entities_emails", *cols, sorted(hashes), conn=tx)
            jobs = await self._enqueue_erasures(p, set(ents), email, conn=tx) if salesforce else []
            result: dict[str, Any] = {
                "entities": len(ents), "events": len(ev_ids), "attempts": len(attempts),
                "salesforce": (ErasureState.NOT_REQUESTED if not salesforce else
                               ErasureState.QUEUED if jobs else ErasureState.DONE).value,
                "entity_keys": [f"{s}/{r}/{rid}" for s, r, rid in ents][:100]}
            if salesforce:
                result["salesforce_jobs"] = jobs
            await self.audit(p, "gdpr.erase", store_id=scope, target="email:" + h.hex()[:12],
                             params={"salesforce": salesforce}, result=result, ip=ip, conn=tx)
        logger.bind(action="console.erased", entities=len(ents), events=len(ev_ids),
                    duration_ms=round((time.perf_counter() - t0) * 1000, 1)).info("customer data erased")
        return result

    async def _enqueue_erasures(self, p: Principal, sf_entities: set[tuple[str, str, int]], email: str, *,
                                conn: Any) -> list[str]:
        """One Salesforce erasure job per store of ``sf_entities``; returns their ids."""
        guest = email_hash(email) or ""
        by_store: dict[str, list[tuple[str, int]]] = {}
        for store_id, resource, rid in sf_entities:
            by_store.setdefault(store_id, []).append((resource, rid))
        out = []
        for store_id in sorted(by_store):
            job_id = await self.db.fetchval("insert_job", ids.new_id("job"), store_id, JobKind.ERASURE.value,
                                            erasure_params(by_store[store_id], guest), p.actor, conn=conn)
            out.append(str(job_id))
        return out

    async def erasure_jobs(self, p: Principal, job_ids: list[str]) -> list[dict[str, Any]]:
        """The state of these Salesforce erasure jobs (admin; other stores' jobs are left out)."""
        self.require(p, "admin")
        rows = await self.db.fetch("jobs_by_ids", job_ids)
        return [erasure_view(r) for r in rows
                if r["kind"] == JobKind.ERASURE and (not p.store_id or r["store_id"] == p.store_id)]

    async def erasure_job(self, p: Principal, job_id: str) -> dict[str, Any]:
        found = await self.erasure_jobs(p, [job_id])
        if not found:
            raise NotFound(f"no erasure job {job_id}")
        return found[0]


def _cols(entities: Iterable[tuple[str, str, int]]) -> tuple[list[str], list[str], list[int]]:
    """(store ids, resources, resource ids) of ``entities``, the columns the erase statements unnest."""
    ents = list(entities)
    return [e[0] for e in ents], [e[1] for e in ents], [e[2] for e in ents]


def _state_values(obj: Any, out: set[str]) -> None:
    """Every text (3+ characters) in the two-way state of a personal field (``{"Phone": {"v": ...}}``)."""
    obj = payload_dict(obj) if isinstance(obj, str) else obj
    if isinstance(obj, dict):
        for k, v in obj.items():
            if pii.is_pii_key(str(k)):
                _all_texts(v, out)
            else:
                _state_values(v, out)


def _all_texts(obj: Any, out: set[str]) -> None:
    if isinstance(obj, str):
        if len(obj.strip()) >= 3:
            out.add(obj.strip())
    elif isinstance(obj, dict):
        for v in obj.values():
            _all_texts(v, out)
    elif isinstance(obj, list):
        for v in obj:
            _all_texts(v, out)
