-- Housekeeping (services/auth/housekeeping.py, docs/housekeeping.md): the ranges its
-- batched deletes look up, so a batch reads what it deletes and not the whole table.

-- The old sign-in locks: unread since 0006, and no release that read them still runs.
DROP TABLE sign_in_failures;

-- Forgotten sign-in counts: last_at long past (and no delay running).
CREATE INDEX sign_in_throttle_last_at ON sign_in_throttle (last_at);

-- Confirmations used or expired, and refresh tokens expired or revoked (least() skips
-- a NULL: an unused token sorts by its expiry).
CREATE INDEX email_confirmations_done ON email_confirmations (least(used_at, expires_at));
CREATE INDEX refresh_tokens_done ON refresh_tokens (least(expires_at, revoked_at));
