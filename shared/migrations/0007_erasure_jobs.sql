-- Wooforce schema, version 7: erasure in Salesforce is a job the agent runs (issue 13).
-- jobs.kind gains 'erasure'; attempts counts the claims of a job (an erasure retried while Salesforce is down
-- gives up after WOOFORCE_ERASURE_MAX_ATTEMPTS).
ALTER TABLE jobs DROP CONSTRAINT jobs_kind_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_kind_check CHECK (kind IN ('backfill', 'sync', 'erasure'));
ALTER TABLE jobs ADD COLUMN attempts integer NOT NULL DEFAULT 0;
