"""The WooCommerce emulator validates the write routes two-way sync and imports use (POST /products, PUT
/products/{id}, PUT /products/{id}/variations/{vid}, POST /customers) as WooCommerce 10 does: the REST schema first
(every invalid parameter named in one rest_invalid_param), then the SKU check of the data layer (product_invalid_sku
with the holder and the SKU WooCommerce suggests), the registered email as captured; nothing is stored on an error."""
from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from emulators.woocommerce import WooCommerceEmulator
from tests.fixtures import load

pytestmark = pytest.mark.integration


@pytest.fixture
async def wc():
    async with WooCommerceEmulator(assume_https=True) as emu:
        s = emu.store
        emu.widget = s.create_product({"name": "Widget", "sku": "W-1", "regular_price": "10.00"}).id
        s.create_product({"name": "Widget 2", "sku": "W-1-1", "regular_price": "10.00"})
        tee = s.create_product({"name": "Tee", "type": "variable", "sku": "TEE",
                                "attributes": [{"name": "Size", "options": ["S", "M"], "variation": True}]})
        emu.tee = tee.id
        emu.small = s.create_variation(tee.id, {"sku": "TEE-S", "regular_price": "20.00",
                                                "attributes": [{"name": "Size", "option": "S"}]}).id
        emu.medium = s.create_variation(tee.id, {"sku": "TEE-M", "regular_price": "20.00",
                                                 "attributes": [{"name": "Size", "option": "M"}]}).id
        s.create_customer({"email": "alice.martin@example.com", "username": "alice"})
        emu.creds = emu.add_api_key("read_write")
        yield emu


@pytest.fixture
async def http(wc):
    async with aiohttp.ClientSession(auth=aiohttp.BasicAuth(*wc.creds)) as session:
        yield session


async def call(http: aiohttp.ClientSession, wc: WooCommerceEmulator, method: str, path: str,
               body: dict[str, Any]) -> tuple[int, Any]:
    async with http.request(method, wc.api_url + path, json=body) as r:
        return r.status, await r.json()


def counts(wc) -> tuple[int, int, int]:
    s = wc.store
    return len(s.products), len(s.variations), len(s.customers)


async def test_a_duplicate_sku_is_refused_as_woocommerce_does_and_nothing_is_stored(wc, http):
    before = counts(wc)
    status, body = await call(http, wc, "POST", "/products", {"name": "Copy", "sku": "W-1", "regular_price": "9"})
    assert (status, body) == (400, {"code": "product_invalid_sku", "message": "Invalid or duplicated SKU.",
                                    "data": {"status": 400, "resource_id": wc.widget, "unique_sku": "W-1-2"}})
    assert counts(wc) == before
    # a variation's SKU counts too, and a variation cannot take another's
    status, body = await call(http, wc, "POST", "/products", {"name": "Copy", "sku": "TEE-S"})
    assert (status, body["code"], body["data"]["resource_id"]) == (400, "product_invalid_sku", wc.small)
    status, body = await call(http, wc, "PUT", f"/products/{wc.tee}/variations/{wc.medium}", {"sku": "TEE-S"})
    assert (status, body["code"]) == (400, "product_invalid_sku")
    assert wc.store.get_variation(wc.tee, wc.medium).doc["sku"] == "TEE-M"
    # its own SKU is no duplicate; a trashed product's SKU is free again
    status, _ = await call(http, wc, "PUT", f"/products/{wc.widget}", {"sku": "W-1", "regular_price": "11.00"})
    assert status == 200
    wc.store.trash_product(wc.widget)
    status, body = await call(http, wc, "POST", "/products", {"name": "Reborn", "sku": "W-1"})
    assert status == 201 and body["sku"] == "W-1"


async def test_schema_errors_name_every_invalid_parameter(wc, http):
    before = counts(wc)
    status, body = await call(http, wc, "POST", "/products", {"name": "Bad", "regular_price": 12.5,
                                                              "stock_quantity": "2.5", "status": "live"})
    assert status == 400
    assert body == {"code": "rest_invalid_param", "message": "Invalid parameter(s): regular_price, stock_quantity, "
                    "status", "data": {"status": 400, "params": {
                        "regular_price": "regular_price is not of type string.",
                        "stock_quantity": "stock_quantity is not of type integer.",
                        "status": "status is not one of draft, pending, private, publish, and future."},
                        "details": {
                        "regular_price": {"code": "rest_invalid_type", "message": "regular_price is not of type string.",
                                          "data": {"param": "regular_price"}},
                        "stock_quantity": {"code": "rest_invalid_type",
                                           "message": "stock_quantity is not of type integer.",
                                           "data": {"param": "stock_quantity"}},
                        "status": {"code": "rest_not_in_enum", "message": "status is not one of draft, pending, "
                                   "private, publish, and future.", "data": None}}}}
    assert counts(wc) == before
    status, body = await call(http, wc, "PUT", f"/products/{wc.tee}/variations/{wc.small}", {"regular_price": 3})
    assert (status, body["data"]["params"]) == (400, {"regular_price": "regular_price is not of type string."})
    status, body = await call(http, wc, "PUT", f"/products/{wc.tee}/variations/{wc.small}", {"status": "future"})
    assert (status, body["data"]["details"]["status"]["code"]) == (400, "rest_not_in_enum")
    assert wc.store.get_variation(wc.tee, wc.small).doc["regular_price"] == "20.00"
    # numeric strings are integers to WordPress
    status, body = await call(http, wc, "PUT", f"/products/{wc.tee}/variations/{wc.small}",
                              {"manage_stock": True, "stock_quantity": "7", "regular_price": "21.00"})
    assert (status, body["stock_quantity"], body["regular_price"]) == (200, 7, "21.00")


async def test_customer_errors_match_the_captured_store(wc, http):
    before = counts(wc)
    fx = load("woocommerce/rest/error-400-customer-email-exists.json")
    status, body = await call(http, wc, "POST", "/customers", fx["request"]["body"])
    assert (status, body) == (fx["status"], fx["body"])
    status, body = await call(http, wc, "POST", "/customers", {"first_name": "No"})
    assert (status, body) == (400, {"code": "rest_missing_callback_param", "message": "Missing parameter(s): email",
                                    "data": {"status": 400, "params": ["email"]}})
    status, body = await call(http, wc, "POST", "/customers", {"email": "not-an-email"})
    assert (status, body["code"], body["data"]["details"]["email"]) == (
        400, "rest_invalid_param", {"code": "rest_invalid_email", "message": "Invalid email address.", "data": None})
    assert counts(wc) == before
    status, body = await call(http, wc, "POST", "/customers", {"email": "new@example.com", "first_name": "N"})
    assert status == 201 and body["email"] == "new@example.com"
