"""``WooCommerceEmulator``: run the emulator in-process (tests) on 127.0.0.1, over http or https."""
from __future__ import annotations

import socket
import tempfile
from pathlib import Path
from typing import Any

from aiohttp import web

from . import keys as K
from .app import create_app
from .auth import KeyRing
from .config import EmulatorConfig
from .delivery import Delivery, DeliveryTarget, Dispatcher
from .seed import seed as seed_store
from .store import Store
from .traffic import TrafficConfig, TrafficGenerator


class WooCommerceEmulator:
    """``async with WooCommerceEmulator() as wc: ck, cs = wc.add_api_key(); wc.url; wc.store.create_order(...)``."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, https: bool = False, ca_path: str | Path | None = None,
                 timezone: str = "America/Los_Angeles", assume_https: bool | None = None,
                 trust_forwarded_proto: bool = False, public_url: str | None = None) -> None:
        self.host, self.port, self.https = host, port, https
        self.config = EmulatorConfig(timezone=timezone, assume_https=assume_https,
                                     trust_forwarded_proto=trust_forwarded_proto, public_url=public_url)
        self.store = Store(tz=timezone)
        self.keyring = KeyRing()
        self.app: web.Application = create_app(self.store, self.config, self.keyring)
        self.ca_path: Path | None = Path(ca_path) if ca_path else None
        self.tls: Any = None
        self._runner: web.AppRunner | None = None
        self._tmp: tempfile.TemporaryDirectory | None = None

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> WooCommerceEmulator:
        ssl_context = None
        if self.https:
            from emulators.tls import make_tls

            if self.ca_path is None:
                self._tmp = tempfile.TemporaryDirectory(prefix="wc-emulator-")
                self.ca_path = Path(self._tmp.name) / "ca.pem"
            self.tls = make_tls(self.ca_path)
            ssl_context = self.tls.server_context
        if not self.port:
            with socket.socket() as sock:
                sock.bind((self.host, 0))
                self.port = sock.getsockname()[1]
        self.store.base_url = self.config.public_url.rstrip("/") if self.config.public_url else self.url
        self.dispatcher.base_url = self.store.base_url
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port, ssl_context=ssl_context).start()
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    async def __aenter__(self) -> WooCommerceEmulator:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------ convenience

    @property
    def url(self) -> str:
        return f"{'https' if self.https else 'http'}://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/wp-json/wc/v3"

    @property
    def dispatcher(self) -> Dispatcher:
        return self.app[K.DISPATCHER]

    @property
    def traffic(self) -> TrafficGenerator:
        return self.app[K.TRAFFIC]

    @property
    def requests_total(self) -> int:
        return self.app[K.STATS].requests_total

    @property
    def requests_by_path(self) -> dict[str, int]:
        return dict(self.app[K.STATS].by_path)

    @property
    def deliveries(self) -> list[Delivery]:
        return self.dispatcher.records

    def add_api_key(self, permissions: str = "read_write") -> tuple[str, str]:
        key = self.keyring.add(permissions)
        return key.consumer_key, key.consumer_secret

    def seed(self, *, orders: int = 0, products: int = 0, customers: int = 0, seed: int = 1, days: float = 30.0) -> dict[str, int]:
        return seed_store(self.store, orders=orders, products=products, customers=customers, seed=seed, days=days)

    def configure_webhooks(self, url: str, store_id: str, *, mode: str = "native", **kw: Any) -> DeliveryTarget:
        target = DeliveryTarget(url=url, store_id=store_id, mode=mode, **kw)
        self.dispatcher.configure(target)
        return target

    def start_traffic(self, changes_per_s: float = 5.0, **kw: Any) -> None:
        self.traffic.start(TrafficConfig(changes_per_s=changes_per_s, **kw))

    async def stop_traffic(self) -> None:
        await self.traffic.stop()
