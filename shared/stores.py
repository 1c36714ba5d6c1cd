"""Stores (tenants): registration, signing secrets and their rotation, encrypted credentials."""
from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from shared import ids
from shared.crypto import Vault
from shared.db import Database
from shared.errors import ConfigError, NotFound
from shared.signing import generate_secret

SF_AUTHS = ("jwt", "client_credentials")
# what each sign-in flow needs besides instance_url; the other flow's secrets are dropped when the flow changes
SF_REQUIRED = {"jwt": ("client_id", "username", "private_key"), "client_credentials": ("client_id", "client_secret")}
SF_FLOW_ONLY = {"jwt": ("username", "private_key"), "client_credentials": ("client_secret",)}
SF_OPTIONS = {"instance_url": "--instance-url", "auth": "--auth", "client_id": "--client-id",
              "client_secret": "--client-secret", "username": "--username", "private_key": "--private-key-file",
              "login_url": "--login-url", "ca_file": "--ca-file", "mapping_file": "--mapping-file"}


@dataclass(frozen=True, slots=True)
class StoreAuth:
    """What the collector needs to authenticate a request for one store."""

    id: str
    name: str
    active: bool
    signing_secrets: tuple[str, ...]
    wc_webhook_secret: str | None


def _now() -> datetime:
    return datetime.now(UTC)


def _url_problem(value: Any) -> str | None:
    """Why ``value`` is not a Salesforce base URL: https://host (http:// only for a loopback host, a local emulator)."""
    if not isinstance(value, str) or not value:
        return "needed"
    parts = urlsplit(value)
    if not parts.hostname:
        return f"{value!r} is not a URL (expected https://HOST, e.g. https://example.my.salesforce.com)"
    if parts.scheme != "https":
        try:
            loopback = parts.hostname == "localhost" or ipaddress.ip_address(parts.hostname).is_loopback
        except ValueError:
            loopback = False
        if parts.scheme != "http" or not loopback:
            return f"{value!r} must be an https:// URL (plain http only for a local emulator on 127.0.0.1)"
    if parts.query or parts.fragment or parts.path.strip("/") or parts.username or parts.password:
        return f"{value!r} must be just https://HOST (no path, query or credentials)"
    return None


def _key_problem(pem: Any) -> str | None:
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    if not isinstance(pem, str) or not pem.strip():
        return "is empty"
    try:
        key = load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError) as exc:
        return f"is not an unencrypted PEM private key ({exc})"
    if not isinstance(key, rsa.RSAPrivateKey):
        return "must be an RSA key (Salesforce's JWT bearer flow signs with RS256)"
    return None


def validate_salesforce(connection: dict) -> dict:
    """The connection, checked for its sign-in flow (:data:`SF_REQUIRED`); file paths made absolute. A stored key
    *path* (older connections) is replaced by the key's content while the file is still readable. Raises
    :class:`ConfigError` listing every problem, by option name."""
    conn = {k: v for k, v in connection.items() if v not in (None, "")}
    problems: list[str] = []
    auth = conn.setdefault("auth", "client_credentials")
    if auth not in SF_AUTHS:
        problems.append(f"--auth: must be one of {', '.join(SF_AUTHS)} (got {auth!r})")
        auth = None
    if auth == "jwt" and "private_key" not in conn and conn.get("private_key_file"):
        try:
            conn["private_key"] = Path(conn["private_key_file"]).read_text()
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(f"--private-key-file: the stored key file cannot be read ({exc}); pass it again")
    conn.pop("private_key_file", None)
    for name in ("instance_url", "login_url"):
        if name in conn or name == "instance_url":
            if problem := _url_problem(conn.get(name)):
                problems.append(f"{SF_OPTIONS[name]}: {problem}")
    for name in SF_REQUIRED.get(auth or "", ()):
        if not conn.get(name):
            problems.append(f"{SF_OPTIONS[name]}: needed with --auth {auth}")
    if auth == "jwt" and conn.get("username") and "@" not in conn["username"]:
        problems.append(f"--username: a Salesforce username looks like an email address (got {conn['username']!r})")
    if auth == "jwt" and conn.get("private_key") and (problem := _key_problem(conn["private_key"])):
        problems.append(f"--private-key-file: {problem}")
    for name in ("ca_file", "mapping_file"):
        if name in conn:
            path = Path(conn[name]).expanduser().resolve()
            if not path.is_file():
                problems.append(f"{SF_OPTIONS[name]}: no such file {path}")
            conn[name] = str(path)
    if problems:
        raise ConfigError("invalid Salesforce connection:\n  " + "\n  ".join(problems))
    return conn


def merge_salesforce(current: dict | None, changes: dict) -> dict:
    """``current`` with the options given in ``changes`` (None = keep), validated. Changing the flow drops the
    other flow's secrets."""
    given = {k: v for k, v in changes.items() if v is not None}
    conn = {**(current or {})}
    new_auth = given.get("auth")
    if new_auth and new_auth != conn.get("auth", "client_credentials"):
        for name in SF_FLOW_ONLY.get(conn.get("auth", "client_credentials"), ()):
            conn.pop(name, None)
        if new_auth == "client_credentials":
            conn.pop("private_key_file", None)
    if "private_key" in given:
        conn.pop("private_key_file", None)
    conn.update(given)
    return validate_salesforce(conn)


def _valid_secrets(entries: list[dict], now: datetime) -> tuple[str, ...]:
    return tuple(
        e["secret"] for e in entries
        if not e.get("expires_at") or datetime.fromisoformat(e["expires_at"]) > now
    )


class StoreManager:
    def __init__(self, db: Database, vault: Vault, *, cache_ttl_s: float = 5.0):
        self.db = db
        self.vault = vault
        self.cache_ttl_s = cache_ttl_s
        self._cache: dict[str, tuple[float, StoreAuth | None]] = {}
        self.undecryptable: dict[str, str] = {}  # store id -> why its secrets could not be decrypted (for /readyz)

    async def add(self, name: str, *, wc_url: str | None = None,
                  wc_credentials: dict | None = None) -> tuple[dict, str]:
        """Register a store; return its row and its (only ever shown once) signing secret."""
        secret = generate_secret()
        entries = [{"secret": secret, "created_at": _now().isoformat(), "expires_at": None}]
        row = await self.db.fetchrow(
            "insert_store", ids.new_id("store"), name, self.vault.encrypt(entries), wc_url,
            self.vault.encrypt(wc_credentials) if wc_credentials else None,
        )
        assert row is not None  # INSERT ... RETURNING
        return dict(row), secret

    async def get(self, store_id: str) -> dict:
        row = await self.db.fetchrow("get_store", store_id)
        if row is None:
            raise NotFound(f"no store {store_id} (unknown store id; `wooforce stores list` shows them)")
        store = dict(row)
        store["signing_secrets"] = self.vault.decrypt(store["signing_secrets"])
        store["wc_credentials"] = self.vault.decrypt(store["wc_credentials"])
        store["sf_credentials"] = self.vault.decrypt(store["sf_credentials"])
        return store

    async def list(self) -> list[dict]:
        return [dict(r) for r in await self.db.fetch("list_stores")]

    async def rotate_secret(self, store_id: str, *, grace_s: int) -> str:
        """Add a new signing secret; the old ones stay valid for ``grace_s`` seconds."""
        store = await self.get(store_id)
        now = _now()
        until = (now + timedelta(seconds=grace_s)).isoformat()
        kept = [
            {**e, "expires_at": e.get("expires_at") or until}
            for e in store["signing_secrets"] if _valid_secrets([e], now)
        ]
        secret = generate_secret()
        entries = [{"secret": secret, "created_at": now.isoformat(), "expires_at": None}, *kept]
        await self.db.execute("update_store_secrets", store_id, self.vault.encrypt(entries))
        self._cache.pop(store_id, None)
        return secret

    async def set_woocommerce(self, store_id: str, *, url: str, consumer_key: str | None, consumer_secret: str | None,
                              webhook_secret: str | None, auth: str = "auto") -> None:
        store = await self.get(store_id)
        creds = {**(store["wc_credentials"] or {})}
        for k, v in (("consumer_key", consumer_key), ("consumer_secret", consumer_secret),
                     ("webhook_secret", webhook_secret), ("auth", auth)):
            if v is not None:
                creds[k] = v
        await self.db.execute("update_store_woocommerce", store_id, url, self.vault.encrypt(creds))
        self._cache.pop(store_id, None)

    async def salesforce_after(self, store_id: str, changes: dict) -> dict:
        """The store's Salesforce connection as it would be with ``changes`` (options given; None = keep the stored
        one), validated; nothing is stored."""
        return merge_salesforce((await self.get(store_id))["sf_credentials"], changes)

    async def set_salesforce(self, store_id: str, changes: dict) -> dict:
        """Change the options given in ``changes`` and keep the rest; validated before anything is stored (the key
        is stored as content, encrypted with the other secrets). Returns the stored connection."""
        connection = await self.salesforce_after(store_id, changes)
        await self.db.execute("update_store_salesforce", store_id, self.vault.encrypt(connection))
        return connection

    async def check_keys(self) -> int:
        """Decrypt every store's stored secrets: a master key that cannot must stop start-up (else every signed
        event is a 500). Returns how many stores were checked; raises :class:`ConfigError` naming the key."""
        rows = await self.db.fetch("stores_encrypted")
        columns = ("signing_secrets", "wc_credentials", "sf_credentials")
        bad = [r["id"] for r in rows if not all(self.vault.can_decrypt(r[c]) for c in columns)]
        if bad:
            shown = ", ".join(bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
            raise ConfigError(
                f"WOOFORCE_MASTER_KEY: {self.vault.source} cannot decrypt the stored secrets of {len(bad)} of "
                f"{len(rows)} stores ({shown}): they were written with another key. Set WOOFORCE_MASTER_KEY to that "
                "key (while rotating: new key first, old key after it, comma-separated)")
        return len(rows)

    async def set_status(self, store_id: str, status: str) -> None:
        result = await self.db.execute("update_store_status", store_id, status)
        if result.endswith(" 0"):
            raise NotFound(f"no store {store_id} (unknown store id)")
        self._cache.pop(store_id, None)

    async def remove(self, store_id: str) -> None:
        result = await self.db.execute("delete_store", store_id)
        if result.endswith(" 0"):
            raise NotFound(f"no store {store_id} (unknown store id)")
        self._cache.pop(store_id, None)

    async def auth(self, store_id: str) -> StoreAuth | None:
        """Signing material for ``store_id`` (cached for ``cache_ttl_s``); ``None`` if unknown."""
        now = time.monotonic()
        hit = self._cache.get(store_id)
        if hit and hit[0] > now:
            return hit[1]
        if not ids.is_id("store", store_id):
            return None
        row = await self.db.fetchrow("get_store", store_id)
        auth = None
        self.undecryptable.pop(store_id, None)
        if row is not None:
            try:
                secrets = self.vault.decrypt(row["signing_secrets"])
                wc = self.vault.decrypt(row["wc_credentials"]) or {}
            except ConfigError as exc:
                self.undecryptable[store_id] = exc.message
                raise
            auth = StoreAuth(row["id"], row["name"], row["status"] == "active", _valid_secrets(secrets, _now()),
                             wc.get("webhook_secret"))
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[store_id] = (now + self.cache_ttl_s, auth)
        return auth
