"""Two-way sync: Salesforce-owned fields written back to WooCommerce.

``ownership`` (canonical values; the declarations are :mod:`shared.mapping.twoway`), ``state`` (per-entity
``twoway_state`` and conflicts), ``poll`` (one Composite call per store reads Salesforce's changes), ``write``
(the WooCommerce writer draining the ``woocommerce`` outbox), ``hooks`` (what the Salesforce delivery asks of
two-way sync) and ``jobs`` (the scheduler's entries). Nothing here imports back into a package ``__init__``, so
the import graph has no cycle.
"""
