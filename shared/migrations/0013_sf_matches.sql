-- Wooforce schema, version 13: records the org already had, matched before Wooforce creates its own (issue 17).

-- Before Wooforce creates an Account/Contact or a Product2 for an entity it never wrote, the agent looks for the
-- same thing in the org (Contacts by email, Product2 by StockKeepingUnit then ProductCode). A single free match is
-- adopted (Wooforce_Key__c stamped on it). An ambiguous one (several records, or one keyed to another entity or
-- store) is never guessed: it is recorded here with its candidates, and the store's policy (mapping option
-- match_ambiguous: create | oldest | wait) decides; under `wait` an operator picks (console or
-- `wooforce salesforce resolve`), the collector records the decision, and the agent applies it on the entity's next
-- delivery (applied_at). One row per (store, entity key): the newest finding replaces an open one.
CREATE TABLE sf_matches (
    store_id      text NOT NULL REFERENCES stores(id) ON DELETE CASCADE,
    wooforce_key  text NOT NULL,              -- {store}:customer:{id}, {store}:guest:{hash}, {store}:product:{id}
    kind          text NOT NULL CHECK (kind IN ('customer', 'product')),
    reason        text NOT NULL CHECK (reason IN ('several', 'keyed_elsewhere')),
    candidates    jsonb NOT NULL,             -- [{Id, AccountId | PricebookEntryId, Name, CreatedDate, key}]
    status        text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'decided', 'applied')),
    decision      text,                       -- a candidate's Id, or 'create'
    decided_by    text,                       -- an operator, or policy:create / policy:oldest
    decided_at    timestamptz,
    applied_at    timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (store_id, wooforce_key)
);
CREATE INDEX sf_matches_open ON sf_matches (store_id, created_at) WHERE status = 'open';
