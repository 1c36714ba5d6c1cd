"""``SalesforceEmulator``: run the emulator in-process (asyncio) or in a background thread (sync code)."""
from __future__ import annotations

import asyncio
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import Future
from datetime import datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from ..tls import make_tls
from . import control, seeding
from .app import URI_MAX_BYTES, create_app
from .faults import Faults
from .state import INTEGRATION_USERNAME, OrgState, ValidationRule


class SalesforceEmulator:
    """A local Salesforce org over HTTPS.

    async: ``async with SalesforceEmulator() as emu: ...`` (or ``await emu.start()`` / ``await emu.stop()``).
    sync: ``emu = SalesforceEmulator().start_in_thread(); ...; emu.stop_in_thread()``.
    Every helper method is safe to call from any thread once started.
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, ca_path: str | Path | None = None,
                 daily_api_max: int = 100_000, latency_ms: float = 0.0, seed: int | None = None,
                 clock: Callable[[], datetime] | None = None, session_ttl_s: float = 7200.0,
                 bulk_chunk_delay_s: float = 0.0, custom_fields: bool = True):
        self.host, self.port = host, port
        self._tmp = None
        if ca_path is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="sf-emulator-")
            ca_path = Path(self._tmp.name) / "ca.pem"
        self.ca_path = Path(ca_path)
        # custom_fields=False: an org without Wooforce's fields (Wooforce_Key__c, Woo_*__c), as `salesforce setup`
        # finds a new one; reset() keeps the choice
        self.state = OrgState(daily_api_max=daily_api_max, clock=clock, seed=seed, session_ttl_s=session_ttl_s,
                              custom_fields=custom_fields)
        self.faults = Faults(self.state.rng)
        self.settings: dict[str, Any] = {"latency_ms": float(latency_ms), "bulk_chunk_delay_s": bulk_chunk_delay_s,
                                         "instance_url": ""}
        self._runner: web.AppRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle ---------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}"

    async def start(self) -> SalesforceEmulator:
        tls = make_tls(self.ca_path)
        app = create_app(self.state, self.faults, self.settings)
        # request lines past Salesforce's URI limit reach the app, which answers 414 as Salesforce does (aiohttp's
        # default refuses a line over 8,190 bytes with a plain 400)
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None, shutdown_timeout=1.0,
                                     max_line_size=4 * URI_MAX_BYTES)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, ssl_context=tls.server_context)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self.settings["instance_url"] = self.url
        self.state.jwt_audiences.add(self.url)
        self._loop = asyncio.get_running_loop()
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> SalesforceEmulator:
        return await self.start()

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    def start_in_thread(self) -> SalesforceEmulator:
        started: Future = Future()

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start())
            except BaseException as e:  # noqa: BLE001 - surfaced to the caller
                started.set_exception(e)
                return
            started.set_result(True)
            loop.run_forever()
            loop.run_until_complete(self.stop())
            loop.close()

        self._thread = threading.Thread(target=run, name="sf-emulator", daemon=True)
        self._thread.start()
        started.result(timeout=30)
        return self

    def stop_in_thread(self) -> None:
        if self._thread is None or self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._thread = None

    def _call(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on the emulator's loop when called from another thread (no races with handlers)."""
        loop = self._loop
        if loop is None or not loop.is_running() or self._thread is None \
                or threading.current_thread() is self._thread:
            return fn()

        async def wrapper():
            return fn()
        return asyncio.run_coroutine_threadsafe(wrapper(), loop).result(timeout=30)

    # ---- inspection --------------------------------------------------------------------------------
    def records(self, sobject: str) -> list[dict]:
        return self._call(lambda: control.records(self.state, sobject))

    def record(self, sobject: str, record_id: str) -> dict | None:
        return self._call(lambda: next((r for r in control.records(self.state, sobject)
                                        if r["Id"] == record_id), None))

    @property
    def api_calls(self) -> int:
        """Calls counted against the daily limit (composite = 1; control endpoints and OAuth = 0)."""
        return self.state.api_usage

    def stats(self) -> dict:
        return self._call(lambda: control.stats(self.state, self.faults))

    @property
    def standard_pricebook_id(self) -> str:
        return self.state.standard_pricebook_id

    @property
    def integration_user_id(self) -> str:
        return self.state.integration_user_id

    @property
    def admin_user_id(self) -> str:
        return self.state.admin_user_id

    # ---- org configuration -------------------------------------------------------------------------
    def reset(self) -> None:
        self._call(lambda: (self.state.reset(), self.faults.clear()))

    def set_org_features(self, *, person_accounts: bool = False, currencies: list[str] | None = None) -> None:
        """Turn org features on (from now on; resets the data): Person Accounts (Account record types
        Business_Account / PersonAccount), multi-currency with ``currencies`` (ISO codes, the corporate one first).
        The defaults are a plain org: no Person Accounts, one currency."""
        def run():
            self.state.person_accounts = person_accounts
            self.state.currencies = tuple(currencies) if currencies else None
            self.state.reset()
        self._call(run)

    def set_latency(self, latency_ms: float) -> None:
        self.settings["latency_ms"] = float(latency_ms)

    def set_daily_api_max(self, daily_api_max: int, api_usage: int | None = None) -> None:
        def run():
            self.state.daily_api_max = daily_api_max
            if api_usage is not None:
                self.state.api_usage = api_usage
        self._call(run)

    def add_validation_rule(self, sobject: str, name: str, message: str,
                            predicate: Callable[[dict], bool] | None = None, *, condition: dict | None = None,
                            error_field: str | None = None) -> ValidationRule:
        """Reject records of ``sobject`` (FIELD_CUSTOM_VALIDATION_EXCEPTION ``message``) when ``predicate(record)``
        is true or ``condition`` ({"field","op","value"}) holds. The record passed is the merged new state."""
        return self._call(lambda: control.add_rule(self.state, sobject, name, message, predicate,
                                                   condition=condition, error_field=error_field))

    def remove_validation_rule(self, name: str) -> bool:
        return self._call(lambda: control.remove_rule(self.state, name))

    def add_field(self, sobject: str, name: str, type_: str = "string", length: int = 0, **kw) -> dict:
        """Add a custom field (kw: external_id, unique, required, case_sensitive, reference_to, picklist, label)."""
        return self._call(lambda: control.add_field(self.state, sobject, name, type_, length, **kw))

    def remove_field(self, sobject: str, name: str) -> None:
        self._call(lambda: control.remove_field(self.state, sobject, name))

    def set_custom_fields(self, custom_fields: bool) -> None:
        """Seed the org with (True, the default) or without Wooforce's custom fields from now on; resets the data."""
        def run():
            self.state.custom_fields = custom_fields
            self.state.reset()
        self._call(run)

    def set_user_permissions(self, permissions: set[str] | None, username: str = INTEGRATION_USERNAME) -> None:
        """The setup permissions a user holds (of ``state.SETUP_PERMISSIONS``: CustomizeApplication, ModifyMetadata,
        ManageProfilesPermissionsets, AssignPermissionSets); ``None`` gives back all of them."""
        self._call(lambda: control.set_user_permissions(self.state, username, permissions))

    def set_custom_field_limit(self, limit: int) -> None:
        """Custom fields allowed per object (default 500, Enterprise Edition)."""
        self._call(lambda: setattr(self.state, "custom_field_limit", int(limit)))

    def insert(self, sobject: str, fields: dict, user: str | None = None) -> dict:
        """Create a record directly (full validation, as the admin user unless ``user``); returns the record."""
        return self._call(lambda: control.write(self.state, sobject, fields, None, user))

    def seed_existing(self, contacts: list[dict] | tuple = (), products: list[dict] | tuple = ()) -> dict[str, list[str]]:
        """Records people made before Wooforce (no Wooforce_Key__c unless given, duplicates allowed): Accounts with
        their Contacts, Product2s with a standard price book entry (``seeding.seed_existing``); the Ids made."""
        return self._call(lambda: seeding.seed_existing(self.state, contacts=list(contacts), products=list(products)))

    def edit_as_user(self, sobject: str, record_id: str, fields: dict, user: str | None = None) -> dict:
        """Edit a record as a human Salesforce user (default the admin): LastModifiedById = that user,
        SystemModstamp/LastModifiedDate bumped."""
        return self._call(lambda: control.write(self.state, sobject, fields, record_id, user))

    def delete_as_user(self, sobject: str, record_id: str, user: str | None = None) -> None:
        """Delete a record as a human Salesforce user (default the admin), e.g. an order line removed by hand."""
        self._call(lambda: control.delete(self.state, sobject, record_id, user))

    # ---- auth ----------------------------------------------------------------------------------------
    def register_jwt_app(self, consumer_key: str, public_key_pem: str | bytes,
                         username: str = INTEGRATION_USERNAME) -> None:
        """Connected app for the JWT bearer flow; ``public_key_pem`` is a PEM certificate or public key.
        ``username`` (the JWT ``sub``) is pre-authorised, created as a User if unknown."""
        self._call(lambda: control.register_jwt_app(self.state, consumer_key, public_key_pem, username))

    def register_client_credentials(self, client_id: str, secret: str,
                                    username: str | None = INTEGRATION_USERNAME) -> None:
        """Client-credentials app running as ``username`` (None -> 'no client credentials user enabled')."""
        self._call(lambda: control.register_client_credentials(self.state, client_id, secret, username))

    def issue_token(self, username: str = INTEGRATION_USERNAME) -> str:
        """Shortcut for tests: a valid access token for ``username`` without an OAuth round trip."""
        return self._call(lambda: self.state.new_session(self.state.ensure_user(username)["Id"], "emulator"))

    def expire_sessions(self) -> None:
        self._call(self.state.expire_sessions)
