"""The real store as ``emulators.convergence.compare`` sees a store: its REST documents, read through the REST API,
with the emulator store's shape (``orders``, ``products``, ``variations``, ``customers`` of records with ``doc``
and ``status``, and ``render``)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agent.reconcile.records import variation_as_product
from emulators.convergence import ConvergenceReport, compare
from shared.models import is_draft_order
from tests.store.realstore import RealStore


@dataclass
class Doc:
    doc: dict[str, Any]

    @property
    def status(self) -> str:
        return str(self.doc.get("status") or "")


class RestSnapshot:
    """Everything the store's REST API serves now: orders (live and trashed, no drafts), products (every status,
    trashed too), their variations in ``/products/{vid}`` terms, customers."""

    def __init__(self, store: RealStore) -> None:
        orders = store.list_all("orders", status="any") + store.list_all("orders", status="trash")
        self.orders = {o["id"]: Doc(o) for o in orders if not is_draft_order(o)}
        self.drafts = {o["id"]: Doc(o) for o in orders if is_draft_order(o)}
        products = store.list_all("products", status="any") + store.list_all("products", status="trash")
        self.products = {p["id"]: Doc(p) for p in products}
        self.variations: dict[int, Doc] = {}
        for p in products:
            if p.get("type") == "variable":
                for v in store.list_all(f"products/{p['id']}/variations"):
                    self.variations[v["id"]] = Doc(variation_as_product(v, p))
        self.customers = {c["id"]: Doc(c) for c in store.list_all("customers")}

    def render(self, rec: Doc, *, as_product: bool = False) -> dict[str, Any]:
        return rec.doc


def compare_store(store: RealStore, sf_records: Any, store_id: str) -> tuple[RestSnapshot, ConvergenceReport]:
    snap = RestSnapshot(store)
    return snap, compare(snap, sf_records, store_id)


def mismatches(report: ConvergenceReport) -> list[str]:
    return [m for o in report.objects for m in o.mismatches] + report.duplicates
