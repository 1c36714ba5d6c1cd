"""WooCommerce REST API key authentication (``WC_REST_Authentication``), WooCommerce 10 behaviour.

https: ``consumer_key``/``consumer_secret`` query parameters or HTTP Basic, then OAuth 1.0a.
http: only OAuth 1.0a one-legged (query, form or ``Authorization: OAuth`` header); Basic and query keys
are ignored there, so the request is anonymous and the route answers 401 ``woocommerce_rest_cannot_view``.
"""
from __future__ import annotations

import base64
import hmac
import re
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from . import oauth
from .errors import AUTH_ERROR

TIMESTAMP_WINDOW_S = 15 * 60


@dataclass
class ApiKey:
    key_id: int
    consumer_key: str
    consumer_secret: str
    permissions: str  # read | write | read_write
    description: str = ""
    nonces: dict[str, int] = field(default_factory=dict)


@dataclass
class AuthResult:
    key: ApiKey | None = None
    error: tuple[str, str] | None = None  # (code, message), always 401


class KeyRing:
    def __init__(self) -> None:
        self.keys: dict[str, ApiKey] = {}
        self._seq = 0

    def add(self, permissions: str = "read_write", *, consumer_key: str | None = None,
            consumer_secret: str | None = None, description: str = "") -> ApiKey:
        if permissions not in ("read", "write", "read_write"):
            raise ValueError("permissions must be read, write or read_write")
        self._seq += 1
        key = ApiKey(self._seq, consumer_key or "ck_" + secrets.token_hex(20), consumer_secret or "cs_" + secrets.token_hex(20),
                     permissions, description)
        self.keys[key.consumer_key] = key
        return key

    def revoke(self, consumer_key: str) -> bool:
        return self.keys.pop(consumer_key, None) is not None

    def authenticate(self, method: str, url: str, query: dict[str, Any], form: dict[str, Any],
                     authorization: str, is_https: bool, now: int) -> AuthResult:
        result = AuthResult()
        if is_https:
            self._basic(query, authorization, result)
            if result.key is not None:
                return self._permissions(method, result)
        self._oauth(method, url, {**query, **form}, authorization, now, result)
        if result.key is not None:
            return self._permissions(method, result)
        return result

    def _basic(self, query: dict[str, Any], authorization: str, result: AuthResult) -> None:
        ck = cs = ""
        if query.get("consumer_key") and query.get("consumer_secret"):
            ck, cs = str(query["consumer_key"]), str(query["consumer_secret"])
        if not ck and authorization[:6].lower() == "basic ":
            try:
                ck, _, cs = base64.b64decode(authorization[6:].strip()).decode("utf-8").partition(":")
            except (ValueError, UnicodeDecodeError):
                ck = cs = ""
        if not ck or not cs:
            return
        key = self.keys.get(ck)
        if key is None:
            return  # unknown key: anonymous, no error (the route answers cannot_view)
        if not hmac.compare_digest(key.consumer_secret.encode(), cs.encode()):
            result.error = (AUTH_ERROR, "Consumer secret is invalid.")
            return
        result.key = key

    def _oauth(self, method: str, url: str, params: dict[str, Any], authorization: str, now: int, result: AuthResult) -> None:
        params = dict(params)
        if authorization[:6].lower() == "oauth ":
            for k, v in re.findall(r'(\w+)="([^"]*)"', authorization[6:]):
                if k.startswith("oauth_"):
                    params[k] = unquote(v)
        missing = [p for p in oauth.OAUTH_REQUIRED if not params.get(p)]
        if len(missing) == len(oauth.OAUTH_REQUIRED):
            return
        if missing:
            word = "parameter" if len(missing) == 1 else "parameters"
            result.error = ("woocommerce_rest_authentication_missing_parameter", f"Missing OAuth {word} {', '.join(missing)}")
            return
        key = self.keys.get(str(params["oauth_consumer_key"]))
        if key is None:
            result.error = (AUTH_ERROR, "Consumer key is invalid.")
            return
        ok = oauth.verify_signature(method, url, params, key.consumer_secret)
        if ok is None:
            result.error = (AUTH_ERROR, "Invalid signature - signature method is invalid.")
            return
        if not ok:
            result.error = (AUTH_ERROR, "Invalid signature - provided signature does not match.")
            return
        try:
            ts = int(str(params["oauth_timestamp"]))
        except ValueError:
            ts = 0
        if ts < now - TIMESTAMP_WINDOW_S or ts > now + TIMESTAMP_WINDOW_S:
            result.error = (AUTH_ERROR, "Invalid timestamp.")
            return
        nonce = str(params["oauth_nonce"])
        key.nonces = {n: t for n, t in key.nonces.items() if t >= now - TIMESTAMP_WINDOW_S}
        if nonce in key.nonces:
            result.error = (AUTH_ERROR, "Invalid nonce - nonce has already been used.")
            return
        key.nonces[nonce] = ts
        result.key = key

    @staticmethod
    def _permissions(method: str, result: AuthResult) -> AuthResult:
        key = result.key
        assert key is not None
        if method in ("GET", "HEAD") and key.permissions not in ("read", "read_write"):
            return AuthResult(error=(AUTH_ERROR, "The API key provided does not have read permissions."))
        if method in ("POST", "PUT", "PATCH", "DELETE") and key.permissions not in ("write", "read_write"):
            return AuthResult(error=(AUTH_ERROR, "The API key provided does not have write permissions."))
        return result
