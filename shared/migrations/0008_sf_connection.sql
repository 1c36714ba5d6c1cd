-- Wooforce schema, version 8: the state of each store's Salesforce connection (issue 16).

-- Written by the delivery agent after each batch that tried the store's connection (sign-in, API budget check):
-- `ok`, or `failing` with the cause (error code and message) since the first failure of the current streak.
-- The alerts raise `sf_connection:<store>` while a connection fails; the console's dashboard shows the state.
CREATE TABLE sf_connection (
    store_id       text PRIMARY KEY REFERENCES stores (id) ON DELETE CASCADE,
    status         text NOT NULL CHECK (status IN ('ok', 'failing')),
    error_code     text,
    error          text,
    failing_since  timestamptz,     -- first failure of the current streak; NULL when ok
    failures       integer NOT NULL DEFAULT 0,  -- batches failed in the current streak
    last_ok_at     timestamptz,
    checked_at     timestamptz NOT NULL DEFAULT now()
);
