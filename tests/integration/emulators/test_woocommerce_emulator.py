"""WooCommerce emulator vs the captured WooCommerce 10.0.2 store: shapes, lists, filters, trash, errors."""
from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from emulators.woocommerce import Store, WooCommerceEmulator
from tests.fixtures import load


def rest(name: str) -> dict[str, Any]:
    return load(f"woocommerce/rest/{name}.json")


def assert_same_shape(ours: Any, theirs: Any, path: str = "$") -> None:
    """Same key sets at every level (lists: their first elements, when both have one)."""
    if isinstance(theirs, dict):
        assert isinstance(ours, dict), path
        assert set(ours) == set(theirs), f"{path}: extra {set(ours) - set(theirs)}, missing {set(theirs) - set(ours)}"
        for key in theirs:
            assert_same_shape(ours[key], theirs[key], f"{path}.{key}")
    elif isinstance(theirs, list) and theirs and isinstance(ours, list) and ours:
        assert_same_shape(ours[0], theirs[0], f"{path}[0]")


def build_shop(s: Store) -> dict[str, int]:
    """The capture's shop: products, a variable tee with 4 variations, 2 customers, orders, a refund."""
    lamp = s.create_product({"name": "Aurora Desk Lamp", "sku": "AUR-LAMP-01", "regular_price": "52.00",
                             "sale_price": "39.99", "manage_stock": True, "stock_quantity": 25, "weight": "1.2"})
    mug = s.create_product({"name": "Nimbus Ceramic Mug", "sku": "NMB-MUG-02", "regular_price": "12.00",
                            "manage_stock": True, "stock_quantity": 60})
    tee = s.create_product({"name": "Orbit T-Shirt", "type": "variable", "sku": "ORB-TEE", "attributes": [
        {"name": "Size", "options": ["S", "M"], "variation": True, "visible": True},
        {"name": "Color", "options": ["Black", "White"], "variation": True, "visible": True}],
        "default_attributes": [{"name": "Size", "option": "M"}, {"name": "Color", "option": "Black"}]})
    variations = [s.create_variation(tee.id, {"sku": f"ORB-TEE-{size}-{color[:3].upper()}", "regular_price": "24.00",
                                              "sale_price": "19.00" if size == "S" else "", "manage_stock": True,
                                              "stock_quantity": 10,
                                              "attributes": [{"name": "Size", "option": size}, {"name": "Color", "option": color}]})
                  for size in ("S", "M") for color in ("Black", "White")]
    addr = {"first_name": "Alice", "last_name": "Martin", "company": "Martin Design LLC", "address_1": "1200 Market Street",
            "address_2": "Suite 400", "city": "San Francisco", "state": "CA", "postcode": "94102", "country": "US",
            "phone": "+1 415-555-0142"}
    alice = s.create_customer({"email": "alice.martin@example.com", "first_name": "Alice", "last_name": "Martin",
                               "username": "alice.martin", "billing": {**addr, "email": "alice.martin@example.com"},
                               "shipping": addr})
    bob = s.create_customer({"email": "bob.nguyen@example.com", "first_name": "Bob", "last_name": "Nguyen",
                             "username": "bob.nguyen"})
    full = s.create_order({"customer_id": alice.id, "billing": {**addr, "email": "alice.martin@example.com"}, "shipping": addr,
                           "payment_method": "bacs", "payment_method_title": "Direct bank transfer", "set_paid": True,
                           "customer_note": "Please deliver to reception.",
                           "meta_data": [{"key": "sales_channel", "value": "web"}],
                           "line_items": [{"product_id": lamp.id, "quantity": 2}, {"product_id": mug.id, "quantity": 1},
                                          {"product_id": tee.id, "variation_id": variations[0].id, "quantity": 1}],
                           "shipping_lines": [{"method_id": "flat_rate", "method_title": "Flat rate", "total": "10.00"}],
                           "fee_lines": [{"name": "Gift wrapping", "total": "5.00"}],
                           "coupon_lines": [{"code": "welcome10"}]})
    guest = s.create_order({"customer_id": 0, "payment_method": "cod", "status": "processing",
                            "billing": {"first_name": "Dana", "last_name": "Müller", "city": "Chicago", "state": "IL",
                                        "country": "US", "email": "dana.guest@example.com"},
                            "shipping": {"first_name": "Dana", "last_name": "Müller", "state": "IL", "country": "US"},
                            "line_items": [{"product_id": mug.id, "quantity": 2}]})
    pending = s.create_order({"customer_id": bob.id, "line_items": [{"product_id": mug.id, "quantity": 1}]})
    refunded = s.create_order({"customer_id": alice.id, "billing": {**addr, "email": "alice.martin@example.com"},
                               "shipping": addr, "payment_method": "bacs", "set_paid": True,
                               "line_items": [{"product_id": lamp.id, "quantity": 1}, {"product_id": mug.id, "quantity": 3}],
                               "shipping_lines": [{"method_id": "flat_rate", "method_title": "Flat rate", "total": "8.00"}]})
    mug_line = refunded.doc["line_items"][1]["id"]
    refund = s.create_refund(refunded.id, {"amount": "12.87", "reason": "One mug arrived chipped", "api_refund": False,
                                           "line_items": [{"id": mug_line, "quantity": 1, "refund_total": 12.0,
                                                           "refund_tax": [{"id": 1, "refund_total": 0.87}]}]})
    return {"lamp": lamp.id, "mug": mug.id, "tee": tee.id, "variation": variations[0].id, "alice": alice.id,
            "bob": bob.id, "full": full.id, "guest": guest.id, "pending": pending.id, "refunded": refunded.id,
            "refund": refund.id}


@pytest.fixture(scope="module")
async def wc():
    async with WooCommerceEmulator(assume_https=True) as emu:
        emu.ids = build_shop(emu.store)
        emu.creds = emu.add_api_key("read_write")
        yield emu


@pytest.fixture(scope="module")
async def http(wc):
    async with aiohttp.ClientSession(auth=aiohttp.BasicAuth(*wc.creds)) as session:
        yield session


async def get(http: aiohttp.ClientSession, wc: WooCommerceEmulator, path: str, **params: Any) -> tuple[int, Any, Any]:
    async with http.get(wc.api_url + path, params={k: str(v) for k, v in params.items()}) as r:
        return r.status, await r.json(), r.headers


# ---------------------------------------------------------------- shapes


@pytest.mark.parametrize("path_key, fixture", [
    ("/orders/{full}", "order-full"), ("/orders/{guest}", "order-guest"), ("/orders/{refunded}", "order-refunded"),
    ("/products/{lamp}", "product-simple"), ("/products/{tee}", "product-variable"),
    ("/products/{tee}/variations/{variation}", "product-variation"),
    ("/products/{variation}", "product-get-variation-id-via-products"), ("/customers/{alice}", "customer"),
    ("/orders/{refunded}/refunds/{refund}", "order-refund"), ("/orders/{refunded}/refunds", "order-refunds-list"),
    ("/products/{tee}/variations", "product-variations"), ("/orders", "orders-list"), ("/products", "products-list"),
    ("/customers", "customers-list"),
])
async def test_shapes_match_fixture(wc, http, path_key, fixture):
    fx = rest(fixture)
    status, body, headers = await get(http, wc, path_key.format(**wc.ids))
    assert status == fx["status"] == 200
    assert_same_shape(body, fx["body"])
    assert headers["Content-Type"] == fx["headers"]["Content-Type"]
    assert headers["Allow"] == fx["headers"]["Allow"]
    assert ("X-WP-Total" in headers) == ("X-WP-Total" in fx["headers"])


async def test_order_values_follow_woocommerce_rules(wc, http):
    _, full, _ = await get(http, wc, f"/orders/{wc.ids['full']}")
    theirs = rest("order-full")["body"]
    for key in ("status", "discount_total", "discount_tax", "shipping_total", "shipping_tax", "cart_tax", "total",
                "total_tax", "created_via", "prices_include_tax", "currency_symbol"):
        assert full[key] == theirs[key], key
    assert [li["price"] for li in full["line_items"]] == [li["price"] for li in theirs["line_items"]]
    assert full["coupon_lines"][0]["discount"] == "11.1" and full["coupon_lines"][0]["discount_tax"] == "0.81"
    assert full["date_paid"] is not None and full["date_completed"] is None
    assert len(full["date_created"]) == 19 and full["date_created"] != full["date_created_gmt"]
    _, guest, _ = await get(http, wc, f"/orders/{wc.ids['guest']}")
    assert guest["date_paid"] is None and "customer" not in guest["_links"] and guest["tax_lines"] == []
    _, refunded, _ = await get(http, wc, f"/orders/{wc.ids['refunded']}")
    assert refunded["total"] == "90.08" and refunded["refunds"][0]["total"] == "-12.87"
    assert refunded["status"] == "processing"
    _, refund, _ = await get(http, wc, f"/orders/{wc.ids['refunded']}/refunds/{wc.ids['refund']}")
    assert refund["amount"] == "12.87" and refund["line_items"][0]["quantity"] == -1
    status, body, _ = await get(http, wc, f"/orders/{wc.ids['refund']}")  # refund ids share the order sequence
    assert (status, body) == (404, rest("error-404-order-id-of-a-refund")["body"])


async def test_variation_names_and_parent_price(wc, http):
    _, v, _ = await get(http, wc, f"/products/{wc.ids['tee']}/variations/{wc.ids['variation']}")
    _, vp, _ = await get(http, wc, f"/products/{wc.ids['variation']}")
    _, parent, _ = await get(http, wc, f"/products/{wc.ids['tee']}")
    assert (len(v), len(vp)) == (45, 71)
    assert v["name"] == "S, Black" and vp["name"] == "Orbit T-Shirt - S, Black" and vp["type"] == "variation"
    assert parent["price"] == "19.00" and len(parent["variations"]) == 4


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize("path, params, fixture", [
    ("/orders/999999", {}, "error-404-order"),
    ("/products/999999", {}, "error-404-product"),
    ("/customers/999999", {}, "error-404-customer"),
    ("/no-such-route", {}, "error-404-no-route"),
    ("/orders", {"per_page": 101}, "error-400-per-page-101"),
    ("/orders", {"status": "bogus"}, "error-400-status-invalid"),
    ("/orders", {"modified_after": "2026-11-22", "dates_are_gmt": "true"}, "error-400-modified-after-date-only"),
    ("/orders", {"modified_after": "garbage"}, "error-400-modified-after-garbage"),
])
async def test_error_bodies_match_fixture(wc, http, path, params, fixture):
    fx = rest(fixture)
    status, body, headers = await get(http, wc, path, **params)
    assert (status, body) == (fx["status"], fx["body"])
    assert headers.get("Allow") == fx["headers"].get("Allow")


async def test_customer_email_exists(wc, http):
    async with http.post(wc.api_url + "/customers", json={"email": "alice.martin@example.com"}) as r:
        assert (r.status, await r.json()) == (400, rest("error-400-customer-email-exists")["body"])


# ---------------------------------------------------------------- trash, restore, delete


async def test_order_trash_restore_force_delete(wc, http):
    s = wc.store
    oid = s.create_order({"customer_id": wc.ids["bob"], "set_paid": True, "line_items": [{"product_id": wc.ids["mug"]}]}).id
    async with http.delete(f"{wc.api_url}/orders/{oid}") as r:
        body = await r.json()
        assert r.status == 200 and body["status"] == "processing"
        assert_same_shape(body, rest("order-delete-trash")["body"])
    status, trashed, _ = await get(http, wc, f"/orders/{oid}")
    assert status == 200 and trashed["status"] == "trash"
    assert_same_shape(trashed, rest("order-trashed")["body"])
    assert {m["key"] for m in trashed["meta_data"]} >= {"_wp_trash_meta_status", "_wp_trash_meta_time"}
    _, listed, _ = await get(http, wc, "/orders", per_page=100)
    assert oid not in [o["id"] for o in listed]
    _, in_trash, _ = await get(http, wc, "/orders", status="trash")
    assert [o["id"] for o in in_trash] == [oid]
    async with http.delete(f"{wc.api_url}/orders/{oid}") as r:
        assert (r.status, await r.json()) == (410, rest("error-410-order-already-trashed")["body"])
    async with http.put(f"{wc.api_url}/orders/{oid}", json={"status": "processing"}) as r:  # REST 'restore'
        assert r.status == 200 and (await r.json())["status"] == "processing"
    async with http.delete(f"{wc.api_url}/orders/{oid}", params={"force": "true"}) as r:
        assert r.status == 200 and (await r.json())["id"] == oid
    status, body, _ = await get(http, wc, f"/orders/{oid}")
    assert (status, body) == (404, rest("error-404-order-deleted")["body"])


async def test_product_trash_slug_and_restore(wc, http):
    s = wc.store
    pid = s.create_product({"name": "Legacy Cable Organizer", "regular_price": "9.99", "sale_price": "7.49"}).id
    async with http.delete(f"{wc.api_url}/products/{pid}") as r:
        assert r.status == 200 and (await r.json())["status"] == "publish"
    _, trashed, _ = await get(http, wc, f"/products/{pid}")
    assert trashed["status"] == "trash" and trashed["slug"] == "legacy-cable-organizer__trashed"
    assert trashed["permalink"].endswith(f"/?post_type=product&p={pid}")
    assert_same_shape(trashed, rest("product-trashed")["body"])
    _, listed, _ = await get(http, wc, "/products", per_page=100)
    assert pid not in [p["id"] for p in listed]
    async with http.delete(f"{wc.api_url}/products/{pid}") as r:
        assert (r.status, await r.json()) == (410, rest("error-410-product-already-trashed")["body"])
    s.restore_product(pid, via="admin")
    _, restored, _ = await get(http, wc, f"/products/{pid}")
    assert restored["status"] == "publish" and restored["slug"] == "legacy-cable-organizer"
    async with http.delete(f"{wc.api_url}/products/{pid}", params={"force": "true"}) as r:
        assert r.status == 200
    status, body, _ = await get(http, wc, f"/products/{pid}")
    assert (status, body) == (404, rest("error-404-product-deleted")["body"])


async def test_customer_delete_needs_force(wc, http):
    cid = wc.store.create_customer({"email": "carol@example.com", "first_name": "Carol"}).id
    async with http.delete(f"{wc.api_url}/customers/{cid}") as r:
        fx = rest("error-501-customer-delete-without-force")
        assert (r.status, await r.json()) == (501, fx["body"])
        assert r.headers["Allow"] == fx["headers"]["Allow"]
    async with http.delete(f"{wc.api_url}/customers/{cid}", params={"force": "true"}) as r:
        body = await r.json()
        assert r.status == 200 and body["id"] == cid
        assert_same_shape(body, rest("customer-delete")["body"])
    status, body, headers = await get(http, wc, f"/customers/{cid}")
    assert (status, body) == (404, rest("error-404-customer-deleted")["body"]) and "Allow" not in headers


async def test_rest_create_update_and_locations(wc, http):
    async with http.post(f"{wc.api_url}/orders", json={"customer_id": wc.ids["alice"],
                                                        "line_items": [{"product_id": 999999, "quantity": 1}]}) as r:
        body = await r.json()
        fx = rest("order-create-unknown-product-response")
        assert r.status == 201 and r.headers["Location"] == f"https://{wc.host}:{wc.port}/wp-json/wc/v3/orders/{body['id']}"
        assert_same_shape(body, fx["body"])
        li = body["line_items"][0]
        assert (li["product_id"], li["name"], li["sku"], li["total"], body["status"]) == (0, "", None, "0.00", "pending")
    async with http.put(f"{wc.api_url}/orders/{body['id']}", json={"status": "completed"}) as r:
        done = await r.json()
        assert done["status"] == "completed" and done["date_completed"] is not None
        assert done["date_modified_gmt"] >= body["date_modified_gmt"]
    async with http.post(f"{wc.api_url}/products/{wc.ids['tee']}/variations",
                         json={"regular_price": "30.00", "attributes": [{"name": "Size", "option": "L"}]}) as r:
        assert r.status == 201
        assert r.headers["Location"].endswith("/products/(?P<product_id>[\\d]+)/variations/" + str((await r.json())["id"]))
    async with http.post(f"{wc.api_url}/orders/{wc.ids['full']}/refunds", json={"amount": "1.00"}) as r:
        assert r.status == 201
        assert "/orders/(?P<order_id>[\\d]+)/refunds/" in r.headers["Location"]
