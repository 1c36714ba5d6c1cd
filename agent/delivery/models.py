"""What a store's data models (the mapping's ``[options]``: ``customer_model``, ``order_model``) need from the org
before a plan is built: the Person Account record type's Id. Looked up once per store and remembered in the Id map
(``salesforce_records``, like the standard price book); nothing is asked for the default models."""
from __future__ import annotations

from typing import Any, Protocol

from agent.delivery.plan import PERSON_RECORD_TYPE_KEY
from agent.salesforce import SalesforceClient
from shared.db import Database
from shared.errors import SalesforcePermanent
from shared.mapping import Mapping


class Run(Protocol):
    store_id: str

    @property
    def sf(self) -> SalesforceClient: ...

    async def call(self, fn: Any, *args: Any) -> Any: ...


def line_sobject(mapping: Mapping) -> tuple[str, str]:
    """(line sObject, its parent's relationship name) of the store's order model."""
    return ("OpportunityLineItem", "Opportunity") if mapping.order_model == "opportunity" else ("OrderItem", "Order")


async def store_model_ids(db: Database, run: Run, mapping: Mapping) -> dict[str, str]:
    if mapping.customer_model != "person_account":
        return {}
    row = await db.fetch("lookup_sf_records", run.store_id, ["RecordType"], [PERSON_RECORD_TYPE_KEY])
    if row:
        return {PERSON_RECORD_TYPE_KEY: row[0]["sf_id"]}
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
    return {PERSON_RECORD_TYPE_KEY: recs[0]["Id"]}
