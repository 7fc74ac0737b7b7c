-- Publishable API keys (`nk_pub_...`) for the embedded checkout widget. They are
-- meant to be seen in a browser, so the key itself is kept (lists show it) and each
-- one names the web origins allowed to use it. Secret keys keep only their hash.
ALTER TABLE api_keys
    ADD COLUMN kind text NOT NULL DEFAULT 'secret' CHECK (kind IN ('secret', 'publishable')),
    ADD COLUMN publishable_key text UNIQUE,
    ADD COLUMN allowed_origins text[] NOT NULL DEFAULT '{}',
    ADD CONSTRAINT api_keys_publishable_shape CHECK (
        (kind = 'secret' AND publishable_key IS NULL AND cardinality(allowed_origins) = 0)
        OR (kind = 'publishable' AND publishable_key IS NOT NULL
            AND cardinality(allowed_origins) > 0));
