"""The emulated org's schema, declared as data.

``base_schema()`` returns a fresh, mutable copy; the emulator adds/removes custom fields at run time.
Required-ness follows Salesforce: a field is required on create when it is createable, not nillable
and not defaulted on create.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

TEXT_TYPES = {"string", "textarea", "email", "phone", "url", "picklist", "id", "reference", "combobox"}
NUMBER_TYPES = {"double", "currency", "percent", "int"}
SOAP_TYPES = {
    "id": "tns:ID", "reference": "tns:ID", "string": "xsd:string", "textarea": "xsd:string", "email": "xsd:string",
    "phone": "xsd:string", "url": "xsd:string", "picklist": "xsd:string", "combobox": "xsd:string",
    "boolean": "xsd:boolean", "double": "xsd:double", "currency": "xsd:double", "percent": "xsd:double",
    "int": "xsd:int", "date": "xsd:date", "datetime": "xsd:dateTime",
}


@dataclass
class Field:
    name: str
    type: str
    label: str = ""
    length: int = 0
    nillable: bool = True
    createable: bool = True
    updateable: bool = True
    external_id: bool = False
    id_lookup: bool = False
    unique: bool = False
    case_sensitive: bool = False
    defaulted_on_create: bool = False
    default: object = None
    picklist: list[str] = field(default_factory=list)
    restricted_picklist: bool = False
    reference_to: list[str] = field(default_factory=list)
    relationship_name: str | None = None
    custom: bool = False
    name_field: bool = False
    calculated: bool = False
    auto_number: bool = False
    # created through the Tooling API: like in a real org, no user sees it until a permission set assigned to them
    # grants field-level security on it (FieldPermissions); fields of the seeded schema are visible to everyone
    fls: bool = False
    precision: int = 0
    scale: int = 0

    @property
    def required(self) -> bool:
        return self.createable and not self.nillable and not self.defaulted_on_create

    @property
    def indexed(self) -> bool:
        return self.external_id or self.id_lookup or self.unique


@dataclass
class SObject:
    name: str
    label: str
    label_plural: str
    key_prefix: str
    fields: dict[str, Field]  # lower-case name -> Field
    createable: bool = True
    custom: bool = False

    def field(self, name: str) -> Field | None:
        return self.fields.get(name.lower())

    def relationship(self, name: str) -> Field | None:
        low = name.lower()
        for f in self.fields.values():
            if f.relationship_name and f.relationship_name.lower() == low:
                return f
        return None

    def add(self, f: Field) -> None:
        self.fields[f.name.lower()] = f


def _label(name: str) -> str:
    base = name[:-3] if name.endswith("__c") else name
    if base.endswith("Id") and len(base) > 2:
        base = base[:-2] + " ID"
    return base.replace("_", " ")


def F(name: str, type_: str, length: int = 0, **kw) -> Field:
    if type_ in TEXT_TYPES and not length:
        length = {"id": 18, "reference": 18, "email": 80, "phone": 40, "textarea": 32000}.get(type_, 255)
    return Field(name=name, type=type_, label=kw.pop("label", _label(name)), length=length,
                 custom=name.endswith("__c"), **kw)


def _req(name: str, type_: str, length: int = 0, **kw) -> Field:
    return F(name, type_, length, nillable=False, **kw)


def _ref(name: str, to: str, rel: str | None = None, **kw) -> Field:
    return F(name, "reference", reference_to=[to], relationship_name=rel or name[:-2], **kw)


def _system() -> list[Field]:
    ro = dict(createable=False, updateable=False, nillable=False, defaulted_on_create=True)
    return [
        F("Id", "id", label="Record ID", id_lookup=True, **ro),
        F("IsDeleted", "boolean", label="Deleted", **ro),
        F("CreatedDate", "datetime", label="Created Date", **ro),
        _ref("CreatedById", "User", "CreatedBy", label="Created By ID", **ro),
        F("LastModifiedDate", "datetime", label="Last Modified Date", **ro),
        _ref("LastModifiedById", "User", "LastModifiedBy", label="Last Modified By ID", **ro),
        F("SystemModstamp", "datetime", label="System Modstamp", **ro),
    ]


def _owner() -> Field:
    return _ref("OwnerId", "User", "Owner", label="Owner ID", nillable=False, defaulted_on_create=True)


def _address(prefix: str) -> list[Field]:
    return [F(f"{prefix}Street", "textarea", 255), F(f"{prefix}City", "string", 40),
            F(f"{prefix}State", "string", 80), F(f"{prefix}PostalCode", "string", 20),
            F(f"{prefix}Country", "string", 80)]


def wooforce_key() -> Field:
    return F("Wooforce_Key__c", "string", 255, label="Wooforce Key", external_id=True, id_lookup=True, unique=True)


def custom_field(name: str, type_: str = "string", length: int = 0, *, external_id: bool = False,
                 unique: bool = False, required: bool = False, case_sensitive: bool = False,
                 reference_to: str | None = None, picklist: list[str] | None = None, label: str | None = None) -> Field:
    """A custom field as an admin would create it in Setup (text/number/date/checkbox/lookup...)."""
    if not name.endswith("__c"):
        raise ValueError(f"custom field names end with __c: {name}")
    kw: dict = dict(external_id=external_id, id_lookup=external_id or unique, unique=unique,
                    case_sensitive=case_sensitive, nillable=not required)
    if label:
        kw["label"] = label
    if type_ == "boolean":
        kw.update(nillable=False, defaulted_on_create=True, default=False)
    if picklist:
        kw["picklist"] = list(picklist)
    if reference_to:
        return F(name, "reference", reference_to=[reference_to], relationship_name=name[:-3] + "__r", **kw)
    return F(name, type_, length, **kw)


def _obj(name: str, prefix: str, fields: list[Field], label: str | None = None, plural: str | None = None,
         *, key: bool = True, **kw) -> SObject:
    label = label or name
    o = SObject(name=name, label=label, label_plural=plural or label + "s", key_prefix=prefix, fields={}, **kw)
    for f in _system() + fields + ([wooforce_key()] if key else []):
        o.add(f)
    return o


def _setup_objects() -> list[SObject]:
    """The setup objects ``wooforce salesforce setup`` writes (Object Reference: PermissionSet, FieldPermissions,
    PermissionSetAssignment); their special rules are in dml.py."""
    ro = dict(createable=False, updateable=False)
    perm_set = _obj("PermissionSet", "0PS", [
        _req("Name", "string", 80, label="Name", id_lookup=True, unique=True),
        _req("Label", "string", 80, label="Label", name_field=True),
        F("Description", "string", 255),
        F("IsOwnedByProfile", "boolean", nillable=False, defaulted_on_create=True, default=False, **ro),
    ], label="Permission Set", key=False)
    field_perms = _obj("FieldPermissions", "01k", [
        _ref("ParentId", "PermissionSet", "Parent", label="Parent ID", nillable=False, updateable=False),
        _req("SobjectType", "string", 255, label="Sobject Type Name", updateable=False),
        _req("Field", "string", 255, label="Field Name", updateable=False),
        F("PermissionsRead", "boolean", label="Read Access", nillable=False, defaulted_on_create=True,
          default=False),
        F("PermissionsEdit", "boolean", label="Edit Access", nillable=False, defaulted_on_create=True,
          default=False),
    ], label="Field Permissions", plural="Field Permissions", key=False)
    assignment = _obj("PermissionSetAssignment", "0Pa", [
        _ref("AssigneeId", "User", "Assignee", label="Assignee ID", nillable=False, updateable=False),
        _ref("PermissionSetId", "PermissionSet", "PermissionSet", label="Permission Set ID", nillable=False,
             updateable=False),
    ], label="Permission Set Assignment", key=False)
    return [perm_set, field_perms, assignment]


def _build() -> dict[str, SObject]:
    ro = dict(createable=False, updateable=False)
    account = _obj("Account", "001", [
        _req("Name", "string", 255, label="Account Name", name_field=True),
        F("Type", "picklist", 255, label="Account Type",
          picklist=["Prospect", "Customer - Direct", "Customer - Channel", "Partner", "Other"]),
        _ref("ParentId", "Account", "Parent", label="Parent Account ID"),
        *_address("Billing"), *_address("Shipping"),
        F("Phone", "phone"), F("Fax", "phone"), F("Website", "url"), F("AccountNumber", "string", 40),
        F("Industry", "picklist", picklist=["Retail", "Technology", "Other"]),
        F("NumberOfEmployees", "int", label="Employees"), F("AnnualRevenue", "currency"),
        F("Description", "textarea"), _owner(),
        F("Woo_Email_Hash__c", "string", 64, label="Woo Email Hash"),
    ])
    contact = _obj("Contact", "003", [
        _ref("AccountId", "Account", label="Account ID"),
        _req("LastName", "string", 80, label="Last Name"),
        F("FirstName", "string", 40, label="First Name"),
        F("Salutation", "picklist", 40, picklist=["Mr.", "Ms.", "Mrs.", "Dr.", "Prof."]),
        F("Name", "string", 121, label="Full Name", name_field=True, calculated=True, **ro),
        *_address("Mailing"), *_address("Other"),
        F("Phone", "phone", label="Business Phone"), F("MobilePhone", "phone"), F("HomePhone", "phone"),
        F("Email", "email", id_lookup=True), F("Title", "string", 128), F("Description", "textarea"),
        F("HasOptedOutOfEmail", "boolean", label="Email Opt Out", nillable=False, defaulted_on_create=True,
          default=False),
        _owner(),
        F("Woo_Customer_Id__c", "string", 255, label="Woo Customer Id", external_id=True, id_lookup=True),
        F("Woo_Store__c", "string", 80, label="Woo Store"),  # a contact made in Salesforce for this store
    ])
    product = _obj("Product2", "01t", [
        _req("Name", "string", 255, label="Product Name", name_field=True, id_lookup=True),
        F("ProductCode", "string", 255, label="Product Code"), F("Description", "textarea", 4000),
        F("IsActive", "boolean", label="Active", nillable=False, defaulted_on_create=True, default=False),
        F("Family", "picklist", picklist=["None"], label="Product Family"),
        F("StockKeepingUnit", "string", 180, label="Product SKU"),
        F("QuantityUnitOfMeasure", "picklist", picklist=["Each"]),
        F("ExternalId", "string", 255, label="External ID"),
        F("IsArchived", "boolean", nillable=False, defaulted_on_create=True, default=False, **ro),
        F("DisplayUrl", "url", 1000),
        F("Woo_Product_Id__c", "string", 255, label="Woo Product Id", external_id=True, id_lookup=True),
        F("Woo_Stock_Quantity__c", "double", label="Woo Stock Quantity"),
        F("Woo_Type__c", "string", 40, label="Woo Type"),
        F("Woo_Store__c", "string", 80, label="Woo Store"),  # a product made in Salesforce for this store
    ], label="Product", plural="Products")
    pricebook = _obj("Pricebook2", "01s", [
        _req("Name", "string", 255, label="Price Book Name", name_field=True),
        F("IsActive", "boolean", label="Active", nillable=False, defaulted_on_create=True, default=False),
        F("IsStandard", "boolean", label="Is Standard Price Book", nillable=False, defaulted_on_create=True,
          default=False, **ro),
        F("IsArchived", "boolean", nillable=False, defaulted_on_create=True, default=False, **ro),
        F("Description", "string", 255),
    ], label="Price Book", plural="Price Books")
    entry = _obj("PricebookEntry", "01u", [
        F("Name", "string", 255, label="Product Name", name_field=True, **ro),
        _ref("Pricebook2Id", "Pricebook2", label="Price Book ID", nillable=False, updateable=False),
        _ref("Product2Id", "Product2", label="Product ID", nillable=False, updateable=False),
        _req("UnitPrice", "currency", label="List Price"),
        F("IsActive", "boolean", label="Active", nillable=False, defaulted_on_create=True, default=False),
        F("UseStandardPrice", "boolean", nillable=False, defaulted_on_create=True, default=False),
        F("ProductCode", "string", 255, **ro),
        F("IsArchived", "boolean", nillable=False, defaulted_on_create=True, default=False, **ro),
    ], label="Price Book Entry", plural="Price Book Entries")
    order = _obj("Order", "801", [
        _ref("AccountId", "Account", label="Account ID", nillable=False),
        _ref("Pricebook2Id", "Pricebook2", label="Price Book ID"),
        _req("EffectiveDate", "date", label="Order Start Date"), F("EndDate", "date", label="Order End Date"),
        _req("Status", "picklist", 40, picklist=["Draft", "Activated"], restricted_picklist=True),
        F("StatusCode", "picklist", 40, label="Status Category", picklist=["Draft", "Activated"],
          nillable=False, defaulted_on_create=True, **ro),
        F("OrderNumber", "string", 30, label="Order Number", name_field=True, id_lookup=True,
          auto_number=True, nillable=False, defaulted_on_create=True, **ro),
        F("TotalAmount", "currency", label="Order Amount", calculated=True, nillable=False,
          defaulted_on_create=True, **ro),
        F("Type", "picklist", picklist=["Web"], label="Order Type"), F("Description", "textarea"),
        _ref("BillToContactId", "Contact", "BillToContact", label="Bill To Contact ID"),
        _ref("ShipToContactId", "Contact", "ShipToContact", label="Ship To Contact ID"),
        *_address("Billing"), *_address("Shipping"),
        F("PoNumber", "string", 80, label="PO Number"), F("OrderReferenceNumber", "string", 80),
        F("ActivatedDate", "datetime", **ro), _owner(),
        F("Woo_Order_Number__c", "string", 255, label="Woo Order Number", external_id=True, id_lookup=True),
        F("Woo_Status__c", "string", 40, label="Woo Status"),
        F("Woo_Currency__c", "string", 3, label="Woo Currency"),
        F("Woo_Payment_Method__c", "string", 255, label="Woo Payment Method"),
        F("Woo_Transaction_Id__c", "string", 255, label="Woo Transaction Id"),
        F("Woo_Date_Paid__c", "datetime", label="Woo Date Paid"),
        F("Woo_Shipping_Method__c", "string", 255, label="Woo Shipping Method"),
        F("Woo_Shipping_Total__c", "currency", label="Woo Shipping Total"),
        F("Woo_Discount_Total__c", "currency", label="Woo Discount Total"),
        F("Woo_Tax_Total__c", "currency", label="Woo Tax Total"),
        F("Woo_Total__c", "currency", label="Woo Total"),
        F("Woo_Date_Modified__c", "datetime", label="Woo Date Modified"),
        F("Woo_Tracking_Number__c", "string", 255, label="Woo Tracking Number"),
        F("Woo_Carrier__c", "string", 255, label="Woo Carrier"),
    ])
    item = _obj("OrderItem", "802", [
        _ref("OrderId", "Order", label="Order ID", nillable=False, updateable=False),
        _ref("PricebookEntryId", "PricebookEntry", label="Price Book Entry ID", nillable=False, updateable=False),
        _ref("Product2Id", "Product2", label="Product ID", **ro),
        _req("Quantity", "double"), _req("UnitPrice", "currency", label="Unit Price"),
        F("ListPrice", "currency", label="List Price", **ro),
        F("TotalPrice", "currency", label="Total Price", calculated=True, **ro),
        F("OrderItemNumber", "string", 10, label="Order Product Number", name_field=True, auto_number=True,
          nillable=False, defaulted_on_create=True, **ro),
        F("Description", "string", 255, label="Line Description"), F("ServiceDate", "date", label="Start Date"),
        F("EndDate", "date"),
        F("Woo_Line_Total__c", "currency", label="Woo Line Total"),
        F("Woo_Tax__c", "currency", label="Woo Tax"),
        F("Woo_Sku__c", "string", 255, label="Woo Sku"),
    ], label="Order Product", plural="Order Products")
    user = _obj("User", "005", [
        _req("Username", "string", 80, id_lookup=True, unique=True),
        _req("LastName", "string", 80, label="Last Name"), F("FirstName", "string", 40, label="First Name"),
        F("Name", "string", 121, label="Full Name", name_field=True, calculated=True, **ro),
        _req("Email", "email", 128), _req("Alias", "string", 8),
        F("IsActive", "boolean", label="Active", nillable=False, defaulted_on_create=True, default=True),
        F("UserType", "picklist", 40, picklist=["Standard"], **ro),
    ])
    return {o.name: o for o in (account, contact, product, pricebook, entry, order, item, user, *_setup_objects())}


_BASE = _build()


def base_schema(custom_fields: bool = True) -> dict[str, SObject]:
    """The seeded org; ``custom_fields=False`` is an org as Salesforce delivers it: standard fields only (no
    ``Wooforce_Key__c``, no ``Woo_*__c``), as ``wooforce salesforce setup`` finds a new org."""
    schema = copy.deepcopy(_BASE)
    if not custom_fields:
        for o in schema.values():
            o.fields = {k: f for k, f in o.fields.items() if not f.custom}
    return schema
