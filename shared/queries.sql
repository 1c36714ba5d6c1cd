-- All of Wooforce's SQL, as named blocks. Loaded by shared/queries.py.

-- stores ---------------------------------------------------------------------------------

-- name: insert_store
INSERT INTO stores (id, name, signing_secrets, wc_url, wc_credentials)
VALUES ($1, $2, $3, $4, $5)
RETURNING id, name, status, created_at

-- name: get_store
SELECT id, name, status, signing_secrets, wc_url, wc_credentials, sf_credentials,
       keys_status, keys_error, keys_checked_at, created_at, updated_at
FROM stores WHERE id = $1

-- name: list_stores
SELECT id, name, status, wc_url, keys_status, last_event_at, created_at
FROM stores ORDER BY created_at

-- name: update_store_secrets
UPDATE stores SET signing_secrets = $2, updated_at = now() WHERE id = $1

-- name: update_store_woocommerce
UPDATE stores SET wc_url = $2, wc_credentials = $3, keys_status = 'unknown', keys_error = NULL, updated_at = now()
WHERE id = $1

-- name: update_store_salesforce
UPDATE stores SET sf_credentials = $2, updated_at = now() WHERE id = $1

-- name: update_store_status
UPDATE stores SET status = $2, updated_at = now() WHERE id = $1

-- name: update_store_keys_status
UPDATE stores SET keys_status = $2, keys_error = $3, keys_checked_at = now() WHERE id = $1

-- name: delete_store
-- events/outbox/attempts carry no foreign keys (hot path), so a store's rows go explicitly
WITH e AS (DELETE FROM events WHERE store_id = $1),
     o AS (DELETE FROM outbox WHERE store_id = $1),
     a AS (DELETE FROM attempts WHERE store_id = $1)
DELETE FROM stores WHERE id = $1

-- ingest ---------------------------------------------------------------------------------

-- name: insert_events
-- idempotent: a (store, dedup_key) already stored is skipped; RETURNING lists only new rows
INSERT INTO events (id, store_id, source, sender_id, dedup_key, resource, action, resource_id,
                    occurred_at, version, payload)
SELECT id, store_id, source, sender_id, dedup_key, resource, action, resource_id, occurred_at, version, payload::json
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::bigint[],
            $9::timestamptz[], $10::timestamptz[], $11::text[])
     AS t(id, store_id, source, sender_id, dedup_key, resource, action, resource_id, occurred_at, version, payload)
ON CONFLICT (store_id, dedup_key) DO NOTHING
RETURNING id, seq

-- name: find_events_by_dedup
SELECT e.id, e.store_id, e.dedup_key
FROM unnest($1::text[], $2::text[]) AS t(store_id, dedup_key)
JOIN events e ON e.store_id = t.store_id AND e.dedup_key = t.dedup_key

-- name: upsert_outbox
-- point each entity's outbox row at its newest event: by WooCommerce version, then arrival.
-- a leased row keeps its lease (the agent sees the new head when it finishes); a retrying row
-- keeps its schedule; delivered and dead rows become pending again.
INSERT INTO outbox AS o (store_id, destination, resource, resource_id, head_event_id, head_version, head_seq)
SELECT store_id, 'salesforce', resource, resource_id, event_id, version, seq
FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::timestamptz[], $6::bigint[])
     AS t(store_id, resource, resource_id, event_id, version, seq)
ORDER BY store_id, resource, resource_id
ON CONFLICT (store_id, destination, resource, resource_id) DO UPDATE SET
    head_event_id = EXCLUDED.head_event_id,
    head_version  = EXCLUDED.head_version,
    head_seq      = EXCLUDED.head_seq,
    status        = CASE WHEN o.status IN ('leased', 'retrying') THEN o.status ELSE 'pending' END,
    attempts      = CASE WHEN o.status IN ('leased', 'retrying') THEN o.attempts ELSE 0 END,
    available_at  = CASE WHEN o.status IN ('leased', 'retrying') THEN o.available_at ELSE now() END,
    updated_at    = now()
WHERE (EXCLUDED.head_version, EXCLUDED.head_seq) > (o.head_version, o.head_seq)

-- name: touch_stores
-- "last event seen", written at most once a second per store so that hot stores cost nothing
UPDATE stores SET last_event_at = now()
WHERE id = ANY($1::text[]) AND (last_event_at IS NULL OR last_event_at < now() - interval '1 second')

-- name: insert_job
INSERT INTO jobs (id, store_id, kind, params, requested_by) VALUES ($1, $2, $3, $4, $5)
RETURNING id, status, created_at

-- health ---------------------------------------------------------------------------------

-- name: ping
SELECT 1

-- name: outbox_counts
SELECT status, count(*) AS n FROM outbox GROUP BY status

-- delivery ---------------------------------------------------------------------------------
-- the agent: claim with a lease, complete record by record, attempts, Salesforce id map, budget, replay

-- name: claim_outbox
-- one statement: up to $2 rows that are due (pending/retrying) or whose lease expired (a crashed agent),
-- skipping rows other agents hold (SKIP LOCKED), stores without a Salesforce connection and stores paused
-- for their API budget; customers and products before orders, then oldest first.
-- $1 lease owner, $2 limit, $3 lease seconds
WITH c AS (
    SELECT o.store_id, o.destination, o.resource, o.resource_id
    FROM outbox o
    WHERE o.destination = 'salesforce'
      AND ((o.status IN ('pending', 'retrying') AND o.available_at <= now())
           OR (o.status = 'leased' AND o.lease_expires_at < now()))
      AND EXISTS (SELECT 1 FROM stores s WHERE s.id = o.store_id AND s.status = 'active'
                  AND s.sf_credentials IS NOT NULL)
      AND NOT EXISTS (SELECT 1 FROM sf_budget b WHERE b.store_id = o.store_id AND b.paused
                      AND b.paused_until > now())
    ORDER BY (o.resource = 'order'), o.available_at
    LIMIT $2
    FOR UPDATE OF o SKIP LOCKED
)
UPDATE outbox o
SET status = 'leased', lease_owner = $1, lease_expires_at = now() + make_interval(secs => $3::float8),
    updated_at = now()
FROM c, events e
WHERE o.store_id = c.store_id AND o.destination = c.destination AND o.resource = c.resource
  AND o.resource_id = c.resource_id AND e.id = o.head_event_id
RETURNING o.store_id, o.resource, o.resource_id, o.head_event_id, o.head_version, o.head_seq, o.attempts,
          o.sf_id, e.action, e.payload

-- name: complete_outbox
-- record-by-record outcome of one lease ($1 = owner). Marked delivered only if the head did not move
-- meanwhile (a newer event arrived while leased -> pending again, so it is delivered too). A row whose
-- lease was lost (expired and taken by another agent) is left alone.
UPDATE outbox o SET
    status = CASE
        WHEN o.head_seq <> t.seq THEN 'pending'
        WHEN t.outcome = 'paused' THEN 'pending'
        ELSE t.outcome END,
    attempts = CASE WHEN o.head_seq <> t.seq AND t.outcome IN ('delivered', 'dead') THEN 0 ELSE t.attempts END,
    available_at = now() + make_interval(secs => t.delay_s),
    lease_owner = NULL,
    lease_expires_at = NULL,
    delivered_event_id = CASE WHEN t.outcome = 'delivered' THEN t.event_id ELSE o.delivered_event_id END,
    delivered_version  = CASE WHEN t.outcome = 'delivered' THEN t.version ELSE o.delivered_version END,
    delivered_seq      = CASE WHEN t.outcome = 'delivered' THEN t.seq ELSE o.delivered_seq END,
    delivered_at       = CASE WHEN t.outcome = 'delivered' THEN now() ELSE o.delivered_at END,
    sf_id = COALESCE(t.sf_id, o.sf_id),
    last_error_code = CASE WHEN t.outcome = 'delivered' THEN NULL ELSE COALESCE(t.error_code, o.last_error_code) END,
    last_error      = CASE WHEN t.outcome = 'delivered' THEN NULL ELSE COALESCE(t.error, o.last_error) END,
    updated_at = now()
FROM unnest($2::text[], $3::text[], $4::bigint[], $5::text[], $6::bigint[], $7::text[], $8::timestamptz[],
            $9::int[], $10::float8[], $11::text[], $12::text[], $13::text[])
     AS t(store_id, resource, resource_id, outcome, seq, event_id, version, attempts, delay_s, sf_id,
          error_code, error)
WHERE o.store_id = t.store_id AND o.destination = 'salesforce' AND o.resource = t.resource
  AND o.resource_id = t.resource_id AND o.status = 'leased' AND o.lease_owner = $1
RETURNING o.store_id, o.resource, o.resource_id, o.status

-- name: extend_leases
UPDATE outbox SET lease_expires_at = now() + make_interval(secs => $2::float8)
WHERE status = 'leased' AND lease_owner = $1

-- name: release_leases
-- clean shutdown: hand the rows back without counting an attempt
UPDATE outbox SET status = CASE WHEN attempts > 0 THEN 'retrying' ELSE 'pending' END,
                  lease_owner = NULL, lease_expires_at = NULL, updated_at = now()
WHERE status = 'leased' AND lease_owner = $1

-- name: insert_attempts
INSERT INTO attempts (id, store_id, destination, resource, resource_id, event_id, started_at, duration_ms, outcome,
                      status_code, error_code, error, sf_id, request_summary)
SELECT id, store_id, 'salesforce', resource, resource_id, event_id, started_at, duration_ms, outcome, status_code,
       error_code, error, sf_id, request_summary::jsonb
FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::timestamptz[], $7::int[], $8::text[],
            $9::int[], $10::text[], $11::text[], $12::text[], $13::text[])
     AS t(id, store_id, resource, resource_id, event_id, started_at, duration_ms, outcome, status_code, error_code,
          error, sf_id, request_summary)

-- name: lookup_sf_records
-- which of these (sobject, Wooforce_Key__c) Salesforce already holds for store $1
SELECT r.sobject, r.wooforce_key, r.sf_id
FROM unnest($2::text[], $3::text[]) AS t(sobject, wooforce_key)
JOIN salesforce_records r ON r.store_id = $1 AND r.sobject = t.sobject AND r.wooforce_key = t.wooforce_key

-- name: upsert_sf_records
INSERT INTO salesforce_records AS r (store_id, sobject, wooforce_key, sf_id)
SELECT store_id, sobject, wooforce_key, sf_id
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS t(store_id, sobject, wooforce_key, sf_id)
ORDER BY store_id, sobject, wooforce_key
ON CONFLICT (store_id, sobject, wooforce_key) DO UPDATE SET sf_id = EXCLUDED.sf_id, updated_at = now()
WHERE r.sf_id IS DISTINCT FROM EXCLUDED.sf_id

-- name: upsert_sf_budget
INSERT INTO sf_budget AS b (store_id, api_used, api_max, budget_share, paused, paused_until, checked_at)
VALUES ($1, $2, $3, $4, $5, $6, now())
ON CONFLICT (store_id) DO UPDATE SET api_used = EXCLUDED.api_used, api_max = EXCLUDED.api_max,
    budget_share = EXCLUDED.budget_share, paused = EXCLUDED.paused, paused_until = EXCLUDED.paused_until,
    checked_at = now()

-- name: get_sf_budget
SELECT store_id, api_used, api_max, budget_share, paused, paused_until, checked_at FROM sf_budget WHERE store_id = $1

-- name: list_sf_budgets
SELECT store_id, api_used, api_max, budget_share, paused, paused_until, checked_at FROM sf_budget ORDER BY store_id

-- name: list_dead
-- dead letters of store $1 (newest first), optionally one resource ($2)
SELECT store_id, resource, resource_id, head_event_id, attempts, last_error_code, last_error, updated_at
FROM outbox
WHERE status = 'dead' AND store_id = $1 AND ($2::text IS NULL OR resource = $2)
ORDER BY updated_at DESC
LIMIT $3

-- name: replay_dead
-- dead letters back to pending (after the cause was fixed): store $1, optionally resource $2,
-- Salesforce error code $3, resource ids $4
UPDATE outbox SET status = 'pending', attempts = 0, available_at = now(), updated_at = now()
WHERE status = 'dead' AND store_id = $1 AND ($2::text IS NULL OR resource = $2)
  AND ($3::text IS NULL OR last_error_code = $3) AND ($4::bigint[] IS NULL OR resource_id = ANY($4::bigint[]))
RETURNING resource, resource_id

-- name: delete_sf_records
-- records deleted in Salesforce behind our back: recreated (with create-only fields) next time
DELETE FROM salesforce_records r
USING unnest($2::text[], $3::text[]) AS t(sobject, wooforce_key)
WHERE r.store_id = $1 AND r.sobject = t.sobject AND r.wooforce_key = t.wooforce_key

-- reconciler -------------------------------------------------------------------------------
-- REST polling of WooCommerce (agent/reconcile.py), backfills and manual syncs (agent/backfill.py)

-- name: reconcile_stores
SELECT id FROM stores WHERE status = 'active' AND wc_url IS NOT NULL AND wc_credentials IS NOT NULL ORDER BY id

-- name: reconcile_claim
-- the store's lease ($2 owner, $3 seconds) unless another agent holds it or the store is backing off
-- ($4 = true ignores the backoff: an operator asked)
INSERT INTO reconcile_state AS s (store_id, track, lease_owner, lease_expires_at)
VALUES ($1, 'store', $2, now() + make_interval(secs => $3::float8))
ON CONFLICT (store_id, track) DO UPDATE SET
    lease_owner = EXCLUDED.lease_owner, lease_expires_at = EXCLUDED.lease_expires_at, updated_at = now()
WHERE (s.lease_expires_at IS NULL OR s.lease_expires_at < now() OR s.lease_owner = $2)
  AND (s.next_run_at IS NULL OR s.next_run_at <= now() OR $4::boolean
       -- new keys (set-woocommerce) after the failed run end its backoff at once
       OR EXISTS (SELECT 1 FROM stores st WHERE st.id = $1 AND st.updated_at > s.updated_at))
RETURNING failures

-- name: reconcile_release
-- end of a run: $3 consecutive failures, $4 no run before this time (NULL = next interval), $5 last error
UPDATE reconcile_state SET lease_owner = NULL, lease_expires_at = NULL, failures = $3,
    next_run_at = $4, last_error = $5, updated_at = now()
WHERE store_id = $1 AND track = 'store' AND lease_owner = $2

-- name: reconcile_tracks
SELECT track, cursor_at, position, sweeps_done, failures, next_run_at, last_error
FROM reconcile_state WHERE store_id = $1

-- name: reconcile_save_track
INSERT INTO reconcile_state (store_id, track, cursor_at, position, sweeps_done)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (store_id, track) DO UPDATE SET
    cursor_at = EXCLUDED.cursor_at, position = EXCLUDED.position, sweeps_done = EXCLUDED.sweeps_done,
    updated_at = now()

-- name: reconcile_heads
-- the newest version the outbox has seen of each entity, and what it was (updated/trashed/deleted ...)
SELECT o.resource_id, o.head_version, e.action
FROM outbox o LEFT JOIN events e ON e.id = o.head_event_id
WHERE o.store_id = $1 AND o.destination = 'salesforce' AND o.resource = $2 AND o.resource_id = ANY($3::bigint[])

-- name: reconcile_heads_payload
SELECT o.resource_id, o.head_version, e.action, e.payload
FROM outbox o LEFT JOIN events e ON e.id = o.head_event_id
WHERE o.store_id = $1 AND o.destination = 'salesforce' AND o.resource = $2 AND o.resource_id = ANY($3::bigint[])

-- name: reconcile_known_ids
-- the id sweep: the next $4 entities the outbox knows (not deleted) after id $3
SELECT o.resource_id, e.action
FROM outbox o JOIN events e ON e.id = o.head_event_id
WHERE o.store_id = $1 AND o.destination = 'salesforce' AND o.resource = $2 AND o.resource_id > $3
  AND e.action <> 'deleted'
ORDER BY o.resource_id
LIMIT $4

-- name: reconcile_fingerprints
SELECT customer_id, fingerprint, version FROM customer_fingerprints
WHERE store_id = $1 AND customer_id = ANY($2::bigint[])

-- name: reconcile_save_fingerprints
INSERT INTO customer_fingerprints (store_id, customer_id, fingerprint, version)
SELECT $1, customer_id, fingerprint, version
FROM unnest($2::bigint[], $3::text[], $4::timestamptz[]) AS t(customer_id, fingerprint, version)
ON CONFLICT (store_id, customer_id) DO UPDATE SET
    fingerprint = EXCLUDED.fingerprint, version = EXCLUDED.version, seen_at = now()

-- name: reconcile_insert_run
INSERT INTO reconcile_runs (id, store_id, started_at, duration_ms, outcome, requests, checked, missing, missing_ids, error)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)

-- name: reconcile_runs
-- the store's gap report, newest first
SELECT id, started_at, duration_ms, outcome, requests, checked, missing, missing_ids, error
FROM reconcile_runs WHERE store_id = $1 ORDER BY started_at DESC LIMIT $2

-- name: job_get
SELECT id, store_id, kind, params, requested_by, status, progress, error, lease_owner, lease_expires_at,
       created_at, updated_at
FROM jobs WHERE id = $1

-- name: job_find_open_backfill
-- an unfinished backfill of this store with the same parameters: re-running continues it
SELECT id FROM jobs
WHERE store_id = $1 AND kind = 'backfill' AND status IN ('requested', 'running', 'failed') AND params = $2::jsonb
ORDER BY created_at DESC LIMIT 1

-- name: job_claim_next
-- the oldest requested backfill, or a running one whose agent died (lease expired); SKIP LOCKED so two
-- agents never take the same job. $1 owner, $2 lease seconds
UPDATE jobs SET status = 'running', lease_owner = $1, lease_expires_at = now() + make_interval(secs => $2::float8),
    updated_at = now()
WHERE id = (
    SELECT id FROM jobs
    WHERE kind = 'backfill' AND (status = 'requested' OR (status = 'running' AND lease_expires_at < now()))
    ORDER BY created_at
    LIMIT 1
    FOR UPDATE SKIP LOCKED
)
RETURNING id, store_id, params, progress, requested_by

-- name: job_claim
-- take one given job (the CLI resuming it) unless a live agent holds it
UPDATE jobs SET status = 'running', lease_owner = $2, lease_expires_at = now() + make_interval(secs => $3::float8),
    error = NULL, updated_at = now()
WHERE id = $1 AND (status IN ('requested', 'failed')
                   OR (status = 'running' AND (lease_expires_at IS NULL OR lease_expires_at < now() OR lease_owner = $2)))
RETURNING id, store_id, params, progress, requested_by

-- name: job_progress
-- checkpoint and lease renewal in one write; 0 rows = the lease was lost
UPDATE jobs SET progress = $3, lease_expires_at = now() + make_interval(secs => $4::float8), updated_at = now()
WHERE id = $1 AND lease_owner = $2 AND status = 'running'

-- name: job_finish
UPDATE jobs SET status = $3, error = $4, lease_owner = NULL, lease_expires_at = NULL, updated_at = now()
WHERE id = $1 AND lease_owner = $2

-- name: job_postpone
-- a transient failure ($3 error): stays running, picked up again once the lease ($4 seconds) expires
UPDATE jobs SET error = $3, lease_expires_at = now() + make_interval(secs => $4::float8), updated_at = now()
WHERE id = $1 AND lease_owner = $2
