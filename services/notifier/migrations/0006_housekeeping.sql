-- Housekeeping (services/notifier/housekeeping.py, docs/housekeeping.md).

-- An event's payload is dropped once it is past its retention and no delivery of it
-- is pending (NULL: pruned; it can no longer be redelivered). The delivery log stays.
ALTER TABLE webhook_events ALTER COLUMN body DROP NOT NULL;

-- What the batches look up: payloads and response bodies still kept, oldest first.
CREATE INDEX webhook_events_payload_kept ON webhook_events (created_at)
    WHERE body IS NOT NULL;
CREATE INDEX webhook_attempts_body_kept ON webhook_attempts (attempted_at)
    WHERE response_body IS NOT NULL;
