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

-- name: stores_encrypted
SELECT id, signing_secrets, wc_credentials, sf_credentials FROM stores ORDER BY created_at

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

-- name: ingest_events
-- One statement, one round trip, atomic on its own (no BEGIN/COMMIT needed). $1 is the batch's small
-- columns as a JSON array of objects (one per event; `email` is the hex sha256 of the customer's email or
-- null), $2 the payloads (the events' JSON) in the same order: two parameters instead of a dozen arrays,
-- which cost the collector more to encode than Postgres spends parsing this. Stores the events (a
-- (store, dedup_key) already stored is skipped), points each entity's outbox row at its newest new event
-- (by WooCommerce version, then arrival: an older version never replaces a newer one), records the
-- customer-email hashes of the new events (console search), and refreshes the stores' "last event seen" (at
-- most once a second). A leased row keeps its lease (the agent sees the new head when it finishes); a retrying
-- row keeps its schedule (unless it waits for a rejected record: due now); delivered and dead rows become pending
-- again. $3 is the destination: 'salesforce'
-- for store events, 'woocommerce' for Salesforce changes (two-way sync).
-- Returns one row per input event: `new` when it was stored now, and `event_id`: its own id, or the event
-- stored earlier (or earlier in this batch) under the same dedup key; null when a concurrent batch committed
-- that one after this statement's snapshot was taken (the caller looks those up with find_events_by_dedup).
WITH input AS MATERIALIZED (
    SELECT * FROM ROWS FROM (
        json_to_recordset($1::text::json) AS (
            id text, store_id text, source text, sender_id text, dedup_key text, resource text, action text,
            resource_id bigint, occurred_at timestamptz, version timestamptz, email text),
        unnest($2::text[])
    ) AS t(id, store_id, source, sender_id, dedup_key, resource, action, resource_id, occurred_at, version, email,
           payload)
), ins AS (
    INSERT INTO events (id, store_id, source, sender_id, dedup_key, resource, action, resource_id,
                        occurred_at, version, payload)
    SELECT id, store_id, source, sender_id, dedup_key, resource, action, resource_id, occurred_at, version,
           payload::json
    FROM input
    ORDER BY store_id, dedup_key  -- one lock order for every writer: concurrent batches cannot deadlock
    ON CONFLICT (store_id, dedup_key) DO NOTHING
    RETURNING id, seq, store_id, dedup_key, resource, resource_id, version
), heads AS (
    SELECT DISTINCT ON (store_id, resource, resource_id) store_id, resource, resource_id, id, version, seq
    FROM ins
    ORDER BY store_id, resource, resource_id, version DESC, seq DESC
), upsert AS (
    INSERT INTO outbox AS o (store_id, destination, resource, resource_id, head_event_id, head_version, head_seq)
    SELECT store_id, $3::text, resource, resource_id, id, version, seq FROM heads
    ORDER BY store_id, resource, resource_id
    ON CONFLICT (store_id, destination, resource, resource_id) DO UPDATE SET
        head_event_id = EXCLUDED.head_event_id,
        head_version  = EXCLUDED.head_version,
        head_seq      = EXCLUDED.head_seq,
        status        = CASE WHEN o.status IN ('leased', 'retrying') THEN o.status ELSE 'pending' END,
        attempts      = CASE WHEN o.status IN ('leased', 'retrying') THEN o.attempts ELSE 0 END,
        -- a row waiting for a rejected customer or product (waiting_for) is due at once: the new version may fix it
        available_at  = CASE WHEN o.status = 'leased' OR (o.status = 'retrying' AND o.waiting_for IS NULL)
                             THEN o.available_at ELSE now() END,
        updated_at    = now()
    WHERE (EXCLUDED.head_version, EXCLUDED.head_seq) > (o.head_version, o.head_seq)
), emails AS (
    -- customer-email lookup for the console: only the hash is stored
    INSERT INTO entity_emails (store_id, email_sha256, resource, resource_id)
    SELECT DISTINCT i.store_id, decode(i.email, 'hex'), i.resource, i.resource_id
    FROM input i JOIN ins ON ins.id = i.id
    WHERE i.email IS NOT NULL
    ORDER BY 2, 1, 3, 4
    ON CONFLICT DO NOTHING
), touched AS (
    UPDATE stores SET last_event_at = now()
    WHERE id IN (SELECT DISTINCT store_id FROM ins) AND $3::text = 'salesforce'  -- events from the store
      AND (last_event_at IS NULL OR last_event_at < now() - interval '1 second')
)
SELECT i.id, n.id = i.id AS new,
       COALESCE(n.id, (SELECT e.id FROM events e WHERE e.store_id = i.store_id AND e.dedup_key = i.dedup_key))
           AS event_id  -- the lookup runs for duplicates only
FROM input i
LEFT JOIN ins n ON n.store_id = i.store_id AND n.dedup_key = i.dedup_key

-- name: find_events_by_dedup
SELECT e.id, e.store_id, e.dedup_key
FROM unnest($1::text[], $2::text[]) AS t(store_id, dedup_key)
JOIN events e ON e.store_id = t.store_id AND e.dedup_key = t.dedup_key

-- name: insert_job
INSERT INTO jobs (id, store_id, kind, params, requested_by) VALUES ($1, $2, $3, $4, $5)
RETURNING id, status, created_at

-- name: insert_job_once
-- a signed /resync request: $6 is its webhook-id; the same request again returns the job it created (new = false)
WITH ins AS (
    INSERT INTO jobs (id, store_id, kind, params, requested_by, request_id) VALUES ($1, $2, $3, $4, $5, $6)
    ON CONFLICT (store_id, request_id) WHERE request_id IS NOT NULL DO NOTHING
    RETURNING id, status, created_at
)
SELECT id, status, created_at, true AS new FROM ins
UNION ALL
SELECT id, status, created_at, false AS new FROM jobs
WHERE store_id = $2 AND request_id = $6 AND NOT EXISTS (SELECT 1 FROM ins)

-- health ---------------------------------------------------------------------------------

-- name: ping
SELECT 1

-- name: outbox_counts
SELECT status, count(*) AS n FROM outbox GROUP BY status

-- name: plugin_store_health
-- the plugin's checklist (collector/pipeline.py): the store, its Salesforce connection as the delivery agent last
-- tried it (sf_connection: the collector never calls Salesforce), its changes bound for Salesforce not yet written
-- (backlog) or given up (dead), and its last delivery there (outbox_status: a delivered row's updated_at is its
-- delivery)
SELECT s.id, s.name, s.wc_url, s.keys_status, s.keys_error,
       s.keys_checked_at, s.last_event_at, s.sf_credentials IS NOT NULL AS sf_configured,
       c.status AS sf_status, c.error_code AS sf_error_code, c.error AS sf_error, c.failing_since AS sf_failing_since,
       c.last_ok_at AS sf_last_ok_at, c.checked_at AS sf_checked_at,
       (SELECT count(*) FROM outbox o WHERE o.store_id = s.id AND o.destination = 'salesforce'
          AND o.status IN ('pending', 'leased', 'retrying')) AS backlog,
       (SELECT count(*) FROM outbox o WHERE o.store_id = s.id AND o.destination = 'salesforce'
          AND o.status = 'dead') AS dead,
       (SELECT max(o.updated_at) FROM outbox o WHERE o.store_id = s.id AND o.destination = 'salesforce'
          AND o.status = 'delivered') AS last_delivered_at
FROM stores s LEFT JOIN sf_connection c ON c.store_id = s.id
WHERE s.id = $1

-- name: plugin_store_job
-- one job of the store (the plugin shows its resync's progress); another store's job is not found
SELECT id, kind, params, status, progress, error, created_at, updated_at FROM jobs WHERE id = $1 AND store_id = $2

-- name: plugin_entity_states
-- the sync state of some of the store's entities (the plugin's edit screens, collector/plugin_entities.py): $1 store,
-- $2 resources, $3 WooCommerce ids (pairs); each with its outbox row bound for Salesforce (NULLs when there is none)
-- and its newest sync job (kind sync, made when Sync now found no outbox row)
SELECT k.resource, k.resource_id, o.status, o.attempts, o.sf_id, o.delivered_at, o.available_at,
       o.last_error_code, o.last_error, o.updated_at,
       j.id AS job_id, j.status AS job_status, j.error AS job_error, j.updated_at AS job_updated_at
FROM unnest($2::text[], $3::bigint[]) AS k(resource, resource_id)
LEFT JOIN outbox o ON o.store_id = $1 AND o.destination = 'salesforce' AND o.resource = k.resource
     AND o.resource_id = k.resource_id
LEFT JOIN LATERAL (
    SELECT id, status, error, updated_at FROM jobs
    WHERE store_id = $1 AND kind = 'sync'
      AND params @> jsonb_build_object('resource', k.resource, 'resource_id', k.resource_id)
    ORDER BY created_at DESC LIMIT 1
) j ON true

-- name: plugin_open_sync_job
-- a sync job of this entity not finished yet ($2 resource, $3 id): Sync now again does not add another
SELECT id, status FROM jobs
WHERE store_id = $1 AND kind = 'sync' AND status IN ('requested', 'running')
  AND params @> jsonb_build_object('resource', $2::text, 'resource_id', $3::bigint)
ORDER BY created_at DESC LIMIT 1

-- name: plugin_last_reconcile
-- the reconciler's last run for this store (the plugin's store-wide state)
SELECT started_at, outcome, error FROM reconcile_runs WHERE store_id = $1 ORDER BY started_at DESC LIMIT 1


-- console ---------------------------------------------------------------------------------
-- the support console, admin API and alerts (shared/console.py, shared/alerts.py)
-- Outbox filter parameters, shared by console_outbox_page / _count / replay_batch:
-- $1 scope store (an operator limited to one store), $2 destination, $3 store, $4 resource, $5 status,
-- $6 Salesforce error code, $7 updated since, $8 updated before, $9 WooCommerce id, $10 Salesforce Id,
-- $11 + the last parameter: WooCommerce ids and "store/resource/id" keys of the entities found by the customer's
-- email hash (resolved first: a sub-select under "IS NULL OR" could not become a join).
-- NULL = no filter (run with plan_cache_mode = force_custom_plan: the NULL tests fold away per call).

-- name: console_custom_plans
SET LOCAL plan_cache_mode = force_custom_plan

-- name: console_outbox_page
-- keyset pagination, newest first: $12..$15 = the last row seen (updated_at, store_id, resource, resource_id)
SELECT o.store_id, o.destination, o.resource, o.resource_id, o.status, o.attempts, o.last_error_code, o.sf_id,
       o.available_at, o.delivered_at, o.updated_at, o.head_event_id
FROM outbox o
WHERE o.destination = $2
  AND ($1::text IS NULL OR o.store_id = $1) AND ($3::text IS NULL OR o.store_id = $3)
  AND ($4::text IS NULL OR o.resource = $4) AND ($5::text IS NULL OR o.status = $5)
  AND ($6::text IS NULL OR o.last_error_code = $6)
  AND ($7::timestamptz IS NULL OR o.updated_at >= $7) AND ($8::timestamptz IS NULL OR o.updated_at < $8)
  AND ($9::bigint IS NULL OR o.resource_id = $9) AND ($10::text IS NULL OR o.sf_id = $10)
  AND ($11::bigint[] IS NULL OR (o.resource_id = ANY($11::bigint[])
       AND o.store_id || '/' || o.resource || '/' || o.resource_id = ANY($17::text[])))
  AND ($12::timestamptz IS NULL OR (o.updated_at <= $12
       AND (o.updated_at, o.store_id, o.resource, o.resource_id) < ($12, $13::text, $14::text, $15::bigint)))
ORDER BY o.updated_at DESC, o.store_id DESC, o.resource DESC, o.resource_id DESC
LIMIT $16

-- name: console_replayable_count
-- how many rows of the filter a replay would move back to pending (dead, retrying, delivered)
SELECT count(*) FROM outbox o
WHERE o.destination = $2 AND o.status IN ('dead', 'retrying', 'delivered')
  AND ($1::text IS NULL OR o.store_id = $1) AND ($3::text IS NULL OR o.store_id = $3)
  AND ($4::text IS NULL OR o.resource = $4) AND ($5::text IS NULL OR o.status = $5)
  AND ($6::text IS NULL OR o.last_error_code = $6)
  AND ($7::timestamptz IS NULL OR o.updated_at >= $7) AND ($8::timestamptz IS NULL OR o.updated_at < $8)
  AND ($9::bigint IS NULL OR o.resource_id = $9) AND ($10::text IS NULL OR o.sf_id = $10)
  AND ($11::bigint[] IS NULL OR (o.resource_id = ANY($11::bigint[])
       AND o.store_id || '/' || o.resource || '/' || o.resource_id = ANY($12::text[])))

-- name: console_replay_batch
-- one batch of a bulk replay: back to pending with attempts reset. Pending and leased rows are not touched;
-- $12 = when the replay started: a row already replayed (updated since) is not replayed twice. $13 = batch size
WITH b AS (
    SELECT o.store_id, o.destination, o.resource, o.resource_id FROM outbox o
    WHERE o.destination = $2 AND o.status IN ('dead', 'retrying', 'delivered') AND o.updated_at <= $12
      AND ($1::text IS NULL OR o.store_id = $1) AND ($3::text IS NULL OR o.store_id = $3)
      AND ($4::text IS NULL OR o.resource = $4) AND ($5::text IS NULL OR o.status = $5)
      AND ($6::text IS NULL OR o.last_error_code = $6)
      AND ($7::timestamptz IS NULL OR o.updated_at >= $7) AND ($8::timestamptz IS NULL OR o.updated_at < $8)
      AND ($9::bigint IS NULL OR o.resource_id = $9) AND ($10::text IS NULL OR o.sf_id = $10)
      AND ($11::bigint[] IS NULL OR (o.resource_id = ANY($11::bigint[])
           AND o.store_id || '/' || o.resource || '/' || o.resource_id = ANY($14::text[])))
    ORDER BY o.store_id, o.resource, o.resource_id
    LIMIT $13
    FOR UPDATE OF o SKIP LOCKED
)
UPDATE outbox o SET status = 'pending', attempts = 0, available_at = now(), updated_at = now()
FROM b
WHERE o.store_id = b.store_id AND o.destination = b.destination AND o.resource = b.resource
  AND o.resource_id = b.resource_id
RETURNING o.store_id

-- name: console_replay_entity
UPDATE outbox SET status = 'pending', attempts = 0, available_at = now(), updated_at = now()
WHERE store_id = $1 AND destination = $2 AND resource = $3 AND resource_id = $4
  AND status IN ('dead', 'retrying', 'delivered')
RETURNING status

-- name: console_unfreeze_entity
-- an entity whose head version is after $5 (now + the tolerance: a version in the future froze it): the head's
-- version goes back to the newest of the entity's events that is not in the future (the epoch if none), so the
-- next real update outranks it; returns the version it had and the one it has now
UPDATE outbox o SET
    head_version = COALESCE((SELECT max(e.version) FROM events e
                             WHERE e.store_id = o.store_id AND e.resource = o.resource
                               AND e.resource_id = o.resource_id AND e.version <= $5),
                            'epoch'::timestamptz),
    updated_at = now()
FROM outbox old
WHERE o.store_id = $1 AND o.destination = $2 AND o.resource = $3 AND o.resource_id = $4 AND o.head_version > $5
  AND old.store_id = o.store_id AND old.destination = o.destination AND old.resource = o.resource
  AND old.resource_id = o.resource_id
RETURNING old.head_version AS was, o.head_version

-- name: console_sync_entity
-- send now: due immediately; dead/delivered rows go back to pending; a leased row is left to its agent
UPDATE outbox SET available_at = now(), updated_at = now(),
    attempts = CASE WHEN status IN ('dead', 'delivered') THEN 0 ELSE attempts END,
    status = CASE WHEN status IN ('dead', 'delivered') THEN 'pending' ELSE status END
WHERE store_id = $1 AND destination = $2 AND resource = $3 AND resource_id = $4 AND status <> 'leased'
RETURNING status

-- name: console_outbox_entity
SELECT store_id, destination, resource, resource_id, head_event_id, head_version, head_seq, status, attempts,
       available_at, lease_owner, lease_expires_at, delivered_event_id, delivered_version, delivered_seq,
       delivered_at, sf_id, last_error_code, last_error, created_at, updated_at
FROM outbox WHERE store_id = $1 AND destination = $2 AND resource = $3 AND resource_id = $4

-- name: console_entity_events
SELECT id, seq, source, sender_id, action, version, occurred_at, received_at, payload, erased_at, purged_at
FROM events WHERE store_id = $1 AND resource = $2 AND resource_id = $3
ORDER BY seq DESC LIMIT $4

-- name: console_entity_attempts
SELECT id, event_id, destination, started_at, duration_ms, outcome, status_code, error_code, error, sf_id,
       request_summary
FROM attempts WHERE store_id = $1 AND resource = $2 AND resource_id = $3
ORDER BY started_at DESC LIMIT $4

-- name: console_store_names
SELECT id, name FROM stores WHERE ($1::text IS NULL OR id = $1) ORDER BY name

-- dashboard (each: $1 scope store, $2 store filter) --

-- name: console_dash_stores
-- with the Salesforce connection's state as the agent last saw it (sf_connection, migration 0008)
SELECT s.id, s.name, s.status, s.keys_status, s.keys_error, s.keys_checked_at, s.last_event_at,
       s.sf_credentials IS NOT NULL AS sf_configured, c.status AS sf_status, c.error_code AS sf_error_code,
       c.error AS sf_error, c.failing_since AS sf_failing_since, c.last_ok_at AS sf_last_ok_at,
       c.checked_at AS sf_checked_at
FROM stores s LEFT JOIN sf_connection c ON c.store_id = s.id
WHERE ($1::text IS NULL OR s.id = $1) AND ($2::text IS NULL OR s.id = $2) ORDER BY s.name

-- name: console_dash_counts
-- everything not delivered (the backlog and dead letters: a small share of the table, via outbox_console_status)
SELECT store_id, status, count(*) AS n FROM outbox
WHERE status IN ('pending', 'leased', 'retrying', 'dead')
  AND ($1::text IS NULL OR store_id = $1) AND ($2::text IS NULL OR store_id = $2)
GROUP BY store_id, status

-- name: console_dash_delivered
-- delivered in the last $3 hours, per store (via outbox_console_delivered)
SELECT store_id, count(*) AS n FROM outbox
WHERE delivered_at > now() - make_interval(hours => $3)
  AND ($1::text IS NULL OR store_id = $1) AND ($2::text IS NULL OR store_id = $2)
GROUP BY store_id

-- name: console_dash_lag
-- event received -> delivered: percentiles over the $4 most recent deliveries of the last $3 hours
-- (a bounded sample: the newest deliveries by index, one events lookup each, whatever the table size)
WITH d AS (
    SELECT o.delivered_at, o.delivered_event_id FROM outbox o
    WHERE o.delivered_at > now() - make_interval(hours => $3)
      AND ($1::text IS NULL OR o.store_id = $1) AND ($2::text IS NULL OR o.store_id = $2)
    ORDER BY o.delivered_at DESC
    LIMIT $4
)
SELECT count(*) AS n,
       percentile_cont(ARRAY[0.5, 0.9, 0.95, 0.99]) WITHIN GROUP (
           ORDER BY extract(epoch FROM d.delivered_at - e.received_at)) AS p
FROM d JOIN events e ON e.id = d.delivered_event_id

-- name: console_dash_freshness
-- freshness: store change (the delivered event's version: WooCommerce date_modified_gmt, at most its arrival, at
-- the earliest when the store was added) -> written to Salesforce (delivered_at). Percentiles per store and in total
-- (store_id NULL) over each store's $4 most recent deliveries of the last $3 hours. Backfills and manual syncs
-- re-send old records: not changes, left out.
WITH d AS (
    SELECT s.id AS store_id, s.created_at AS store_added_at, x.delivered_at, x.delivered_event_id
    FROM stores s CROSS JOIN LATERAL (
        SELECT o.delivered_at, o.delivered_event_id FROM outbox o
        WHERE o.store_id = s.id AND o.destination = 'salesforce' AND o.status = 'delivered'
          AND o.delivered_at > now() - make_interval(hours => $3)
        ORDER BY o.updated_at DESC  -- outbox_status: a delivered row's updated_at is its delivery
        LIMIT $4
    ) x
    WHERE ($1::text IS NULL OR s.id = $1) AND ($2::text IS NULL OR s.id = $2)
)
SELECT d.store_id, count(*) AS n,
       percentile_cont(ARRAY[0.5, 0.9, 0.95, 0.99]) WITHIN GROUP (ORDER BY extract(epoch FROM
           d.delivered_at - greatest(least(e.version, e.received_at), d.store_added_at))) AS p
FROM d JOIN events e ON e.id = d.delivered_event_id
WHERE e.source NOT IN ('backfill', 'manual')
GROUP BY GROUPING SETS ((d.store_id), ())

-- name: console_dash_outcomes
-- delivery outcomes per hour over the last $3 hours (the chart)
SELECT date_trunc('hour', started_at) AS hour, outcome, count(*) AS n FROM attempts
WHERE started_at > now() - make_interval(hours => $3)
  AND ($1::text IS NULL OR store_id = $1) AND ($2::text IS NULL OR store_id = $2)
GROUP BY 1, 2 ORDER BY 1

-- name: console_dash_budget
-- the delivery agent's view of each store's Salesforce API allocation (sf_budget, migration 0002)
SELECT store_id, api_used, api_max, budget_share, paused, paused_until, checked_at, flush_window_s FROM sf_budget
WHERE ($1::text IS NULL OR store_id = $1) AND ($2::text IS NULL OR store_id = $2) ORDER BY store_id

-- name: console_table_exists
SELECT to_regclass($1) IS NOT NULL

-- operators, sessions, tokens --

-- name: console_insert_operator
INSERT INTO operators (id, email, password_hash, role, store_id) VALUES ($1, $2, $3, $4, $5)
RETURNING id, email, role, store_id, created_at

-- name: console_operator_by_email
SELECT id, email, password_hash, role, store_id, disabled FROM operators WHERE email = $1

-- name: console_list_operators
SELECT id, email, role, store_id, disabled, last_login_at, created_at FROM operators ORDER BY email

-- name: console_update_operator_password
UPDATE operators SET password_hash = $2, updated_at = now() WHERE id = $1

-- name: console_operator_login
UPDATE operators SET last_login_at = now() WHERE id = $1

-- name: console_set_operator_disabled
UPDATE operators SET disabled = $2, updated_at = now() WHERE email = $1 RETURNING id

-- name: console_insert_session
INSERT INTO console_sessions (token_sha256, operator_id, csrf_token, ip, expires_at)
VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5::float8))

-- name: console_get_session
SELECT s.csrf_token, s.expires_at, o.id, o.email, o.role, o.store_id
FROM console_sessions s JOIN operators o ON o.id = s.operator_id
WHERE s.token_sha256 = $1 AND s.expires_at > now() AND NOT o.disabled

-- name: console_delete_session
DELETE FROM console_sessions WHERE token_sha256 = $1

-- name: console_purge_sessions
DELETE FROM console_sessions WHERE expires_at < now()

-- name: console_insert_token
INSERT INTO api_tokens (id, token_sha256, operator_id, name, expires_at) VALUES ($1, $2, $3, $4, $5)
RETURNING id, name, created_at, expires_at

-- name: console_get_token
SELECT t.id AS token_id, o.id, o.email, o.role, o.store_id
FROM api_tokens t JOIN operators o ON o.id = t.operator_id
WHERE t.token_sha256 = $1 AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now())
  AND NOT o.disabled

-- name: console_touch_token
UPDATE api_tokens SET last_used_at = now()
WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')

-- name: console_list_tokens
SELECT t.id, t.name, o.email, t.created_at, t.expires_at, t.last_used_at, t.revoked_at
FROM api_tokens t JOIN operators o ON o.id = t.operator_id ORDER BY t.created_at

-- name: console_revoke_token
UPDATE api_tokens SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL RETURNING id

-- audit, replays --

-- name: console_insert_audit
INSERT INTO audit_log (actor, operator_id, action, store_id, target, params, result, ip)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
RETURNING id, at

-- name: console_list_audit
-- newest first, keyset on id ($3); $1 scope store, $2 action
SELECT id, at, actor, action, store_id, target, params, result, ip FROM audit_log
WHERE ($1::text IS NULL OR store_id = $1) AND ($2::text IS NULL OR action = $2)
  AND ($3::bigint IS NULL OR id < $3)
ORDER BY id DESC LIMIT $4

-- name: console_insert_replay
INSERT INTO replays (id, requested_by, filter, total) VALUES ($1, $2, $3, $4) RETURNING id, started_at

-- name: console_replay_progress
UPDATE replays SET replayed = replayed + $2 WHERE id = $1

-- name: console_finish_replay
UPDATE replays SET status = $2, error = $3, finished_at = now() WHERE id = $1

-- name: console_get_replay
SELECT id, requested_by, filter, status, total, replayed, error, started_at, finished_at FROM replays WHERE id = $1

-- customer email lookup, GDPR, retention --

-- name: console_entities_by_email
SELECT store_id, resource, resource_id FROM entity_emails
WHERE email_sha256 = $1 AND ($2::text IS NULL OR store_id = $2)
ORDER BY store_id, resource, resource_id

-- name: console_events_for_erase
SELECT e.id, e.store_id, e.resource, e.resource_id, e.payload FROM events e
JOIN unnest($1::text[], $2::text[], $3::bigint[]) AS t(store_id, resource, resource_id)
  ON e.store_id = t.store_id AND e.resource = t.resource AND e.resource_id = t.resource_id

-- name: console_orders_by_customer
-- a registered customer's orders whatever their billing email ($1 stores, $2 customer ids as text; index
-- events_order_customer, migration 0009)
SELECT DISTINCT e.store_id, e.resource, e.resource_id FROM events e
JOIN unnest($1::text[], $2::text[]) AS t(store_id, customer_id)
  ON e.store_id = t.store_id AND (e.payload->>'customer_id') = t.customer_id
WHERE e.resource = 'order' AND (e.payload->>'customer_id') <> '0'

-- name: twoway_states_for_erase
SELECT s.fields, s.wc_written FROM twoway_state s
JOIN unnest($1::text[], $2::text[], $3::bigint[]) AS t(store_id, resource, resource_id)
  ON s.store_id = t.store_id AND s.resource = t.resource AND s.resource_id = t.resource_id

-- name: console_erase_twoway_state
-- the two-way sync state holds field values (phone, street) both sides agreed on or changed
DELETE FROM twoway_state s
USING unnest($1::text[], $2::text[], $3::bigint[]) AS t(store_id, resource, resource_id)
WHERE s.store_id = t.store_id AND s.resource = t.resource AND s.resource_id = t.resource_id

-- name: console_twoway_conflicts_for_erase
SELECT c.id, c.field, c.winner_value, c.loser_value FROM twoway_conflicts c
JOIN unnest($1::text[], $2::text[], $3::bigint[]) AS t(store_id, resource, resource_id)
  ON c.store_id = t.store_id AND c.resource = t.resource AND c.resource_id = t.resource_id

-- name: console_erase_twoway_conflicts
UPDATE twoway_conflicts c SET winner_value = t.winner_value, loser_value = t.loser_value
FROM unnest($1::bigint[], $2::text[], $3::text[]) AS t(id, winner_value, loser_value) WHERE c.id = t.id

-- name: console_erase_events
UPDATE events e SET payload = t.payload::json, erased_at = now()
FROM unnest($1::text[], $2::text[]) AS t(id, payload) WHERE e.id = t.id

-- name: console_attempts_for_erase
SELECT a.id, a.request_summary, a.error FROM attempts a
JOIN unnest($1::text[], $2::text[], $3::bigint[]) AS t(store_id, resource, resource_id)
  ON a.store_id = t.store_id AND a.resource = t.resource AND a.resource_id = t.resource_id

-- name: console_erase_attempts
UPDATE attempts a SET request_summary = t.summary::jsonb, error = t.error
FROM unnest($1::text[], $2::text[], $3::text[]) AS t(id, summary, error) WHERE a.id = t.id

-- name: console_erase_outbox_errors
-- Salesforce error messages can quote field values
UPDATE outbox o SET last_error = NULL
FROM unnest($1::text[], $2::text[], $3::bigint[]) AS t(store_id, resource, resource_id)
WHERE o.store_id = t.store_id AND o.resource = t.resource AND o.resource_id = t.resource_id
  AND o.last_error IS NOT NULL

-- name: console_delete_entity_emails
DELETE FROM entity_emails WHERE email_sha256 = $1 AND ($2::text IS NULL OR store_id = $2)

-- name: console_delete_entities_emails
-- the erased entities' email hashes ($4: every email their events held: an order's other billing email, the
-- account's own), by primary key
DELETE FROM entity_emails m
USING unnest($1::text[], $2::text[], $3::bigint[]) AS t(store_id, resource, resource_id)
WHERE m.email_sha256 = ANY($4::bytea[])
  AND m.store_id = t.store_id AND m.resource = t.resource AND m.resource_id = t.resource_id

-- name: purge_delivered_payloads
-- retention: payloads of events at or before their entity's delivered version, older than $1 days,
-- replaced by a marker; at most $2 rows per call (the caller loops)
WITH p AS (
    SELECT e.id FROM events e
    JOIN outbox o ON o.store_id = e.store_id AND o.resource = e.resource AND o.resource_id = e.resource_id
                 AND o.destination = 'salesforce'
    WHERE e.received_at < now() - make_interval(days => $1) AND e.purged_at IS NULL
      AND o.delivered_seq IS NOT NULL AND e.seq <= o.delivered_seq
    LIMIT $2
)
UPDATE events e SET payload = '{"purged": true}'::json, purged_at = now() FROM p WHERE e.id = p.id

-- alerts --

-- name: alerts_dead_letters
SELECT store_id, count(*) AS n, max(updated_at) AS newest,
       mode() WITHIN GROUP (ORDER BY last_error_code) AS top_error
FROM outbox WHERE status = 'dead' GROUP BY store_id

-- name: outbox_oldest_undelivered
-- lag, per store: the age in seconds of the oldest change not yet delivered, whatever it waits for (due, leased,
-- retrying later, paused for the API budget or a failing connection; dead letters have their own alert), and how
-- many entities wait. A row's waiting changes are its events newer than what was delivered (by version, then
-- arrival). A change's time is the store's (the event's version, date_modified_gmt: a missed webhook counts from the
-- change, not from when the reconciler found it), at most its arrival (a store clock ahead) and at the earliest
-- when the store was added; a backfill or manual sync re-sends a record: from its arrival.
-- $1 scope store, $2 store filter, $3 destination (NULL = both).
SELECT o.store_id, count(*) AS n, extract(epoch FROM now() - min(w.changed_at))::float8 AS age_s,
       min(w.changed_at) AS oldest_change_at
FROM outbox o
JOIN stores s ON s.id = o.store_id
CROSS JOIN LATERAL (
    SELECT min(CASE WHEN e.source IN ('backfill', 'manual') THEN e.received_at
                    ELSE greatest(least(e.version, e.received_at), s.created_at) END) AS changed_at
    FROM events e
    WHERE e.store_id = o.store_id AND e.resource = o.resource AND e.resource_id = o.resource_id
      AND e.seq <= o.head_seq AND (e.source = 'salesforce') = (o.destination = 'woocommerce')
      AND (o.delivered_seq IS NULL OR (e.version, e.seq) > (o.delivered_version, o.delivered_seq))
) w
WHERE o.status IN ('pending', 'retrying', 'leased')
  AND ($1::text IS NULL OR o.store_id = $1) AND ($2::text IS NULL OR o.store_id = $2)
  AND ($3::text IS NULL OR o.destination = $3)
GROUP BY o.store_id

-- name: alerts_sf_connection
-- active stores whose Salesforce connection failed at the agent's last try (sf_connection)
SELECT c.store_id, s.name, c.error_code, c.error, c.failing_since, c.failures FROM sf_connection c
JOIN stores s ON s.id = c.store_id
WHERE c.status = 'failing' AND s.status = 'active' AND s.sf_credentials IS NOT NULL

-- name: alerts_budget
SELECT store_id, api_used, api_max FROM sf_budget WHERE api_max > 0

-- name: alerts_keys_failed
SELECT id, name, keys_error FROM stores WHERE keys_status = 'failed' AND status = 'active'

-- name: alerts_list
SELECT key, kind, store_id, status, summary, first_fired_at, last_notified_at, resolved_at, updated_at
FROM alerts WHERE ($1::text IS NULL OR status = $1) ORDER BY updated_at DESC LIMIT 200

-- name: alerts_upsert_firing
-- returns the row; last_notified_at tells whether (and when) it was already announced
INSERT INTO alerts AS a (key, kind, store_id, status, summary) VALUES ($1, $2, $3, 'firing', $4)
ON CONFLICT (key) DO UPDATE SET summary = EXCLUDED.summary, updated_at = now(),
    status = 'firing',
    first_fired_at = CASE WHEN a.status = 'resolved' THEN now() ELSE a.first_fired_at END,
    last_notified_at = CASE WHEN a.status = 'resolved' THEN NULL ELSE a.last_notified_at END,
    resolved_at = NULL
RETURNING key, kind, store_id, summary, first_fired_at, last_notified_at

-- name: alerts_mark_notified
UPDATE alerts SET last_notified_at = now() WHERE key = ANY($1::text[])

-- name: alerts_resolve
UPDATE alerts SET status = 'resolved', resolved_at = now(), updated_at = now()
WHERE status = 'firing' AND NOT (key = ANY($1::text[]))
RETURNING key, kind, store_id, summary, last_notified_at

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
-- the newest version the outbox has seen of each entity, and what it was (updated/trashed/deleted ...);
-- stub: a trash/delete webhook's bare {"id": N}, without the record
SELECT o.resource_id, o.head_version, e.action, (e.payload->>'status') IS NULL AS stub
FROM outbox o LEFT JOIN events e ON e.id = o.head_event_id
WHERE o.store_id = $1 AND o.destination = 'salesforce' AND o.resource = $2 AND o.resource_id = ANY($3::bigint[])

-- name: reconcile_heads_payload
SELECT o.resource_id, o.head_version, e.action, (e.payload->>'status') IS NULL AS stub, e.payload
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
-- $11: the run's webhook check (agent/reconcile/webhooks.py; NULL when the run failed before it)
INSERT INTO reconcile_runs (id, store_id, started_at, duration_ms, outcome, requests, checked, missing, missing_ids, error,
                            webhooks)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)

-- name: reconcile_save_webhooks
-- the store's native webhooks as this run found them ($2 problems, $3 state: store_webhooks, migration 0015)
INSERT INTO store_webhooks (store_id, checked_at, problems, state) VALUES ($1, now(), $2, $3)
ON CONFLICT (store_id) DO UPDATE SET checked_at = now(), problems = EXCLUDED.problems, state = EXCLUDED.state

-- name: store_webhooks_get
-- the store's native webhooks as the reconciler last found them (the plugin's health check)
SELECT checked_at, problems, state FROM store_webhooks WHERE store_id = $1

-- name: alerts_webhooks
-- stores whose native webhooks need a person (or were disabled by WooCommerce and re-activated in the last run)
SELECT w.store_id, s.name, w.state FROM store_webhooks w JOIN stores s ON s.id = w.store_id
WHERE w.problems > 0 ORDER BY w.store_id

-- name: console_dash_webhooks
-- the dashboard's webhook state per store ($1 scope store, $2 store filter)
SELECT store_id, checked_at, problems, state FROM store_webhooks
WHERE ($1::text IS NULL OR store_id = $1) AND ($2::text IS NULL OR store_id = $2)

-- name: reconcile_runs
-- the store's gap report, newest first
SELECT id, started_at, duration_ms, outcome, requests, checked, missing, missing_ids, error, webhooks
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

-- name: job_claim_next_of_kind
-- the oldest job of kind $3 that is due: requested, or running with its lease expired (a postponed retry whose
-- backoff is over, or an agent that died); SKIP LOCKED so two agents never take the same job. Counts the attempt.
-- $1 owner, $2 lease seconds, $4 jobs this poll already ran (a job retried at once is not run twice in one poll)
UPDATE jobs SET status = 'running', lease_owner = $1, lease_expires_at = now() + make_interval(secs => $2::float8),
    attempts = attempts + 1, updated_at = now()
WHERE id = (
    SELECT id FROM jobs
    WHERE kind = $3::text AND (status = 'requested' OR (status = 'running' AND lease_expires_at < now()))
      AND id <> ALL($4::text[])
    ORDER BY created_at
    LIMIT 1
    FOR UPDATE SKIP LOCKED
)
RETURNING id, store_id, params, progress, requested_by, attempts, created_at, error

-- name: job_finish_with_progress
-- the end of a job together with its final progress ($5); 0 rows = the lease was lost
UPDATE jobs SET status = $3, error = $4, progress = $5, lease_owner = NULL, lease_expires_at = NULL, updated_at = now()
WHERE id = $1 AND lease_owner = $2

-- name: jobs_by_ids
-- erasure jobs' state for the API, the console and the CLI (which waits on them)
SELECT id, store_id, kind, status, progress, error, attempts, requested_by, created_at, updated_at
FROM jobs WHERE id = ANY($1::text[]) ORDER BY created_at, id

-- name: console_dash_reconcile
-- the reconciler's last runs and gap reports (reconcile_runs, migration 0003)
SELECT id, store_id, started_at, duration_ms, outcome, requests, checked, missing, missing_ids, error
FROM reconcile_runs
WHERE ($1::text IS NULL OR store_id = $1) AND ($2::text IS NULL OR store_id = $2)
ORDER BY started_at DESC LIMIT $3

-- name: console_reconcile_run
-- one gap report ($2: scope store or NULL)
SELECT id, store_id, started_at, duration_ms, outcome, requests, checked, missing, missing_ids, error, webhooks
FROM reconcile_runs WHERE id = $1 AND ($2::text IS NULL OR store_id = $2)

-- name: console_waiting_since
-- when the oldest change not yet in Salesforce was received (rows not delivered: waiting, retrying or dead), per
-- the first event after the delivered one; NULL when nothing waits ($1 scope store, $2 store filter)
SELECT min(e.received_at) AS since
FROM outbox o
CROSS JOIN LATERAL (SELECT received_at FROM events ev
                    WHERE ev.store_id = o.store_id AND ev.resource = o.resource AND ev.resource_id = o.resource_id
                      AND ev.seq > coalesce(o.delivered_seq, 0)
                    ORDER BY ev.seq LIMIT 1) e
WHERE o.destination = 'salesforce' AND o.status <> 'delivered'
  AND ($1::text IS NULL OR o.store_id = $1) AND ($2::text IS NULL OR o.store_id = $2)
-- delivery ---------------------------------------------------------------------------------
-- the agent: claim with a lease, complete record by record, attempts, Salesforce id map, budget, replay

-- name: claim_outbox
-- one statement for both destinations ($4: 'salesforce' or 'woocommerce'): up to $2 rows that are due
-- (pending/retrying) or whose lease expired (a crashed agent), skipping rows other workers hold (SKIP LOCKED) and
-- stores that cannot take them. What differs per destination is a test on $4 (one plan shape, one statement):
-- - the store needs that destination's connection: Salesforce credentials, or WooCommerce URL and REST keys;
-- - Salesforce only: stores paused for their API budget wait (sf_budget), and customers and products go before
--   orders (an order references them); WooCommerce writes are independent, oldest first.
-- $1 lease owner, $2 limit, $3 lease seconds, $4 destination, $5 stores held back (Salesforce: their flush window
-- is still open, issue 19)
WITH c AS (
    SELECT o.store_id, o.destination, o.resource, o.resource_id
    FROM outbox o
    WHERE o.destination = $4::text
      AND ((o.status IN ('pending', 'retrying') AND o.available_at <= now())
           OR (o.status = 'leased' AND o.lease_expires_at < now()))
      AND EXISTS (SELECT 1 FROM stores s WHERE s.id = o.store_id AND s.status = 'active'
                  AND CASE WHEN $4::text = 'salesforce' THEN s.sf_credentials IS NOT NULL
                           ELSE s.wc_url IS NOT NULL AND s.wc_credentials IS NOT NULL END)
      AND ($4::text <> 'salesforce'
           OR NOT EXISTS (SELECT 1 FROM sf_budget b WHERE b.store_id = o.store_id AND b.paused
                          AND b.paused_until > now()))
      AND NOT (o.store_id = ANY($5::text[]))
    ORDER BY (o.resource = 'order' AND $4::text = 'salesforce'), o.available_at
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

-- name: latest_full_payloads
-- for trash stubs (a trash webhook carries only {"id": N}; a stub has no 'status'): the newest event of each entity
-- that carries the whole record, when Salesforce has not got it yet (newer than the last delivered head: its create
-- or update was still retrying when the trash came), so the record is written whole, as trashed
-- $1 store, $2 resource, $3 entity ids
SELECT f.resource_id, f.id, f.payload
FROM outbox o
CROSS JOIN LATERAL (
    SELECT e.resource_id, e.id, e.seq, e.payload FROM events e
    WHERE e.store_id = o.store_id AND e.resource = o.resource AND e.resource_id = o.resource_id
      AND e.action <> 'deleted' AND (e.payload->>'status') IS NOT NULL
    ORDER BY e.version DESC, e.seq DESC
    LIMIT 1
) f
WHERE o.store_id = $1 AND o.destination = 'salesforce' AND o.resource = $2 AND o.resource_id = ANY($3::bigint[])
  AND f.seq > coalesce(o.delivered_seq, 0)

-- name: complete_outbox
-- record-by-record outcome of one lease ($1 = owner, $3 = destination: 'salesforce' or 'woocommerce'). $2: one JSON
-- object per claimed row, by column name (shared.outbox.completions_json; no positional arrays whose order could
-- swap values). An array of objects rather than one JSON array: the planner knows how many rows an unnest of a
-- parameter yields (json_to_recordset is always guessed at 100, and a batch of thousands then joined the outbox
-- by a nested loop over every pair: 30x slower in bench.drain); the keys are declared COLLATE "C" like the outbox's,
-- so the join can be an outbox_pkey lookup per row. Marked delivered only if the head did not move
-- meanwhile (a newer event arrived while leased -> pending again, so it is delivered too). A row whose lease was
-- lost (expired and taken by another agent) is left alone. The rows are locked first in the order ingest_events
-- locks them (store, resource, id): a concurrent ingest cannot deadlock.
WITH locked AS (
    SELECT t.*
    FROM unnest($2::text[]) AS j(doc)
    CROSS JOIN LATERAL json_to_record(j.doc::json)
         AS t(store_id text COLLATE "C", resource text COLLATE "C", resource_id bigint, outcome text, seq bigint,
              event_id text COLLATE "C", version timestamptz, attempts int, delay_s float8, sf_id text,
              error_code text, error text, waiting_for text)
    JOIN outbox o ON o.store_id = t.store_id AND o.destination = $3::text AND o.resource = t.resource
     AND o.resource_id = t.resource_id
    -- IS TRUE: not an index condition, so each row is found by its primary key (with stale statistics that take
    -- leased rows for rare, outbox_status was chosen instead and scanned every leased row of the store per row)
    WHERE (o.status = 'leased' AND o.lease_owner = $1) IS TRUE
    ORDER BY o.store_id, o.resource, o.resource_id
    FOR UPDATE OF o
)
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
    waiting_for = CASE WHEN o.head_seq <> t.seq THEN NULL ELSE t.waiting_for END,
    updated_at = now()
FROM locked t
WHERE o.store_id = t.store_id AND o.destination = $3::text AND o.resource = t.resource
  AND o.resource_id = t.resource_id
RETURNING o.store_id, o.resource, o.resource_id, o.status

-- name: extend_leases
-- locks in ingest_events' order (no deadlock with a concurrent ingest)
WITH mine AS (
    SELECT store_id, destination, resource, resource_id FROM outbox
    WHERE status = 'leased' AND lease_owner = $1
    ORDER BY store_id, destination, resource, resource_id
    FOR UPDATE
)
UPDATE outbox o SET lease_expires_at = now() + make_interval(secs => $2::float8)
FROM mine m
WHERE o.store_id = m.store_id AND o.destination = m.destination AND o.resource = m.resource
  AND o.resource_id = m.resource_id

-- name: release_leases
-- clean shutdown: hand the owner's rows back without counting an attempt (each agent and two-way writer has its own
-- owner, so no destination filter is needed)
UPDATE outbox SET status = CASE WHEN attempts > 0 THEN 'retrying' ELSE 'pending' END,
                  lease_owner = NULL, lease_expires_at = NULL, updated_at = now()
WHERE status = 'leased' AND lease_owner = $1

-- name: insert_attempts
-- $1: one JSON array with an object per try, by column name (shared.outbox.attempts_json); $2 when the batch
-- started; $3 the destination ('salesforce' or 'woocommerce')
INSERT INTO attempts (id, store_id, destination, resource, resource_id, event_id, started_at, duration_ms, outcome,
                      status_code, error_code, error, sf_id, request_summary)
SELECT id, store_id, $3::text, resource, resource_id, event_id, $2::timestamptz, duration_ms, outcome, status_code,
       error_code, error, sf_id, request_summary
FROM json_to_recordset($1::text::json)
     AS t(id text, store_id text, resource text, resource_id bigint, event_id text, duration_ms int, outcome text,
          status_code int, error_code text, error text, sf_id text, request_summary jsonb)

-- name: lookup_sf_records
-- which of these (sobject, Wooforce_Key__c) Salesforce already holds for store $1
SELECT r.sobject, r.wooforce_key, r.sf_id
FROM unnest($2::text[], $3::text[]) AS t(sobject, wooforce_key)
JOIN salesforce_records r ON r.store_id = $1 AND r.sobject = t.sobject AND r.wooforce_key = t.wooforce_key

-- name: lookup_order_items
-- the OrderItems the map holds under these orders ($2: order keys); salesforce_records_order_items
SELECT r.wooforce_key, r.sf_id
FROM unnest($2::text[]) AS t(order_key)
JOIN salesforce_records r ON r.store_id = $1 AND r.sobject = 'OrderItem'
 AND split_part(r.wooforce_key, ':item:', 1) = t.order_key

-- name: lookup_line_items
-- the line records of sObject $3 (OpportunityLineItem: order_model = "opportunity") the map holds under these
-- orders ($2: order keys); lookup_order_items is the OrderItem case
SELECT r.wooforce_key, r.sf_id
FROM unnest($2::text[]) AS t(order_key)
JOIN salesforce_records r ON r.store_id = $1 AND r.sobject = $3
 AND split_part(r.wooforce_key, ':item:', 1) = t.order_key

-- name: lookup_refunds
-- the Woo_Refund__c records (mapping option refunds = "records") the map holds under these orders ($2: order keys)
SELECT r.wooforce_key, r.sf_id
FROM unnest($2::text[]) AS t(order_key)
JOIN salesforce_records r ON r.store_id = $1 AND r.sobject = 'Woo_Refund__c'
 AND split_part(r.wooforce_key, ':refund:', 1) = t.order_key

-- name: orders_unconfirmed
-- the orders of $2 with a write of unknown outcome (a 5xx or timeout: Salesforce may have applied it, so the map
-- may lack order lines Salesforce holds) since their last delivery: their lines are read from Salesforce first
SELECT DISTINCT a.resource_id
FROM attempts a
LEFT JOIN outbox o ON o.store_id = a.store_id AND o.destination = 'salesforce' AND o.resource = 'order'
 AND o.resource_id = a.resource_id
WHERE a.store_id = $1 AND a.destination = 'salesforce' AND a.resource = 'order' AND a.resource_id = ANY($2::bigint[])
  AND a.request_summary ? 'ambiguous' AND (o.delivered_at IS NULL OR a.started_at > o.delivered_at)

-- name: upsert_sf_records
INSERT INTO salesforce_records AS r (store_id, sobject, wooforce_key, sf_id)
SELECT store_id, sobject, wooforce_key, sf_id
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS t(store_id, sobject, wooforce_key, sf_id)
ORDER BY store_id, sobject, wooforce_key
ON CONFLICT (store_id, sobject, wooforce_key) DO UPDATE SET sf_id = EXCLUDED.sf_id, updated_at = now()
WHERE r.sf_id IS DISTINCT FROM EXCLUDED.sf_id

-- name: upsert_sf_budget
-- $2/$3 NULL: not seen yet (the daily limit refused the sign-in): the last known values stay. $7 the flush window
-- in force after this reading (migration 0012)
INSERT INTO sf_budget AS b (store_id, api_used, api_max, budget_share, paused, paused_until, checked_at,
                            flush_window_s)
VALUES ($1, COALESCE($2::int, 0), COALESCE($3::int, 0), $4, $5, $6, now(), $7)
ON CONFLICT (store_id) DO UPDATE SET api_used = COALESCE($2::int, b.api_used), api_max = COALESCE($3::int, b.api_max),
    budget_share = EXCLUDED.budget_share, paused = EXCLUDED.paused, paused_until = EXCLUDED.paused_until,
    checked_at = now(), flush_window_s = EXCLUDED.flush_window_s

-- name: metrics_flush_windows
-- the collector's /metrics: each store's flush window in force (sf_budget.flush_window_s, recorded by the agent)
SELECT store_id, flush_window_s FROM sf_budget WHERE flush_window_s IS NOT NULL

-- name: sf_flush_due
-- the flush window (issue 19): per store with Salesforce rows due, how long the oldest has waited, how many there
-- are and the window recorded with the last budget reading (NULL: none yet). Read before a live claim only (not
-- while a backlog lasts: it counts the due rows)
SELECT o.store_id, EXTRACT(EPOCH FROM now() - min(o.available_at))::float8 AS waited_s, count(*)::int AS n,
       b.flush_window_s
FROM outbox o
LEFT JOIN sf_budget b ON b.store_id = o.store_id
WHERE o.destination = 'salesforce' AND ((o.status IN ('pending', 'retrying') AND o.available_at <= now())
                                        OR (o.status = 'leased' AND o.lease_expires_at < now()))
GROUP BY o.store_id, b.flush_window_s

-- name: sf_connection_record
-- after a batch: per store tried, whether its Salesforce connection (sign-in, budget check) worked. $1 store ids,
-- $2 error codes (NULL = it worked), $3 error messages. A failure keeps the streak's first time (failing_since);
-- an unchanged `ok` is rewritten at most once a minute.
INSERT INTO sf_connection AS c (store_id, status, error_code, error, failing_since, failures, last_ok_at)
SELECT t.store_id, CASE WHEN t.code IS NULL THEN 'ok' ELSE 'failing' END, t.code, t.error,
       CASE WHEN t.code IS NOT NULL THEN now() END, (t.code IS NOT NULL)::int, CASE WHEN t.code IS NULL THEN now() END
FROM unnest($1::text[], $2::text[], $3::text[]) AS t(store_id, code, error)
JOIN stores s ON s.id = t.store_id  -- a store removed meanwhile: nothing to record
ORDER BY t.store_id
ON CONFLICT (store_id) DO UPDATE SET
    status = EXCLUDED.status, error_code = EXCLUDED.error_code, error = EXCLUDED.error,
    failing_since = CASE WHEN EXCLUDED.status = 'ok' THEN NULL
                         WHEN c.status = 'failing' THEN c.failing_since ELSE now() END,
    failures = CASE WHEN EXCLUDED.status = 'ok' THEN 0 ELSE c.failures + 1 END,
    last_ok_at = COALESCE(EXCLUDED.last_ok_at, c.last_ok_at),
    checked_at = now()
WHERE c.status <> EXCLUDED.status OR EXCLUDED.status = 'failing' OR c.checked_at < now() - interval '1 minute'

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
-- Salesforce error code $3, resource ids $4. Rows waiting for a record that failed permanently (waiting_for: an
-- order whose customer was rejected) carry that record's error code and are replayed with it
UPDATE outbox SET status = 'pending', attempts = 0, available_at = now(), updated_at = now()
WHERE (status = 'dead' OR (status = 'retrying' AND waiting_for IS NOT NULL))
  AND store_id = $1 AND ($2::text IS NULL OR resource = $2)
  AND ($3::text IS NULL OR last_error_code = $3) AND ($4::bigint[] IS NULL OR resource_id = ANY($4::bigint[]))
RETURNING resource, resource_id

-- name: wake_waiting
-- rows of store $1 waiting for one of these records ($2: Wooforce keys of customers, guest buyers, products just
-- written): due now. Locked in ingest_events' order (outbox_waiting: only waiting rows are looked at)
WITH w AS (
    SELECT store_id, destination, resource, resource_id FROM outbox
    WHERE store_id = $1 AND destination = 'salesforce' AND waiting_for = ANY($2::text[]) AND status = 'retrying'
    ORDER BY store_id, destination, resource, resource_id
    FOR UPDATE
)
UPDATE outbox o SET available_at = now(), updated_at = now()
FROM w
WHERE o.store_id = w.store_id AND o.destination = w.destination AND o.resource = w.resource
  AND o.resource_id = w.resource_id

-- name: delete_sf_records
-- records deleted in Salesforce behind our back: recreated (with create-only fields) next time
DELETE FROM salesforce_records r
USING unnest($2::text[], $3::text[]) AS t(sobject, wooforce_key)
WHERE r.store_id = $1 AND r.sobject = t.sobject AND r.wooforce_key = t.wooforce_key

-- twoway ---------------------------------------------------------------------------------
-- Salesforce -> WooCommerce (agent/sfpoll.py, agent/wcwrite.py, agent/ownership.py; migration 0005)

-- name: twoway_poll_stores
-- stores the poller serves: active, with both a Salesforce connection and WooCommerce REST keys
SELECT id FROM stores
WHERE status = 'active' AND sf_credentials IS NOT NULL AND wc_url IS NOT NULL AND wc_credentials IS NOT NULL
ORDER BY id

-- name: job_find_open_import
-- an unfinished import from Salesforce of this store with the same parameters: re-running resumes it
SELECT id FROM jobs
WHERE store_id = $1 AND kind = 'import' AND status IN ('requested', 'running', 'failed') AND params = $2::jsonb
ORDER BY created_at DESC LIMIT 1

-- name: twoway_keys_by_sf_ids
-- the keys of records Wooforce wrote (or stamped) in Salesforce, by their Salesforce Ids (records deleted there:
-- getDeleted answers Ids only); a store's rows of one sObject, so no index on sf_id is needed for these few
SELECT sf_id, wooforce_key FROM salesforce_records WHERE store_id = $1 AND sobject = $2 AND sf_id = ANY($3::text[])

-- name: twoway_poll_cursors
SELECT sobject, cursor_at FROM sf_poll_state WHERE store_id = $1

-- name: twoway_save_poll
-- $1 store, $2 sObjects, $3 new cursors (NULL keeps the old one), $4 API calls, $5 rows, $6 changes, $7 error
INSERT INTO sf_poll_state AS p (store_id, sobject, cursor_at, last_run_at, last_api_calls, last_rows, last_changes,
                                last_error)
SELECT $1, t.sobject, t.cursor_at, now(), $4, t.rows, t.changes, $7
FROM unnest($2::text[], $3::timestamptz[], $5::int[], $6::int[]) AS t(sobject, cursor_at, rows, changes)
ON CONFLICT (store_id, sobject) DO UPDATE SET
    cursor_at = GREATEST(p.cursor_at, EXCLUDED.cursor_at), last_run_at = now(),
    last_api_calls = EXCLUDED.last_api_calls, last_rows = EXCLUDED.last_rows,
    last_changes = EXCLUDED.last_changes, last_error = EXCLUDED.last_error, updated_at = now()

-- name: twoway_states
SELECT resource_id, fields, wc_written_version, wc_written
FROM twoway_state WHERE store_id = $1 AND resource = $2 AND resource_id = ANY($3::bigint[])

-- name: twoway_patch_states
-- merge per field: {"Field": {"v": ...}} patches only the keys it names. $5 / $6: what our PUT wrote
-- (NULL keeps the previous record)
INSERT INTO twoway_state AS s (store_id, resource, resource_id, fields, wc_written_version, wc_written)
SELECT $1, $2, t.resource_id, t.patch, t.written_version, t.written
FROM unnest($3::bigint[], $4::jsonb[], $5::timestamptz[], $6::jsonb[])
     AS t(resource_id, patch, written_version, written)
ORDER BY t.resource_id
ON CONFLICT (store_id, resource, resource_id) DO UPDATE SET
    fields = (SELECT COALESCE(jsonb_object_agg(k, COALESCE(s.fields -> k, '{}'::jsonb)
                                                 || COALESCE(EXCLUDED.fields -> k, '{}'::jsonb)), '{}'::jsonb)
              FROM (SELECT jsonb_object_keys(s.fields) UNION SELECT jsonb_object_keys(EXCLUDED.fields)) AS f(k)),
    wc_written_version = COALESCE(EXCLUDED.wc_written_version, s.wc_written_version),
    wc_written = COALESCE(EXCLUDED.wc_written, s.wc_written),
    updated_at = now()

-- name: twoway_wc_heads
-- the newest WooCommerce version of these entities the outbox holds (destination salesforce)
SELECT o.resource_id, o.head_version, e.action, e.payload
FROM outbox o JOIN events e ON e.id = o.head_event_id
WHERE o.store_id = $1 AND o.destination = 'salesforce' AND o.resource = $2 AND o.resource_id = ANY($3::bigint[])

-- name: twoway_insert_conflicts
INSERT INTO twoway_conflicts (store_id, resource, resource_id, field, winner, winner_value, winner_at, loser_value,
                              loser_at)
SELECT $1, t.resource, t.resource_id, t.field, t.winner, t.winner_value, t.winner_at, t.loser_value, t.loser_at
FROM unnest($2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::timestamptz[], $8::text[],
            $9::timestamptz[]) AS t(resource, resource_id, field, winner, winner_value, winner_at, loser_value, loser_at)
ON CONFLICT (store_id, resource, resource_id, field, winner, winner_at, loser_at) DO NOTHING

-- name: twoway_entity_conflicts
SELECT id, field, winner, winner_value, winner_at, loser_value, loser_at, detected_at
FROM twoway_conflicts WHERE store_id = $1 AND resource = $2 AND resource_id = $3
ORDER BY detected_at DESC, id DESC LIMIT $4

-- name: sf_matches_for_keys
-- issue 17: the review-list rows of these entities ($2: Wooforce keys) of store $1 (the agent's adoption reads them)
SELECT wooforce_key, kind, reason, candidates, status, decision, decided_by FROM sf_matches
WHERE store_id = $1 AND wooforce_key = ANY($2::text[])

-- name: sf_matches_record
-- the agent's ambiguous findings, one row per entity ($2 keys, $3 kinds, $4 reasons, $5 candidates as JSON text,
-- $6 statuses, $7 decisions, $8 decided_by): a row already decided by a person keeps its decision
INSERT INTO sf_matches (store_id, wooforce_key, kind, reason, candidates, status, decision, decided_by, decided_at,
                        applied_at)
SELECT $1, k, kd, r, c::jsonb, s, d, b, CASE WHEN d IS NULL THEN NULL ELSE now() END,
       CASE WHEN s = 'applied' THEN now() END
FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[]) AS t(k, kd, r, c, s, d, b)
ON CONFLICT (store_id, wooforce_key) DO UPDATE SET
    reason = EXCLUDED.reason, candidates = EXCLUDED.candidates, status = EXCLUDED.status,
    decision = EXCLUDED.decision, decided_by = EXCLUDED.decided_by, decided_at = EXCLUDED.decided_at,
    applied_at = EXCLUDED.applied_at, updated_at = now()
WHERE sf_matches.status <> 'decided'

-- name: sf_matches_applied
-- decisions the agent applied (the chosen record was stamped, or created): $2 keys
UPDATE sf_matches SET status = 'applied', applied_at = now(), updated_at = now()
WHERE store_id = $1 AND wooforce_key = ANY($2::text[]) AND status = 'decided'

-- name: sf_matches_list
-- the review list of store $1 ($2: a status, NULL for every row), oldest first, at most $3 rows
SELECT store_id, wooforce_key, kind, reason, candidates, status, decision, decided_by, decided_at, applied_at,
       created_at
FROM sf_matches WHERE store_id = $1 AND ($2::text IS NULL OR status = $2)
ORDER BY created_at, wooforce_key LIMIT $3

-- name: sf_matches_decide
-- a person's pick for an open row: $3 a candidate's Id or 'create', $4 who; returns the row (none if not open)
UPDATE sf_matches SET status = 'decided', decision = $3, decided_by = $4, decided_at = now(), updated_at = now()
WHERE store_id = $1 AND wooforce_key = $2 AND status = 'open'
RETURNING wooforce_key, kind, candidates, decision

-- name: sf_matches_replay
-- a person's pick recorded: the dead rows held for it (MATCH_REVIEW) go back to pending: the entity's own row ($2
-- resource, $3 id; NULL for a guest buyer, who has none) and the orders dead on their buyer's match ($4: the text
-- naming the key in their error). The agent applies the pick on that delivery.
UPDATE outbox SET status = 'pending', attempts = 0, available_at = now(), updated_at = now()
WHERE store_id = $1 AND destination = 'salesforce' AND status = 'dead' AND last_error_code = 'MATCH_REVIEW'
  AND ((resource = $2 AND resource_id = $3) OR strpos(last_error, $4) > 0)
RETURNING resource, resource_id

