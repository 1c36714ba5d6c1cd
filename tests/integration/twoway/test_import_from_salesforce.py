"""wooforce import --from salesforce (issue 20, step 4): a catalogue or customer list marked for the store in
Salesforce loaded into it as a resumable import job: matched by SKU / email first (linked), else created, keys
stamped back; --dry-run changes nothing; an interrupted import goes on after its last record; the agent runs the
jobs the console starts."""
from __future__ import annotations

import pytest

from agent.twoway.imports import Importer, run_import_jobs
from shared.ids import new_id
from shared.jobs import import_params
from tests.integration.twoway.test_born_in_salesforce import new_product
from tests.integration.twoway.test_products import CATALOGUE
from tests.support.twoway import make_rig

pytestmark = pytest.mark.integration


class Stop(Exception):
    pass


@pytest.fixture
async def irig(db, stores, settings, sf_emu, wc, tmp_path):
    path = tmp_path / "catalogue.toml"
    path.write_text(CATALOGUE)
    r = await make_rig(db, stores, settings, sf_emu, wc, orders=1, customers=1, mapping_file=path)
    r.import_settings = r.deliverer.settings
    yield r
    await r.close()


def skus(rig) -> dict[str, int]:
    return {p.doc["sku"]: p.id for p in rig.wc.store.products.values()}


async def test_a_catalogue_is_imported_matching_by_sku_first_and_an_interrupted_import_resumes(irig, db, stores):
    rig = irig
    ids = {sku: new_product(rig, f"Imported {sku}", sku, 7.5, stock=3)[0] for sku in ("I-1", "I-2", "I-3", "I-4")}
    # a Salesforce product for one the store already sells (not yet in Salesforce): linked, not duplicated
    linked = rig.wc.store.create_product({"name": "Lamp", "sku": "L-1", "regular_price": "3.00"}, emit=False)
    ids["L-1"] = new_product(rig, "Lamp (Salesforce)", "L-1", 3)[0]
    # a second Salesforce record of the store's Widget, which Salesforce already has under its key: refused, listed
    twin = new_product(rig, "Widget twin", "W-1", 10)[0]
    # dry run: counts only
    dry = Importer(db, stores, rig.import_settings, owner="cli-dry")
    job = await dry.find_or_create(rig.store_id, import_params("products", True), requested_by="test")
    before = dict(skus(rig))
    progress = await dry.run(job)
    assert (progress["total"], progress["would_create"], progress["would_link"]) == (6, 4, 2)
    assert skus(rig) == before and all(r.get("Wooforce_Key__c") is None for r in rig.sf.records("Product2")
                                       if r["Id"] in ids.values())

    seen = []

    def stop_after_two(p: dict) -> None:
        seen.append(p["done"])
        if p["done"] == 2:
            raise Stop

    params = import_params("products", False)
    first = Importer(db, stores, rig.import_settings, owner="cli-1", on_progress=stop_after_two)
    job = await first.find_or_create(rig.store_id, params, requested_by="test")
    with pytest.raises(Stop):
        await first.run(job)
    made_first = len(skus(rig)) - len(before)
    assert made_first == 2  # I-1 and I-2 (Id order)
    # the same command again resumes the job (same params) after its last record
    again = Importer(db, stores, rig.import_settings, owner="cli-1")
    assert await again.find_or_create(rig.store_id, params, requested_by="test") == job
    progress = await again.run(job)
    assert progress["done"] == 6 and seen == [0, 1, 2]  # total counted, then two records, then stopped
    assert [f["sf_id"] for f in progress["failed"]] == [twin]
    assert progress["failed"][0]["code"] == "duplicate_value" and "Salesforce refused its key" in \
        progress["failed"][0]["error"]
    now = skus(rig)
    assert set(now) - set(before) == {"I-1", "I-2", "I-3", "I-4"}  # each once: a dict by SKU, counted below
    assert len(now) == len(before) + 4
    for sku, sf_id in ids.items():
        rec = next(r for r in rig.sf.records("Product2") if r["Id"] == sf_id)
        assert rec["Wooforce_Key__c"] == f"{rig.store_id}:product:{now[sku]}", sku
    doc = rig.wc.store.get_product(now["I-3"]).doc
    assert (doc["regular_price"], doc["stock_quantity"], doc["name"]) == ("7.50", 3, "Imported I-3")
    assert now["L-1"] == linked.id
    row = await db.fetchrow("job_get", job)
    assert row["status"] == "done" and row["kind"] == "import"
    assert row["progress"]["created"] + row["progress"]["linked"] == 5
    # nothing left to import
    assert (await Importer(db, stores, rig.import_settings, owner="cli-2").run(
        await Importer(db, stores, rig.import_settings, owner="cli-2").find_or_create(
            rig.store_id, params, requested_by="test")))["total"] == 1  # the refused twin, still unkeyed


async def test_the_agent_runs_an_import_the_console_started_linking_registered_emails(irig, db, stores):
    rig = irig
    known = rig.wc.store.create_customer({"email": "known@example.com", "first_name": "K"}, emit=False)
    for email in ("fresh@example.com", "known@example.com"):
        acc = rig.sf.insert("Account", {"Name": email})
        rig.sf.insert("Contact", {"AccountId": acc["Id"], "LastName": "Imported", "Email": email,
                                  "Woo_Store__c": rig.store_id})
    job = new_id("job")
    await db.fetchrow("insert_job", job, rig.store_id, "import", import_params("customers", False), "console:op")
    customers = len(rig.wc.store.customers)
    assert await run_import_jobs(db, stores, rig.import_settings, owner="agent-1") == 1
    row = await db.fetchrow("job_get", job)
    assert row["status"] == "done"
    assert (row["progress"]["created"], row["progress"]["linked"], row["progress"]["failed"]) == (1, 1, [])
    assert len(rig.wc.store.customers) == customers + 1 and known.id in rig.wc.store.customers
    keyed = {r["Email"]: r["Wooforce_Key__c"] for r in rig.sf.records("Contact") if r.get("Woo_Store__c")}
    assert keyed["known@example.com"] == f"{rig.store_id}:customer:{known.id}"
    assert await run_import_jobs(db, stores, rig.import_settings, owner="agent-1") == 0
