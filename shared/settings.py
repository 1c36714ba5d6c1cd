"""All configuration, from ``WOOFORCE_*`` environment variables and an optional ``.env``.

Validated once at startup; :func:`load_settings` turns a validation failure into a
:class:`~shared.errors.ConfigError` whose message names each wrong setting and why.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import platformdirs
from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.errors import ConfigError

ENV_PREFIX = "WOOFORCE_"


def default_data_dir() -> Path:
    """The per-user data directory (``~/.local/share/wooforce`` on Linux): the same whatever the working directory,
    so a command run from elsewhere finds the same embedded database and master key."""
    return Path(platformdirs.user_data_dir("wooforce", appauthor=False))


def _list_value(v: Any) -> Any:
    """A list setting from the environment: a JSON list (``[5, 30]``) or a comma list (``5,30``); other types are
    left to the field's own validation."""
    if not isinstance(v, str):
        return v
    text = v.strip()
    if text.startswith("["):
        try:
            return json.loads(text)
        except ValueError:
            raise ValueError("must be a JSON list (e.g. [5, 30]) or a comma-separated list (e.g. 5,30)") from None
    return [part.strip() for part in text.split(",") if part.strip()]


class Settings(BaseSettings):
    # enable_decoding=False: list settings arrive as text and _lists parses JSON or comma lists itself (the default
    # JSON-only decoding raised a SettingsError traceback, outside validation, on `5,30` or `abc`)
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_file=".env", extra="ignore", frozen=True,
                                      enable_decoding=False)

    # --- storage -----------------------------------------------------------------------
    database_url: str | None = Field(None, description="Postgres DSN; unset = embedded Postgres under data_dir")
    data_dir: Path = Field(default_factory=default_data_dir, description="embedded Postgres, generated master key, "
                           "logs; default: the per-user data directory (platformdirs)")
    auto_migrate: bool | None = Field(None, description="apply migrations at startup; default: only for the "
                                      "embedded DB")
    db_pool_min: int = Field(2, ge=1, le=100)
    db_pool_max: int = Field(10, ge=1, le=500)
    db_connect_timeout_s: float = Field(5.0, gt=0, le=120)
    db_statement_timeout_ms: int = Field(30_000, ge=100)

    # --- secrets -----------------------------------------------------------------------
    master_key: SecretStr | None = Field(
        None, description="Fernet key(s), comma-separated, newest first; unset = generated into data_dir/master.key"
    )
    secret_rotation_grace_s: int = Field(86_400, ge=0, description="how long a rotated-out signing secret stays valid")

    # --- collector ---------------------------------------------------------------------
    collector_host: str = "127.0.0.1"
    collector_port: int = Field(8080, ge=0, le=65535)
    public_url: str | None = Field(None, description="the collector's address as stores reach it (https://...; "
                                   "http:// only for localhost), put into the plugin's connection string")
    tls_cert_file: Path | None = Field(None, description="PEM certificate (chain): the collector serves HTTPS itself; "
                                       "with WOOFORCE_TLS_KEY_FILE")
    tls_key_file: Path | None = Field(None, validate_default=True, description="PEM private key of "
                                      "WOOFORCE_TLS_CERT_FILE")
    max_batch_events: int = Field(100, ge=1, le=1000, description="events per request")
    max_body_bytes: int = Field(5 * 1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    timestamp_tolerance_s: int = Field(300, ge=1, le=3600)
    retry_after_s: int = Field(5, ge=1, le=3600, description="Retry-After sent with 503")
    ingest_writers: int = Field(2, ge=1, le=16, description="concurrent group-commit writers")
    ingest_max_batch_events: int = Field(2000, ge=1, le=50_000, description="events per group commit")
    store_cache_ttl_s: float = Field(5.0, ge=0, le=3600)

    # --- agent: delivery to Salesforce ------------------------------------------------------
    agent_poll_interval_s: float = Field(2.0, gt=0, le=3600, description="how often the agent looks for work")
    agent_lease_s: float = Field(300.0, ge=1, le=86_400, description="a claimed batch's lease; a crashed agent's rows "
                                 "are taken again after it")
    agent_claim_batch: int = Field(2000, ge=1, le=100_000, description="outbox rows claimed per statement")
    agent_retry_schedule_s: list[float] = Field(
        [5, 30, 120, 600, 1800, 3600], min_length=1,
        description="delay before retry n (JSON or comma list); the last value repeats")
    agent_retry_jitter: float = Field(0.2, ge=0, le=1, description="+- share of random jitter on retry delays")
    agent_max_attempts: int = Field(12, ge=1, le=1000, description="retryable failures before a row is dead-lettered")
    agent_dependency_wait_s: float = Field(21_600.0, ge=1, le=604_800, description="an order whose customer, guest "
                                           "buyer or product Salesforce rejected waits this long before it is tried "
                                           "again (no attempt counted); that record's delivery wakes it at once")
    agent_shutdown_grace_s: float = Field(20.0, ge=0, le=600, description="SIGTERM: time to finish the current batch")
    sf_api_version: str = Field("66.0", pattern=r"^\d{2}\.0$")
    sf_concurrency: int = Field(10, ge=1, le=25, description="concurrent Salesforce requests per store "
                                "(Salesforce allows 25 long-running ones per org)")
    sf_timeout_s: float = Field(60.0, gt=0, le=600, description="one Salesforce HTTP request")
    sf_api_budget_share: float = Field(0.8, gt=0, le=1, description="pause delivery before this share of the daily "
                                       "API allocation is used")
    sf_budget_pause_s: float = Field(600.0, ge=1, le=86_400, description="how long a store over budget pauses before "
                                     "/limits is read again")
    sf_bulk_threshold_records: int = Field(10_000, ge=1, description="records of one sObject in a batch above which "
                                           "Bulk API 2.0 is used instead of Composite")
    sf_bulk_claim_batch: int = Field(5_000, ge=1, le=500_000, description="rows claimed per batch while a backlog "
                                     "lasts (lets large backfills reach the bulk threshold; the agent holds ~16 KB "
                                     "per claimed row)")
    sf_bulk_poll_s: float = Field(2.0, gt=0, le=60, description="Bulk API 2.0 job status polling interval")
    sf_max_delay_s: float = Field(2.0, ge=0, le=3600, description="flush window: how long a change may wait so "
                                  "that it shares a Salesforce call with others (0: send at once)")
    sf_max_delay_budget_s: float = Field(60.0, ge=0, le=86_400, description="the widest flush window: once the "
                                         "org has used more than half its daily API allocation the window doubles "
                                         "batch by batch up to this, and narrows again when the allocation recovers")
    http_keepalive_timeout_s: float = Field(75.0, gt=0, le=3600, description="an idle keep-alive connection is "
                                            "closed after this")
    http_body_timeout_s: float = Field(30.0, gt=0, le=600, description="reading one request body (a client that "
                                       "sends it slower gets 408)")
    mapping_file: Path | None = Field(None, description="TOML mapping overriding shared/mapping/mapping.toml "
                                      "(field by field)")

    # --- agent: reconciler, backfills (WooCommerce REST polling) ----------------------------
    reconcile_interval_s: int = Field(300, ge=5, le=86_400, description="how often each store is reconciled")
    reconcile_overlap_s: int = Field(120, ge=0, le=86_400, description="modified_after = cursor minus this: absorbs "
                                     "clock skew between store and agent and changes committed while we listed")
    reconcile_initial_lookback_s: int = Field(86_400, ge=0, description="a store's first run looks this far back "
                                              "(older history is the backfill's job)")
    reconcile_lease_s: int = Field(600, ge=10, le=86_400, description="a store's reconcile lease (crashed agent)")
    reconcile_max_backoff_s: int = Field(1800, ge=1, le=86_400, description="cap of the backoff after timeouts/5xx")
    reconcile_auth_backoff_s: int = Field(3600, ge=1, le=7 * 86_400, description="after a 401/403 (bad keys) the "
                                          "store is not polled again before this")
    customer_sweep_pages_per_run: int = Field(1, ge=0, le=1000, description="customer sweep pace: pages per run")
    id_sweep_ids_per_run: int = Field(100, ge=0, le=100_000, description="vanished-record sweep pace: known ids "
                                      "checked per resource per run")
    wc_per_page: int = Field(100, ge=1, le=100, description="REST page size (WooCommerce caps it at 100)")
    wc_timeout_s: float = Field(30.0, gt=0, le=600, description="one WooCommerce HTTP request")
    wc_max_retries: int = Field(2, ge=0, le=10, description="quick retries of a timeout/5xx/429 within a run")
    wc_retry_backoff_s: float = Field(1.0, ge=0, le=60, description="first quick-retry delay (doubles)")
    jobs_poll_interval_s: float = Field(10.0, gt=0, le=3600, description="how often the agent looks for requested "
                                        "backfills")
    job_lease_s: float = Field(300.0, ge=5, le=86_400, description="a running backfill's lease, renewed per page")
    erasure_retry_backoff_s: float = Field(30.0, ge=0, le=86_400, description="Salesforce unreachable during an "
                                           "erasure job: first retry delay (doubles per attempt)")
    erasure_max_backoff_s: float = Field(900.0, ge=0, le=86_400, description="cap of the erasure job's retry delay")
    erasure_max_attempts: int = Field(20, ge=1, le=1000, description="tries of an erasure job before it fails")
    erasure_max_age_s: float = Field(7 * 86_400.0, gt=0, le=90 * 86_400, description="an erasure job still failing "
                                     "this long after it was requested fails")

    # --- agent: two-way sync (Salesforce -> WooCommerce) --------------------------------------
    twoway_enabled: bool = Field(True, description="poll Salesforce for changes to fields Salesforce owns (or both "
                                 "own) and write them to WooCommerce; stores need both connections")
    sf_poll_interval_s: float = Field(30.0, gt=0, le=86_400, description="how often each store's Salesforce "
                                      "records are polled (one Composite call checks every mapped object)")
    sf_poll_overlap_s: float = Field(60.0, ge=0, le=86_400, description="SystemModstamp > cursor minus this: "
                                     "absorbs transactions committed late with an earlier modstamp")
    sf_poll_initial_lookback_s: float = Field(3600.0, ge=0, description="a store's first poll looks this far back")
    sf_poll_batch_size: int = Field(2000, ge=200, le=2000, description="SOQL rows per page (Sforce-Query-Options "
                                    "batchSize); more rows are paged with nextRecordsUrl")
    wc_write_interval_s: float = Field(2.0, gt=0, le=3600, description="how often the agent writes pending "
                                       "Salesforce changes to WooCommerce")
    wc_write_batch: int = Field(200, ge=1, le=10_000, description="WooCommerce writes claimed per batch")
    wc_write_concurrency: int = Field(4, ge=1, le=32, description="concurrent WooCommerce writes per batch")

    # --- console, admin API, alerts, retention ------------------------------------------
    console_session_ttl_s: int = Field(8 * 3600, ge=60, le=30 * 86_400, description="console sign-in lifetime")
    console_cookie_secure: bool = Field(False, description="mark the session cookie Secure (set when TLS is in front)")
    console_page_size: int = Field(50, ge=1, le=500, description="outbox browser rows per page")
    console_replay_batch: int = Field(500, ge=1, le=50_000, description="rows per transaction of a bulk replay")
    alert_interval_s: float = Field(60.0, ge=1, le=3600, description="how often the agent evaluates alerts")
    alert_repeat_s: int = Field(3600, ge=0, le=7 * 86_400,
                                description="a firing alert is re-notified at most this often")
    alert_lag_threshold_s: int = Field(900, ge=1,
                                       description="alert when an entity waits longer than this for delivery")
    alert_api_budget_share: float = Field(0.9, gt=0, le=1, description="alert when this share of the daily "
                                          "Salesforce API allocation is used")
    alert_webhook_url: str | None = Field(None, description="Slack-compatible incoming webhook ({\"text\": ...})")
    alert_smtp_host: str | None = Field(None, description="SMTP server for alert emails (unset = no email)")
    alert_smtp_port: int = Field(25, ge=1, le=65535)
    alert_smtp_starttls: bool = False
    alert_smtp_username: str | None = None
    alert_smtp_password: SecretStr | None = None
    alert_smtp_timeout_s: float = Field(10.0, gt=0, le=120)
    alert_email_from: str = "wooforce@localhost"
    alert_email_to: list[str] = Field(default_factory=list, description="recipients (JSON or comma list)")
    retention_delivered_payload_days: int = Field(0, ge=0, le=36_500, description="purge payloads of delivered "
                                                  "events older than this; 0 = keep forever")

    # --- logging -----------------------------------------------------------------------
    log_level: Literal["TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_dir: Path | None = Field(None, description="default: data_dir/logs")
    log_rotation: str = "50 MB"
    log_retention: str = "14 days"
    log_json: bool = Field(False, description="JSON lines on stderr too (for log shippers)")

    @field_validator("database_url")
    @classmethod
    def _dsn(cls, v: str | None) -> str | None:
        if v in (None, ""):
            return None
        if not v.startswith(("postgres://", "postgresql://")):
            raise ValueError("must start with postgresql:// (e.g. postgresql://user:pass@host:5432/wooforce)")
        return v

    @field_validator("agent_retry_schedule_s", "alert_email_to", mode="before")
    @classmethod
    def _lists(cls, v: Any) -> Any:
        return _list_value(v)

    @field_validator("alert_email_to")
    @classmethod
    def _emails(cls, v: list[str]) -> list[str]:
        for address in v:
            local, _, domain = address.partition("@")
            if not local or not domain or " " in address:
                raise ValueError(f"{address!r} is not an email address")
        return v

    @field_validator("agent_retry_schedule_s")
    @classmethod
    def _delays(cls, v: list[float]) -> list[float]:
        if any(d < 0 for d in v):
            raise ValueError("delays must be zero or more seconds")
        return v

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, v: str | None) -> str | None:
        if v in (None, ""):
            return None
        return check_public_url(v)

    @field_validator("tls_key_file")
    @classmethod
    def _tls_pair(cls, v: Path | None, info: ValidationInfo) -> Path | None:
        cert = info.data.get("tls_cert_file")
        if (cert is None) != (v is None):
            raise ValueError("set both WOOFORCE_TLS_CERT_FILE and WOOFORCE_TLS_KEY_FILE, or neither")
        for path in (cert, v):
            if path is not None and not os.access(path, os.R_OK):
                raise ValueError(f"{path} is not a readable file")
        return v

    @field_validator("ingest_writers")
    @classmethod
    def _writers_leave_connections(cls, v: int, info: ValidationInfo) -> int:
        pool_max = info.data.get("db_pool_max")
        if pool_max is not None and v >= pool_max:
            raise ValueError(f"must be below WOOFORCE_DB_POOL_MAX ({pool_max}): each group-commit writer keeps one "
                             "connection, and health checks, the console and the admin API need the others")
        return v

    @field_validator("sf_max_delay_budget_s")
    @classmethod
    def _flush_window_cap(cls, v: float, info: ValidationInfo) -> float:
        base = info.data.get("sf_max_delay_s")
        if base is not None and v < base:
            raise ValueError(f"must be at least WOOFORCE_SF_MAX_DELAY_S ({base}): the window only widens from it")
        return v

    @field_validator("erasure_max_backoff_s")
    @classmethod
    def _erasure_backoff_cap(cls, v: float, info: ValidationInfo) -> float:
        first = info.data.get("erasure_retry_backoff_s")
        if first is not None and v < first:
            raise ValueError(f"must be at least WOOFORCE_ERASURE_RETRY_BACKOFF_S ({first}): it caps that delay")
        return v

    @field_validator("alert_webhook_url")
    @classmethod
    def _webhook_url(cls, v: str | None) -> str | None:
        if v in (None, ""):
            return None
        if not v.startswith(("https://", "http://")):
            raise ValueError("must be an http(s):// URL (a Slack-compatible incoming webhook)")
        return v

    @field_validator("master_key")
    @classmethod
    def _fernet(cls, v: SecretStr | None) -> SecretStr | None:
        if v is None or not v.get_secret_value():
            return None
        from cryptography.fernet import Fernet

        for part in v.get_secret_value().split(","):
            try:
                Fernet(part.strip())
            except (ValueError, TypeError):
                raise ValueError(
                    "must be one or more comma-separated Fernet keys (32 url-safe base64 bytes); "
                    "generate one with `wooforce keygen`"
                ) from None
        return v

    @property
    def embedded(self) -> bool:
        return self.database_url is None

    @property
    def should_migrate(self) -> bool:
        return self.embedded if self.auto_migrate is None else self.auto_migrate

    @property
    def logs_path(self) -> Path:
        return self.log_dir or self.data_dir / "logs"


LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")


def check_public_url(url: str) -> str:
    """The collector's public base URL (what the plugin posts to), without a trailing slash: https://, or
    http:// for localhost only (the plugin refuses plain http elsewhere); no credentials, query or fragment."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be the collector's address, e.g. https://collector.example.com")
    if parts.scheme == "http" and parts.hostname not in LOCAL_HOSTS:
        raise ValueError("must start with https:// (a store reaches the collector over HTTPS; http:// only for "
                         "localhost): put a TLS proxy in front, or set WOOFORCE_TLS_CERT_FILE / WOOFORCE_TLS_KEY_FILE")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ValueError("must not hold credentials, a query or a fragment")
    return url.rstrip("/")


def describe_validation_error(exc: ValidationError) -> str:
    lines = ["Invalid configuration:"]
    for err in exc.errors():
        loc = err["loc"]
        name = ENV_PREFIX + str(loc[0]).upper() if loc else ENV_PREFIX.rstrip("_")
        item = f"item {loc[1] + 1}: " if len(loc) > 1 and isinstance(loc[1], int) else ""  # of a list setting
        value = err.get("input")
        shown = "" if "key" in name.lower() or "url" in name.lower() else f" (got {value!r})"
        lines.append(f"  {name}: {item}{err['msg']}{shown}")
    return "\n".join(lines)


def load_settings(**overrides: Any) -> Settings:
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc)) from None
