"""What a store's data models (the mapping's ``[options]``) need around the plan: the Person Account record type's
Id (``customer_model = "person_account"``; looked up once per store and remembered in the Id map,
``salesforce_records``, like the standard price book; nothing is asked for the default models), the line sObject of
the order model, and the Draft / Activated writes around the deletes of an activated order's lines
(``activate_order_statuses``)."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Protocol

from agent.delivery.plan import ACTIVATE, CURRENCIES_KEY, PERSON_RECORD_TYPE_KEY, Plan, Rec
from agent.salesforce import SalesforceClient
from shared.db import Database
from shared.errors import SalesforcePermanent
from shared.mapping import KEY_FIELD, Mapping


class Run(Protocol):
    store_id: str

    @property
    def sf(self) -> SalesforceClient: ...

    async def call(self, fn: Any, *args: Any) -> Any: ...


def line_sobject(mapping: Mapping) -> tuple[str, str]:
    """(line sObject, its parent's relationship name) of the store's order model."""
    return ("OpportunityLineItem", "Opportunity") if mapping.order_model == "opportunity" else ("OrderItem", "Order")


async def store_model_ids(db: Database, run: Run, mapping: Mapping) -> dict[str, str]:
    currencies = await org_currencies(run, mapping)
    if mapping.customer_model != "person_account":
        return currencies
    row = await db.fetch("lookup_sf_records", run.store_id, ["RecordType"], [PERSON_RECORD_TYPE_KEY])
    if row:
        return {**currencies, PERSON_RECORD_TYPE_KEY: row[0]["sf_id"]}
    name = str(mapping.options.get("person_account_record_type", "PersonAccount"))
    quoted = "'" + name.replace("\\", "\\\\").replace("'", "\\'") + "'"
    soql = ("SELECT Id FROM RecordType WHERE SobjectType = 'Account' AND IsPersonType = true "  # noqa: S608 - quoted
            f"AND IsActive = true AND DeveloperName = {quoted} LIMIT 1")
    recs = await run.call(run.sf.query, soql)
    if not recs:
        raise SalesforcePermanent(f"customer_model = \"person_account\" but the org has no active Person Account "
                                  f"record type {name!r} (are Person Accounts enabled? options."
                                  "person_account_record_type names its DeveloperName)", code="config")
    await db.execute("upsert_sf_records", [run.store_id], ["RecordType"], [PERSON_RECORD_TYPE_KEY], [recs[0]["Id"]])
    return {**currencies, PERSON_RECORD_TYPE_KEY: recs[0]["Id"]}


@dataclass
class Wrap:
    """Subrequests around a Composite of line deletes: Salesforce locks an Activated order's lines, so the orders
    this batch activated (options.activate_order_statuses) go back to Draft first and are activated again after."""

    before: list[dict]
    after: list[dict]
    activations: list[Rec]

    def answers(self, items: list[dict], call: str) -> list[dict]:
        """The deletes' answers; an activation that failed fails its Rec (retried: the unit is not delivered)."""
        if not self.before:
            return items
        body = items[-1].get("body") if items else None
        results = body if isinstance(body, list) and len(body) == len(self.activations) else []
        for i, rec in enumerate(self.activations):
            res = results[i] if i < len(results) else {}
            if not res.get("success"):
                errs = res.get("errors") or [{}]
                rec.ok, rec.retryable, rec.call = False, True, call
                rec.error_code, rec.error = errs[0].get("statusCode") or "NO_RESULT", json.dumps(errs)[:2000]
        return items[len(self.before):len(items) - len(self.after)]


def activation_wrap(plan: Plan, chunk: list[Rec], orders_path: str) -> Wrap:
    activated = [r for (group, k), r in plan.records.items() if group == ACTIVATE and r.ok
                 and any(d.key.rpartition(":item:")[0] == k for d in chunk)]
    if not activated:
        return Wrap([], [], [])

    def patch(ref: str, status: str) -> dict:
        return {"method": "PATCH", "referenceId": ref, "url": orders_path, "body": {"allOrNone": False, "records": [
            {"attributes": {"type": "Order"}, KEY_FIELD: r.key, "Status": status} for r in activated]}}
    return Wrap([patch("draft", "Draft")], [patch("activate", "Activated")], activated)


_CURRENCIES: dict[str, tuple[float, str]] = {}  # store -> (monotonic time read, "GBP,USD": corporate first)
CURRENCIES_TTL_S = 3600.0


async def org_currencies(run: Run, mapping: Mapping) -> dict[str, str]:
    """options.multi_currency: the org's active currencies (CurrencyType, corporate first), read once an hour per
    store and agent; a single-currency org (no CurrencyType) is a configuration error."""
    if not mapping.options.get("multi_currency"):
        return {}
    cached = _CURRENCIES.get(run.store_id)
    if cached is None or time.monotonic() - cached[0] > CURRENCIES_TTL_S:
        try:
            recs = await run.call(run.sf.query, "SELECT IsoCode, IsCorporate FROM CurrencyType WHERE IsActive = true")
        except SalesforcePermanent as exc:
            raise SalesforcePermanent("multi_currency = true but the org is not multi-currency (no CurrencyType: "
                                      f"{exc.message[:200]}); set multi_currency = false", code="config") from None
        codes = sorted((str(r["IsoCode"]) for r in recs), key=lambda c: (not any(
            r["IsoCode"] == c and r.get("IsCorporate") for r in recs), c))
        cached = _CURRENCIES[run.store_id] = (time.monotonic(), ",".join(codes))
    return {CURRENCIES_KEY: cached[1]}
