"""Case 4 on the real store, with its checkout drafts (issue 14, problems 1 and 2): the reconciler alone (OAuth 1.0a
over plain http, no webhooks) brings the store into Salesforce; then 5 runs with no store change create 0 events
and the gap report shows nothing missing, though WooCommerce serves new ``related_ids`` on every request and lists
an open checkout's ``checkout-draft`` order; once the shopper places that order, the next run brings it."""
from __future__ import annotations

import asyncio
import time

from agent.reconcile.reconciler import Reconciler
from tests.store import helpers as H
from tests.store.compare import compare_store, mismatches

IDLE_RUNS = 5


async def event_count(db, store_id: str) -> int:
    async with db.connection() as conn:
        return int(await conn.fetchval("SELECT count(*) FROM events WHERE store_id = $1", store_id))


async def test_idle_store_is_quiet_and_drafts_wait_until_placed(real_store, stores, settings, sf_emu, make_deliverer):
    store, rest = real_store, H.rest
    tag = f"idle{int(time.time())}"
    await asyncio.to_thread(store.php_eval, "update_option('woocommerce_cod_settings', array('enabled' => 'yes', "
                            "'title' => 'Cash on delivery'));")
    widgets = [await rest(store, "POST", "products", json={"name": f"Idle widget {i}", "sku": f"{tag}-{i}",
                                                             "regular_price": "7.00", "virtual": True})
               for i in range(4)]
    shirt = await rest(store, "POST", "products", json={
        "name": "Idle shirt", "type": "variable",
        "attributes": [{"name": "Colour", "options": ["Red", "Blue"], "variation": True, "visible": True}]})
    for colour in ("Red", "Blue"):
        await rest(store, "POST", f"products/{shirt['id']}/variations", json={
            "regular_price": "15.00", "attributes": [{"name": "Colour", "option": colour}]})
    buyer = await rest(store, "POST", "customers", json={
        "email": f"{tag}@example.com", "first_name": "Idle", "last_name": "Buyer", "username": tag,
        "password": "not-a-real-password-3", "billing": H.address(7, f"{tag}@example.com")})
    await rest(store, "POST", "orders", json={"customer_id": buyer["id"], "status": "processing",
                                              "billing": H.address(7, f"{tag}@example.com"),
                                              "line_items": [{"product_id": w["id"], "quantity": 1} for w in widgets]})
    shopper = H.Shopper(store)
    await asyncio.to_thread(shopper.add, widgets[0]["id"], 2)
    draft_id = await asyncio.to_thread(shopper.open_checkout)
    assert (await rest(store, "GET", f"orders/{draft_id}"))["status"] == "checkout-draft"

    sid = await H.register(stores, store, sf_emu, "Idle store")
    s = settings.model_copy(update={"customer_sweep_pages_per_run": 10, "id_sweep_ids_per_run": 1000,
                                    "reconcile_initial_lookback_s": 7 * 86_400})
    reconciler, deliverer = Reconciler(stores.db, stores, s), make_deliverer()
    first = await reconciler.run_store(sid, force=True)
    assert first is not None and first.outcome == "ok", first and first.error
    assert first.checked["order"] >= 2 and draft_id not in first.missing_ids.get("order", [])
    await H.drain(deliverer)
    snap, conv = compare_store(store, sf_emu.records, sid)
    assert mismatches(conv) == [] and draft_id in snap.drafts

    t0 = time.monotonic()
    before = await event_count(stores.db, sid)
    for _ in range(IDLE_RUNS):
        report = await reconciler.run_store(sid, force=True)
        assert report is not None and report.outcome == "ok", report and report.error
        assert report.checked["product"] >= 5  # it did look: at the overlap window's records
    idle_s = time.monotonic() - t0
    assert await event_count(stores.db, sid) == before, "\n".join(await H.reconciler_findings(stores.db, sid))
    gap_report = [dict(r) for r in await stores.db.fetch("reconcile_runs", sid, IDLE_RUNS)]
    assert len(gap_report) == IDLE_RUNS and all(r["missing"] == {} and r["outcome"] == "ok" for r in gap_report)

    # the shopper places the order: now it is one
    placed = await asyncio.to_thread(shopper.place, f"{tag}-shopper@example.com", 8)
    assert placed["order_id"] == draft_id and placed["status"] == "processing"
    report = await reconciler.run_store(sid, force=True)
    assert report is not None and report.missing_ids.get("order") == [draft_id]
    await H.drain(deliverer)
    snap, conv = compare_store(store, sf_emu.records, sid)
    assert mismatches(conv) == [] and draft_id in snap.orders
    print(f"case 4: {IDLE_RUNS} idle reconcile runs in {idle_s:.1f} s")
