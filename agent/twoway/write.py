"""The WooCommerce destination: write Salesforce changes (outbox rows with ``destination='woocommerce'``).

The same machinery as delivery to Salesforce (:mod:`shared.outbox`): claim with a lease (``claim_outbox`` for this
destination, ``FOR UPDATE SKIP LOCKED``, expired leases included), the same ``insert_attempts`` /
``complete_outbox`` / ``release_leases`` statements (with the destination), one attempt row per try, retries on the
agent's schedule (``next_try``), dead letters after ``agent_max_attempts`` or at once for a permanent error, console
visibility and replay (the console's outbox queries take the destination). Per row: the head event carries the
Salesforce record's owned fields; each field is written unless WooCommerce already holds it or changed it later (a
``both`` field: the newer change wins); values are validated first (an order status without a WooCommerce equivalent
is dead-lettered with a clear error); one ``PUT /orders/{id}`` or ``/customers/{id}`` (REST keys of the store)
writes them, and the ``date_modified`` it returns is recorded with the values so the webhook echo is recognised.
"""
from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import aiohttp
from loguru import logger

from agent.leases import leases_kept, new_owner
from agent.salesforce import SalesforceClient
from agent.twoway import born as B
from agent.twoway import ownership as O
from agent.twoway import state as S
from agent.woocommerce import WooClient
from shared import outbox
from shared.db import Database
from shared.errors import PermanentError, RetryableError, WooforceError
from shared.mapping import Mapping
from shared.models import Outcome, parse_wc_datetime
from shared.outbox import ClaimedRow, Completion
from shared.settings import Settings
from shared.stores import StoreManager

DESTINATION = "woocommerce"  # the outbox destination this writer drains
PATHS = {"order": "orders", "customer": "customers", "product": "products"}


@dataclass(frozen=True, slots=True, kw_only=True)
class WriteResult(Completion):
    """What one WooCommerce write decided for its row, with the two-way state to save once it is recorded."""

    changes: S.Changes | None = None


class WooWriter:
    def __init__(self, db: Database, stores: StoreManager, settings: Settings,
                 mapping_for: Callable[[str], Awaitable[Mapping]], *, owner: str | None = None, ssl: Any = None,
                 sf_for: Callable[[str], Awaitable[SalesforceClient]] | None = None):
        self.db, self.stores, self.settings = db, stores, settings
        self.mapping_for = mapping_for  # async store_id -> Mapping (the delivery engine's, per store)
        self.sf_for = sf_for  # async store_id -> the delivery engine's Salesforce client (stamping created records)
        self.owner = owner or new_owner()
        self.ssl = ssl
        self.session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()
            self.session = None

    async def drain(self, *, max_batches: int | None = None) -> Counter[Outcome]:
        total: Counter[Outcome] = Counter()
        n = 0
        while max_batches is None or n < max_batches:
            out = await self.run_batch()
            if out is None:
                break
            total.update(out)
            n += 1
            if out[Outcome.RETRYING] == sum(out.values()):
                break
        return total

    async def run_batch(self) -> Counter[Outcome] | None:
        s = self.settings
        rows = await outbox.claim(self.db, DESTINATION, self.owner, s.wc_write_batch, s.agent_lease_s)
        if not rows:
            return None
        if self.session is None:
            self.session = aiohttp.ClientSession()
        t0 = time.perf_counter()
        started = datetime.now(UTC)
        by_store: dict[str, list[ClaimedRow]] = {}
        for r in rows:
            by_store.setdefault(r.store_id, []).append(r)
        results: list[WriteResult] = []
        async with leases_kept(self.db, self.owner, s.agent_lease_s):
            for store_id, mine in by_store.items():
                results.extend(await self._store(store_id, mine))
        duration_ms = int((time.perf_counter() - t0) * 1000)
        await self._record(results, started, duration_ms)
        out = Counter(x.outcome for x in results)
        logger.bind(action="wcwrite.batch", duration_ms=duration_ms, **{o.value: n for o, n in out.items()}).info(
            "WooCommerce writes")
        for x in results:
            if x.outcome is Outcome.DEAD:
                logger.bind(action="wcwrite.dead_letter", store_id=x.store_id, resource=x.resource,
                            resource_id=x.resource_id, code=x.code).warning("dead-lettered")
        return out

    async def _store(self, store_id: str, rows: list[ClaimedRow]) -> list[WriteResult]:
        s = self.settings
        try:
            store = await self.stores.get(store_id)
            tw = O.load_twoway(await self.mapping_for(store_id))
            client = WooClient.for_store(store, timeout_s=s.wc_timeout_s, max_retries=s.wc_max_retries,
                                         retry_backoff_s=s.wc_retry_backoff_s, session=self.session, ssl=self.ssl)
        except WooforceError as exc:
            return [self._result(r, Outcome.RETRYING, code=exc.code, error=exc.message) for r in rows]
        sem = asyncio.Semaphore(s.wc_write_concurrency)

        async def one(r: ClaimedRow) -> WriteResult:
            async with sem:
                return await self._write(store_id, tw, client, r)
        return list(await asyncio.gather(*(one(r) for r in rows)))

    async def _write(self, store_id: str, tw: O.TwoWay, client: WooClient, row: ClaimedRow) -> WriteResult:
        resource, rid = row.resource, row.resource_id
        obj = tw.objects.get(resource)
        p = row.payload
        if obj is None:
            return self._result(row, Outcome.SKIPPED, error=f"no two-way fields for {resource} in the mapping")
        if p.get("born"):
            return await self._create(store_id, tw, client, row)
        if p.get("sf_deleted"):
            return await self._trash(store_id, client, row)
        t = O.parse_ts(p.get("modstamp"))
        st = (await S.load_states(self.db, store_id, resource, [rid])).get(rid)
        head = (await S.load_heads(self.db, store_id, resource, [rid])).get(rid)
        if head is not None and head.action in ("trashed", "deleted"):
            return self._result(row, Outcome.SKIPPED, error=f"not written: the store {head.action} this {resource}")
        ch = S.Changes()
        values: dict[str, str | None] = {}
        bases: dict[str, str | None] = {}  # stock fields: the value each Salesforce change was based on
        fields = p.get("fields") or {}
        for f in obj.back:
            fs = st.fields.get(f.sf, {}) if st else {}
            if f.sf in fields:
                s, t_f = fields[f.sf], t
            elif fs.get("sf_pending") is not None:
                # a change of the entity's other sObject (a product's price on its PricebookEntry) seen by the same
                # or an earlier poll: the head event carries one sObject's fields, the state has the rest
                s, t_f = fs["sf_pending"], O.parse_ts(fs.get("sf_at"))
            else:
                continue
            w_head = O.field_value(head.doc, f) if head else None
            if "v" in fs and s == fs["v"]:
                continue
            if f.kind == "stock":
                bases[f.sf] = fs["sf_base"] if fs.get("sf_base") is not None else fs.get("v")
                values[f.sf] = s
                continue
            if head is not None and w_head == s:
                ch.patch(resource, rid, f.sf, v=s, sf_pending=None)  # WooCommerce already has it
                continue
            wc_at = O.parse_ts(fs.get("wc_at"))
            newer_wc = t_f is not None and ((wc_at is not None and wc_at > t_f and fs.get("v") != s) or (
                head is not None and S.wc_changed(head, fs, w_head) and head.version > t_f))
            if f.owner == "both" and newer_wc:
                winner = w_head if head is not None and w_head != fs.get("v") else fs.get("v")
                ch.conflicts.append(S.Conflict(resource, rid, f.sf, "woocommerce", winner,
                                               head.version if head else wc_at, s, t_f))
                ch.patch(resource, rid, f.sf, sf_lost=s, sf_pending=None)
                continue
            values[f.sf] = s
        summary: dict[str, Any] = {"fields": sorted(values), "sf_id": p.get("sf_id")}
        if not values:
            return self._result(row, Outcome.SKIPPED, error="nothing to write: WooCommerce holds these values or a "
                                "newer change", changes=ch, summary=summary)
        t0 = time.perf_counter()
        try:
            path = f"{PATHS[resource]}/{rid}"
            sf_values = dict(values)
            if resource == "product":
                path, values = await self._product_values(client, obj, rid, head, values, bases, summary)
                if not values:
                    for sf_field, s in sf_values.items():
                        ch.patch(resource, rid, sf_field, v=s, sf_pending=None, sf_base=None)
                    return self._result(row, Outcome.SKIPPED, error="nothing to write: the stock change leaves the "
                                        "store's quantity as it is", changes=ch, summary=summary)
            body = O.put_body(tw, obj, values)
            summary.update(method="PUT", path=path)
            saved = await client.put(path, body)
        except PermanentError as exc:
            return self._result(row, Outcome.DEAD, code=exc.code, error=exc.message, summary=summary,
                                status=exc.status_code, duration_ms=_ms(t0))
        except RetryableError as exc:
            return self._result(row, Outcome.RETRYING, code=exc.code, error=exc.message, summary=summary,
                                retry_after=exc.retry_after_s, duration_ms=_ms(t0))
        version = parse_wc_datetime((saved or {}).get("date_modified_gmt"))
        written = {f.sf: O.field_value(saved, f) for f in obj.back}
        for sf_field in sf_values:
            # a stock delta may leave the store at another number than Salesforce's: v stays Salesforce's value,
            # so the webhook of this write is not an echo and brings the store's quantity (with its sales) back
            agreed = sf_values[sf_field] if sf_field in bases else written.get(sf_field)
            if sf_field in bases:
                written[sf_field] = agreed
            ch.patch(resource, rid, sf_field, v=agreed, sf_pending=None, **(
                {"sf_base": None} if sf_field in bases else {}), **(
                {"wc_synced": version} if version is not None else {}))
        if version is not None:
            ch.written[(resource, rid)] = (version, written)
        summary["date_modified_gmt"] = (saved or {}).get("date_modified_gmt")
        return self._result(row, Outcome.DELIVERED, changes=ch, summary=summary, status=200, duration_ms=_ms(t0))

    async def _product_values(self, client: WooClient, obj: O.TwoWayObject, rid: int, head: S.Head | None,
                              values: dict[str, str | None], bases: dict[str, str | None],
                              summary: dict[str, Any]) -> tuple[str, dict[str, str | None]]:
        """A product's path (a variation is ``products/{parent}/variations/{id}``) and its values, stock changes
        applied as deltas: the store's current quantity (read just before the write) plus Salesforce's change from
        the value it was based on. Sales made in the store since then are kept; an older Salesforce number never
        overwrites them. (WooCommerce has no relative stock update: a sale between this read and the PUT, a few
        milliseconds, is the one it could lose.)"""
        doc = head.doc if head is not None else None
        if bases or not doc:
            doc = await client.get(f"products/{rid}")
            if doc is None:
                raise O.InvalidValue(f"product {rid} no longer exists in the store", code="twoway_product_gone")
            summary["read"] = True
        parent = (doc or {}).get("parent_id") or 0
        path = f"products/{parent}/variations/{rid}" if parent else f"products/{rid}"
        out = dict(values)
        by_sf = {f.sf: f for f in obj.back}
        for sf_field, base in bases.items():
            s, current = values[sf_field], O.field_value(doc, by_sf[sf_field])
            if s is None or base is None or current is None:
                continue  # untracked before, or no longer: Salesforce's number as it is
            try:
                new = Decimal(current) + Decimal(s) - Decimal(base)
            except InvalidOperation:
                continue  # not a number: put_body rejects it with a clear error
            out[sf_field] = O.canon_number(new)
            summary.setdefault("stock", {})[sf_field] = {"store": current, "salesforce": s, "based_on": base,
                                                         "written": out[sf_field]}
            if out[sf_field] == current:
                out.pop(sf_field)
        return path, out

    async def _create(self, store_id: str, tw: O.TwoWay, client: WooClient, row: ClaimedRow) -> WriteResult:
        """A record made in Salesforce for this store: POST it (or link the store's own), then stamp its key."""
        t0 = time.perf_counter()
        summary: dict[str, Any] = {"sf_id": row.payload.get("sf_id"), "born": True}
        try:
            wc_id, linked, summary = await B.create(self.db, store_id, tw, client, row.resource, row.resource_id,
                                                    row.payload)
            summary["wc_id"] = wc_id
            if self.sf_for is None:
                raise RetryableError("no Salesforce client to stamp the key with", code="twoway_no_salesforce")
            await B.stamp(self.db, await self.sf_for(store_id), store_id, row.resource, wc_id, row.payload)
        except PermanentError as exc:
            return self._result(row, Outcome.DEAD, code=exc.code, error=exc.message, summary=summary,
                                status=exc.status_code, duration_ms=_ms(t0))
        except RetryableError as exc:
            return self._result(row, Outcome.RETRYING, code=exc.code, error=exc.message, summary=summary,
                                retry_after=exc.retry_after_s, duration_ms=_ms(t0))
        logger.bind(action="wcwrite.created", store_id=store_id, resource=row.resource, wc_id=wc_id,
                    linked=linked).info("record made in Salesforce written to the store")
        return self._result(row, Outcome.DELIVERED, summary=summary, status=200 if linked else 201,
                            duration_ms=_ms(t0))

    async def _trash(self, store_id: str, client: WooClient, row: ClaimedRow) -> WriteResult:
        """A Salesforce-owned product deleted in Salesforce: trashed in the store (a Salesforce-side deletion)."""
        t0 = time.perf_counter()
        summary: dict[str, Any] = {"sf_id": row.payload.get("sf_id"), "salesforce_deleted": True}
        if row.resource != "product":
            return self._result(row, Outcome.SKIPPED, error="customers are never deleted from the store by "
                                "Salesforce", summary=summary)
        try:
            why = await B.trash(self.db, store_id, client, row.resource_id, None, summary)
        except PermanentError as exc:
            return self._result(row, Outcome.DEAD, code=exc.code, error=exc.message, summary=summary,
                                status=exc.status_code, duration_ms=_ms(t0))
        except RetryableError as exc:
            return self._result(row, Outcome.RETRYING, code=exc.code, error=exc.message, summary=summary,
                                retry_after=exc.retry_after_s, duration_ms=_ms(t0))
        if why:
            return self._result(row, Outcome.SKIPPED, error=f"Salesforce-side deletion: {why}", summary=summary,
                                duration_ms=_ms(t0))
        logger.bind(action="wcwrite.trashed", store_id=store_id, resource_id=row.resource_id).info(
            "product deleted in Salesforce trashed in the store")
        return self._result(row, Outcome.DELIVERED, summary=summary, status=200, duration_ms=_ms(t0))

    def _result(self, row: ClaimedRow, outcome: Outcome, *, code: str | None = None, error: str | None = None,
                changes: S.Changes | None = None, summary: dict[str, Any] | None = None, status: int | None = None,
                retry_after: float | None = None, duration_ms: int = 0) -> WriteResult:
        outcome, attempts, delay = outbox.next_try(self.settings, outcome, row.attempts, retry_after_s=retry_after)
        return WriteResult(store_id=row.store_id, resource=row.resource, resource_id=row.resource_id,
                           event_id=row.event_id, seq=row.seq, version=row.version, outcome=outcome, code=code,
                           error=(error or "")[:8000] or None, status=status, attempts=attempts, delay_s=delay,
                           changes=changes, summary=summary or {}, duration_ms=duration_ms)

    async def _record(self, results: list[WriteResult], started: datetime, duration_ms: int) -> None:
        async with self.db.transaction() as tx:
            await outbox.insert_attempts(self.db, results, started=started, duration_ms=duration_ms,
                                         destination=DESTINATION, conn=tx)
            await outbox.complete(self.db, self.owner, results, destination=DESTINATION, conn=tx)
            by_store: dict[str, S.Changes] = {}
            for x in results:
                ch = x.changes
                if ch is None or x.outcome not in (Outcome.DELIVERED, Outcome.SKIPPED):
                    continue
                by_store.setdefault(x.store_id, S.Changes()).merge(ch)
            for store_id, total in by_store.items():
                await total.save(self.db, store_id, conn=tx)

    async def release(self) -> int:
        return await outbox.release(self.db, self.owner)


def _ms(t0: float) -> int:
    return int((time.perf_counter() - t0) * 1000)
