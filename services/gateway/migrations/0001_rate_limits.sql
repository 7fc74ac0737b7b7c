-- Per-merchant rate-limit counters (services/gateway/ratelimit.py).
-- One row per merchant, window kind and fixed window, aligned to the UTC minute or
-- the UTC day. Every gateway replica increments the same rows, so limits hold across
-- replicas. Rows are deleted by RateLimiter.cleanup() a day after their window ends.
CREATE TABLE rate_limit_counters (
    merchant_id  text        NOT NULL,
    window_kind  text        NOT NULL CHECK (window_kind IN ('minute', 'day')),
    window_start timestamptz NOT NULL,
    count        integer     NOT NULL CHECK (count >= 0),
    PRIMARY KEY (merchant_id, window_kind, window_start),
    CONSTRAINT rate_limit_counters_window_aligned CHECK (
        extract(epoch FROM window_start)
            % CASE window_kind WHEN 'minute' THEN 60 ELSE 86400 END = 0)
) WITH (fillfactor = 70);  -- room for HOT updates: every request updates two rows

-- For cleanup, which deletes by window_start across all merchants.
CREATE INDEX rate_limit_counters_window_start ON rate_limit_counters (window_start);
