"""A two-way rig for tests and benches: the WooCommerce emulator (http, OAuth 1.0a, native webhooks to the real
collector), the Salesforce emulator (https), a store connected to both, and the agent's parts (deliverer,
Salesforce poller, WooCommerce writer) driven step by step."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from aiohttp.test_utils import TestServer

from agent.delivery.engine import Deliverer
from agent.twoway.poll import Poller
from agent.twoway.write import WooWriter
from collector.app import create_app
from emulators.salesforce import SalesforceEmulator
from emulators.woocommerce import WooCommerceEmulator
from tests.support.agent_fixtures import sf_connection

WEBHOOK_SECRET = "twoway-hook-secret"


@dataclass
class Rig:
    db: object
    wc: WooCommerceEmulator
    sf: SalesforceEmulator
    store_id: str
    deliverer: Deliverer
    poller: Poller
    writer: WooWriter
    server: TestServer
    orders: list[int] = field(default_factory=list)
    customers: list[int] = field(default_factory=list)
    _sf_clock: object = None

    # ---- counters -----------------------------------------------------------------------------------
    def wc_puts(self) -> int:
        by = self.wc.requests_by_path
        return sum(v for k, v in by.items() if k.startswith(("PUT ", "POST /wp-json/wc/v3/orders/")))

    def sf_writes(self, *sobjects: str) -> int:
        w = self.sf.stats().get("record_writes", {})
        return sum(w.get(s, 0) for s in sobjects)

    def sf_record(self, sobject: str, resource: str, rid: int) -> dict:
        k = f"{self.store_id}:{resource}:{rid}"
        return next(r for r in self.sf.records(sobject) if r["Wooforce_Key__c"] == k)

    # ---- steps --------------------------------------------------------------------------------------
    def tick(self, seconds: int = 1) -> None:
        """Advance both systems' clocks (they share the offset): WooCommerce dates have one-second resolution and
        the collector deduplicates webhooks by (entity, date_modified), so edits of one entity a test makes within a
        second would merge; and "newest change wins" compares the two systems' times."""
        self.wc.store.clock.offset_s += seconds

    async def webhooks(self) -> None:
        await self.wc.dispatcher.wait_idle(30)

    async def deliver(self) -> None:
        await self.webhooks()
        for _ in range(5):
            if (await self.deliverer.drain()).claimed == 0:
                return

    async def poll(self):
        return await self.poller.poll_store(self.store_id)

    async def write(self):
        out = await self.writer.drain()
        await self.webhooks()
        return out

    async def sync(self) -> None:
        """One full round: WooCommerce -> Salesforce, poll, Salesforce -> WooCommerce, echoes delivered."""
        await self.deliver()
        await self.poll()
        await self.write()
        await self.deliver()

    async def close(self) -> None:
        self.sf.state.clock = self._sf_clock
        self.sf.state._last_now = datetime(1970, 1, 1, tzinfo=UTC)  # the next test's org is reset anyway
        self.deliverer.close()
        await self.writer.close()
        await self.server.close()


async def make_rig(db, stores, settings, sf_emu, wc: WooCommerceEmulator, *, orders: int = 3, customers: int = 3,
                   **overrides) -> Rig:
    ck, cs = wc.add_api_key("read_write")
    row, _ = await stores.add("Two-way shop", wc_url=wc.url, wc_credentials={
        "consumer_key": ck, "consumer_secret": cs, "auth": "auto", "webhook_secret": WEBHOOK_SECRET})
    store_id = row["id"]
    await stores.set_salesforce(store_id, sf_connection(sf_emu))
    s = settings.model_copy(update={"agent_retry_schedule_s": [0.0], "agent_retry_jitter": 0.0,
                                    "agent_max_attempts": 3, "sf_timeout_s": 10.0, "wc_max_retries": 0,
                                    "wc_retry_backoff_s": 0.0, **overrides})
    server = TestServer(create_app(settings, db=db), host="127.0.0.1")
    await server.start_server()
    wc.configure_webhooks(str(server.make_url("")).rstrip("/"), store_id, mode="native",
                          wc_webhook_secret=WEBHOOK_SECRET)
    deliverer = Deliverer(db, stores, s)
    rig = Rig(db, wc, sf_emu, store_id, deliverer, Poller(db, deliverer, s),
              WooWriter(db, stores, s, deliverer.mapping, owner=deliverer.owner + ":wc", sf_for=deliverer.client),
              server)
    # one clock for both emulators: the store's offset (tick) moves Salesforce's SystemModstamp too
    rig._sf_clock = sf_emu.state.clock
    sf_emu.state.clock = lambda: datetime.now(UTC) + timedelta(seconds=wc.store.clock.offset_s)
    st = wc.store
    product = st.create_product({"name": "Widget", "type": "simple", "regular_price": "10.00", "sku": "W-1"})
    for n in range(customers):
        c = st.create_customer({"email": f"c{n}@example.com", "first_name": f"F{n}", "last_name": f"L{n}",
                                "billing": {"first_name": f"F{n}", "last_name": f"L{n}", "phone": f"555-{n:04d}",
                                            "address_1": f"{n} Main St", "city": "Springfield", "country": "US",
                                            "email": f"c{n}@example.com"},
                                "shipping": {"address_1": f"{n} Main St", "city": "Springfield", "country": "US"}})
        rig.customers.append(c.id)
    for n in range(orders):
        o = st.create_order({"customer_id": 0, "set_paid": True, "status": "processing",
                             "billing": {"first_name": "Guest", "last_name": f"B{n}", "email": f"g{n}@example.com"},
                             "line_items": [{"product_id": product.id, "quantity": 1}]})
        rig.orders.append(o.id)
    await rig.deliver()
    return rig
