-- Budgets of unauthenticated writes (api.py `spend_public_write`): one row per key and
-- fixed window, e.g. "sign-up:client:<client>" per hour, "sign-up:platform" per minute,
-- "invite:client:<client>" per hour, a client being an IPv4 address or an IPv6 /64.
-- In the database, so every auth replica counts against the same budget; windows are
-- purged hourly a day after they began.
CREATE TABLE public_write_counters (
    key           text        NOT NULL,
    window_start  timestamptz NOT NULL,
    count         integer     NOT NULL CHECK (count > 0),
    PRIMARY KEY (key, window_start)
);
CREATE INDEX public_write_counters_window_start ON public_write_counters (window_start);
