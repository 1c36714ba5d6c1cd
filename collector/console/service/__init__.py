"""The console service: operators, sessions, API tokens, the outbox browser, timeline, replay, resync, GDPR
erasure, dashboard and audit log. The console pages, the admin API and the CLI all call :class:`ConsoleManager`.

Split by concern: ``access`` (sign-in, sessions, tokens), ``outbox`` (browsing, timeline, replay, resync),
``gdpr`` (erasure), ``dashboard`` (dashboard, audit log), ``matches`` (the review list of records the org
already had, and an operator's pick); ``base`` holds the principal, roles and authorization.
"""
from __future__ import annotations

from collector.console.service.access import AccessService, hash_password
from collector.console.service.base import (
    CLI,
    DESTINATIONS,
    ROLES,
    STATUSES,
    TOKEN_PREFIX,
    AuthFailed,
    Forbidden,
    InvalidInput,
    Principal,
    csrf_ok,
    parse_time,
)
from collector.console.service.dashboard import DashboardService
from collector.console.service.gdpr import GdprService
from collector.console.service.matches import MatchesService
from collector.console.service.outbox import (
    OutboxFilter,
    OutboxService,
    decode_cursor,
    diff,
    encode_cursor,
    flatten,
    salesforce_fields,
)

__all__ = ["CLI", "DESTINATIONS", "ROLES", "STATUSES", "TOKEN_PREFIX", "AuthFailed", "ConsoleManager", "Forbidden",
           "InvalidInput", "OutboxFilter", "Principal", "csrf_ok", "decode_cursor", "diff", "encode_cursor", "flatten",
           "hash_password", "parse_time", "salesforce_fields"]


class ConsoleManager(AccessService, OutboxService, GdprService, DashboardService, MatchesService):
    """Every console function, for one database."""
