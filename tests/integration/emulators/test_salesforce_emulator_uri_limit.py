"""Salesforce's request URI limit (16,384 bytes, 414 beyond), and the agent's key queries staying inside it."""
from __future__ import annotations

import requests

from agent.salesforce import soql_key_queries, soql_keys

STORE = "st_01jd0000000000000000000000"


def long_keys(n: int) -> list[str]:
    return [f"{STORE}:customer:{10**18 + i}" for i in range(n)]  # the longest keys Wooforce writes


def test_uri_up_to_the_limit_is_served_and_longer_gets_414(sf_api):
    soql = soql_keys("Account", ["Id"], long_keys(150))
    assert 8_190 < len(requests.utils.quote(soql)) < 16_000  # past aiohttp's default request-line limit
    assert sf_api("GET", "/query?q=" + requests.utils.quote(soql)).status_code == 200
    too_long = soql_keys("Account", ["Id"], long_keys(300))
    assert len(requests.utils.quote(too_long)) > 16_384
    assert sf_api("GET", "/query?q=" + requests.utils.quote(too_long)).status_code == 414


def test_key_queries_fit_the_uri_limit_and_cover_every_key_once(sf_api):
    keys = long_keys(450)
    queries = soql_key_queries("Account", ["Id", "Wooforce_Key__c"], keys)
    assert max(q.count("'") // 2 for q in queries) < 200  # 200 such keys would not fit: cut by size too
    for q in queries:
        assert len(requests.utils.quote(q)) <= 12_000
        assert sf_api("GET", "/query?q=" + requests.utils.quote(q)).status_code == 200
    got = [k for q in queries for k in q.split("IN (", 1)[1].rstrip(")").replace("'", "").split(", ")]
    assert got == keys
    assert soql_key_queries("Account", ["Id"], []) == []
    short = [f"{STORE}:order:{i}" for i in range(450)]
    assert [q.count("'") // 2 for q in soql_key_queries("Account", ["Id"], short)] == [200, 200, 50]
