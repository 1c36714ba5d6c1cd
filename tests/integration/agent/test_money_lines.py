"""Money lines (issue 18; mapping option money_lines): shipping, fees and the discount also become order lines, each
on its kind's product, so Salesforce's own order total matches the store's (before tax); a shipping line the order no
longer lists is deleted; the shipped default keeps them as the Woo_*_Total__c fields only. Order and Opportunity
models. Real Postgres, the Salesforce emulator; emulators/convergence.compare checks the lines."""
from __future__ import annotations

import pytest

from emulators.convergence import compare
from tests.support import woo
from tests.support.agent_fixtures import sf_connection

pytestmark = pytest.mark.integration


class Store:
    """The minimum of a WooCommerce store convergence.compare reads: these orders."""

    def __init__(self, *docs: dict):
        self.orders = {d["id"]: type("Rec", (), {"doc": d, "status": d["status"]})() for d in docs}
        self.products, self.customers = {}, {}

    def render(self, rec, as_product=False):  # pragma: no cover - no products here
        return rec.doc


def _order(**kw) -> dict:
    return woo.order(5, products=(1, 2), discount_total="3.00", modified=kw.pop("modified", 1),
                     fee_lines=[{"id": 7, "name": "Gift wrap", "total": "2.50", "total_tax": "0.00"}], **kw)


@pytest.mark.parametrize("model, sobject, total", [("order", "OrderItem", "TotalAmount"),
                                                   ("opportunity", "OpportunityLineItem", "Amount")])
async def test_shipping_fees_and_discount_as_lines(db, stores, store, sf_emu, outbox, deliverer, tmp_path, model,
                                                  sobject, total):
    own = tmp_path / "own.toml"
    own.write_text(f'[options]\nmoney_lines = true\norder_model = "{model}"\n[options.money_line_products]\n'
                   'shipping = "Delivery"\n')
    await stores.set_salesforce(store.id, {**sf_connection(sf_emu), "mapping_file": str(own)})
    sid = store.id
    doc = _order()
    await outbox.put(sid, "order", doc)
    assert (await deliverer.drain()).outcomes["delivered"] == 1
    lines = {r["Wooforce_Key__c"].rpartition(":item:")[2]: r for r in sf_emu.records(sobject)}
    assert set(lines) == {"51", "52", "shipping-1", "fee-7", "discount"}
    products = {r["Id"]: r for r in sf_emu.records("Product2")}
    assert products[lines["shipping-1"]["Product2Id"]]["Name"] == "Delivery"
    assert products[lines["fee-7"]["Product2Id"]]["Wooforce_Key__c"] == f"{sid}:product:fee"
    assert lines["discount"]["UnitPrice"] == -3.0 and lines["shipping-1"]["UnitPrice"] == 5.0
    parent = sf_emu.records("Opportunity" if model == "opportunity" else "Order")[0]
    assert parent[total] == 40.0 + 5.0 + 2.5 - 3.0  # two lines of 20, shipping, fee, discount
    report = compare(Store(doc), sf_emu.records, sid, order_model=model, money_lines=True)
    assert report.objects[0].mismatches == []
    # free shipping now: the shipping line goes
    doc = _order(modified=2, shipping_lines=[])
    await outbox.put(sid, "order", doc)
    assert (await deliverer.drain()).outcomes["delivered"] == 1
    assert compare(Store(doc), sf_emu.records, sid, order_model=model, money_lines=True).objects[0].mismatches == []
    assert not any(":item:shipping-" in r["Wooforce_Key__c"] for r in sf_emu.records(sobject))


async def test_money_stays_fields_by_default(db, sf_store, sf_emu, outbox, deliverer):
    await outbox.put(sf_store, "order", _order())
    assert (await deliverer.drain()).outcomes["delivered"] == 1
    assert {r["Wooforce_Key__c"].rpartition(":item:")[2] for r in sf_emu.records("OrderItem")} == {"51", "52"}
    order = sf_emu.records("Order")[0]
    assert (order["Woo_Shipping_Total__c"], order["Woo_Discount_Total__c"]) == (5.0, 3.0)
