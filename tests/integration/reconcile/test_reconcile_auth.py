"""Reconciler auth: both modes (OAuth 1.0a over http, basic/query over https), bad keys (reported, not retried in
a hot loop), 5xx backoff, and no credentials in any log line."""
from __future__ import annotations

import pytest
from loguru import logger

from emulators.woocommerce import WooCommerceEmulator
from tests.integration.reconcile.conftest import ca_context, heads

pytestmark = pytest.mark.integration


def add_order(store) -> int:
    pid = store.create_product({"name": "W", "regular_price": "2.00"}, emit=False).id
    return store.create_order({"line_items": [{"product_id": pid, "quantity": 1}]}, emit=False).id


async def test_oauth1_over_plain_http(db, shop, make_reconciler):
    oid = add_order(shop.store)
    report = await make_reconciler().run_store(shop.store_id)
    assert report.outcome == "ok" and oid in await heads(db, shop.store_id, "order")
    assert (await shop_row(db, shop.store_id))["keys_status"] == "ok"


@pytest.mark.parametrize("mode", ["basic", "query", "auto"])
async def test_basic_and_query_keys_over_https(db, stores, make_reconciler, mode):
    async with WooCommerceEmulator(https=True) as wc:
        ck, cs = wc.add_api_key("read")
        oid = add_order(wc.store)
        row, _ = await stores.add("TLS shop", wc_url=wc.url,
                                  wc_credentials={"consumer_key": ck, "consumer_secret": cs, "auth": mode})
        report = await make_reconciler(ssl=ca_context(wc)).run_store(row["id"])
        assert report.outcome == "ok", report.error
        assert oid in await heads(db, row["id"], "order")


async def shop_row(db, store_id: str):
    async with db.connection() as conn:
        return await conn.fetchrow("SELECT keys_status, keys_error FROM stores WHERE id = $1", store_id)


async def test_bad_keys_are_reported_and_not_retried_in_a_hot_loop(db, stores, shop, make_reconciler):
    await stores.set_woocommerce(shop.store_id, url=shop.wc.url, consumer_key=shop.ck, consumer_secret="cs_wrong",
                                 webhook_secret=None)
    run = make_reconciler(reconcile_auth_backoff_s=3600)
    report = await run.run_store(shop.store_id)
    assert report.outcome == "auth_failed"
    row = await shop_row(db, shop.store_id)
    assert row["keys_status"] == "failed"
    assert "refused the store's REST keys" in row["keys_error"] and "Invalid signature" in row["keys_error"]
    sent = shop.requests()
    assert sent == 1  # an auth failure is not retried within the run
    for _ in range(3):  # the scheduler fires again: the store is backing off, nothing is sent
        assert await run.run_store(shop.store_id) is None
    assert shop.requests() == sent
    async with db.connection() as conn:
        assert await conn.fetchval("SELECT outcome FROM reconcile_runs WHERE store_id = $1", shop.store_id) == "auth_failed"
    # fixed keys end the backoff at once
    await stores.set_woocommerce(shop.store_id, url=shop.wc.url, consumer_key=shop.ck, consumer_secret=shop.cs,
                                 webhook_secret=None)
    assert (await run.run_store(shop.store_id)).outcome == "ok"
    assert (await shop_row(db, shop.store_id))["keys_status"] == "ok"


async def test_basic_auth_over_plain_http_explains_itself(db, stores, shop, make_reconciler):
    await stores.set_woocommerce(shop.store_id, url=shop.wc.url, consumer_key=shop.ck, consumer_secret=shop.cs,
                                 webhook_secret=None, auth="basic")
    report = await make_reconciler().run_store(shop.store_id)
    assert report.outcome == "auth_failed" and "only OAuth 1.0a" in report.error


async def test_server_errors_back_off(db, shop, make_reconciler):
    shop.wc.config.api_error_share = 1.0
    run = make_reconciler(wc_max_retries=2, reconcile_interval_s=60, reconcile_max_backoff_s=600)
    report = await run.run_store(shop.store_id)
    assert report.outcome == "retrying" and report.requests == 3  # 1 + 2 quick retries
    assert await run.run_store(shop.store_id) is None  # backing off
    async with db.connection() as conn:
        st = await conn.fetchrow("SELECT failures, next_run_at - now() AS wait FROM reconcile_state "
                                 "WHERE store_id = $1 AND track = 'store'", shop.store_id)
    assert st["failures"] == 1 and 50 < st["wait"].total_seconds() <= 60
    shop.wc.config.api_error_share = 0.0
    assert (await run.run_store(shop.store_id, force=True)).outcome == "ok"


async def test_no_credentials_in_logs(db, stores, shop, make_reconciler):
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m) + repr(m.record["extra"])), level="TRACE",
                      format="{message} {extra}")
    try:
        add_order(shop.store)
        shop.wc.config.api_error_share = 1.0  # retries log the failing request
        await make_reconciler(wc_max_retries=1).run_store(shop.store_id)
        shop.wc.config.api_error_share = 0.0
        await make_reconciler(customer_sweep_pages_per_run=1, id_sweep_ids_per_run=10).run_store(shop.store_id, force=True)
        await stores.set_woocommerce(shop.store_id, url=shop.wc.url, consumer_key=shop.ck, consumer_secret="cs_nope",
                                     webhook_secret=None)
        await make_reconciler().run_store(shop.store_id, force=True)
        async with WooCommerceEmulator(https=True) as wc:  # keys in the query string (and echoed Link headers)
            ck, cs = wc.add_api_key("read")
            add_order(wc.store)
            row, _ = await stores.add("Q", wc_url=wc.url,
                                      wc_credentials={"consumer_key": ck, "consumer_secret": "cs_bad", "auth": "query"})
            await make_reconciler(ssl=ca_context(wc)).run_store(row["id"])
            await stores.set_woocommerce(row["id"], url=wc.url, consumer_key=ck, consumer_secret=cs,
                                         webhook_secret=None)
            assert (await make_reconciler(ssl=ca_context(wc)).run_store(row["id"])).outcome == "ok"
    finally:
        logger.remove(sink)
    text = "\n".join(lines)
    assert "reconcile.run" in text and "wc.retry" in text and "refused the store's REST keys" in text
    for secret in (shop.ck, shop.cs, "cs_nope", ck, cs, "cs_bad", "oauth_signature=", "consumer_secret="):
        assert secret not in text
