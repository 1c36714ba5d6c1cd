"""What every part of the console service shares: roles, the acting :class:`Principal`, its errors, and
:class:`ServiceBase` with the authorization checks (role and store scope) and the audit log.

Authorization lives in the service: every function takes the acting principal and checks role and store scope
itself, so no caller (console page, admin API, CLI) can forget to.
"""
from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from loguru import logger

from shared.db import Database
from shared.errors import ConfigError, NotFound, PermanentError
from shared.mapping import Mapping, mapping_for
from shared.models import OutboxStatus
from shared.stores import StoreManager

if TYPE_CHECKING:
    import asyncpg

ROLES = {"viewer": 1, "operator": 2, "admin": 3}
STATUSES = tuple(s.value for s in OutboxStatus)  # outbox statuses, in lifecycle order
DESTINATIONS = ("salesforce", "woocommerce")
TOKEN_PREFIX = "wf_"
LAG_SAMPLE = 5000  # lag percentiles over the newest deliveries of the window (bounded cost on any table size)


class Forbidden(PermanentError):
    """The signed-in operator may not do this."""
    code = "forbidden"


class InvalidInput(PermanentError):
    code = "invalid_input"


class AuthFailed(PermanentError):
    """Wrong email or password."""
    code = "auth_failed"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is acting: an operator via a console session, an API token, or the local CLI."""

    operator_id: str | None
    email: str
    role: str
    store_id: str | None = None      # limited to this store (a store's own staff)
    via: str = "session"             # session | token | cli
    csrf_token: str | None = None
    token_id: str | None = None

    @property
    def actor(self) -> str:
        return f"token:{self.token_id}({self.email})" if self.via == "token" else self.email

    def can(self, role: str) -> bool:
        return ROLES[self.role] >= ROLES[role]


CLI = Principal(None, "cli", "admin", via="cli")


def _now() -> datetime:
    return datetime.now(UTC)


def parse_time(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"{name} must be an ISO date or time, e.g. 2026-11-22 or 2026-11-22T15:00:00Z") from None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def csrf_ok(expected: str | None, given: str | None) -> bool:
    if not (expected and given):
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


class ServiceBase:
    def __init__(self, db: Database, *, session_ttl_s: int = 8 * 3600, replay_batch: int = 500,
                 stores: StoreManager | None = None, mapping_file: Path | str | None = None):
        self.db = db
        self.session_ttl_s = session_ttl_s
        self.replay_batch = replay_batch
        self.stores = stores              # reads a store's (encrypted) Salesforce connection: its mapping_file
        self.mapping_file = mapping_file  # settings.mapping_file, the global override

    async def store_mapping(self, store_id: str) -> Mapping | None:
        """The store's mapping as the agent applies it (:func:`shared.mapping.mapping_for`); without ``stores``
        (a manager built on the database alone) the shipped and global mapping; ``None`` when a mapping file
        cannot be read here (the console then shows no "sent to Salesforce" view)."""
        store = None
        try:
            if self.stores is not None:
                try:
                    store = await self.stores.get(store_id)
                except NotFound:
                    store = None
            return mapping_for(store, self.mapping_file)
        except ConfigError as exc:
            logger.bind(action="console.mapping_unreadable", store_id=store_id).warning(exc.message[:300])
            return None

    # authorization helpers
    @staticmethod
    def require(p: Principal, role: str) -> None:
        if not p.can(role):
            raise Forbidden(f"this needs the {role} role (you are {p.role})")

    @staticmethod
    def scope(p: Principal, store_id: str | None = None) -> str | None:
        """The store a principal is limited to; refuses a request for another store."""
        if p.store_id and store_id and store_id != p.store_id:
            raise Forbidden("you can only see your own store")
        return p.store_id

    async def audit(self, p: Principal, action: str, *, store_id: str | None = None, target: str | None = None,
                    params: dict | None = None, result: dict | None = None, ip: str | None = None,
                    conn: asyncpg.Connection | None = None) -> None:
        await self.db.execute("console_insert_audit", p.actor, p.operator_id, action, store_id, target,
                              params or {}, result or {}, ip, conn=conn)
