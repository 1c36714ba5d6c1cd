-- Wooforce schema, version 3: the reconciler (REST polling of WooCommerce) and backfills.

-- Per store and track: where the reconciler is. Tracks: 'order' / 'product' (modified_after cursor),
-- 'customer' (paced sweep by id: page), 'order_ids' / 'product_ids' / 'customer_ids' (vanished-id sweep:
-- last outbox id checked), 'store' (lease so two agents never reconcile one store at once, and backoff).
CREATE TABLE reconcile_state (
    store_id          text NOT NULL REFERENCES stores (id) ON DELETE CASCADE,
    track             text NOT NULL,
    cursor_at         timestamptz,                 -- newest date_modified_gmt seen (order/product)
    position          bigint NOT NULL DEFAULT 0,   -- sweeps: next page / last id checked
    sweeps_done       integer NOT NULL DEFAULT 0,  -- full passes completed
    failures          integer NOT NULL DEFAULT 0,  -- consecutive failed runs (store track)
    next_run_at       timestamptz,                 -- backoff: no run before this (store track)
    lease_owner       text,
    lease_expires_at  timestamptz,
    last_error        text,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (store_id, track)
);

-- Fingerprint of the synced fields of each customer, as the sweep last saw it (customers have no
-- reliable modified date: user meta changes do not bump it).
CREATE TABLE customer_fingerprints (
    store_id     text NOT NULL REFERENCES stores (id) ON DELETE CASCADE,
    customer_id  bigint NOT NULL,
    fingerprint  text NOT NULL,
    version      timestamptz,
    seen_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (store_id, customer_id)
);

-- The gap report: one row per reconciler run (what it checked, what was missing, requests used).
CREATE TABLE reconcile_runs (
    id            text PRIMARY KEY CHECK (id ~ '^run_[0-9a-z]{26}$'),
    store_id      text NOT NULL REFERENCES stores (id) ON DELETE CASCADE,
    started_at    timestamptz NOT NULL,
    duration_ms   integer NOT NULL,
    outcome       text NOT NULL CHECK (outcome IN ('ok', 'auth_failed', 'retrying', 'failed')),
    requests      integer NOT NULL,
    checked       jsonb NOT NULL DEFAULT '{}',   -- {"order": 20, "customer": 100, "order_ids": 100, ...}
    missing       jsonb NOT NULL DEFAULT '{}',   -- {"order": 3, "order.trashed": 1, "customer.deleted": 1, ...}
    missing_ids   jsonb NOT NULL DEFAULT '{}',   -- {"order": [34, 35], ...} (first ids, for support)
    error         text
);
CREATE INDEX reconcile_runs_store ON reconcile_runs (store_id, started_at DESC);
