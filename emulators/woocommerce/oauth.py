"""OAuth 1.0a one-legged signatures exactly as WooCommerce computes them (client and server side).

WooCommerce (``WC_REST_Authentication::check_oauth_signature``) signs
``METHOD & rawurlencode(scheme://host[:port]/path) & rawurlencode(k1=v1&k2=v2...)`` where the
parameters are all query (and form) parameters except ``oauth_signature``, sorted by key with
``strcmp``, keys and values RFC 3986-encoded. The key is ``consumer_secret + "&"``; HMAC-SHA1 or
HMAC-SHA256, base64.

Client use (the reconciler's signer)::

    params = sign_oauth1("GET", "http://127.0.0.1:8080/wp-json/wc/v3/orders", {"per_page": 100}, ck, cs)
    requests.get(url, params=params)   # or: oauth1_url(...) for a ready URL
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

ALGORITHMS = {"HMAC-SHA1": hashlib.sha1, "HMAC-SHA256": hashlib.sha256}
OAUTH_REQUIRED = ("oauth_consumer_key", "oauth_timestamp", "oauth_nonce", "oauth_signature", "oauth_signature_method")

ParamValue = str | list[str]


def rfc3986(value: str) -> str:
    """PHP's ``wc_rest_urlencode_rfc3986`` (``rawurlencode``)."""
    return quote(value, safe="~")


def normalized_url(url: str) -> str:
    """scheme://host[:non-default port]/path, no query or fragment."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    port = parts.port
    netloc = host if port is None or (scheme, port) in (("http", 80), ("https", 443)) else f"{host}:{port}"
    return urlunsplit((scheme, netloc, parts.path or "/", "", ""))


def _joined(params: Mapping[str, ParamValue]) -> list[str]:
    out: list[str] = []
    for key in sorted(params, key=lambda k: k.encode()):  # uksort strcmp: byte order
        value = params[key]
        if isinstance(value, list):  # PHP array: key%5B0%5D=value, index order
            for i, item in enumerate(value):
                out.append(rfc3986(f"{rfc3986(key)}%5B{i}%5D={rfc3986(str(item))}"))
        else:
            out.append(rfc3986(f"{rfc3986(key)}={rfc3986(str(value))}"))
    return out


def base_string(method: str, url: str, params: Mapping[str, ParamValue]) -> str:
    signed = {k: v for k, v in params.items() if k != "oauth_signature"}
    return f"{method.upper()}&{rfc3986(normalized_url(url))}&{'%26'.join(_joined(signed))}"


def signature(method: str, url: str, params: Mapping[str, ParamValue], consumer_secret: str, signature_method: str) -> str:
    algo = ALGORITHMS[signature_method]
    mac = hmac.new(f"{consumer_secret}&".encode(), base_string(method, url, params).encode(), algo)
    return base64.b64encode(mac.digest()).decode()


def _stringify(params: Mapping[str, Any] | None) -> dict[str, ParamValue]:
    out: dict[str, ParamValue] = {}
    for key, value in (params or {}).items():
        if isinstance(value, (list, tuple)):
            out[key] = [str(v) for v in value]
        elif isinstance(value, bool):
            out[key] = "true" if value else "false"
        else:
            out[key] = str(value)
    return out


def sign_oauth1(
    method: str,
    url: str,
    params: Mapping[str, Any] | None,
    consumer_key: str,
    consumer_secret: str,
    *,
    signature_method: str = "HMAC-SHA256",
    timestamp: int | None = None,
    nonce: str | None = None,
) -> dict[str, ParamValue]:
    """Return ``params`` plus the ``oauth_*`` parameters, signed; send them all as the query string.

    ``url`` is the request URL without query (a query in it is merged into the signed params).
    List values are sent PHP-style as ``key[0]=..&key[1]=..`` (see :func:`encode_query`).
    """
    parts = urlsplit(url)
    merged: dict[str, ParamValue] = {}
    if parts.query:
        merged.update(dict(parse_qsl(parts.query, keep_blank_values=True)))
    merged.update(_stringify(params))
    merged.update({
        "oauth_consumer_key": consumer_key,
        "oauth_timestamp": str(int(time.time()) if timestamp is None else int(timestamp)),
        "oauth_nonce": nonce or secrets.token_hex(16),
        "oauth_signature_method": signature_method,
    })
    merged["oauth_signature"] = signature(method, url, merged, consumer_secret, signature_method)
    return merged


def encode_query(params: Mapping[str, ParamValue]) -> str:
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        if isinstance(value, list):
            pairs.extend((f"{key}[{i}]", item) for i, item in enumerate(value))
        else:
            pairs.append((key, value))
    return urlencode(pairs, quote_via=quote, safe="~")


def oauth1_url(method: str, url: str, params: Mapping[str, Any] | None, consumer_key: str, consumer_secret: str, **kw: Any) -> str:
    """The full signed URL (base URL + query) for ``method``."""
    signed = sign_oauth1(method, url, params, consumer_key, consumer_secret, **kw)
    return f"{url.split('?')[0]}?{encode_query(signed)}"


def verify_signature(method: str, url: str, params: Mapping[str, ParamValue], consumer_secret: str) -> bool | None:
    """True/False for a supported method; None when the signature method is unsupported."""
    method_name = params.get("oauth_signature_method")
    if method_name not in ALGORITHMS:
        return None
    given = params.get("oauth_signature", "")
    given = given if isinstance(given, str) else ""
    given = unquote(given.replace(" ", "+"))
    expected = signature(method, url, params, consumer_secret, str(method_name))
    return hmac.compare_digest(expected.encode(), given.encode())
