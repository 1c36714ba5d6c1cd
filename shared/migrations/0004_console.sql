-- Wooforce schema, version 4: the support console (operators, sessions, API tokens, audit log, replays,
-- alert state), the customer-email lookup (hashed), and the indexes the outbox browser and dashboard need.

CREATE TABLE operators (
    id             text PRIMARY KEY CHECK (id ~ '^op_[0-9a-z]{26}$'),
    email          text NOT NULL CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 320),
    password_hash  text NOT NULL,                 -- argon2id (argon2-cffi), parameters inside the hash
    role           text NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    store_id       text REFERENCES stores (id) ON DELETE CASCADE,   -- NULL: every store
    disabled       boolean NOT NULL DEFAULT false,
    last_login_at  timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX operators_email ON operators (email);

-- Server-side sessions: the cookie carries a random token, the table only its sha256.
CREATE TABLE console_sessions (
    token_sha256   bytea PRIMARY KEY,
    operator_id    text NOT NULL REFERENCES operators (id) ON DELETE CASCADE,
    csrf_token     text NOT NULL,
    ip             text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL
);
CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);

-- API tokens for scripts (`Authorization: Bearer wf_...`): stored as sha256, acting as their operator.
CREATE TABLE api_tokens (
    id             text PRIMARY KEY CHECK (id ~ '^tok_[0-9a-z]{26}$'),
    token_sha256   bytea NOT NULL UNIQUE,
    operator_id    text NOT NULL REFERENCES operators (id) ON DELETE CASCADE,
    name           text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at     timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz,
    last_used_at   timestamptz,
    revoked_at     timestamptz
);

-- Who did what, when, from where: every write of the console, the admin API and the admin CLI.
CREATE TABLE audit_log (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at           timestamptz NOT NULL DEFAULT now(),
    actor        text NOT NULL,            -- operator email, "token:<id>" or "cli"
    operator_id  text,
    action       text NOT NULL,            -- outbox.replay, outbox.sync, store.resync, gdpr.erase, operator.add ...
    store_id     text,
    target       text,                     -- entity key, filter summary, email hash prefix (never raw PII)
    params       jsonb NOT NULL DEFAULT '{}',
    result       jsonb NOT NULL DEFAULT '{}',
    ip           text
);
CREATE INDEX audit_log_at ON audit_log (at);

-- Bulk replays: one row per request, progress updated per batch.
CREATE TABLE replays (
    id           text PRIMARY KEY,
    requested_by text NOT NULL,
    filter       jsonb NOT NULL,
    status       text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'done', 'failed')),
    total        integer NOT NULL DEFAULT 0,     -- the count shown at confirmation
    replayed     integer NOT NULL DEFAULT 0,
    error        text,
    started_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz
);

-- Alert state: one row per condition key; firing/resolved, and when it was last notified (rate limit).
CREATE TABLE alerts (
    key               text PRIMARY KEY,          -- "dead_letters:st_...", "lag", "api_budget", "keys_failed:st_..."
    kind              text NOT NULL,
    store_id          text,
    status            text NOT NULL CHECK (status IN ('firing', 'resolved')),
    summary           text NOT NULL,
    first_fired_at    timestamptz NOT NULL DEFAULT now(),
    last_notified_at  timestamptz,
    resolved_at       timestamptz,
    updated_at        timestamptz NOT NULL DEFAULT now()
);

-- Customer-email lookup: sha256(lower(trim(email))) per entity, written at ingest. No raw email is stored.
CREATE TABLE entity_emails (
    store_id      text NOT NULL,
    email_sha256  bytea NOT NULL,
    resource      text NOT NULL,
    resource_id   bigint NOT NULL,
    PRIMARY KEY (email_sha256, store_id, resource, resource_id)
);

-- GDPR / retention markers on the immutable events (nullable, no default: no table rewrite).
ALTER TABLE events ADD COLUMN erased_at timestamptz;
ALTER TABLE events ADD COLUMN purged_at timestamptz;

-- Outbox browser (keyset pagination on (updated_at, store_id, resource, resource_id), newest first),
-- searches, and dashboard lag.
CREATE INDEX outbox_console_recent ON outbox (updated_at, store_id, resource, resource_id);
CREATE INDEX outbox_console_store ON outbox (store_id, updated_at);
CREATE INDEX outbox_console_status ON outbox (status, updated_at);
CREATE INDEX outbox_console_error ON outbox (last_error_code, updated_at) WHERE last_error_code IS NOT NULL;
CREATE INDEX outbox_console_sf_id ON outbox (sf_id) WHERE sf_id IS NOT NULL;
CREATE INDEX outbox_console_resource_id ON outbox (resource_id);
CREATE INDEX outbox_console_delivered ON outbox (delivered_at) WHERE delivered_at IS NOT NULL;
CREATE INDEX attempts_started ON attempts (started_at);
