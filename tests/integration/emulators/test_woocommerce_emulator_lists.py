"""WooCommerce emulator lists: pagination headers and Link echo, per_page bounds, ordering, filters, date quirks."""
from __future__ import annotations

import time
from typing import Any

import aiohttp
import pytest

from emulators.woocommerce import WooCommerceEmulator
from tests.fixtures import load

T0 = 1795361700  # 2026-11-22T15:35:00Z, the capture's time of day


def rest(name: str) -> dict[str, Any]:
    return load(f"woocommerce/rest/{name}.json")


class Shop:
    def __init__(self, emu: WooCommerceEmulator, session: aiohttp.ClientSession):
        self.emu, self.http = emu, session

    async def get(self, path: str, **params: Any) -> tuple[int, Any, Any]:
        async with self.http.get(self.emu.api_url + path, params={k: str(v) for k, v in params.items()}) as r:
            return r.status, await r.json(), r.headers

    def fixture_link(self, fixture: str) -> str:
        """The fixture's Link header with the capture's origin replaced by ours."""
        return rest(fixture)["headers"]["Link"].replace("https://shop.example", self.emu.store.base_url)


@pytest.fixture
async def shop():
    async with WooCommerceEmulator(assume_https=True, public_url="https://shop.example") as emu:
        ck, cs = emu.add_api_key("read")
        emu.creds = (ck, cs)
        async with aiohttp.ClientSession(auth=aiohttp.BasicAuth(ck, cs)) as session:
            yield Shop(emu, session)


def make_orders(emu: WooCommerceEmulator, n: int, start: int = T0, step_s: int = 1) -> list[int]:
    s = emu.store
    product = s.create_product({"name": "Mug", "regular_price": "12.00"}, now=start - 10)
    ids = []
    for i in range(n):
        s.clock.freeze(start + i * step_s)
        ids.append(s.create_order({"line_items": [{"product_id": product.id}], "status": "processing"}).id)
    s.clock.unfreeze()
    return ids


# ---------------------------------------------------------------- pagination


@pytest.mark.parametrize("params, fixture", [
    ({"per_page": 2, "page": 1}, "orders-list-page1"),
    ({"per_page": 2, "page": 2}, "orders-list-page2"),
    ({"per_page": 2, "page": 5}, "orders-list-page-last"),
    ({"per_page": 2, "page": 6}, "orders-list-page-beyond-last"),
    ({}, "orders-list"),
])
async def test_list_headers_match_fixture(shop, params, fixture):
    make_orders(shop.emu, 9)
    fx = rest(fixture)
    status, body, headers = await shop.get("/orders", **params)
    assert status == 200 and len(body) == len(fx["body"])
    for name in ("X-WP-Total", "X-WP-TotalPages", "Allow", "Content-Type"):
        assert headers[name] == fx["headers"][name], name
    assert headers["Link"] == shop.fixture_link(fixture)


async def test_link_echoes_query_keys_and_sanitised_params(shop):
    make_orders(shop.emu, 9)
    ck, cs = shop.emu.creds
    async with aiohttp.ClientSession() as anonymous:
        async with anonymous.get(shop.emu.api_url + "/orders",
                                 params={"per_page": "1", "consumer_key": ck, "consumer_secret": cs}) as r:
            assert r.status == 200
            expected = shop.fixture_link("orders-list-query-string-keys-https")
            assert r.headers["Link"] == expected.replace("ck_REDACTED", ck).replace("cs_REDACTED", cs)
    fx = rest("orders-modified-before-gmt-equal")
    status, body, headers = await shop.get("/orders", **fx["request"]["query"])
    assert headers["Link"].startswith(
        f"<https://shop.example/wp-json/wc/v3/orders?modified_before={fx['request']['query']['modified_before'].replace(':', '%3A')}"
        "&dates_are_gmt=1&orderby=modified&order=desc&per_page=3&status%5B0%5D=any&dp=2&context=view&page=2>")


@pytest.mark.parametrize("n, per_page, pages", [(100, 100, 1), (101, 100, 2), (0, 100, 0), (25, 10, 3)])
async def test_pagination_edges(shop, n, per_page, pages):
    ids = make_orders(shop.emu, n) if n else []
    seen: list[int] = []
    for page in range(1, pages + 1):
        status, body, headers = await shop.get("/orders", per_page=per_page, page=page)
        assert status == 200
        assert (headers["X-WP-Total"], headers["X-WP-TotalPages"]) == (str(n), str(pages))
        assert ('rel="next"' in headers["Link"]) == (page < pages)
        assert ('rel="prev"' in headers["Link"]) == (page > 1)
        seen += [o["id"] for o in body]
    assert seen == sorted(ids, reverse=True)  # newest first, no gaps or repeats
    status, body, headers = await shop.get("/orders", per_page=per_page, page=pages + 1)
    assert (status, body, headers["X-WP-Total"], headers["X-WP-TotalPages"]) == (200, [], "0", "0")
    if pages + 1 > 1:
        assert headers["Link"].endswith('page=0&status%5B0%5D=any>; rel="prev"') or 'page=0' in headers["Link"]


async def test_per_page_default_and_bounds(shop):
    make_orders(shop.emu, 12)
    status, body, headers = await shop.get("/orders")
    assert len(body) == 10 and headers["X-WP-TotalPages"] == "2"
    assert (await shop.get("/orders", per_page=100))[0] == 200
    status, body, _ = await shop.get("/orders", per_page=101)
    assert (status, body) == (400, rest("error-400-per-page-101")["body"])
    status, body, _ = await shop.get("/orders", per_page=0)
    assert status == 400 and body["data"]["details"]["per_page"]["code"] == "rest_out_of_bounds"


# ---------------------------------------------------------------- ordering and filters


async def test_ordering_and_filters(shop):
    s = shop.emu.store
    ids = make_orders(shop.emu, 5)
    cust = s.create_customer({"email": "zed@example.com", "username": "zed"})
    s.clock.freeze(T0 + 100)
    s.update_order(ids[0], {"customer_id": cust.id, "status": "completed"})
    s.clock.unfreeze()
    assert [o["id"] for o in (await shop.get("/orders"))[1]] == ids[::-1]
    assert [o["id"] for o in (await shop.get("/orders", orderby="modified", order="asc"))[1]] == ids[1:] + ids[:1]
    assert [o["id"] for o in (await shop.get("/orders", orderby="id", order="asc"))[1]] == ids
    assert [o["id"] for o in (await shop.get("/orders", customer=cust.id))[1]] == [ids[0]]
    assert [o["id"] for o in (await shop.get("/orders", status="completed"))[1]] == [ids[0]]
    assert [o["id"] for o in (await shop.get("/orders", include=f"{ids[1]},{ids[2]}"))[1]] == [ids[2], ids[1]]
    assert len((await shop.get("/orders", exclude=ids[0]))[1]) == 4
    assert [o["id"] for o in (await shop.get("/orders", search="zed@example"))[1]] == [ids[0]]
    status, body, _ = await shop.get("/orders", orderby="bogus")
    assert status == 400 and body["data"]["details"]["orderby"]["code"] == "rest_not_in_enum"
    s.create_product({"name": "Beta"})
    s.create_product({"name": "Alpha"})
    names = [p["name"] for p in (await shop.get("/products", orderby="title", order="asc"))[1]]
    assert names == sorted(names)
    _, customers, _ = await shop.get("/customers")
    _, everyone, _ = await shop.get("/customers", role="all")
    assert "administrator" not in {c["role"] for c in customers}
    assert {c["role"] for c in everyone} == {"administrator", "customer"}


# ---------------------------------------------------------------- date filters (README FACTS)


async def test_modified_after_quirks(shop):
    """Strict > at one-second resolution; bare values are store-local unless dates_are_gmt; Z is honoured;
    an offset together with dates_are_gmt is read 8 h off (the real store returned every order)."""
    times = shop.emu.store.times
    old = make_orders(shop.emu, 2, start=T0 - 3600)  # an hour older
    new = make_orders(shop.emu, 3, start=T0)  # modified T0, T0+1, T0+2
    mid = T0 + 1

    async def ids(**params: Any) -> list[int]:
        status, body, _ = await shop.get("/orders", orderby="modified", order="asc", **params)
        assert status == 200, body
        return [o["id"] for o in body]

    assert await ids(modified_after=times.gmt(mid), dates_are_gmt="true") == new[2:]  # gmt-equal: excluded
    assert await ids(modified_after=times.gmt(mid - 1), dates_are_gmt="true") == new[1:]  # 1 s earlier: included
    assert await ids(modified_after=times.local(mid)) == new[2:]  # local-equal
    assert await ids(modified_after=times.local(mid - 1)) == new[1:]  # local minus 1 s
    assert await ids(modified_after=times.gmt(mid)) == []  # gmt value without the flag: 8 h off
    assert await ids(modified_after=times.gmt(mid) + "Z") == new[2:]  # Z suffix, no flag: right
    assert await ids(modified_after=times.gmt(mid) + "+00:00", dates_are_gmt="true") == old + new  # the quirk
    assert await ids(modified_before=times.gmt(mid), dates_are_gmt="true") == old + new[:1]  # strict <
    assert await ids(after=times.gmt(T0 - 1), dates_are_gmt="true") == new
    assert await ids(before=times.local(T0)) == old
    # both an indexed and a scanned bound: created strictly after T0 and modified strictly after T0 - 1
    assert await ids(after=times.gmt(T0), modified_after=times.gmt(T0 - 1), dates_are_gmt="true") == new[1:]
    assert await ids(modified_before=times.gmt(T0 + 2), before=times.gmt(T0 + 1), dates_are_gmt="true") == old + new[:1]
    fx = rest("error-400-modified-after-date-only")
    status, body, _ = await shop.get("/orders", **fx["request"]["query"])
    assert (status, body) == (400, fx["body"])
    status, body, _ = await shop.get("/products", modified_after="garbage")
    assert status == 400 and body["data"]["details"]["modified_after"]["code"] == "rest_invalid_date"


async def test_products_modified_after_and_customers_ignore_dates(shop):
    s = shop.emu.store
    s.clock.freeze(T0)
    a = s.create_product({"name": "A", "regular_price": "1.00"})
    s.clock.freeze(T0 + 1)
    b = s.create_product({"name": "B", "regular_price": "1.00"})
    s.create_customer({"email": "c1@example.com"})
    s.clock.unfreeze()
    gmt = s.times.gmt(T0)
    _, body, _ = await shop.get("/products", modified_after=gmt, dates_are_gmt="true")
    assert [p["id"] for p in body] == [b.id]
    _, body, _ = await shop.get("/products", modified_after=s.times.gmt(T0 - 1), dates_are_gmt="true", orderby="id", order="asc")
    assert [p["id"] for p in body] == [a.id, b.id]
    for params in ({}, {"modified_after": s.times.gmt(T0 + 3600), "dates_are_gmt": "true"}, {"modified_after": "garbage"},
                   {"after": "2099-01-01T00:00:00"}):
        status, body, headers = await shop.get("/customers", **params)
        assert status == 200 and headers["X-WP-Total"] == "1", params


async def test_50k_orders_seed_and_indexed_modified_after_walk(shop):
    emu = shop.emu
    started = time.perf_counter()
    emu.seed(orders=50_000, products=50, customers=500, seed=3, days=10)
    assert time.perf_counter() - started < 10
    s = emu.store
    threshold = s.clock.now() - 2 * 3600
    expected = sorted((r.modified, r.id) for r in s.orders.values() if r.modified > threshold)
    assert 200 < len(expected) < 8000
    started = time.perf_counter()
    seen, page = [], 1
    while True:
        _, body, headers = await shop.get("/orders", modified_after=s.times.gmt(threshold), dates_are_gmt="true",
                                          orderby="modified", order="asc", per_page=100, page=page)
        seen += [o["id"] for o in body]
        if 'rel="next"' not in headers.get("Link", ""):
            break
        page += 1
    assert seen == [i for _, i in expected]
    assert headers["X-WP-Total"] == str(len(expected))
    assert time.perf_counter() - started < 15
