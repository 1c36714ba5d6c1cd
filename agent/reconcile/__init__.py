"""Reconciliation with WooCommerce: the scheduled reconciler that catches what webhooks missed (``reconciler``),
backfills and manual syncs (``backfill``), and the record helpers both use - heads, fingerprints, paging
(``records``)."""
