-- Wooforce schema, version 9: a GDPR erasure finds a registered customer's orders by customer id (issue 15).

-- An order whose billing email differs from the account's email is not behind the email's hash
-- (entity_emails): the erasure finds it by `customer_id` (queries.sql: console_orders_by_customer).
-- Guest orders (customer_id 0) are left out of the index.
CREATE INDEX events_order_customer ON events (store_id, (payload->>'customer_id'))
    WHERE resource = 'order' AND (payload->>'customer_id') <> '0';
