"""``wooforce``: the command line, and the one place that wires the processes together.

``cli.main`` parses the commands and runs the collector, the agent and the admin tasks; ``cli.console`` holds the
console's commands (operators, tokens, outbox browsing, erasure, audit, alerts), ``cli.reconcile`` the backfill,
sync and reconcile commands, and ``cli.demo`` runs the whole loop against the emulators.
"""
