"""Stores (tenants): registration, signing secrets and their rotation, encrypted credentials."""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from shared import ids
from shared.crypto import Vault
from shared.db import Database
from shared.errors import NotFound
from shared.signing import generate_secret


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
            raise NotFound(f"unknown store {store_id}")
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

    async def set_salesforce(self, store_id: str, connection: dict) -> None:
        await self.get(store_id)
        await self.db.execute("update_store_salesforce", store_id, self.vault.encrypt(connection))

    async def set_status(self, store_id: str, status: str) -> None:
        result = await self.db.execute("update_store_status", store_id, status)
        if result.endswith(" 0"):
            raise NotFound(f"unknown store {store_id}")
        self._cache.pop(store_id, None)

    async def remove(self, store_id: str) -> None:
        result = await self.db.execute("delete_store", store_id)
        if result.endswith(" 0"):
            raise NotFound(f"unknown store {store_id}")
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
        if row is not None:
            secrets = self.vault.decrypt(row["signing_secrets"])
            wc = self.vault.decrypt(row["wc_credentials"]) or {}
            auth = StoreAuth(row["id"], row["name"], row["status"] == "active", _valid_secrets(secrets, _now()),
                             wc.get("webhook_secret"))
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[store_id] = (now + self.cache_ttl_s, auth)
        return auth
