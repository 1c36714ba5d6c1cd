-- Wooforce schema, version 1: stores, immutable events, the per-entity outbox, delivery attempts, jobs.
-- Identifier columns use COLLATE "C": byte-wise comparison in every index (ids are time-sortable bytes),
-- much cheaper than the database's locale collation on the ingest path.

CREATE TABLE stores (
    id                text COLLATE "C" PRIMARY KEY CHECK (id ~ '^st_[0-9a-z]{26}$'),
    name              text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    status            text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    -- Fernet-encrypted JSON; signing secrets: [{"secret", "created_at", "expires_at"}]
    signing_secrets   bytea NOT NULL,
    wc_url            text,
    wc_credentials    bytea,   -- {"consumer_key", "consumer_secret", "webhook_secret", "auth"}
    sf_credentials    bytea,   -- {"instance_url", "auth", "client_id", ...}
    keys_status       text NOT NULL DEFAULT 'unknown' CHECK (keys_status IN ('unknown', 'ok', 'failed')),
    keys_error        text,
    keys_checked_at   timestamptz,
    last_event_at     timestamptz,     -- refreshed by ingest at most once a second
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);

-- One row per event received: immutable once written.
-- events and outbox are the hot write path: no foreign keys there (a per-row RI trigger costs as
-- much as the insert); the collector checks the store first and `stores remove` deletes explicitly.
CREATE TABLE events (
    id           text COLLATE "C" PRIMARY KEY CHECK (id ~ '^evt_[0-9a-z]{26}$'),
    seq          bigint GENERATED ALWAYS AS IDENTITY,              -- arrival order (indexed within an entity)
    store_id     text COLLATE "C" NOT NULL,
    source       text NOT NULL CHECK (source IN ('plugin', 'webhook', 'reconciler', 'backfill', 'manual', 'salesforce')),
    sender_id    text,                                             -- the sender's own id (plugin event id, delivery id)
    dedup_key    text COLLATE "C" NOT NULL,
    resource     text COLLATE "C" NOT NULL CHECK (resource IN ('order', 'customer', 'product')),
    action       text NOT NULL CHECK (action IN ('created', 'updated', 'trashed', 'restored', 'deleted')),
    resource_id  bigint NOT NULL CHECK (resource_id > 0),
    occurred_at  timestamptz,
    version      timestamptz NOT NULL,                             -- WooCommerce date_modified_gmt (or time of delete)
    payload      json NOT NULL,                                    -- exact text as received (json, not jsonb: 3x cheaper to ingest)
    received_at  timestamptz NOT NULL DEFAULT now()
);
-- idempotency: a store's event id, or a native webhook's entity version, is stored once
CREATE UNIQUE INDEX events_dedup ON events (store_id, dedup_key);
CREATE INDEX events_entity ON events (store_id, resource, resource_id, seq);

-- The outbox: one row per entity and destination, pointing at the newest event to deliver.
CREATE TABLE outbox (
    store_id            text COLLATE "C" NOT NULL,
    destination         text COLLATE "C" NOT NULL DEFAULT 'salesforce' CHECK (destination IN ('salesforce', 'woocommerce')),
    resource            text COLLATE "C" NOT NULL,
    resource_id         bigint NOT NULL,
    head_event_id       text COLLATE "C" NOT NULL,
    head_version        timestamptz NOT NULL,
    head_seq            bigint NOT NULL,
    status              text NOT NULL DEFAULT 'pending'
                        CHECK (status IN ('pending', 'leased', 'delivered', 'retrying', 'dead')),
    attempts            integer NOT NULL DEFAULT 0,
    available_at        timestamptz NOT NULL DEFAULT now(),
    lease_owner         text,
    lease_expires_at    timestamptz,
    delivered_event_id  text,
    delivered_version   timestamptz,
    delivered_seq       bigint,
    delivered_at        timestamptz,
    sf_id               text,
    last_error_code     text,
    last_error          text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (store_id, destination, resource, resource_id)
);
CREATE INDEX outbox_ready ON outbox (destination, available_at) WHERE status IN ('pending', 'retrying');
CREATE INDEX outbox_leases ON outbox (lease_expires_at) WHERE status = 'leased';
CREATE INDEX outbox_status ON outbox (store_id, status, updated_at);

-- Every delivery attempt is its own row.
CREATE TABLE attempts (
    id               text PRIMARY KEY CHECK (id ~ '^att_[0-9a-z]{26}$'),
    store_id         text NOT NULL,
    destination      text NOT NULL,
    resource         text NOT NULL,
    resource_id      bigint NOT NULL,
    event_id         text NOT NULL,
    started_at       timestamptz NOT NULL,
    duration_ms      integer NOT NULL,
    outcome          text NOT NULL CHECK (outcome IN ('delivered', 'retrying', 'dead', 'skipped')),
    status_code      integer,
    error_code       text,
    error            text,
    sf_id            text,
    request_summary  jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX attempts_entity ON attempts (store_id, resource, resource_id, started_at);

-- Work requested from outside the agent: resync / backfill / manual sync.
CREATE TABLE jobs (
    id            text PRIMARY KEY CHECK (id ~ '^job_[0-9a-z]{26}$'),
    store_id      text NOT NULL REFERENCES stores (id) ON DELETE CASCADE,
    kind          text NOT NULL CHECK (kind IN ('backfill', 'sync')),
    params        jsonb NOT NULL DEFAULT '{}',
    requested_by  text NOT NULL,
    status        text NOT NULL DEFAULT 'requested' CHECK (status IN ('requested', 'running', 'done', 'failed', 'cancelled')),
    progress      jsonb NOT NULL DEFAULT '{}',
    error         text,
    lease_owner   text,
    lease_expires_at timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX jobs_open ON jobs (status, created_at) WHERE status IN ('requested', 'running');
