"""Reconciler, customers: the paced sweep resumes after a restart, fingerprints, referenced customers, deletes."""
from __future__ import annotations

import pytest

from tests.integration.reconcile.conftest import heads

pytestmark = pytest.mark.integration


def add_customers(store, n: int) -> list[int]:
    return [store.create_customer({"email": f"c{i}@example.com", "first_name": f"C{i}",
                                   "billing": {"phone": "+1 555 0100"}}, emit=False).id for i in range(n)]


async def test_customer_sweep_is_paced_and_resumes_after_a_restart(db, shop, make_reconciler):
    cids = add_customers(shop.store, 250)
    seen_per_run = []
    for run in range(3):
        # a new Reconciler each time: a restarted agent, nothing kept in memory
        report = await make_reconciler(customer_sweep_pages_per_run=1).run_store(shop.store_id)
        seen_per_run.append(sorted(set(await heads(db, shop.store_id, "customer"))))
        assert report.checked["customer"] == (100 if run < 2 else 50)
        assert shop.requests("customers") == run + 1  # one page per run: paced
    assert seen_per_run[0] == cids[:100] and seen_per_run[1] == cids[:200] and seen_per_run[2] == cids
    async with db.connection() as conn:
        track = await conn.fetchrow("SELECT position, sweeps_done FROM reconcile_state WHERE store_id = $1 "
                                    "AND track = 'customer'", shop.store_id)
    assert (track["position"], track["sweeps_done"]) == (1, 1)  # wrapped: the next sweep starts over


async def test_fingerprint_catches_a_change_without_a_new_modified_date(db, shop, make_reconciler):
    store = shop.store
    a, b = add_customers(store, 2)
    run = make_reconciler(customer_sweep_pages_per_run=1)
    await run.run_store(shop.store_id)
    before = await heads(db, shop.store_id, "customer")
    # user meta edited directly: WordPress does not bump the customer's modified date
    store.customers[b].doc["billing"]["phone"] = "+1 555 0199"
    report = await run.run_store(shop.store_id)
    after = await heads(db, shop.store_id, "customer")
    assert report.missing_ids == {"customer": [b]}
    assert after[a] == before[a] and after[b][0] == before[b][0] and after[b][1] == "updated"
    # and only once: the next sweep sees the same fingerprint
    assert sum((await run.run_store(shop.store_id)).missing.values()) == 0


async def test_order_referencing_an_unknown_customer_fetches_it(db, shop, make_reconciler):
    store = shop.store
    cid = add_customers(store, 1)[0]
    pid = store.create_product({"name": "W", "regular_price": "2.00"}, emit=False).id
    store.create_order({"customer_id": cid, "line_items": [{"product_id": pid, "quantity": 1}]}, emit=False)
    report = await make_reconciler().run_store(shop.store_id)  # customer sweep off: only the reference finds it
    assert cid in await heads(db, shop.store_id, "customer")
    assert report.checked["customer.referenced"] == 1 and shop.requests("customers/{id}") == 1


async def test_deleted_customer_found_by_the_id_sweep(db, shop, make_reconciler):
    store = shop.store
    a, b = add_customers(store, 2)
    run = make_reconciler(customer_sweep_pages_per_run=1, id_sweep_ids_per_run=100)
    await run.run_store(shop.store_id)
    store.delete_customer(b)
    await run.run_store(shop.store_id)
    got = await heads(db, shop.store_id, "customer")
    assert got[b][1] == "deleted" and got[a][1] == "created"
