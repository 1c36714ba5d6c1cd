-- Wooforce schema, version 5: two-way sync (Salesforce -> WooCommerce).
-- Writes to WooCommerce use the outbox with destination = 'woocommerce' and events with source = 'salesforce'
-- (both already allowed by 0001); these tables hold the poller's cursors, the per-entity sync state that
-- recognises echoes, and the conflicts the console shows on an entity's timeline.

-- Per store and sObject: where the Salesforce poller is (SystemModstamp cursor) and what its last run cost.
CREATE TABLE sf_poll_state (
    store_id          text COLLATE "C" NOT NULL REFERENCES stores (id) ON DELETE CASCADE,
    sobject           text COLLATE "C" NOT NULL,
    cursor_at         timestamptz,              -- newest SystemModstamp processed
    last_run_at       timestamptz,
    last_api_calls    integer NOT NULL DEFAULT 0,
    last_rows         integer NOT NULL DEFAULT 0,
    last_changes      integer NOT NULL DEFAULT 0,
    last_error        text,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (store_id, sobject)
);

-- Per entity: the two-way fields' sync state, {"<Salesforce field>": {"v": value both sides agree on,
-- "wc_at": WooCommerce version of its last change there, "sf_at": SystemModstamp of its last human change in
-- Salesforce, "sf_pending": a Salesforce value not yet written to WooCommerce}} (merged per key), and what
-- Wooforce's last PUT wrote: the date_modified WooCommerce returned and the values (echo recognition).
CREATE TABLE twoway_state (
    store_id            text COLLATE "C" NOT NULL,
    resource            text COLLATE "C" NOT NULL,
    resource_id         bigint NOT NULL,
    fields              jsonb NOT NULL DEFAULT '{}',
    wc_written_version  timestamptz,
    wc_written          jsonb,
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (store_id, resource, resource_id)
);

-- Both sides changed a field owned by both: the newer change won, the loser is kept here (console timeline).
CREATE TABLE twoway_conflicts (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    store_id      text COLLATE "C" NOT NULL,
    resource      text COLLATE "C" NOT NULL,
    resource_id   bigint NOT NULL,
    field         text NOT NULL,
    winner        text NOT NULL CHECK (winner IN ('woocommerce', 'salesforce')),
    winner_value  text,
    winner_at     timestamptz,
    loser_value   text,
    loser_at      timestamptz,
    detected_at   timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX twoway_conflicts_once ON twoway_conflicts (store_id, resource, resource_id, field, winner,
                                                               winner_at, loser_at);
CREATE INDEX twoway_conflicts_entity ON twoway_conflicts (store_id, resource, resource_id, detected_at);
