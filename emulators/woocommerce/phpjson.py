"""Serialise like PHP's ``json_encode`` with default flags (what WooCommerce webhooks send).

Compact separators, ``/`` escaped as ``\\/``, every non-ASCII character as ``\\uXXXX`` (lowercase hex,
surrogate pairs above the BMP), DEL left raw. Signatures are computed over these exact bytes.
"""
from __future__ import annotations

import json
from typing import Any

_ENCODER = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"), allow_nan=False)


def php_json_encode(value: Any) -> str:
    return _ENCODER.encode(value).replace("/", "\\/").replace("\\u007f", "\x7f")


def php_json_bytes(value: Any) -> bytes:
    return php_json_encode(value).encode("ascii")
