-- Redeliveries and test events each merchant queued in the current UTC minute: one row
-- per merchant, started afresh by the first request of a new minute. In the database so
-- that every notifier replica counts against the same budget.
CREATE TABLE webhook_manual_sends (
    merchant_id  bigint PRIMARY KEY,
    window_start timestamptz NOT NULL,
    used         integer NOT NULL CHECK (used >= 0)
);
