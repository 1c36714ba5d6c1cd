"""A WooCommerce 10.0.2 REST API v3 emulator (orders, refunds, products, variations, customers) that also
emits webhooks (native WooCommerce or the Wooforce plugin's signed format) and can generate traffic."""
from __future__ import annotations

from .emulator import WooCommerceEmulator
from .oauth import oauth1_url, sign_oauth1
from .phpjson import php_json_bytes, php_json_encode
from .store import Change, Store, StoreError

__all__ = [
           "Change",
           "Store",
           "StoreError",
           "WooCommerceEmulator",
           "oauth1_url",
           "php_json_bytes",
           "php_json_encode",
           "sign_oauth1",
]
