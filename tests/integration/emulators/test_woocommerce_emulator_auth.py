"""WooCommerce emulator authentication: every path of WooCommerce 10 over http and https (real TLS)."""
from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest

from emulators.woocommerce import WooCommerceEmulator, oauth1_url, sign_oauth1
from emulators.woocommerce.oauth import base_string
from tests.fixtures import load


def rest(name: str) -> dict[str, Any]:
    return load(f"woocommerce/rest/{name}.json")


@pytest.fixture(scope="module")
async def plain():
    async with WooCommerceEmulator() as emu:
        emu.creds = emu.add_api_key("read_write")
        emu.store.create_order({"status": "processing"})
        emu.store.create_order({"status": "pending"})
        yield emu


@pytest.fixture(scope="module")
async def tls(tmp_path_factory):
    async with WooCommerceEmulator(https=True, ca_path=tmp_path_factory.mktemp("wc") / "ca.pem") as emu:
        emu.creds = emu.add_api_key("read_write")
        emu.store.create_order({"status": "processing"})
        yield emu


async def fetch(url: str, *, ssl: Any = None, **kw: Any) -> tuple[int, Any, Any]:
    async with aiohttp.ClientSession() as http:
        async with http.get(url, ssl=ssl, **kw) as r:
            return r.status, await r.json(), r.headers


def oauth_get_url(emu: WooCommerceEmulator, path: str, params: dict[str, Any], ck: str, cs: str, **kw: Any) -> str:
    return oauth1_url("GET", emu.api_url + path, params, ck, cs, **kw)


# ---------------------------------------------------------------- plain http


@pytest.mark.parametrize("method", ["HMAC-SHA256", "HMAC-SHA1"])
async def test_oauth1_over_http_accepted_and_link_echoes_oauth_params(plain, method):
    ck, cs = plain.creds
    status, body, headers = await fetch(oauth_get_url(plain, "/orders", {"per_page": 1, "page": 1}, ck, cs,
                                                      signature_method=method))
    assert status == 200 and len(body) == 1
    link = headers["Link"]
    assert link.startswith(f"<{plain.url}/wp-json/wc/v3/orders?per_page=1&page=2&oauth_consumer_key={ck}&oauth_timestamp=")
    assert f"oauth_signature_method={method}&oauth_signature=" in link
    assert link.endswith('&status%5B0%5D=any&dp=2&context=view>; rel="next"')


async def test_oauth1_authorization_header_and_post(plain):
    ck, cs = plain.creds
    url = plain.api_url + "/customers"
    signed = sign_oauth1("POST", url, {}, ck, cs)
    header = "OAuth " + ", ".join(f'{k}="{quote(v, safe="")}"' for k, v in signed.items())
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json={"email": "hdr@example.com"}, headers={"Authorization": header}) as r:
            assert r.status == 201


async def test_oauth1_failures(plain):
    ck, cs = plain.creds
    fx_key, fx_sig = rest("error-401-bad-key-oauth1-http"), rest("error-401-bad-signature-oauth1-http")
    assert (await fetch(oauth_get_url(plain, "/orders", {}, "ck_unknown", cs)))[:2] == (401, fx_key["body"])
    assert (await fetch(oauth_get_url(plain, "/orders", {}, ck, "cs_wrong")))[:2] == (401, fx_sig["body"])
    # tampering with a signed parameter breaks the signature
    url = oauth_get_url(plain, "/orders", {"per_page": 1}, ck, cs).replace("per_page=1", "per_page=2")
    assert (await fetch(url))[:2] == (401, fx_sig["body"])
    # replayed nonce
    url = oauth_get_url(plain, "/orders", {}, ck, cs, nonce="fixed-nonce-1")
    assert (await fetch(url))[0] == 200
    status, body, _ = await fetch(url)
    assert (status, body["message"]) == (401, "Invalid nonce - nonce has already been used.")
    # timestamp outside the 15-minute window, and inside it under a skewed store clock
    stale = plain.store.clock.now() - 16 * 60
    status, body, _ = await fetch(oauth_get_url(plain, "/orders", {}, ck, cs, timestamp=stale))
    assert (status, body["message"]) == (401, "Invalid timestamp.")
    plain.store.clock.offset_s = -16 * 60
    try:
        assert (await fetch(oauth_get_url(plain, "/orders", {}, ck, cs, timestamp=stale)))[0] == 200
    finally:
        plain.store.clock.offset_s = 0
    # a missing oauth parameter
    signed = sign_oauth1("GET", plain.api_url + "/orders", {}, ck, cs)
    signed.pop("oauth_nonce")
    status, body, _ = await fetch(plain.api_url + "/orders", params=signed)
    assert (status, body["code"]) == (401, "woocommerce_rest_authentication_missing_parameter")


async def test_basic_and_query_keys_ignored_over_http(plain):
    ck, cs = plain.creds
    fx_basic, fx_query = rest("error-401-basic-over-http"), rest("error-401-query-string-keys-over-http")
    status, body, headers = await fetch(plain.api_url + "/orders", auth=aiohttp.BasicAuth(ck, cs))
    assert (status, body) == (401, fx_basic["body"]) and "Allow" not in headers
    status, body, _ = await fetch(plain.api_url + "/orders", params={"per_page": 1, "consumer_key": ck, "consumer_secret": cs})
    assert (status, body) == (401, fx_query["body"])


async def test_permissions_of_read_only_key(plain):
    ck, cs = plain.keyring.add("read").consumer_key, None
    cs = plain.keyring.keys[ck].consumer_secret
    assert (await fetch(oauth_get_url(plain, "/orders", {}, ck, cs)))[0] == 200
    url = plain.api_url + "/customers"
    async with aiohttp.ClientSession() as http:
        async with http.post(url, params=sign_oauth1("POST", url, {}, ck, cs), json={"email": "ro@example.com"}) as r:
            body = await r.json()
            assert (r.status, body["message"]) == (401, "The API key provided does not have write permissions.")


async def test_base_string_matches_woocommerce_algorithm():
    """WooCommerce: METHOD&rawurlencode(url)&rawurlencode(sorted k=v joined by &), values encoded twice."""
    params = {"b": "x y", "a": "1", "oauth_consumer_key": "ck", "oauth_nonce": "n", "oauth_timestamp": "1",
              "oauth_signature_method": "HMAC-SHA1"}
    bs = base_string("get", "HTTP://Example.com:80/wp-json/wc/v3/orders?ignored=1", params)
    assert bs == ("GET&http%3A%2F%2Fexample.com%2Fwp-json%2Fwc%2Fv3%2Forders&a%3D1%26b%3Dx%2520y%26oauth_consumer_key%3Dck"
                  "%26oauth_nonce%3Dn%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D1")
    signed = sign_oauth1("GET", "http://example.com/wp-json/wc/v3/orders", {"b": "x y", "a": "1"}, "ck", "cs",
                         signature_method="HMAC-SHA1", nonce="n", timestamp=1)
    expected = base64.b64encode(hmac.new(b"cs&", bs.encode(), hashlib.sha1).digest()).decode()
    assert signed["oauth_signature"] == expected


# ---------------------------------------------------------------- https (trustme TLS)


async def test_https_basic_query_keys_and_errors(tls):
    ctx = tls.tls.client_context()
    ck, cs = tls.creds
    url = tls.api_url + "/orders"
    assert (await fetch(url, ssl=ctx, auth=aiohttp.BasicAuth(ck, cs)))[0] == 200
    status, body, headers = await fetch(url, ssl=ctx, params={"per_page": 1, "consumer_key": ck, "consumer_secret": cs})
    assert status == 200 and len(body) == 1
    for fixture, auth in [("error-401-bad-key-basic-https", aiohttp.BasicAuth("ck_nope", cs)),
                          ("error-401-bad-secret-basic-https", aiohttp.BasicAuth(ck, "cs_nope")),
                          ("error-401-no-credentials-https", None)]:
        fx = rest(fixture)
        status, body, headers = await fetch(url, ssl=ctx, auth=auth)
        assert (status, body) == (401, fx["body"]), fixture
        assert headers["Link"] == f'<{tls.url}/wp-json/>; rel="https://api.w.org/"'
    assert (await fetch(oauth1_url("GET", url, {}, ck, cs), ssl=ctx))[0] == 200  # OAuth also works over https


async def test_https_flag_behind_proxy():
    async with WooCommerceEmulator(trust_forwarded_proto=True) as emu:
        ck, cs = emu.add_api_key("read")
        auth = aiohttp.BasicAuth(ck, cs)
        assert (await fetch(emu.api_url + "/orders", auth=auth, headers={"X-Forwarded-Proto": "https"}))[0] == 200
        assert (await fetch(emu.api_url + "/orders", auth=auth))[0] == 401
        emu.config.assume_https = True
        assert (await fetch(emu.api_url + "/orders", auth=auth))[0] == 200


@pytest.mark.parametrize("method", ["HMAC-SHA1", "HMAC-SHA256"])
async def test_oauthlib_client_interoperates(plain, method):
    """A stock OAuth 1.0a client (oauthlib, query signature) is accepted: the signer is standard."""
    from oauthlib import oauth1

    ck, cs = plain.creds
    client = oauth1.Client(ck, client_secret=cs, signature_method=method, signature_type=oauth1.SIGNATURE_TYPE_QUERY)
    url, _, _ = client.sign(plain.api_url + "/orders?per_page=1&status=processing&modified_after=2000-01-01T00:00:00")
    status, body, _ = await fetch(url)
    assert status == 200 and [o["status"] for o in body] == ["processing"]


async def test_cli_serves_and_prints_a_key(tmp_path):
    import asyncio
    import json
    import socket
    import sys

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "emulators.woocommerce", "--port", str(port), "--orders", "25", "--products", "3",
        "--customers", "4", "--seed", "9", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    try:
        info = json.loads(await asyncio.wait_for(proc.stdout.readline(), 30))
        assert info["url"] == f"http://127.0.0.1:{port}" and info["seeded"]["orders"] == 25
        url = oauth1_url("GET", info["url"] + "/wp-json/wc/v3/orders", {"per_page": 5}, info["consumer_key"],
                         info["consumer_secret"])
        status, body, headers = await fetch(url)
        assert status == 200 and len(body) == 5 and headers["X-WP-Total"] == "25"
        status, stats, _ = await fetch(info["url"] + "/_emulator/stats")
        assert stats["store"]["orders"] == 25 and stats["requests_total"] == 1
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 10)
