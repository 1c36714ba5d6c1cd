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
