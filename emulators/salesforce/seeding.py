"""Seed an org with records people made (issue 17): Accounts with their Contacts, and Product2s with a standard
price book entry, created as the admin user (no ``Wooforce_Key__c`` unless given), duplicates allowed, each one a
minute older than the next (``CreatedDate``, so "the oldest match" is well defined), as an org that used Salesforce
for years before Wooforce arrived holds them."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from . import control
from .state import OrgState
from .values import fmt_dt

CONTACT_FIELDS = ("FirstName", "LastName", "Email", "Phone", "Wooforce_Key__c")


def seed_existing(org: OrgState, *, contacts: list[dict[str, Any]], products: list[dict[str, Any]]) -> dict[str, list[str]]:
    """``contacts``: {FirstName?, LastName, Email, Account? (the Account's name; None: a Contact without Account),
    Account_Key? (the Account's Wooforce_Key__c), Wooforce_Key__c?}; ``products``: {Name, StockKeepingUnit?,
    ProductCode?, UnitPrice? (default 10), Wooforce_Key__c?}. Returns the Ids made, by sObject, in order."""
    made: dict[str, list[str]] = {"Account": [], "Contact": [], "Product2": [], "PricebookEntry": []}
    for c in contacts:
        fields = {k: c[k] for k in CONTACT_FIELDS if c.get(k) is not None}
        account = c.get("Account", f"{c.get('FirstName', '')} {c['LastName']}".strip())
        if account is not None:
            acc = {"Name": account, **({"Wooforce_Key__c": c["Account_Key"]} if c.get("Account_Key") else {})}
            made["Account"].append(control.write(org, "Account", acc)["Id"])
            fields["AccountId"] = made["Account"][-1]
        made["Contact"].append(control.write(org, "Contact", fields)["Id"])
    for p in products:
        fields = {k: p[k] for k in ("Name", "StockKeepingUnit", "ProductCode", "Wooforce_Key__c") if p.get(k)}
        made["Product2"].append(control.write(org, "Product2", {"IsActive": True, **fields})["Id"])
        entry = {"Pricebook2Id": org.standard_pricebook_id, "Product2Id": made["Product2"][-1],
                 "UnitPrice": p.get("UnitPrice", 10), "IsActive": True}
        made["PricebookEntry"].append(control.write(org, "PricebookEntry", entry)["Id"])
    now = org.now()
    for sobject, ids in made.items():  # oldest first, a minute apart
        for i, rid in enumerate(ids):
            org.records[sobject][rid]["CreatedDate"] = fmt_dt(now - timedelta(minutes=len(ids) - i))
    return made
