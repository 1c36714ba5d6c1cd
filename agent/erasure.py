"""GDPR erasure in Salesforce (run by :mod:`agent.erasure_jobs` for the jobs the console's erasure enqueues).

For the entities linked to a customer's email (its customer record, its orders, the guest buyer its orders
created), the records Wooforce wrote (``salesforce_records``) get their personal fields blanked: the fields whose
sources in the store's mapping (:func:`shared.mapping.mapping_for`: shipped, global and the store's own override)
are personal (names, emails, phones, addresses, the email hash); required name fields become ``[erased]``.
One PATCH per record; a permanent failure is reported per record, a transient one is raised.
"""
from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import Any

from agent.salesforce import SalesforceClient
from shared.db import Database
from shared.errors import PermanentError
from shared.mapping import SOURCES, Mapping, key, mapping_for
from shared.pii import is_pii_key
from shared.settings import Settings
from shared.stores import StoreManager

ERASED = "[erased]"
REQUIRED = {("Account", "Name"), ("Contact", "LastName")}
_PERSONAL_COMPUTED = re.compile(r"name|street|email|phone|address", re.I)


def personal_fields(mapping: Mapping) -> dict[str, set[str]]:
    """sObject -> the fields the mapping fills from personal data."""
    out: dict[str, set[str]] = {}
    for (_source, sobject), specs in mapping.tables.items():
        for field, spec in specs.items():
            for src in spec.sources:
                if src.startswith("="):
                    continue
                name = src[1:] if src.startswith("@") else src.rsplit(".", 1)[-1]
                if (src.startswith("@") and _PERSONAL_COMPUTED.search(name)) or (not src.startswith("@")
                                                                                and is_pii_key(name)):
                    out.setdefault(sobject, set()).add(field)
                    break
    return out


def _blank(sobject: str, fields: set[str]) -> dict[str, Any]:
    return {f: (ERASED if (sobject, f) in REQUIRED else None) for f in sorted(fields)}


ProgressFn = Callable[[dict[str, Any]], Awaitable[None]]


async def erase_in_salesforce(db: Database, stores: StoreManager, settings: Settings,
                              entities: list[tuple[str, str, int]], guest_email_hash: str | None, *,
                              on_progress: ProgressFn | None = None) -> dict[str, Any]:
    """Blank personal fields of the Salesforce records of ``entities`` (store, resource, id) and of the guest
    buyer keyed by ``guest_email_hash`` (:func:`shared.mapping.email_hash` of the email) in those stores.

    Returns {"records", "erased", "failed": [{"sobject", "sf_id", "error"}]}: a record Salesforce refuses (a
    permanent error) is listed in ``failed``. A :class:`RetryableError` (Salesforce down, timeouts, connection
    errors) is raised: the whole erasure is tried again later (blanking a record twice is harmless).
    ``on_progress`` gets the report after each record (the job runner checkpoints it and renews its lease).
    """
    by_store: dict[str, list[tuple[str, str]]] = {}
    for store_id, resource, rid in entities:
        wanted = by_store.setdefault(store_id, [])
        sobjects = SOURCES.get(resource, ())
        wanted += [(s, key(store_id, resource, rid)) for s in sobjects]
    if guest_email_hash:
        for store_id, wanted in by_store.items():
            guest = key(store_id, "guest", guest_email_hash)
            wanted += [(s, guest) for s in SOURCES["buyer"]]
    result: dict[str, Any] = {"records": 0, "erased": 0, "failed": []}
    plan: list[tuple[str, dict[str, Any] | None, dict[str, set[str]], list[tuple[str, str]], str | None]] = []
    for store_id, wanted in by_store.items():
        rows = await db.fetch("lookup_sf_records", store_id, [w[0] for w in wanted], [w[1] for w in wanted])
        store: dict[str, Any] | None = None
        problem: str | None = None
        try:  # the store's own mapping: a personal field only its override sends is blanked too
            store = await stores.get(store_id)
            personal = personal_fields(mapping_for(store, settings.mapping_file))
        except PermanentError as exc:  # the store is gone, or its mapping file cannot be read
            personal, problem = personal_fields(mapping_for(None, settings.mapping_file)), exc.message
        targets = [(r["sobject"], r["sf_id"]) for r in rows if personal.get(r["sobject"])]
        result["records"] += len(targets)
        if targets:
            plan.append((store_id, store, personal, targets, problem))
    if on_progress is not None:
        await on_progress(result)  # the total is known before the first call to Salesforce
    for store_id, store, personal, targets, problem in plan:
        try:
            if store is None or problem is not None:
                raise PermanentError(problem or f"unknown store {store_id}")
            client = SalesforceClient(store["sf_credentials"] or {}, api_version=settings.sf_api_version,
                                      timeout_s=settings.sf_timeout_s, pool_size=2)
        except PermanentError as exc:  # the store is gone or has no Salesforce connection
            result["failed"] += [{"sobject": s, "sf_id": i, "error": exc.message} for s, i in targets]
            continue
        try:
            for sobject, sf_id in targets:
                try:
                    await asyncio.to_thread(client.request, "PATCH", f"/sobjects/{sobject}/{sf_id}",
                                            json=_blank(sobject, personal[sobject]))
                    result["erased"] += 1
                except PermanentError as exc:
                    result["failed"].append({"sobject": sobject, "sf_id": sf_id, "error": exc.message[:300]})
                if on_progress is not None:
                    await on_progress(result)
        finally:
            client.close()
    return result
