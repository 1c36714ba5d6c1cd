-- Wooforce schema, version 14: importing from Salesforce into the store is a job (issue 20).
-- jobs.kind gains 'import' (`wooforce import --from salesforce`: a catalogue or customer list marked for the store,
-- matched by SKU / email first, created in WooCommerce, keys stamped back; resumable by its progress).
ALTER TABLE jobs DROP CONSTRAINT jobs_kind_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_kind_check CHECK (kind IN ('backfill', 'sync', 'erasure', 'import'));
