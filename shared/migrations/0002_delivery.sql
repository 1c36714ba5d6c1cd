-- Wooforce schema, version 2: delivery to Salesforce (the agent).

-- Every record Wooforce has written to Salesforce: Wooforce_Key__c -> Salesforce Id, per sObject.
-- The agent reads it to know what already exists (create-only fields such as OrderItem.OrderId may only
-- be sent on create) and which dependencies (accounts, products) an order can reference.
CREATE TABLE salesforce_records (
    store_id       text NOT NULL REFERENCES stores (id) ON DELETE CASCADE,
    sobject        text NOT NULL,
    wooforce_key   text NOT NULL,
    sf_id          text NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (store_id, sobject, wooforce_key)
);

-- The store's Salesforce API allocation as last seen (Sforce-Limit-Info / /limits); the console shows it.
CREATE TABLE sf_budget (
    store_id       text PRIMARY KEY REFERENCES stores (id) ON DELETE CASCADE,
    api_used       integer NOT NULL,
    api_max        integer NOT NULL,
    budget_share   real NOT NULL,
    paused         boolean NOT NULL DEFAULT false,
    paused_until   timestamptz,
    checked_at     timestamptz NOT NULL DEFAULT now()
);

-- claim order: dependencies (customers, products) before orders, then oldest first
CREATE INDEX outbox_claim ON outbox (destination, (resource = 'order'), available_at)
    WHERE status IN ('pending', 'retrying');
-- dead letters per store (console list, replay)
CREATE INDEX outbox_dead ON outbox (store_id, resource, last_error_code) WHERE status = 'dead';
CREATE INDEX attempts_store_time ON attempts (store_id, started_at);
