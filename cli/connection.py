"""The plugin's connection string: one thing for a store owner to paste.

``wooforce://`` + base64url (no padding) of the JSON object ``{"v": 1, "url": <the collector's public URL>,
"store_id": ..., "secret": "whsec_..."}``. The plugin's settings page decodes it
(``Wooforce_Settings::parse_connection_string``); it holds the signing secret, so it is shown only where the secret
is (``stores add``, ``stores show --connect``, ``stores rotate-secret``).
"""
from __future__ import annotations

import base64
import json

PREFIX = "wooforce://"


def connection_string(public_url: str, store_id: str, secret: str) -> str:
    body = json.dumps({"v": 1, "url": public_url, "store_id": store_id, "secret": secret}, separators=(",", ":"))
    return PREFIX + base64.urlsafe_b64encode(body.encode()).decode().rstrip("=")


def parse_connection_string(text: str) -> dict:
    """The fields of a connection string; ValueError when it is not one."""
    text = text.strip()
    if not text.startswith(PREFIX):
        raise ValueError(f"a connection string starts with {PREFIX}")
    raw = text[len(PREFIX):]
    try:
        data = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except ValueError:
        raise ValueError("the connection string is damaged (copy it whole)") from None
    if not isinstance(data, dict) or data.get("v") != 1 or not all(
            isinstance(data.get(k), str) and data[k] for k in ("url", "store_id", "secret")):
        raise ValueError("the connection string is damaged (copy it whole)")
    return data
