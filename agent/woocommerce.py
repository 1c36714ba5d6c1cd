"""WooCommerce REST API v3 client (aiohttp) used by the reconciler, backfills and manual syncs.

Auth per store (``wc_credentials["auth"]``): ``basic`` (HTTP Basic, https only), ``query`` (keys as query
parameters, https only), ``oauth1`` (one-legged OAuth 1.0a, HMAC-SHA256: the only method WooCommerce accepts
over plain http) or ``auto`` (basic over https, oauth1 over http).

Errors: 401/403 -> :class:`WooCommerceAuthError`; timeouts, connection errors, 5xx and 429 ->
:class:`WooCommerceRetryable` (after ``max_retries`` quick retries); other 4xx -> :class:`WooCommerceBadRequest`.
URLs are never logged with their query (keys, OAuth parameters) and ``Link`` headers are never read:
WooCommerce echoes credentials into them.
"""
from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp
import orjson
from loguru import logger
from multidict import CIMultiDictProxy

from shared.errors import PermanentError, WooCommerceAuthError, WooCommerceRetryable, WooforceError
from shared.logs import redact_url

API_PREFIX = "/wp-json/wc/v3"
AUTH_MODES = ("auto", "basic", "query", "oauth1")


class WooCommerceBadRequest(PermanentError):
    """WooCommerce refused the request (4xx other than auth)."""
    code = "woocommerce_bad_request"


@dataclass(frozen=True, slots=True)
class Page:
    records: list[dict[str, Any]]
    total: int
    total_pages: int


def wc_gmt(dt: datetime) -> str:
    """A bare GMT value for ``modified_after`` (sent with ``dates_are_gmt=true``; an offset would be misread)."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _enc(value: str) -> str:
    return quote(value, safe="~")


def oauth1_params(method: str, url: str, params: dict[str, str], consumer_key: str,
                  consumer_secret: str) -> dict[str, str]:
    """``params`` plus signed one-legged OAuth 1.0a parameters (HMAC-SHA256), to send as the query string."""
    signed = {**params, "oauth_consumer_key": consumer_key, "oauth_timestamp": str(int(time.time())),
              "oauth_nonce": secrets.token_hex(16), "oauth_signature_method": "HMAC-SHA256"}
    parts = urlsplit(url)
    norm = f"{parts.scheme}://{parts.netloc.lower()}{parts.path}"
    pairs = "&".join(f"{k}={v}" for k, v in sorted((_enc(k), _enc(v)) for k, v in signed.items()))
    base = f"{method.upper()}&{_enc(norm)}&{_enc(pairs)}"
    mac = hmac.new(f"{consumer_secret}&".encode(), base.encode(), hashlib.sha256).digest()
    signed["oauth_signature"] = base64.b64encode(mac).decode()
    return signed


@dataclass
class WooClient:
    base_url: str
    consumer_key: str
    consumer_secret: str
    auth: str = "auto"
    timeout_s: float = 30.0
    max_retries: int = 2
    retry_backoff_s: float = 1.0
    session: aiohttp.ClientSession | None = None
    ssl: Any = None  # an ssl.SSLContext to trust (tests: the emulator's CA); None = default verification
    requests: int = 0  # HTTP requests sent (the gap report's figure)
    _own_session: bool = field(default=False, repr=False)

    @classmethod
    def for_store(cls, store: dict, *, timeout_s: float = 30.0, max_retries: int = 2, retry_backoff_s: float = 1.0,
                  session: aiohttp.ClientSession | None = None, ssl: Any = None) -> WooClient:
        creds = store.get("wc_credentials") or {}
        if not store.get("wc_url") or not creds.get("consumer_key") or not creds.get("consumer_secret"):
            raise WooCommerceAuthError("the store has no WooCommerce URL or REST keys: run "
                                       "`wooforce stores set-woocommerce ID --url U --key ck_... --secret cs_...`",
                                       code="woocommerce_keys_missing")
        return cls(store["wc_url"].rstrip("/"), creds["consumer_key"], creds["consumer_secret"],
                   creds.get("auth") or "auto", timeout_s, max_retries, retry_backoff_s, session, ssl)

    @property
    def mode(self) -> str:
        if self.auth == "auto":
            return "basic" if self.base_url.startswith("https://") else "oauth1"
        return self.auth

    async def __aenter__(self) -> WooClient:
        if self.session is None:
            self.session = aiohttp.ClientSession()
            self._own_session = True
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._own_session and self.session is not None:
            await self.session.close()
            self.session = None

    # ------------------------------------------------------------------ API

    async def list(self, path: str, params: dict[str, Any] | None = None) -> Page:
        """One page of a collection (``orders``, ``products``, ``customers`` ...)."""
        _status, headers, body = await self._request("GET", path, params or {})
        records = body if isinstance(body, list) else []
        return Page(records, int(headers.get("X-WP-Total") or 0), int(headers.get("X-WP-TotalPages") or 0))

    async def get(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """One record, or ``None`` if WooCommerce answers 404 (deleted for good, or never existed)."""
        status, _, body = await self._request("GET", path, params or {}, allow_404=True)
        return None if status == 404 else body

    async def put(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """Update one record (``PUT orders/{id}``, ``customers/{id}``): the record as WooCommerce saved it."""
        _, _, saved = await self._request("PUT", path, {}, body=body)
        record: dict[str, Any] = saved
        return record

    async def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """Create one record (``POST products``, ``customers``): the record as WooCommerce saved it."""
        _, _, saved = await self._request("POST", path, {}, body=body)
        record: dict[str, Any] = saved
        return record

    async def delete(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """``DELETE`` (a product without ``force`` goes to the trash); ``None`` if it is already gone (404)."""
        status, _, body = await self._request("DELETE", path, params or {}, allow_404=True)
        return None if status == 404 else body

    # ------------------------------------------------------------------ transport

    def _prepare(self, method: str, url: str,
                 params: dict[str, str]) -> tuple[dict[str, str], aiohttp.BasicAuth | None]:
        mode = self.mode
        if mode == "basic":
            return params, aiohttp.BasicAuth(self.consumer_key, self.consumer_secret)
        if mode == "query":
            return {**params, "consumer_key": self.consumer_key, "consumer_secret": self.consumer_secret}, None
        if mode == "oauth1":
            return oauth1_params(method, url, params, self.consumer_key, self.consumer_secret), None
        raise WooCommerceAuthError(f"unknown WooCommerce auth mode {self.auth!r} (use one of {', '.join(AUTH_MODES)})",
                                   code="woocommerce_auth_mode")

    async def _request(self, method: str, path: str, params: dict[str, Any], *, allow_404: bool = False,
                       body: Any = None) -> tuple[int, CIMultiDictProxy[str], Any]:
        assert self.session is not None, "use `async with WooClient(...)` or pass a session"
        url = f"{self.base_url}{API_PREFIX}/{path.lstrip('/')}"
        plain = {k: ("true" if v is True else "false" if v is False else str(v)) for k, v in params.items()}
        attempt = 0
        while True:
            attempt += 1
            query, basic = self._prepare(method, url, plain)  # OAuth nonces must be fresh per attempt
            self.requests += 1
            try:
                async with self.session.request(method, url, params=query, auth=basic, ssl=self.ssl, json=body,
                                                timeout=aiohttp.ClientTimeout(total=self.timeout_s)) as resp:
                    raw = await resp.read()
                    status, headers = resp.status, resp.headers
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                err: WooforceError = WooCommerceRetryable(
                    f"WooCommerce unreachable ({type(exc).__name__}) at {redact_url(url)}",
                    code="woocommerce_unreachable")
            else:
                if status < 300 or (status == 404 and allow_404):
                    try:
                        return status, headers, orjson.loads(raw) if raw else None
                    except orjson.JSONDecodeError:
                        err = WooCommerceRetryable(f"WooCommerce answered {status} with a body that is not JSON "
                                                   f"at {redact_url(url)}", code="woocommerce_bad_body")
                else:
                    err = self._error(status, headers, raw, url)
                    if not isinstance(err, WooCommerceRetryable):
                        raise err
            if attempt > self.max_retries:
                raise err
            wait_s = err.retry_after_s or self.retry_backoff_s * 2 ** (attempt - 1)
            logger.bind(action="wc.retry", path=urlsplit(url).path, attempt=attempt, code=err.code).info(
                "WooCommerce request failed; retrying in {:.1f}s", wait_s)
            await asyncio.sleep(min(wait_s, 30.0))

    def _error(self, status: int, headers: Any, raw: bytes, url: str) -> WooforceError:
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            body = None
        code = body.get("code", "") if isinstance(body, dict) else ""
        message = body.get("message", "") if isinstance(body, dict) else ""
        where = redact_url(url)
        if status in (401, 403):
            hint = ""
            if self.mode in ("basic", "query") and self.base_url.startswith("http://"):
                hint = " (over plain http WooCommerce accepts only OAuth 1.0a: set auth to oauth1 or auto)"
            elif code == "woocommerce_rest_cannot_view":
                hint = " (unknown consumer key, or a key without read permission)"
            return WooCommerceAuthError(
                f"WooCommerce refused the store's REST keys: HTTP {status} {code}: {message}{hint} [{where}]",
                code="woocommerce_auth", status_code=status, body=body)
        if status == 429 or status >= 500:
            retry_after = headers.get("Retry-After")
            try:
                ra = float(retry_after) if retry_after else None
            except ValueError:
                ra = None
            return WooCommerceRetryable(f"WooCommerce answered HTTP {status} {code} at {where}",
                                        code="woocommerce_retryable", retry_after_s=ra, status_code=status,
                                        body=body)
        return WooCommerceBadRequest(f"WooCommerce answered HTTP {status} {code}: {message} [{where}]",
                                     status_code=status, body=body)
