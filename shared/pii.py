"""Customer personal data in WooCommerce payloads: the hashed email lookup, masking for display, erasure.

The console never shows these fields in lists; the entity timeline masks them; a GDPR erasure overwrites them.
"""
from __future__ import annotations

import hashlib
import json
import re
from typing import Any

# keys whose values are personal data wherever they appear in a WooCommerce REST v3 body
PII_KEYS = frozenset({
    "email", "billing_email", "first_name", "last_name", "company", "address_1", "address_2", "city", "state",
    "postcode", "phone", "username", "customer_ip_address", "customer_user_agent", "customer_note", "avatar_url",
    "Email", "FirstName", "LastName", "Phone", "BillingStreet", "BillingCity", "BillingPostalCode",
    "ShippingStreet", "ShippingCity", "ShippingPostalCode", "Name", "PersonEmail",
})
ERASED = "[erased]"
MASKED = "•••"


def email_sha256(email: str) -> bytes:
    """The lookup key of a customer email: sha256 of the trimmed, lower-cased address."""
    return hashlib.sha256(email.strip().lower().encode()).digest()


def customer_email(resource: str, data: dict) -> str | None:
    """The customer's email in a WooCommerce body (customer: ``email``; order: ``billing.email``)."""
    if resource == "customer":
        value = data.get("email")
    elif resource == "order":
        billing = data.get("billing")
        value = billing.get("email") if isinstance(billing, dict) else None
    else:
        return None
    return value if isinstance(value, str) and "@" in value else None


def email_hash_of(resource: str, data: dict) -> bytes | None:
    email = customer_email(resource, data)
    return email_sha256(email) if email else None


# Salesforce-side names (mapping custom fields such as BillingEmail__c) are caught by pattern
_PII_KEY = re.compile(r"e-?mail|phone|mobile|first_?name|last_?name|street|address|postal|postcode|zip|city", re.I)


def is_pii_key(key: str) -> bool:
    return key in PII_KEYS or bool(_PII_KEY.search(key))


def pii_values(obj: Any, out: set[str] | None = None) -> set[str]:
    """Every personal value (3+ characters) found under a personal key: used to scrub free text and values
    stored under other names (what was sent to Salesforce, error messages)."""
    out = set() if out is None else out
    if isinstance(obj, dict):
        for k, v in obj.items():
            if is_pii_key(k) and isinstance(v, str) and len(v.strip()) >= 3:
                out.add(v.strip())
            else:
                pii_values(v, out)
    elif isinstance(obj, list):
        for v in obj:
            pii_values(v, out)
    return out


def scrub_text(text: str, values: set[str] | frozenset, replacement: str = ERASED) -> str:
    low = text.lower()
    return replacement if any(v.lower() in low for v in values) else text


def _replace(obj: Any, value: str, meta_too: bool, values: frozenset = frozenset()) -> Any:
    if isinstance(obj, str) and values:
        return scrub_text(obj, values, value)
    if isinstance(obj, dict):
        out: dict[Any, Any] = {}
        for k, v in obj.items():
            if is_pii_key(k) and v not in (None, "") and not isinstance(v, (dict, list)):
                out[k] = value
            elif meta_too and k == "meta_data" and isinstance(v, list):
                # plugin meta can hold anything: keep the keys, drop the values
                out[k] = [{**m, "value": value} if isinstance(m, dict) and "value" in m else m for m in v]
            else:
                out[k] = _replace(v, value, meta_too, values)
        return out
    if isinstance(obj, list):
        return [_replace(v, value, meta_too, values) for v in obj]
    return obj


def mask(obj: Any, values: set[str] | frozenset = frozenset()) -> Any:
    """A copy for display, with personal data (and strings containing one of ``values``) replaced by •••."""
    return _replace(obj, MASKED, False, frozenset(values))


def erase(obj: Any, values: set[str] | frozenset = frozenset()) -> Any:
    """A copy with personal data (and meta_data values, and any string containing one of ``values``)
    replaced by ``[erased]``."""
    return _replace(obj, ERASED, True, frozenset(values))


_EMAIL = re.compile(r"[^\s@\"'<>(),;:]+@[^\s@\"'<>(),;:]+\.[A-Za-z]{2,}")


def _forms(value: str) -> set[str]:
    """A value as free text may quote it: as is and JSON-escaped (errors are stored as JSON, ASCII or not)."""
    return {value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]}


def mask_text(text: str | None, values: set[str] | frozenset = frozenset()) -> str | None:
    """Free text (Salesforce error messages quote field values: ``STRING_TOO_LONG`` carries a whole name or
    street) with email addresses and every occurrence of one of ``values`` (the entity's personal values,
    :func:`pii_values`) masked."""
    if not text:
        return text
    forms = sorted({f for v in values if len(v.strip()) >= 3 for f in _forms(v.strip())}, key=len, reverse=True)
    if forms:
        text = re.sub("|".join(re.escape(f) for f in forms), MASKED, text, flags=re.I)
    return _EMAIL.sub(MASKED, text)
