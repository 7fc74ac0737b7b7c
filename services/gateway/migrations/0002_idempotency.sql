-- Idempotency-Key records (services/gateway/idempotency.py).
-- One row per caller scope and key. `scope` is "<principal kind>:<subject> <METHOD>
-- <raw path>" ("anonymous" has no subject), so one key means nothing across callers
-- or routes. A request claims its row as 'in_progress' (expires_at = a short lease,
-- so a crashed replica does not block the key for a day); the upstream's answer then
-- makes it 'done' (expires_at = 24 h). Expired rows count as absent: the next request
-- with the key takes the row over, and IdempotencyStore.cleanup() deletes them hourly.
CREATE TABLE idempotency_keys (
    scope        text        NOT NULL,
    key          text        NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    owner        uuid        NOT NULL,  -- the claim; only its holder completes or releases
    fingerprint  bytea       NOT NULL CHECK (length(fingerprint) = 32),
    state        text        NOT NULL CHECK (state IN ('in_progress', 'done')),
    status       smallint    CHECK (status BETWEEN 100 AND 499),
    headers      jsonb,                 -- [[name, value], ...] worth replaying
    body         bytea,                 -- AES-256-GCM: nonce || ciphertext
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    PRIMARY KEY (scope, key),
    CONSTRAINT idempotency_keys_done_has_response CHECK (
        (state = 'done') = (status IS NOT NULL AND headers IS NOT NULL AND body IS NOT NULL))
);

-- For cleanup, which deletes by expires_at across all scopes.
CREATE INDEX idempotency_keys_expires_at ON idempotency_keys (expires_at);
