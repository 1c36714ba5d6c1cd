"""Owner/operator tasks around delivery: dead-letter replay and the Salesforce org check.

``replay_dead`` is what the console's replay button and ``wooforce outbox replay`` call.
"""
from __future__ import annotations

import asyncio

from agent.salesforce import SalesforceClient
from agent.twoway.born import BORN, STORE_FIELD
from shared.db import Database
from shared.errors import NotFound, SalesforcePermanent
from shared.mapping import KEY_FIELD, Mapping, mapping_for
from shared.mapping.twoway import load_twoway
from shared.settings import Settings
from shared.stores import StoreManager


async def replay_dead(db: Database, store_id: str, *, resource: str | None = None, error_code: str | None = None,
                      resource_ids: list[int] | None = None) -> list[tuple[str, int]]:
    """Move a store's dead letters (optionally filtered) back to pending; returns (resource, id) replayed."""
    rows = await db.fetch("replay_dead", store_id, resource, error_code, resource_ids)
    return [(r["resource"], r["resource_id"]) for r in rows]


async def list_dead(db: Database, store_id: str, *, resource: str | None = None, limit: int = 100) -> list[dict]:
    return [dict(r) for r in await db.fetch("list_dead", store_id, resource, limit)]


def born_fields(mapping: Mapping) -> list[str]:
    """The sObjects whose records made in Salesforce become store records (two-way declared for their resource)."""
    tw = load_twoway(mapping)
    return [sobject for resource, sobject in BORN.items() if resource in tw.objects]


def org_models(mapping: Mapping, account: dict[str, dict]) -> dict:
    """What the org allows, from Account's describe: Person Accounts are on when it has ``IsPersonAccount``,
    multi-currency when it has ``CurrencyIsoCode`` (its picklist: the org's currencies); the data models of the
    mapping's [options] it can take, and the store's choices it cannot."""
    person = "ispersonaccount" in account
    currency = account.get("currencyisocode")
    codes = [v["value"] for v in (currency or {}).get("picklistValues") or [] if v.get("active", True)]
    allowed = {"customer_model": ["account_contact", *(["person_account"] if person else [])],
               "order_model": ["order", "opportunity"]}
    problems = []
    if mapping.customer_model not in allowed["customer_model"]:
        problems.append(f"customer_model = \"{mapping.customer_model}\" but the org has no Person Accounts (Salesforce "
                        "Support enables them on request): use \"account_contact\"")
    return {"org": {"person_accounts": person, "multi_currency": currency is not None, "currencies": codes},
            "models_allowed": allowed, "model_problems": problems,
            "models": {"customer_model": mapping.customer_model, "order_model": mapping.order_model,
                       "lead_for_guests": mapping.lead_for_guests}}


async def store_org(stores: StoreManager, settings: Settings,
                    store_id: str) -> tuple[dict, Mapping, SalesforceClient]:
    """A store, its effective mapping and a client of its Salesforce org (closed by the caller); :class:`NotFound`
    when the store has no Salesforce connection. What the admin commands (check, setup, adopt) start from."""
    store = await stores.get(store_id)
    conn = store["sf_credentials"]
    if not conn:
        raise NotFound(f"store {store_id} has no Salesforce connection (wooforce stores set-salesforce)")
    client = SalesforceClient(conn, api_version=settings.sf_api_version, timeout_s=settings.sf_timeout_s)
    return store, mapping_for(store, settings.mapping_file), client


async def check_salesforce(stores: StoreManager, settings: Settings, store_id: str) -> dict:
    """Describe every sObject the mapping writes; report the fields the org lacks (or that cannot be written),
    and whether ``Wooforce_Key__c`` is an external id and unique: an External ID that is not Unique lets the org
    hold two records with one key, and upserts by it then answer 300 Multiple Choices or DUPLICATE_EXTERNAL_ID.
    Costs one API call per sObject."""
    _, mapping, client = await store_org(stores, settings, store_id)
    report: dict = {"store_id": store_id, "missing": {}, "not_writable": {}, "key_not_external_id": [],
                    "key_not_unique": []}
    seen: dict[str, dict] = {}  # sObject -> its described fields by lower-case name
    try:
        wanted = {o: set(f) for o, f in mapping.sobject_fields().items()}
        for sobject in born_fields(mapping):  # records made in Salesforce for a store are marked by Woo_Store__c
            wanted.setdefault(sobject, set()).add(STORE_FIELD)
        for sobject, fields in sorted(wanted.items()):
            try:
                described = await asyncio.to_thread(client.describe, sobject)
            except SalesforcePermanent as exc:
                if exc.status_code != 404:
                    raise
                # an object the org lacks (e.g. the custom object Woo_Refund__c of refunds = "records")
                report.setdefault("missing_objects", []).append(sobject)
                report["missing"][sobject] = sorted(fields)
                continue
            have = seen[sobject] = {f["name"].lower(): f for f in described["fields"]}
            missing = sorted(f for f in fields if f.lower() not in have)
            locked = sorted(f for f in fields if f.lower() in have and not have[f.lower()]["createable"])
            if missing:
                report["missing"][sobject] = missing
            if locked:
                report["not_writable"][sobject] = locked
            key = have.get(KEY_FIELD.lower())
            if key is not None and not key.get("externalId"):
                report["key_not_external_id"].append(sobject)
            elif key is not None and not key.get("unique"):
                report["key_not_unique"].append(sobject)
        if "Account" not in seen:
            seen["Account"] = {f["name"].lower(): f for f in (await asyncio.to_thread(client.describe, "Account"))[
                "fields"]}
        report.update(org_models(mapping, seen["Account"]))
    finally:
        client.close()
    report["ok"] = not (report["missing"] or report["not_writable"] or report["key_not_external_id"]
                        or report["key_not_unique"] or report["model_problems"])
    report["api_calls"] = client.calls
    return report
