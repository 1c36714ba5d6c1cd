"""Standard Webhooks signing (https://www.standardwebhooks.com/) and WooCommerce's native signature.

Standard Webhooks: headers ``webhook-id``, ``webhook-timestamp``, ``webhook-signature``;
the signature is ``v1,`` + base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}")), several may be
given separated by spaces. Secrets are ``whsec_`` + base64(key bytes).

WooCommerce: ``X-WC-Webhook-Signature`` = base64(HMAC-SHA256(secret as utf-8, raw body)).

Everything works on raw bytes, and every comparison is constant time.
"""
from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets as _secrets
import time
from collections.abc import Iterable, Mapping

SECRET_PREFIX = "whsec_"
DEFAULT_TOLERANCE_S = 300


class SignatureError(Exception):
    """The request is not signed by a secret we know (maps to 401)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def generate_secret(n_bytes: int = 32) -> str:
    return SECRET_PREFIX + base64.b64encode(_secrets.token_bytes(n_bytes)).decode()


@functools.lru_cache(maxsize=1024)  # decoded once per secret, not per request
def secret_key(secret: str) -> bytes:
    """Key bytes of a ``whsec_`` secret (a secret without the prefix is taken as base64 too)."""
    raw = secret[len(SECRET_PREFIX):] if secret.startswith(SECRET_PREFIX) else secret
    try:
        return base64.b64decode(raw, validate=True)
    except (ValueError, TypeError) as exc:
        raise ValueError("signing secret is not valid base64") from exc


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """Return the ``v1,<base64>`` signature for one message."""
    to_sign = f"{msg_id}.{timestamp}.".encode() + body
    mac = hmac.new(secret_key(secret), to_sign, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def sign_headers(secret: str, msg_id: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    ts = int(time.time()) if timestamp is None else timestamp
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": sign(secret, msg_id, ts, body),
    }


def verify(
    secrets: Iterable[str],
    headers: Mapping[str, str],
    body: bytes,
    *,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> str:
    """Check a Standard Webhooks request against any of ``secrets``; return the message id.

    Raises :class:`SignatureError` with a stable code when the headers are missing, the
    timestamp is outside the tolerance, or no signature matches.
    """
    msg_id = headers.get("webhook-id")
    ts_raw = headers.get("webhook-timestamp")
    sig_header = headers.get("webhook-signature")
    if not msg_id or not ts_raw or not sig_header:
        raise SignatureError("missing_signature",
                             "webhook-id, webhook-timestamp and webhook-signature headers are required")
    try:
        ts = int(ts_raw)
    except ValueError:
        raise SignatureError("bad_timestamp", "webhook-timestamp must be integer seconds since the epoch") from None
    now_s = time.time() if now is None else now
    if ts < now_s - tolerance_s:
        raise SignatureError("stale_timestamp", f"webhook-timestamp is more than {tolerance_s}s in the past")
    if ts > now_s + tolerance_s:
        raise SignatureError("future_timestamp", f"webhook-timestamp is more than {tolerance_s}s in the future")
    given = []
    for part in sig_header.split(" "):
        version, _, value = part.partition(",")
        if version == "v1" and value:
            try:
                given.append(base64.b64decode(value, validate=True))
            except (ValueError, TypeError):
                continue
    if not given:
        raise SignatureError("bad_signature", "webhook-signature holds no v1 signature")
    to_sign = f"{msg_id}.{ts}.".encode() + body
    matched = False
    for secret in secrets:
        expected = hmac.digest(secret_key(secret), to_sign, "sha256")  # one-shot: no HMAC object per request
        for candidate in given:
            # no early exit: every pair is compared, in constant time each
            matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise SignatureError("bad_signature", "no signature matches this store's secrets")
    return msg_id


def wc_signature(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def verify_wc(secrets: Iterable[str], signature: str | None, body: bytes) -> None:
    if not signature:
        raise SignatureError("missing_signature", "X-WC-Webhook-Signature header is required")
    try:
        given = base64.b64decode(signature, validate=True)
    except (ValueError, TypeError):
        raise SignatureError("bad_signature", "X-WC-Webhook-Signature is not base64") from None
    matched = False
    for secret in secrets:
        matched |= hmac.compare_digest(hmac.new(secret.encode(), body, hashlib.sha256).digest(), given)
    if not matched:
        raise SignatureError("bad_signature",
                             "X-WC-Webhook-Signature does not match the store's WooCommerce webhook secret")
