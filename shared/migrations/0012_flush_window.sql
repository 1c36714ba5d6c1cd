-- Wooforce schema, version 12: the flush window each store's delivery works with (issue 19).

-- The agent holds a store's changes back for up to this many seconds so that they share Salesforce calls
-- (SF_MAX_DELAY_S); once the org has used more than half its daily API allocation the window widens batch by batch
-- up to SF_MAX_DELAY_BUDGET_S and narrows again when the allocation recovers. Recorded with the budget reading the
-- agent last took, for the dashboard and the collector's /metrics (NULL: no reading yet, the default applies).
ALTER TABLE sf_budget ADD COLUMN flush_window_s real;
