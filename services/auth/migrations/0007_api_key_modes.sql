-- Test and live mode (docs/modes.md): every API key acts in one. Keys made before
-- modes (`nk_` + 40) are test keys. A secret key's string says its mode too
-- (`nk_test_...`, `nk_live_...`), and the two may never disagree; a publishable key's
-- mode is only here (checkout.js checks its `nk_pub_` format).
ALTER TABLE api_keys
    ADD COLUMN mode text NOT NULL DEFAULT 'test' CHECK (mode IN ('test', 'live')),
    ADD CONSTRAINT api_keys_mode_shown CHECK (
        kind = 'publishable' OR (prefix LIKE 'nk\_live\_%') = (mode = 'live'));
