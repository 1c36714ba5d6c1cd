"""``wooforce import --from salesforce``: load a Salesforce catalogue (or customer list) marked for a store into it.

A ``jobs`` row of kind ``import`` (``shared.jobs.import_params``): the CLI creates it (or resumes the open one with
the same params) and runs it with a progress bar; the agent runs those the console starts (``import.poll``). The
records are the ones marked for the store and not yet keyed (``Woo_Store__c`` = store id, no ``Wooforce_Key__c``):
Product2 with its standard price, or Contacts. They are read in Id order, 200 a page (one SOQL call, plus one for the
page's prices), each matched in the store first (a product by SKU, a customer by email: the store's record is
linked), else created (``POST``), then its key is stamped back (as :mod:`agent.twoway.born` does for the poll). The
progress (``total``, ``done``, ``created``, ``linked``, ``failed``, ``last_id``) is written with the lease after
every record, so a stopped import goes on after its last record. ``dry_run`` only counts what would be linked or
created. A record WooCommerce refuses is listed in ``failed`` with its message; the import goes on.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from loguru import logger

from agent.salesforce import SalesforceClient, in_thread
from agent.twoway import born as B
from agent.twoway import ownership as O
from agent.woocommerce import WooClient
from shared.db import Database
from shared.errors import ConfigError, PermanentError, RetryableError
from shared.ids import new_id
from shared.jobs import JobKind, JobStatus, empty_import_progress
from shared.mapping import KEY_FIELD, mapping_for
from shared.settings import Settings
from shared.stores import StoreManager

PAGE = 200
FAILED_KEEP = 100


def page_soql(tw: O.TwoWay, resource: str, store_id: str, after: str) -> str:
    where = (f"WHERE {B.STORE_FIELD} = '{store_id}' AND {KEY_FIELD} = null"  # store ids are [a-z0-9_] only
             + (f" AND Id > '{after}'" if after else ""))
    if resource == "product":
        cols = ["Id", "SystemModstamp", "ProductCode", "StockKeepingUnit"] + [
            f.sf for f in tw.objects["product"].fields if (f.sobject or "Product2") == "Product2"]
        return f"SELECT {', '.join(dict.fromkeys(cols))} FROM Product2 {where} ORDER BY Id LIMIT {PAGE}"  # noqa: S608
    cols = ["Id", "SystemModstamp", "AccountId", f"Account.{KEY_FIELD}", *B.CONTACT_FIELDS]
    return f"SELECT {', '.join(cols)} FROM Contact {where} ORDER BY Id LIMIT {PAGE}"  # noqa: S608


def count_soql(resource: str, store_id: str) -> str:
    return (f"SELECT COUNT() FROM {B.BORN[resource]} "  # noqa: S608
            f"WHERE {B.STORE_FIELD} = '{store_id}' AND {KEY_FIELD} = null")


class Importer:
    def __init__(self, db: Database, stores: StoreManager, settings: Settings, *, owner: str,
                 on_progress: Callable[[dict[str, Any]], None] | None = None):
        self.db, self.stores, self.settings, self.owner = db, stores, settings, owner
        self.on_progress = on_progress

    async def find_or_create(self, store_id: str, params: dict[str, Any], *, requested_by: str) -> str:
        """The unfinished import of this store with these params (resumed), else a new job."""
        await self.stores.get(store_id)
        found = await self.db.fetchval("job_find_open_import", store_id, params)
        if found is not None:
            return str(found)
        job_id = new_id("job")
        await self.db.fetchrow("insert_job", job_id, store_id, JobKind.IMPORT.value, params, requested_by)
        return job_id

    async def run(self, job_id: str) -> dict[str, Any]:
        """Claim and run one import job to its end (``done``), or until Salesforce/WooCommerce are unreachable
        (postponed: the job stays ``running`` and is resumed). Returns its progress."""
        row = await self.db.fetchrow("job_claim", job_id, self.owner, self.settings.job_lease_s)
        if row is None:
            raise ConfigError(f"import job {job_id} is finished or being run by another agent")
        return await self.run_claimed(dict(row))

    async def run_claimed(self, job: dict[str, Any]) -> dict[str, Any]:
        t0 = time.perf_counter()
        job_id, store_id, params = job["id"], job["store_id"], job["params"] or {}
        progress = {**empty_import_progress(), **(job.get("progress") or {})}
        resource, dry = params.get("resource"), bool(params.get("dry_run"))
        store = await self.stores.get(store_id)
        sf: SalesforceClient | None = None
        try:
            tw = O.load_twoway(mapping_for(store, self.settings.mapping_file))
            if resource not in B.BORN or resource not in tw.objects:
                raise ConfigError(f"cannot import {resource}s: the store's mapping has no [twoway.{resource}.*] "
                                  "section (README, two-way sync)")
            conn = store.get("sf_credentials") or {}
            if not conn:
                raise ConfigError(f"store {store_id} has no Salesforce connection")
            s = self.settings
            sf = SalesforceClient(conn, api_version=s.sf_api_version, timeout_s=s.sf_timeout_s)
            async with WooClient.for_store(store, timeout_s=s.wc_timeout_s, max_retries=s.wc_max_retries,
                                           retry_backoff_s=s.wc_retry_backoff_s) as wc:
                if progress["total"] is None:
                    body = await in_thread(sf.request, "GET", "/query?q=" + _quote(count_soql(resource, store_id)))
                    progress["total"] = int((body.body or {}).get("totalSize") or 0)
                    await self._save(job_id, progress)
                while True:
                    rows = await in_thread(sf.query, page_soql(tw, resource, store_id, progress["last_id"]))
                    if not rows:
                        break
                    prices = await self._prices(sf, rows) if resource == "product" else {}
                    for r in rows:
                        await self._one(store_id, tw, wc, sf, resource, r, prices, progress, dry)
                        progress["last_id"] = r["Id"]
                        progress["done"] += 1
                        await self._save(job_id, progress)
                    if len(rows) < PAGE:
                        break
        except RetryableError as exc:
            await self.db.execute("job_postpone", job_id, self.owner, exc.message[:2000], self.settings.job_lease_s)
            logger.bind(action="import.postponed", job_id=job_id, code=exc.code).warning("import postponed: {}",
                                                                                        exc.message[:300])
            return progress
        except PermanentError as exc:
            await self.db.execute("job_finish_with_progress", job_id, self.owner, JobStatus.FAILED.value,
                                  exc.message[:2000], progress)
            raise
        finally:
            if sf is not None:
                sf.close()
        await self.db.execute("job_finish_with_progress", job_id, self.owner, JobStatus.DONE.value, None, progress)
        logger.bind(action="import.done", job_id=job_id, store_id=store_id, resource=resource, dry_run=dry,
                    done=progress["done"], created=progress["created"], linked=progress["linked"],
                    failed=len(progress["failed"]), duration_ms=round((time.perf_counter() - t0) * 1000, 1)).info(
            "import from Salesforce")
        return progress

    async def _prices(self, sf: SalesforceClient, rows: list[dict]) -> dict[str, dict]:
        ids = ", ".join(f"'{r['Id']}'" for r in rows)  # Salesforce Ids: [A-Za-z0-9] only
        entries = await in_thread(sf.query, "SELECT Id, Product2Id, UnitPrice FROM PricebookEntry "  # noqa: S608
                                  f"WHERE Product2Id IN ({ids}) AND Pricebook2.IsStandard = true")
        return {str(e.get("Product2Id"))[:15]: e for e in entries}

    async def _one(self, store_id: str, tw: O.TwoWay, wc: WooClient, sf: SalesforceClient, resource: str,
                   row: dict, prices: dict[str, dict], progress: dict[str, Any], dry: bool) -> None:
        payload = B.born_payload(tw, resource, row, prices.get(str(row["Id"])[:15]))
        if dry:
            found = await B.find_existing(wc, resource, payload)
            progress["would_link" if found else "would_create"] += 1
            return
        try:
            wc_id, linked, _ = await B.create(self.db, store_id, tw, wc, resource, B.standin_id(row["Id"]), payload,
                                              match_first=True)
            await B.stamp(self.db, sf, store_id, resource, wc_id, payload)
        except PermanentError as exc:
            if len(progress["failed"]) < FAILED_KEEP:
                progress["failed"].append({"sf_id": row["Id"], "code": exc.code, "error": exc.message[:500]})
            return
        progress["linked" if linked else "created"] += 1

    async def _save(self, job_id: str, progress: dict[str, Any]) -> None:
        status = await self.db.execute("job_progress", job_id, self.owner, progress, self.settings.job_lease_s)
        if status.endswith(" 0"):
            raise RetryableError("the import job's lease was lost", code="import_lease_lost")
        if self.on_progress is not None:
            self.on_progress(progress)


def _quote(soql: str) -> str:
    import requests

    return str(requests.utils.quote(soql))


async def run_import_jobs(db: Database, stores: StoreManager, settings: Settings, *, owner: str,
                          max_jobs: int = 5) -> int:
    """The agent's runner: due import jobs (the console's, or ones whose runner died), each at most once a poll."""
    ran: list[str] = []
    while len(ran) < max_jobs:
        row = await db.fetchrow("job_claim_next_of_kind", owner, settings.job_lease_s, JobKind.IMPORT.value, ran)
        if row is None:
            break
        ran.append(row["id"])
        try:
            await Importer(db, stores, settings, owner=owner).run_claimed(dict(row))
        except PermanentError as exc:
            logger.bind(action="import.failed", job_id=row["id"], code=exc.code).warning("import failed: {}",
                                                                                        exc.message[:300])
        except asyncio.CancelledError:
            raise
    return len(ran)


def register_jobs(scheduler: Any, *, settings: Settings, db: Database, stores: StoreManager, owner: str) -> None:
    scheduler.add_job(run_import_jobs, "interval", seconds=settings.jobs_poll_interval_s,
                      args=[db, stores, settings], kwargs={"owner": owner}, id="import.poll", max_instances=1,
                      coalesce=True)
