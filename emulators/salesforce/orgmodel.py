"""The org's sales model: Opportunity, OpportunityLineItem, OpportunityContactRole, Lead, RecordType, and the two
org features an admin turns on (and cannot turn off): Person Accounts and multi-currency.

``sales_objects()`` are in every org. ``apply_features(schema, person_accounts, currencies)`` adds what a feature
adds to the describe: Person Accounts give Account ``IsPersonAccount``, ``PersonContactId``, ``FirstName``,
``LastName``, ``Salutation`` and the ``Person*`` fields (Contact gets ``IsPersonAccount``); multi-currency gives
every currency-bearing object ``CurrencyIsoCode`` (a restricted picklist of the org's currencies, the corporate one
first and the default) and the ``CurrencyType`` object. ``rules`` / ``derive`` are the per-record validation and
side effects dml.py calls for these objects (messages: README, "Org model").
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import RecordError
from .schema import F, Field, SObject, _address, _obj, _owner, _ref, _req

if TYPE_CHECKING:
    from .state import OrgState

STAGES = ["Prospecting", "Qualification", "Needs Analysis", "Value Proposition", "Id. Decision Makers",
          "Perception Analysis", "Proposal/Price Quote", "Negotiation/Review", "Closed Won", "Closed Lost"]
# stage -> (probability %, forecast category, closed, won): the defaults of a new org's Sales Process
STAGE_INFO = {s: (p, "Pipeline", False, False) for s, p in zip(STAGES[:8], (10, 10, 20, 50, 60, 70, 75, 90))}
STAGE_INFO.update({"Closed Won": (100, "Closed", True, True), "Closed Lost": (0, "Omitted", True, False)})
LEAD_STATUSES = ["Open - Not Contacted", "Working - Contacted", "Closed - Converted", "Closed - Not Converted"]
PERSON_FIELDS = ("FirstName", "LastName", "Salutation", "PersonEmail", "PersonMailingStreet", "PersonMailingCity",
                 "PersonMailingState", "PersonMailingPostalCode", "PersonMailingCountry", "PersonMobilePhone",
                 "PersonHomePhone", "PersonBirthdate", "PersonTitle")
# Account Person* field -> the person contact's field it is stored in
PERSON_TO_CONTACT = {"FirstName": "FirstName", "LastName": "LastName", "Salutation": "Salutation",
                     "PersonEmail": "Email", "PersonMailingStreet": "MailingStreet", "PersonMailingCity": "MailingCity",
                     "PersonMailingState": "MailingState", "PersonMailingPostalCode": "MailingPostalCode",
                     "PersonMailingCountry": "MailingCountry", "PersonMobilePhone": "MobilePhone",
                     "PersonHomePhone": "HomePhone", "PersonTitle": "Title", "Phone": "Phone"}
CURRENCY_OBJECTS = ("Account", "Contact", "Lead", "Product2", "PricebookEntry", "Order", "OrderItem",
                    "Opportunity", "OpportunityLineItem")
_LINE_PARENT = {"OrderItem": ("Order", "OrderId", "order"), "OpportunityLineItem": ("Opportunity", "OpportunityId",
                                                                                    "opportunity")}
RO: dict[str, Any] = dict(createable=False, updateable=False)


def _woo_order_fields() -> list[Field]:
    """The Woo_* fields an Order carries, for an Opportunity standing for a WooCommerce order."""
    names = [("Woo_Status__c", "string", 40), ("Woo_Currency__c", "string", 3),
             ("Woo_Payment_Method__c", "string", 255), ("Woo_Transaction_Id__c", "string", 255),
             ("Woo_Date_Paid__c", "datetime", 0), ("Woo_Shipping_Method__c", "string", 255),
             ("Woo_Shipping_Total__c", "currency", 0), ("Woo_Discount_Total__c", "currency", 0),
             ("Woo_Tax_Total__c", "currency", 0), ("Woo_Total__c", "currency", 0),
             ("Woo_Date_Modified__c", "datetime", 0)]
    return [F("Woo_Order_Number__c", "string", 255, label="Woo Order Number", external_id=True, id_lookup=True),
            *(F(n, t, length) for n, t, length in names)]


def sales_objects() -> list[SObject]:
    record_type = _obj("RecordType", "012", [
        _req("Name", "string", 80, label="Record Type Name", name_field=True),
        _req("DeveloperName", "string", 80, label="Record Type Name (API)"),
        _req("SobjectType", "picklist", 40, label="SObject Type Name", updateable=False),
        F("IsPersonType", "boolean", nillable=False, defaulted_on_create=True, default=False, **RO),
        F("IsActive", "boolean", label="Active", nillable=False, defaulted_on_create=True, default=True),
        F("Description", "string", 255),
    ], label="Record Type", key=False)
    opportunity = _obj("Opportunity", "006", [
        _ref("AccountId", "Account", label="Account ID"),
        _req("Name", "string", 120, label="Name", name_field=True),
        F("Description", "textarea"),
        _req("StageName", "picklist", 40, label="Stage", picklist=list(STAGES)),
        F("Amount", "currency"), F("Probability", "percent", label="Probability (%)"),
        _req("CloseDate", "date", label="Close Date"),
        F("Type", "picklist", picklist=["New Customer", "Existing Customer - Upgrade", "Existing Customer - Replacement",
                                        "Existing Customer - Downgrade"], label="Opportunity Type"),
        F("LeadSource", "picklist", picklist=["Web", "Phone Inquiry", "Partner Referral", "Other"]),
        F("IsClosed", "boolean", label="Closed", nillable=False, defaulted_on_create=True, default=False, **RO),
        F("IsWon", "boolean", label="Won", nillable=False, defaulted_on_create=True, default=False, **RO),
        F("ForecastCategoryName", "picklist", 40, label="Forecast Category",
          picklist=["Omitted", "Pipeline", "Best Case", "Commit", "Closed"]),
        _ref("Pricebook2Id", "Pricebook2", label="Price Book ID"),
        _ref("ContactId", "Contact", label="Contact ID"),
        F("HasOpportunityLineItem", "boolean", label="Has Line Item", nillable=False, defaulted_on_create=True,
          default=False, **RO),
        _owner(), *_woo_order_fields(),
    ])
    line = _obj("OpportunityLineItem", "00k", [
        _ref("OpportunityId", "Opportunity", label="Opportunity ID", nillable=False, updateable=False),
        _ref("PricebookEntryId", "PricebookEntry", label="Price Book Entry ID", nillable=False, updateable=False),
        _ref("Product2Id", "Product2", label="Product ID", **RO),
        F("Name", "string", 376, label="Opportunity Product Name", name_field=True, **RO),
        _req("Quantity", "double"),
        F("UnitPrice", "currency", label="Sales Price"), F("TotalPrice", "currency", label="Total Price"),
        F("ListPrice", "currency", label="List Price", **RO),
        F("ServiceDate", "date", label="Date"), F("Description", "string", 255, label="Line Description"),
        F("Woo_Line_Total__c", "currency", label="Woo Line Total"), F("Woo_Tax__c", "currency", label="Woo Tax"),
        F("Woo_Sku__c", "string", 255, label="Woo Sku"),
    ], label="Opportunity Product", plural="Opportunity Product")
    role = _obj("OpportunityContactRole", "00K", [
        _ref("OpportunityId", "Opportunity", label="Opportunity ID", nillable=False, updateable=False),
        _ref("ContactId", "Contact", label="Contact ID", nillable=False),
        F("Role", "picklist", 40, picklist=["Business User", "Decision Maker", "Economic Buyer", "Other"]),
        F("IsPrimary", "boolean", label="Primary", nillable=False, defaulted_on_create=True, default=False),
    ], label="Opportunity Contact Role")
    lead = _obj("Lead", "00Q", [
        _req("LastName", "string", 80, label="Last Name"), F("FirstName", "string", 40, label="First Name"),
        F("Salutation", "picklist", 40, picklist=["Mr.", "Ms.", "Mrs.", "Dr.", "Prof."]),
        F("Name", "string", 121, label="Full Name", name_field=True, calculated=True, **RO),
        _req("Company", "string", 255), F("Title", "string", 128),
        F("Email", "email", id_lookup=True), F("Phone", "phone"), F("MobilePhone", "phone"),
        *_address(""), F("Description", "textarea"),
        F("LeadSource", "picklist", picklist=["Web", "Phone Inquiry", "Partner Referral", "Other"]),
        F("Status", "picklist", 40, label="Lead Status", picklist=list(LEAD_STATUSES), nillable=False,
          defaulted_on_create=True, default=LEAD_STATUSES[0]),
        F("IsConverted", "boolean", label="Converted", nillable=False, defaulted_on_create=True, default=False, **RO),
        _ref("ConvertedAccountId", "Account", "ConvertedAccount", label="Converted Account ID", **RO),
        _ref("ConvertedContactId", "Contact", "ConvertedContact", label="Converted Contact ID", **RO),
        F("HasOptedOutOfEmail", "boolean", label="Email Opt Out", nillable=False, defaulted_on_create=True,
          default=False),
        _owner(),
        F("Woo_Email_Hash__c", "string", 64, label="Woo Email Hash", external_id=True, id_lookup=True),
    ])
    refund = _obj("Woo_Refund__c", "a0R", [
        F("Name", "string", 80, label="Woo Refund Name", name_field=True, auto_number=True, nillable=False,
          defaulted_on_create=True, **RO),
        _ref("Woo_Order__c", "Order", "Woo_Order__r", label="Order"),
        _ref("Woo_Opportunity__c", "Opportunity", "Woo_Opportunity__r", label="Opportunity"),
        F("Woo_Refund_Id__c", "string", 40, label="Woo Refund Id"),
        F("Woo_Amount__c", "currency", label="Amount"), F("Woo_Reason__c", "string", 255, label="Reason"),
        F("Woo_Refund_Date__c", "datetime", label="Refund Date"),
        F("Woo_Refunded_Lines__c", "textarea", label="Refunded Lines"),
    ], label="Woo Refund", custom=True)
    return [record_type, opportunity, line, role, lead, refund]


def _currency_type() -> SObject:
    return _obj("CurrencyType", "02b", [
        _req("IsoCode", "picklist", 3, label="Currency ISO Code", name_field=True),
        _req("ConversionRate", "double", label="Conversion Rate"),
        F("DecimalPlaces", "int", label="Decimal Places"),
        F("IsActive", "boolean", label="Active", nillable=False, defaulted_on_create=True, default=True),
        F("IsCorporate", "boolean", label="Corporate Currency", nillable=False, defaulted_on_create=True,
          default=False, **RO),
    ], label="Currency Type", key=False)


def apply_features(schema: dict[str, SObject], person_accounts: bool, currencies: tuple[str, ...] | None) -> None:
    custom = "wooforce_key__c" in schema["Account"].fields  # an org seeded without Wooforce's fields lacks them
    for o in sales_objects():
        if not custom and o.custom:
            continue
        if not custom:
            o.fields = {k: f for k, f in o.fields.items() if not f.custom}
        schema.setdefault(o.name, o)
    if custom:
        for name in ("Order", "Opportunity"):
            schema[name].add(F("Woo_Refunded_Total__c", "currency", label="Woo Refunded Total"))
    if person_accounts:
        account, contact = schema["Account"], schema["Contact"]
        for f in [F("IsPersonAccount", "boolean", label="Is Person Account", nillable=False, defaulted_on_create=True,
                    default=False, **RO),
                  _ref("PersonContactId", "Contact", "PersonContact", label="Person Contact ID", **RO),
                  _ref("RecordTypeId", "RecordType", label="Record Type ID"),
                  F("FirstName", "string", 40, label="First Name"), F("LastName", "string", 80, label="Last Name"),
                  F("Salutation", "picklist", 40, picklist=["Mr.", "Ms.", "Mrs.", "Dr.", "Prof."]),
                  F("PersonEmail", "email", label="Email", id_lookup=True), *_address("PersonMailing"),
                  F("PersonMobilePhone", "phone", label="Mobile"), F("PersonHomePhone", "phone", label="Home Phone"),
                  F("PersonBirthdate", "date", label="Birthdate"), F("PersonTitle", "string", 80, label="Title")]:
            account.add(f)
        contact.add(F("IsPersonAccount", "boolean", label="Is Person Account", nillable=False,
                      defaulted_on_create=True, default=False, **RO))
        schema["Lead"].fields["company"].nillable = True  # a lead without a company converts to a person account
    if currencies:
        for name in CURRENCY_OBJECTS:
            line = name in _LINE_PARENT
            schema[name].add(F("CurrencyIsoCode", "picklist", 3, label="Currency ISO Code", picklist=list(currencies),
                               nillable=False, defaulted_on_create=True,  # checked by rules()
                               default=currencies[0], createable=not line, updateable=not line))
        schema["PricebookEntry"].fields["currencyisocode"].updateable = False
        ct = _currency_type()
        schema[ct.name] = ct


def seed(org: OrgState, now: str) -> None:
    """The feature records of a fresh org: Account record types (Person Accounts) and CurrencyType rows."""
    if org.person_accounts:
        for dev, label, person in (("Business_Account", "Business Account", False),
                                   ("PersonAccount", "Person Account", True)):
            rid = org.new_id("RecordType")
            org.put("RecordType", {"Id": rid, "Name": label, "DeveloperName": dev, "SobjectType": "Account",
                                   "IsPersonType": person, "IsActive": True, "Description": None,
                                   **org.system_fields(now, org.admin_user_id)})
    for i, code in enumerate(org.currencies or ()):
        org.put("CurrencyType", {"Id": org.new_id("CurrencyType"), "IsoCode": code, "IsCorporate": i == 0,
                                 "ConversionRate": 1.0 if i == 0 else 1.0 + i / 10, "DecimalPlaces": 2,
                                 "IsActive": True, **org.system_fields(now, org.admin_user_id)})


def is_person(org: OrgState, merged: dict) -> bool:
    rt = org.get("RecordType", merged["RecordTypeId"]) if merged.get("RecordTypeId") else None
    return bool(rt and rt.get("IsPersonType"))


def not_required(org: OrgState, sobject: str, merged: dict) -> set[str]:
    """Fields the describe calls required that this record need not fill: a person account has no Name (its
    LastName is required instead)."""
    if sobject == "Account" and org.person_accounts and is_person(org, merged):
        return {"Name"}
    return set()


def _currency(org: OrgState, o: SObject, merged: dict, values: dict) -> list[RecordError]:
    code = values.get("CurrencyIsoCode")
    if org.currencies and code is not None and code not in org.currencies:
        return [RecordError("INVALID_CURRENCY_ISO", f"Currency ISO Code: invalid currency code: {code}",
                            ["CurrencyIsoCode"])]
    return []


def rules(org: OrgState, o: SObject, merged: dict, existing: dict | None, values: dict) -> list[RecordError]:
    """Validation of the sales objects and features (after field checks, before validation rules)."""
    name = o.name
    if errors := _currency(org, o, merged, values):
        return errors
    if name == "Account" and org.person_accounts:
        person = is_person(org, merged)
        if existing is not None and bool(existing.get("IsPersonAccount")) != person:
            return [RecordError("INVALID_PERSON_ACCOUNT_OPERATION", "cannot change the record type of an account "
                                "between business and person account through the API", ["RecordTypeId"])]
        if not person:
            used = [f for f in PERSON_FIELDS if values.get(f) not in (None, "")]
            if used:
                return [RecordError("INVALID_FIELD_FOR_INSERT_UPDATE", "Business Account may not use Person "
                                    f"Account field {used[0]}", used)]
        elif merged.get("LastName") in (None, ""):
            return [RecordError("REQUIRED_FIELD_MISSING", "Required fields are missing: [LastName]", ["LastName"])]
    if name == "Contact" and existing is not None and existing.get("IsPersonAccount"):
        return [RecordError("INVALID_FIELD_FOR_INSERT_UPDATE", "cannot update a person contact: update its person "
                            "account", [])]
    if name == "Contact" and org.person_accounts and merged.get("AccountId") and not merged.get("IsPersonAccount"):
        acct = org.get("Account", merged["AccountId"])
        if acct and acct.get("IsPersonAccount"):
            return [RecordError("INVALID_FIELD", "cannot associate a contact with a person account: a person "
                                "account has only its own person contact", ["AccountId"])]
    if name == "Opportunity" and merged.get("StageName") not in (None, "") and merged["StageName"] not in STAGES:
        return [RecordError("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                            f"Stage: bad value for restricted picklist field: {merged['StageName']}", ["StageName"])]
    if name in _LINE_PARENT:
        return _line_rules(org, o, merged, existing, values)
    if name == "Order" and existing is not None and org.currencies \
            and values.get("CurrencyIsoCode") not in (None, existing.get("CurrencyIsoCode")) \
            and org.children("OrderItem", "OrderId", existing["Id"]):
        return [RecordError("FIELD_INTEGRITY_EXCEPTION", "field integrity exception: CurrencyIsoCode (the currency "
                            "of an order with order products cannot change)", ["CurrencyIsoCode"])]
    if name == "Opportunity" and existing is not None and org.currencies \
            and values.get("CurrencyIsoCode") not in (None, existing.get("CurrencyIsoCode")) \
            and org.children("OpportunityLineItem", "OpportunityId", existing["Id"]):
        return [RecordError("FIELD_INTEGRITY_EXCEPTION", "field integrity exception: CurrencyIsoCode (the currency "
                            "of an opportunity with products cannot change)", ["CurrencyIsoCode"])]
    if name == "OpportunityContactRole" and existing is None:
        if any(r["ContactId"] == merged["ContactId"] for r in org.children(
                "OpportunityContactRole", "OpportunityId", merged["OpportunityId"])):
            return [RecordError("DUPLICATE_VALUE", "duplicate value found: this contact already has a role on the "
                                "opportunity", [])]
    if name == "PricebookEntry" and existing is None and org.currencies:
        return _entry_rules(org, merged)
    return []


def _entry_rules(org: OrgState, merged: dict) -> list[RecordError]:
    """Multi-currency: one entry per price book, product and currency; a custom price needs the standard price of
    the same currency."""
    pb, prod, code = merged.get("Pricebook2Id"), merged.get("Product2Id"), merged.get("CurrencyIsoCode")
    entries = [e for e in org.children("PricebookEntry", "Product2Id", prod) if e.get("CurrencyIsoCode") == code] \
        if prod else []
    if any(e["Pricebook2Id"] == pb for e in entries):
        return [RecordError("DUPLICATE_VALUE", "This price definition already exists in this price book", [])]
    if pb != org.standard_pricebook_id and not any(e["Pricebook2Id"] == org.standard_pricebook_id for e in entries):
        return [RecordError("STANDARD_PRICE_NOT_DEFINED", "Before creating a custom price, create a standard price.",
                            [])]
    return []


def _line_rules(org: OrgState, o: SObject, merged: dict, existing: dict | None, values: dict) -> list[RecordError]:
    parent_type, fk, word = _LINE_PARENT[o.name]
    parent = org.get(parent_type, merged[fk])
    if o.name == "OrderItem" and existing is not None and parent and parent.get("StatusCode") == "Activated":
        from .dml import LOCKED_ORDER_MSG
        return [RecordError("ENTITY_IS_LOCKED", LOCKED_ORDER_MSG, [])]
    if existing is not None or parent is None:
        return []
    entry = org.get("PricebookEntry", merged["PricebookEntryId"]) or {}
    if o.name == "OpportunityLineItem":
        if merged.get("UnitPrice") is not None and merged.get("TotalPrice") is not None:
            return [RecordError("FIELD_INTEGRITY_EXCEPTION", "field integrity exception: TotalPrice (only one of "
                                "unit price or total price may be specified)", ["TotalPrice"])]
        if merged.get("UnitPrice") is None and merged.get("TotalPrice") is None:
            return [RecordError("REQUIRED_FIELD_MISSING", "Required fields are missing: [UnitPrice]", ["UnitPrice"])]
        pb = parent.get("Pricebook2Id")
        if pb and entry["Pricebook2Id"] != pb:
            return [RecordError("FIELD_INTEGRITY_EXCEPTION", "field integrity exception: PricebookEntryId (pricebook "
                                "entry is in a different pricebook than the one assigned to the opportunity)",
                                ["PricebookEntryId"])]
        if not entry.get("IsActive"):
            return [RecordError("FIELD_INTEGRITY_EXCEPTION",
                                "field integrity exception: PricebookEntryId (pricebook entry is inactive)",
                                ["PricebookEntryId"])]
    if org.currencies and entry.get("CurrencyIsoCode") != parent.get("CurrencyIsoCode"):
        return [RecordError("FIELD_INTEGRITY_EXCEPTION", "field integrity exception: PricebookEntryId (pricebook "
                            f"entry currency code does not match {word} currency code)", ["PricebookEntryId"])]
    return []


def derive(org: OrgState, o: SObject, rec: dict, creating: bool) -> None:
    """Derived fields of the sales objects (before the record is stored)."""
    name = o.name
    if name == "Account" and org.person_accounts:
        rec["IsPersonAccount"] = is_person(org, rec)
        if rec["IsPersonAccount"]:
            rec["Name"] = " ".join(p for p in (rec.get("FirstName"), rec.get("LastName")) if p)
    elif name == "Lead":
        rec["Name"] = " ".join(p for p in (rec.get("FirstName"), rec.get("LastName")) if p)
    elif name == "Woo_Refund__c" and creating:
        rec["Name"] = "R-" + org.next_autonumber(name, 6)
    elif name == "Opportunity":
        prob, category, closed, won = STAGE_INFO.get(rec.get("StageName") or "", (0, "Pipeline", False, False))
        if creating or rec.get("Probability") is None:
            rec["Probability"] = prob
        rec["ForecastCategoryName"], rec["IsClosed"], rec["IsWon"] = category, closed, won
    elif name in _LINE_PARENT:
        parent_type, fk, _ = _LINE_PARENT[name]
        parent = org.get(parent_type, rec[fk])
        if org.currencies and parent is not None:
            rec["CurrencyIsoCode"] = parent.get("CurrencyIsoCode")
        if name == "OpportunityLineItem":
            entry = org.get("PricebookEntry", rec["PricebookEntryId"]) or {}
            if creating:
                rec["Product2Id"], rec["ListPrice"] = entry["Product2Id"], entry["UnitPrice"]
                rec["Name"] = f"{(parent or {}).get('Name')} {entry.get('Name')}"
            qty = rec.get("Quantity") or 0
            if rec.get("TotalPrice") is not None and (creating and rec.get("UnitPrice") is None):
                rec["UnitPrice"] = round(rec["TotalPrice"] / qty, 2) if qty else 0.0
            rec["TotalPrice"] = round((rec.get("UnitPrice") or 0) * qty, 2)


def after_save(org: OrgState, o: SObject, rec: dict, creating: bool) -> None:
    """Side effects on other records: the person contact of a person account, an opportunity's price book, amount
    and line flag, the one primary contact role."""
    name = o.name
    if name == "Account" and rec.get("IsPersonAccount"):
        _person_contact(org, rec)
    elif name == "OpportunityLineItem":
        rollup_opportunity(org, rec["OpportunityId"], pricebook=org.get("PricebookEntry", rec["PricebookEntryId"]))
    elif name == "OpportunityContactRole" and rec.get("IsPrimary"):
        for other in org.children("OpportunityContactRole", "OpportunityId", rec["OpportunityId"]):
            if other["Id"] != rec["Id"] and other.get("IsPrimary"):
                org.put("OpportunityContactRole", {**other, "IsPrimary": False})
        opp = org.get("Opportunity", rec["OpportunityId"])
        if opp is not None and opp.get("ContactId") != rec["ContactId"]:
            org.put("Opportunity", {**opp, "ContactId": rec["ContactId"]})


def _person_contact(org: OrgState, acct: dict) -> None:
    values = {c: acct.get(a) for a, c in PERSON_TO_CONTACT.items()}
    values["Name"] = " ".join(p for p in (values.get("FirstName"), values.get("LastName")) if p)
    contact = org.get("Contact", acct["PersonContactId"]) if acct.get("PersonContactId") else None
    if contact is None:
        cid = org.new_id("Contact")
        base = {f.name: f.default for f in org.schema["Contact"].fields.values() if f.default is not None}
        contact = {**base, "Id": cid, "AccountId": acct["Id"], "OwnerId": acct.get("OwnerId"),
                   "IsPersonAccount": True, **org.system_fields(acct["LastModifiedDate"], acct["LastModifiedById"])}
        org.put("Account", {**acct, "PersonContactId": cid})
        acct["PersonContactId"] = cid
    org.put("Contact", {**contact, **values, "LastModifiedDate": acct["LastModifiedDate"],
                        "SystemModstamp": acct["LastModifiedDate"]})


def rollup_opportunity(org: OrgState, opp_id: str | None, pricebook: dict | None = None) -> None:
    opp = org.get("Opportunity", opp_id) if opp_id else None
    if opp is None:
        return
    lines = org.children("OpportunityLineItem", "OpportunityId", opp["Id"])
    new = dict(opp, HasOpportunityLineItem=bool(lines))
    if lines:
        new["Amount"] = round(sum(li.get("TotalPrice") or 0 for li in lines), 2)
    if pricebook is not None and not opp.get("Pricebook2Id"):
        new["Pricebook2Id"] = pricebook["Pricebook2Id"]  # the first product sets the opportunity's price book
    if new != opp:
        org.put("Opportunity", new)


def on_delete(org: OrgState, o: SObject, rec: dict | None) -> list[RecordError]:
    """Refusals and cascades of a delete: a person contact goes with its account, never alone."""
    if o.name == "Contact" and rec and rec.get("IsPersonAccount"):
        return [RecordError("INVALID_PERSON_ACCOUNT_OPERATION", "cannot delete a person contact: delete its person "
                            "account", [])]
    return []


CHILDREN = {"Opportunity": [("OpportunityLineItem", "OpportunityId"), ("OpportunityContactRole", "OpportunityId")],
            "Contact": [("OpportunityContactRole", "ContactId")]}
