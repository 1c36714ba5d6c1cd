"""Delivery to Salesforce: the outbox drained in batches (``engine``), planned as upserts in dependency order
(``plan``). Two-way sync hooks in through :mod:`agent.twoway.hooks`; the public surface other agent modules use
is :class:`agent.delivery.engine.Deliverer` and :meth:`agent.delivery.engine.StoreRun.call`."""
