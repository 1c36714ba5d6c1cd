"""Sign-in and sessions: operators, console sessions, API tokens (only hashes are stored)."""
from __future__ import annotations

import asyncio
import hashlib
import secrets
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from collector.console.service.base import ROLES, TOKEN_PREFIX, AuthFailed, InvalidInput, Principal, ServiceBase, _now
from shared import ids
from shared.errors import NotFound

_hasher = PasswordHasher()  # argon2id, RFC 9106 low-memory profile (64 MiB, t=3)
# verified against when the email is unknown, so a wrong email costs as long as a wrong password
_DUMMY_HASH = _hasher.hash("not a password")


def _sha256(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def hash_password(password: str) -> str:
    if len(password) < 10:
        raise InvalidInput("a password needs at least 10 characters")
    return _hasher.hash(password)


class AccessService(ServiceBase):
    # -- operators, sessions, tokens ------------------------------------------------------------
    async def add_operator(self, p: Principal, email: str, password: str, role: str, store_id: str | None = None,
                           ip: str | None = None) -> dict:
        self.require(p, "admin")
        self.scope(p, store_id)
        if role not in ROLES:
            raise InvalidInput(f"role must be one of {', '.join(ROLES)}")
        email = email.strip().lower()
        if "@" not in email:
            raise InvalidInput("email must be an email address")
        if store_id and not await self.db.fetch("console_store_names", store_id):
            raise NotFound(f"unknown store {store_id}")
        pw_hash = await asyncio.to_thread(hash_password, password)
        async with self.db.transaction() as tx:
            if await self.db.fetchrow("console_operator_by_email", email, conn=tx):
                raise InvalidInput(f"an operator {email} exists already")
            row = await self.db.fetchrow("console_insert_operator", ids.new_id("operator"), email, pw_hash, role,
                                         store_id or p.store_id, conn=tx)
            assert row is not None  # INSERT ... RETURNING
            await self.audit(p, "operator.add", store_id=store_id, target=email, params={"role": role}, ip=ip, conn=tx)
        return dict(row)

    async def list_operators(self, p: Principal) -> list[dict]:
        self.require(p, "admin")
        rows = [dict(r) for r in await self.db.fetch("console_list_operators")]
        return [r for r in rows if not p.store_id or r["store_id"] == p.store_id]

    async def authenticate(self, email: str, password: str) -> Principal:
        row = await self.db.fetchrow("console_operator_by_email", email.strip().lower())
        ok = False
        try:
            ok = await asyncio.to_thread(_hasher.verify, row["password_hash"] if row else _DUMMY_HASH, password)
        except (VerificationError, InvalidHashError):
            ok = False
        if not ok or row is None or row["disabled"]:
            raise AuthFailed("wrong email or password")
        if _hasher.check_needs_rehash(row["password_hash"]):
            await self.db.execute("console_update_operator_password", row["id"],
                                  await asyncio.to_thread(_hasher.hash, password))
        await self.db.execute("console_operator_login", row["id"])
        return Principal(row["id"], row["email"], row["role"], row["store_id"])

    async def create_session(self, p: Principal, ip: str | None) -> tuple[str, str]:
        """A new session for a signed-in operator: (cookie token, CSRF token). Only the token's hash is stored."""
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        await self.db.execute("console_insert_session", _sha256(token), p.operator_id, csrf, ip,
                              float(self.session_ttl_s))
        await self.db.execute("console_purge_sessions")
        return token, csrf

    async def session(self, token: str | None) -> Principal | None:
        if not token or len(token) > 200:
            return None
        row = await self.db.fetchrow("console_get_session", _sha256(token))
        if row is None:
            return None
        return Principal(row["id"], row["email"], row["role"], row["store_id"], csrf_token=row["csrf_token"])

    async def end_session(self, token: str | None) -> None:
        if token:
            await self.db.execute("console_delete_session", _sha256(token))

    async def create_token(self, p: Principal, email: str, name: str, expires_days: int | None = None,
                           ip: str | None = None) -> tuple[str, dict]:
        """An API token acting as operator ``email``: (token shown once, row)."""
        self.require(p, "admin")
        op = await self.db.fetchrow("console_operator_by_email", email.strip().lower())
        if op is None:
            raise NotFound(f"no operator {email}")
        self.scope(p, op["store_id"])
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        expires = _now() + timedelta(days=expires_days) if expires_days else None
        async with self.db.transaction() as tx:
            row = await self.db.fetchrow("console_insert_token", ids.new_id("token"), _sha256(token), op["id"], name,
                                         expires, conn=tx)
            assert row is not None  # INSERT ... RETURNING
            await self.audit(p, "token.create", store_id=op["store_id"], target=row["id"],
                             params={"operator": op["email"], "name": name}, ip=ip, conn=tx)
        return token, dict(row)

    async def token_principal(self, token: str) -> Principal | None:
        if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
            return None
        row = await self.db.fetchrow("console_get_token", _sha256(token))
        if row is None:
            return None
        await self.db.execute("console_touch_token", row["token_id"])
        return Principal(row["id"], row["email"], row["role"], row["store_id"], via="token", token_id=row["token_id"])

    async def list_tokens(self, p: Principal) -> list[dict]:
        self.require(p, "admin")
        return [dict(r) for r in await self.db.fetch("console_list_tokens")]

    async def revoke_token(self, p: Principal, token_id: str, ip: str | None = None) -> None:
        self.require(p, "admin")
        async with self.db.transaction() as tx:
            if await self.db.fetchrow("console_revoke_token", token_id, conn=tx) is None:
                raise NotFound(f"no active token {token_id}")
            await self.audit(p, "token.revoke", target=token_id, ip=ip, conn=tx)
