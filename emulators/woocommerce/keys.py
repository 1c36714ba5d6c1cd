"""Typed application keys of the WooCommerce emulator app."""
from __future__ import annotations

from aiohttp import web

from .auth import KeyRing
from .config import EmulatorConfig
from .delivery import Dispatcher
from .stats import Stats
from .store import Store
from .traffic import TrafficGenerator

STORE = web.AppKey("wc_store", Store)
KEYRING = web.AppKey("wc_keyring", KeyRing)
CONFIG = web.AppKey("wc_config", EmulatorConfig)
STATS = web.AppKey("wc_stats", Stats)
DISPATCHER = web.AppKey("wc_dispatcher", Dispatcher)
TRAFFIC = web.AppKey("wc_traffic", TrafficGenerator)
