"""One store's Salesforce connection: OAuth (JWT bearer / client credentials), REST calls, the API budget.

Synchronous (``requests``, like simple-salesforce underneath): the agent calls it through
``asyncio.to_thread``. Every driver error is wrapped into :class:`~shared.errors.SalesforceRetryable`
or :class:`~shared.errors.SalesforcePermanent`. An expired session (401 ``INVALID_SESSION_ID``) logs in
again once, transparently. Every response's ``Sforce-Limit-Info`` updates :attr:`budget`.
"""
from __future__ import annotations

import asyncio
import email.utils
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import jwt
import requests
from requests.adapters import HTTPAdapter

from shared.errors import SalesforcePermanent, SalesforceRetryable

T = TypeVar("T")

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
RETRYABLE_CODES = {"UNABLE_TO_LOCK_ROW", "REQUEST_LIMIT_EXCEEDED", "SERVER_UNAVAILABLE", "INVALID_SESSION_ID",
                   "ALL_OR_NONE_OPERATION_ROLLED_BACK", "PROCESSING_HALTED", "TIMEOUT", "CONNECTION_ERROR",
                   "QUERY_TIMEOUT", "API_CURRENTLY_DISABLED", "TXN_SECURITY_METERING_ERROR"}
_LIMIT_RE = re.compile(r"api-usage=(\d+)/(\d+)")
LIMIT_CODE = "REQUEST_LIMIT_EXCEEDED"


def daily_limit(code: str | None, message: str) -> bool:
    """Salesforce refused a call because the org's rolling 24-hour API allocation is used up ("TotalRequests Limit
    exceeded."): it lasts until the allocation recovers. The same code with another message (the concurrent
    long-running request limit, "ConcurrentPerOrgLongTxn Limit exceeded.", "ConcurrentRequests (Concurrent API
    Requests) Limit exceeded.") passes within seconds: a retry with backoff."""
    return code == LIMIT_CODE and "TotalRequests" in message


@dataclass
class Budget:
    """The org's daily API allocation as last seen; ``over()`` once ``share`` of it is used."""

    share: float
    used: int | None = None
    max: int | None = None
    seen_at: float = 0.0
    limit_hit: bool = False  # Salesforce refused a call for the daily limit (TotalRequests); cleared by a success

    def update(self, used: int, max_: int) -> None:
        self.used, self.max, self.seen_at = used, max_, time.monotonic()

    @property
    def ratio(self) -> float | None:
        return None if not self.max or self.used is None else self.used / self.max

    def over(self, reserve: int = 1) -> bool:
        return self.limit_hit or (self.max is not None and self.used is not None
                                  and self.used + reserve > self.share * self.max)


@dataclass
class Response:
    status: int
    body: Any
    headers: dict


def error_code(body: Any) -> tuple[str | None, str]:
    """(errorCode, message) of a Salesforce error body ([{errorCode, message}] or {error, error_description})."""
    if isinstance(body, list) and body and isinstance(body[0], dict):
        e = body[0]
        return e.get("errorCode") or e.get("statusCode"), str(e.get("message", ""))
    if isinstance(body, dict) and "error" in body:
        return str(body["error"]), str(body.get("error_description", ""))
    return None, str(body)[:500]


class SalesforceClient:
    def __init__(self, connection: dict, *, api_version: str = "66.0", timeout_s: float = 60.0,
                 pool_size: int = 10, budget_share: float = 0.8):
        self.conn = dict(connection)
        self.auth = self.conn.get("auth") or "client_credentials"
        if self.auth not in ("jwt", "client_credentials"):
            raise SalesforcePermanent(f"unsupported Salesforce auth {self.auth!r}", code="config")
        if not self.conn.get("instance_url") or not self.conn.get("client_id"):
            raise SalesforcePermanent("the store's Salesforce connection needs instance_url and client_id",
                                      code="config")
        self.instance_url = self.conn["instance_url"].rstrip("/")
        self.api_version = api_version
        self.timeout_s = timeout_s
        self.budget = Budget(budget_share)
        self.calls = 0  # API calls this client made (OAuth not counted, like Salesforce)
        self._token: str | None = None
        self.user_id: str | None = None  # the integration user (from the token's identity URL)
        self.org_id: str | None = None  # the org (from the same URL)
        self._login_lock = threading.Lock()
        self.http = requests.Session()
        self.http.trust_env = False  # REQUESTS_CA_BUNDLE / proxies from the environment must not apply
        self.http.verify = self.conn.get("ca_file") or True
        adapter = HTTPAdapter(pool_connections=2, pool_maxsize=max(pool_size, 2), max_retries=0)
        self.http.mount("https://", adapter)
        self.http.mount("http://", adapter)

    def close(self) -> None:
        self.http.close()

    # ---- auth ------------------------------------------------------------------------------------
    def login(self) -> None:
        token_url = (self.conn.get("login_url") or self.instance_url).rstrip("/") + "/services/oauth2/token"
        if self.auth == "jwt":
            key = self._private_key()
            claims = {"iss": self.conn["client_id"], "sub": self.conn.get("username", ""),
                      "aud": (self.conn.get("login_url") or "https://login.salesforce.com").rstrip("/"),
                      "exp": int(time.time()) + 180}
            form = {"grant_type": JWT_GRANT, "assertion": jwt.encode(claims, key, algorithm="RS256")}
        else:
            form = {"grant_type": "client_credentials", "client_id": self.conn["client_id"],
                    "client_secret": self.conn.get("client_secret", "")}
        try:
            r = self.http.post(token_url, data=form, timeout=self.timeout_s)
        except requests.RequestException as exc:
            raise SalesforceRetryable(f"Salesforce login failed: {type(exc).__name__}", code="CONNECTION_ERROR") \
                from None
        body = _json(r)
        self._limit_info(r)
        if r.status_code != 200 or not isinstance(body, dict) or "access_token" not in body:
            code, msg = error_code(body)
            if r.status_code >= 500:
                raise SalesforceRetryable(f"Salesforce login: {r.status_code}", code="SERVER_UNAVAILABLE")
            if code == LIMIT_CODE:  # an API request limit, not the credentials: the daily one pauses the store
                self.budget.limit_hit = self.budget.limit_hit or daily_limit(code, msg)
                raise SalesforceRetryable(f"Salesforce login: {r.status_code} {code}: {msg}", code=code,
                                          status_code=r.status_code, body=body,
                                          retry_after_s=_retry_after(r.headers.get("Retry-After")))
            raise SalesforcePermanent(f"Salesforce login refused: {code}: {msg}", code="auth_failed")
        self._token = body["access_token"]
        # the identity URL ends with the integration user's Id (two-way sync skips that user's changes)
        self.user_id = str(body.get("id") or "").rstrip("/").rsplit("/", 1)[-1] or None
        # .../id/<org id>/<user id>: the org this connection signs in to (`stores set-salesforce --test` prints it)
        ident = str(body.get("id") or "").rstrip("/").rsplit("/", 2)
        self.org_id = ident[-2] if len(ident) == 3 else None
        if body.get("instance_url"):
            self.instance_url = body["instance_url"].rstrip("/")

    def _private_key(self) -> bytes:
        """The JWT signing key: its content, as ``stores set-salesforce`` stores it (encrypted); connections stored
        before that hold a ``private_key_file`` path, still read."""
        if self.conn.get("private_key"):
            return str(self.conn["private_key"]).encode()
        try:
            with open(self.conn["private_key_file"], "rb") as f:
                return f.read()
        except (KeyError, OSError) as exc:
            raise SalesforcePermanent(f"JWT private key unreadable: {exc}", code="config") from None

    def _ensure_token(self) -> str:
        with self._login_lock:
            if self._token is None:
                self.login()
            assert self._token is not None  # login() sets it or raises
            return self._token

    def _relogin(self, stale: str) -> None:
        with self._login_lock:
            if self._token == stale:  # another thread may have logged in already
                self._token = None
                self.login()

    # ---- calls -----------------------------------------------------------------------------------
    def url(self, path: str) -> str:
        return f"{self.instance_url}/services/data/v{self.api_version}{path}"

    def request(self, method: str, path: str, *, json: Any = None, data: str | bytes | None = None,
                content_type: str | None = None) -> Response:
        """One API call; raises SalesforceRetryable / SalesforcePermanent for request-level failures."""
        for attempt in (1, 2):
            token = self._ensure_token()
            headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
            if content_type:
                headers["Content-Type"] = content_type
            try:
                r = self.http.request(method, self.url(path), json=json, data=data, headers=headers,
                                      timeout=self.timeout_s)
            except requests.Timeout:
                raise SalesforceRetryable("Salesforce request timed out", code="TIMEOUT") from None
            except requests.RequestException as exc:
                raise SalesforceRetryable(f"Salesforce unreachable: {type(exc).__name__}",
                                          code="CONNECTION_ERROR") from None
            self.calls += 1
            self._limit_info(r)
            body = _json(r) if r.headers.get("Content-Type", "").startswith("application/json") else r.text
            if r.status_code == 401 and attempt == 1:
                self._relogin(token)
                continue
            if r.status_code < 300:
                self.budget.limit_hit = False
                return Response(r.status_code, body, dict(r.headers))
            code, msg = error_code(body)
            if daily_limit(code, msg):
                self.budget.limit_hit = True
            retry_after = _retry_after(r.headers.get("Retry-After"))
            text, code = f"Salesforce {r.status_code} {code}: {msg}", code or f"HTTP_{r.status_code}"
            if r.status_code >= 500 or code in RETRYABLE_CODES or r.status_code in (401, 429):
                raise SalesforceRetryable(text, code=code, retry_after_s=retry_after, status_code=r.status_code,
                                          body=body)
            raise SalesforcePermanent(text, code=code, status_code=r.status_code, body=body)
        raise AssertionError("unreachable")

    def _limit_info(self, r: requests.Response) -> None:
        if m := _LIMIT_RE.search(r.headers.get("Sforce-Limit-Info", "")):
            self.budget.update(int(m.group(1)), int(m.group(2)))

    def composite(self, subrequests: list[dict]) -> list[dict]:
        body = self.request("POST", "/composite", json={"allOrNone": False, "compositeRequest": subrequests}).body
        answers: list[dict] = body["compositeResponse"]
        return answers

    def limits(self) -> dict:
        body = self.request("GET", "/limits").body
        daily = body.get("DailyApiRequests") or {}
        if "Max" in daily:
            # /limits is read before the call counted itself; the header (already applied) is newer
            if self.budget.used is None:
                self.budget.update(daily["Max"] - daily["Remaining"], daily["Max"])
        limits: dict = body
        return limits

    def query(self, soql: str) -> list[dict]:
        """Every record, following ``nextRecordsUrl`` (one API call per page of up to 2,000)."""
        body = self.request("GET", "/query?q=" + requests.utils.quote(soql)).body
        records = list(body.get("records", []))
        prefix = self.data_path("")
        while not body.get("done", True) and (nxt := body.get("nextRecordsUrl")):
            body = self.request("GET", nxt[len(prefix):] if nxt.startswith(prefix) else nxt).body
            records += body.get("records", [])
        return records

    def describe(self, sobject: str) -> dict:
        described: dict = self.request("GET", f"/sobjects/{sobject}/describe").body
        return described

    def data_path(self, rest: str) -> str:
        """``/services/data/vXX.X`` + ``rest``: the form a Composite subrequest's ``url`` takes."""
        return f"/services/data/v{self.api_version}{rest}"

    def query_path(self, soql: str) -> str:
        return self.data_path("/query?q=" + requests.utils.quote(soql))

    def collection_path(self, sobject: str, ext_field: str) -> str:
        return self.data_path(f"/composite/sobjects/{sobject}/{ext_field}")


async def in_thread(fn: Callable[..., T], *args: Any) -> T:
    """Run blocking ``fn`` in a daemon thread: like ``asyncio.to_thread``, but a call hanging in the network
    cannot hold up the process's exit after a shutdown abandoned it (executor threads are joined at exit)."""
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[T] = loop.create_future()

    def settle(ok: bool, value: Any) -> None:
        if not fut.done():
            fut.set_result(value) if ok else fut.set_exception(value)

    def run() -> None:
        try:
            result: Any = fn(*args)
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting coroutine
            ok, result = False, exc
        else:
            ok = True
        try:
            loop.call_soon_threadsafe(settle, ok, result)
        except RuntimeError:
            pass  # the loop is gone: the caller abandoned this call at shutdown

    threading.Thread(target=run, name="salesforce-call", daemon=True).start()
    return await fut


def _json(r: requests.Response) -> Any:
    try:
        return r.json()
    except ValueError:
        return r.text


def _retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds, from delta-seconds or an HTTP-date (RFC 9110); None when absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def soql_datetime(dt: datetime) -> str:
    dt = dt.astimezone(UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


# Salesforce refuses a request URI over 16,384 bytes (414); a query by key list is a GET with the SOQL in the URL,
# so key lists are cut by the URL-encoded size of the query as well as by count
SOQL_QUERY_MAX_BYTES = 12_000


def soql_key_queries(sobject: str, cols: list[str], keys: list[str], by: str = "Wooforce_Key__c", *,
                     max_keys: int = 200, max_bytes: int = SOQL_QUERY_MAX_BYTES) -> list[str]:
    """:func:`soql_keys` for any number of keys: one query per at most ``max_keys`` keys whose URL-encoded text
    (as :meth:`SalesforceClient.query` sends it) stays within ``max_bytes``, so its GET fits Salesforce's URI
    limit."""
    base = len(requests.utils.quote(soql_keys(sobject, cols, [], by)))
    out: list[str] = []
    batch: list[str] = []
    size = base
    for k in keys:
        cost = len(requests.utils.quote(f"'{k}', "))
        if batch and (len(batch) >= max_keys or size + cost > max_bytes):
            out.append(soql_keys(sobject, cols, batch, by))
            batch, size = [], base
        batch.append(k)
        size += cost
    if batch:
        out.append(soql_keys(sobject, cols, batch, by))
    return out


def soql_keys(sobject: str, cols: list[str], keys: list[str], by: str = "Wooforce_Key__c") -> str:
    """``cols`` of the records whose ``by`` (their Wooforce key, or e.g. ``Order.Wooforce_Key__c`` for an order's
    lines) is one of these keys (which are [a-z0-9_:] only)."""
    quoted = ", ".join("'" + k.replace("\\", "").replace("'", "") + "'" for k in keys)
    # SOQL (no bind parameters in the REST query API): the keys are quoted above, the names are our own
    return f"SELECT {', '.join(dict.fromkeys(cols))} FROM {sobject} WHERE {by} IN ({quoted})"  # noqa: S608
