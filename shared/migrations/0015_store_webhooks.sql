-- Wooforce schema, version 15: the store's native webhooks as the reconciler reads them (issue 14, problem 3).
-- WooCommerce disables a webhook after repeated failed deliveries and never turns it back on: each reconcile run
-- reads GET /webhooks, re-activates the disabled ones pointing at this collector (read_write keys), and records
-- what it found here (the dashboard, the plugin's health check and the alerts read it) and in its gap report row.
CREATE TABLE store_webhooks (
    store_id    text PRIMARY KEY REFERENCES stores (id) ON DELETE CASCADE,
    checked_at  timestamptz NOT NULL DEFAULT now(),
    problems    integer NOT NULL DEFAULT 0,  -- what needs a person (or was fixed in this run): 0 = all well
    state       jsonb NOT NULL               -- what the check found (agent/reconcile/webhooks.py)
);

ALTER TABLE reconcile_runs ADD COLUMN webhooks jsonb;  -- the run's webhook check (NULL: not checked)
