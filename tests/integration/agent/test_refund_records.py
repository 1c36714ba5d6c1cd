"""Refunds as records (issue 18; mapping option refunds = "records"): each refund the order lists is a Woo_Refund__c
under its Order or Opportunity (amount, reason) with Woo_Refunded_Total__c on the parent; a refund the order no
longer lists is deleted; the shipped default ("fields") writes none. Real Postgres, the Salesforce emulator."""
from __future__ import annotations

import pytest

from tests.support import woo
from tests.support.agent_fixtures import sf_connection

pytestmark = pytest.mark.integration


async def _store(stores, store, sf_emu, tmp_path, options: str) -> str:
    own = tmp_path / "own.toml"
    own.write_text("[options]\n" + options)
    await stores.set_salesforce(store.id, {**sf_connection(sf_emu), "mapping_file": str(own)})
    return store.id


def _refunds(emu, sid: str) -> dict[str, dict]:
    return {r["Wooforce_Key__c"][len(sid) + 1:]: r for r in emu.records("Woo_Refund__c")}


@pytest.mark.parametrize("model, parent, lookup", [("order", "Order", "Woo_Order__c"),
                                                   ("opportunity", "Opportunity", "Woo_Opportunity__c")])
async def test_refunds_become_records_and_a_deleted_refund_is_removed(db, stores, store, sf_emu, outbox, deliverer,
                                                                      tmp_path, model, parent, lookup):
    sid = await _store(stores, store, sf_emu, tmp_path, f'refunds = "records"\norder_model = "{model}"\n')
    refunds = [{"id": 91, "reason": "chipped mug", "total": "-12.87"}, {"id": 92, "reason": "", "total": "-5.00"}]
    await outbox.put(sid, "order", woo.order(9, products=(1, 2), status="completed", modified=1, refunds=refunds))
    assert (await deliverer.drain()).outcomes["delivered"] == 1
    got = _refunds(sf_emu, sid)
    parent_rec = next(r for r in sf_emu.records(parent) if r["Wooforce_Key__c"] == f"{sid}:order:9")
    assert set(got) == {"order:9:refund:91", "order:9:refund:92"}
    assert got["order:9:refund:91"]["Woo_Amount__c"] == 12.87 and got["order:9:refund:91"]["Woo_Reason__c"] == \
        "chipped mug"
    assert all(r[lookup] == parent_rec["Id"] for r in got.values())
    assert parent_rec["Woo_Refunded_Total__c"] == 17.87
    # the shop deletes refund 92
    await outbox.put(sid, "order", woo.order(9, products=(1, 2), status="completed", modified=2, refunds=refunds[:1]))
    assert (await deliverer.drain()).outcomes["delivered"] == 1
    assert set(_refunds(sf_emu, sid)) == {"order:9:refund:91"}
    parent_rec = next(r for r in sf_emu.records(parent) if r["Wooforce_Key__c"] == f"{sid}:order:9")
    assert parent_rec["Woo_Refunded_Total__c"] == 12.87


async def test_refunds_stay_fields_by_default(db, sf_store, sf_emu, outbox, deliverer):
    await outbox.put(sf_store, "order", woo.order(9, refunds=[{"id": 91, "reason": "", "total": "-1.00"}]))
    assert (await deliverer.drain()).outcomes["delivered"] == 1
    assert sf_emu.records("Woo_Refund__c") == []
    assert next(iter(sf_emu.records("Order"))).get("Woo_Refunded_Total__c") is None
