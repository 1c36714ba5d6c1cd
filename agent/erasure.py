"""GDPR erasure in Salesforce (called by the console's erasure when "also in Salesforce" is asked).

For the entities linked to a customer's email (its customer record, its orders, the guest buyer its orders
created), the records Wooforce wrote (``salesforce_records``) get their personal fields blanked: the fields whose
mapping sources are personal (names, emails, phones, addresses, the email hash); required name fields become
``[erased]``. One PATCH per record; a failure is reported per record, never raised.
"""
from __future__ import annotations

import asyncio
import re
from typing import Any

from shared.mapping import SOURCES, email_hash, key, load_mapping
from agent.salesforce import SalesforceClient
from shared.db import Database
from shared.errors import WooforceError
from shared.pii import is_pii_key
from shared.settings import Settings
from shared.stores import StoreManager

ERASED = "[erased]"
REQUIRED = {("Account", "Name"), ("Contact", "LastName")}
_PERSONAL_COMPUTED = re.compile(r"name|street|email|phone|address", re.I)


def personal_fields(mapping) -> dict[str, set[str]]:
    """sObject -> the fields the mapping fills from personal data."""
    out: dict[str, set[str]] = {}
    for (source, sobject), specs in mapping.tables.items():
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


async def erase_in_salesforce(db: Database, stores: StoreManager, settings: Settings,
                              entities: list[tuple[str, str, int]], email: str) -> dict:
    """Blank personal fields of the Salesforce records of ``entities`` (store, resource, id) and of the guest
    buyer keyed by ``email``. Returns {"records", "erased", "failed": [{"sobject", "sf_id", "error"}]}."""
    mapping = load_mapping(settings.mapping_file)
    personal = personal_fields(mapping)
    by_store: dict[str, list[tuple[str, str]]] = {}
    for store_id, resource, rid in entities:
        wanted = by_store.setdefault(store_id, [])
        sobjects = SOURCES.get(resource, ())
        wanted += [(s, key(store_id, resource, rid)) for s in sobjects]
    for store_id, wanted in by_store.items():
        guest = key(store_id, "guest", email_hash(email))
        wanted += [(s, guest) for s in SOURCES["buyer"]]
    result = {"records": 0, "erased": 0, "failed": []}
    for store_id, wanted in by_store.items():
        rows = await db.fetch("lookup_sf_records", store_id, [w[0] for w in wanted], [w[1] for w in wanted])
        targets = [(r["sobject"], r["sf_id"]) for r in rows if personal.get(r["sobject"])]
        if not targets:
            continue
        result["records"] += len(targets)
        try:
            store = await stores.get(store_id)
            client = SalesforceClient(store["sf_credentials"] or {}, api_version=settings.sf_api_version,
                                      timeout_s=settings.sf_timeout_s, pool_size=2)
        except WooforceError as exc:
            result["failed"] += [{"sobject": s, "sf_id": i, "error": exc.message} for s, i in targets]
            continue
        try:
            for sobject, sf_id in targets:
                try:
                    await asyncio.to_thread(client.request, "PATCH", f"/sobjects/{sobject}/{sf_id}",
                                            json=_blank(sobject, personal[sobject]))
                    result["erased"] += 1
                except WooforceError as exc:
                    result["failed"].append({"sobject": sobject, "sf_id": sf_id, "error": exc.message[:300]})
        finally:
            client.close()
    return result
