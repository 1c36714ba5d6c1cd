"""One exception root, split into retryable and permanent errors.

Driver errors (asyncpg, requests, aiohttp) are wrapped into these at the layer that talks to
the driver, so callers decide on ``isinstance(err, RetryableError)`` alone.
"""
from __future__ import annotations


class WooforceError(Exception):
    code = "error"

    def __init__(self, message: str = "", *, code: str | None = None, retry_after_s: float | None = None):
        super().__init__(message or self.__class__.__doc__ or self.code)
        self.message = message or (self.__class__.__doc__ or self.code).strip()
        if code:
            self.code = code
        self.retry_after_s = retry_after_s


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
