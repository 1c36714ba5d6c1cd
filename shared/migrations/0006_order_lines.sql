-- Wooforce schema, version 6: find the Salesforce order lines of orders.
-- An order line removed in WooCommerce must be deleted in Salesforce: the agent looks up every OrderItem the map
-- holds under an order ("{order key}:item:{line id}"), by the order key (an equality: a hash join or index probes,
-- never a scan per order).
CREATE INDEX salesforce_records_order_items ON salesforce_records (store_id, (split_part(wooforce_key, ':item:', 1)))
    WHERE sobject = 'OrderItem';
