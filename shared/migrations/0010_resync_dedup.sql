-- Wooforce schema, version 10: a signed /resync request is idempotent (issue 15).
-- jobs.request_id holds the request's webhook-id (Standard Webhooks message id); the same signed request sent
-- again (a replay, a retry) finds the job it created instead of creating a second backfill. NULL for jobs
-- requested otherwise (console, API, CLI).
ALTER TABLE jobs ADD COLUMN request_id text;
CREATE UNIQUE INDEX jobs_request_dedup ON jobs (store_id, request_id) WHERE request_id IS NOT NULL;
