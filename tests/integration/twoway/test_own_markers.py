"""Wooforce's own markers on a Salesforce Order (``Woo_Status__c = trash`` / ``deleted``, written by the delivery
when the store trashes or deletes an order) are not a person's change: the poll queues no WooCommerce write for them
(issue 14, problem 8)."""
from __future__ import annotations

import pytest

from agent.reconcile.reconciler import Reconciler

pytestmark = pytest.mark.integration


async def woocommerce_rows(db, store_id: str) -> list[tuple]:
    async with db.connection() as conn:
        rows = await conn.fetch("SELECT resource, resource_id, status FROM outbox WHERE store_id = $1 AND "
                                "destination = 'woocommerce'", store_id)
    return [tuple(r) for r in rows]


@pytest.mark.parametrize("removal", ["trash", "delete"])
async def test_the_deliverys_trash_and_deleted_markers_do_not_come_back_as_changes(rig, db, stores, settings,
                                                                                   removal):
    oid = rig.orders[1]
    rig.tick()
    if removal == "trash":
        rig.wc.store.trash_order(oid)  # order.deleted webhook
    else:  # a delete for good sends no webhook: the reconciler's id sweep finds it gone
        rig.wc.store.delete_order(oid)
        sweep = settings.model_copy(update={"id_sweep_ids_per_run": 100, "customer_sweep_pages_per_run": 0,
                                            "wc_max_retries": 0})
        assert (await Reconciler(db, stores, sweep).run_store(rig.store_id, force=True)).outcome == "ok"
    await rig.deliver()
    marker = "trash" if removal == "trash" else "deleted"
    assert rig.sf_record("Order", "order", oid)["Woo_Status__c"] == marker  # written by Wooforce
    puts = rig.wc_puts()
    rep = await rig.poll()
    assert (rep.changes, rep.error) == (0, None)
    assert await woocommerce_rows(db, rig.store_id) == []  # nothing queued, so nothing skipped later either
    assert await rig.writer.drain() == {}
    assert rig.wc_puts() == puts
