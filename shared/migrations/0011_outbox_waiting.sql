-- Wooforce schema, version 11: an outbox row can wait for a record another row failed to write (issue 15).

-- An order whose customer, guest buyer or product was rejected by Salesforce for good (INVALID_EMAIL_ADDRESS, a
-- validation rule ...) cannot be delivered before that is fixed. It waits as 'retrying' (no attempt counted, due
-- again after AGENT_DEPENDENCY_WAIT_S) with that record's error as its own, and `waiting_for` names the record
-- (its Wooforce_Key__c). When the record reaches Salesforce the rows waiting for it are due at once (wake_waiting);
-- `outbox replay` takes them with the dead letters of the same error code.
ALTER TABLE outbox ADD COLUMN waiting_for text;
CREATE INDEX outbox_waiting ON outbox (store_id, waiting_for) WHERE waiting_for IS NOT NULL;
