"""One exception root, split into retryable and permanent errors.

Driver errors (asyncpg, requests, aiohttp) are wrapped into these at the layer that talks to
the driver, so callers decide on ``isinstance(err, RetryableError)`` alone. What the driver reported
(an HTTP status, a SQLSTATE, a rejected value) is given to the constructor and read as a plain attribute;
every attribute has a typed class-level default, so any ``WooforceError`` answers all of them.
"""
from __future__ import annotations

from typing import Any


class WooforceError(Exception):
    code: str = "error"
    retry_after_s: float | None = None  # the server asked for this pause before the next try (Retry-After)
    status_code: int | None = None  # HTTP status of the answer that failed (None: no answer, or not HTTP)
    body: Any = None  # that answer's parsed body, when it had one
    sqlstate: str | None = None  # the SQLSTATE of a statement the database rejected
    is_data_error: bool = False  # the database refused a value (SQLSTATE class 22): the input's fault

    def __init__(self, message: str = "", *, code: str | None = None, retry_after_s: float | None = None,
                 status_code: int | None = None, body: Any = None, sqlstate: str | None = None,
                 is_data_error: bool = False):
        super().__init__(message or self.__class__.__doc__ or self.code)
        self.message = message or (self.__class__.__doc__ or self.code).strip()
        if code:
            self.code = code
        self.retry_after_s = retry_after_s
        self.status_code = status_code
        self.body = body
        self.sqlstate = sqlstate
        self.is_data_error = is_data_error


class RetryableError(WooforceError):
    """A transient failure: try again later."""
    code = "retryable"


class PermanentError(WooforceError):
    """A failure no retry will fix."""
    code = "permanent"


class ConfigError(PermanentError):
    """The configuration is invalid."""
    code = "config_invalid"


class DatabaseUnavailable(RetryableError):
    """The database cannot be reached."""
    code = "database_unavailable"


class DatabaseError(PermanentError):
    """The database rejected a statement."""
    code = "database_error"


class SchemaOutOfDate(ConfigError):
    """The database schema is behind the code: run `wooforce migrate`."""
    code = "schema_out_of_date"


class NotFound(PermanentError):
    code = "not_found"


class SalesforceRetryable(RetryableError):
    code = "salesforce_retryable"


class SalesforcePermanent(PermanentError):
    code = "salesforce_permanent"


class WooCommerceAuthError(PermanentError):
    """The store's WooCommerce REST keys were refused (401/403)."""
    code = "woocommerce_auth"


class WooCommerceRetryable(RetryableError):
    code = "woocommerce_retryable"
