-- Wooforce schema, version 6: find the Salesforce order lines of an order by key prefix.
-- An order line removed in WooCommerce must be deleted in Salesforce: the agent looks up every OrderItem the map
-- holds under "{order key}:item:" (a range scan; text_pattern_ops compares bytes whatever the database collation).
CREATE INDEX salesforce_records_order_items ON salesforce_records (store_id, wooforce_key text_pattern_ops)
    WHERE sobject = 'OrderItem';
