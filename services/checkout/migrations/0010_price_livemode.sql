-- Test mode or live mode for prices and their triggers (docs/modes.md): set at create
-- from the caller's mode, never changed. Every one made before modes existed was a
-- sandbox one: test.
ALTER TABLE prices ADD COLUMN livemode boolean NOT NULL DEFAULT false;
ALTER TABLE triggers ADD COLUMN livemode boolean NOT NULL DEFAULT false;
-- The lists filter on the mode as well as the app, newest first: the mode joins their
-- indexes (replacing them: no more indexes to maintain on a write than before).
DROP INDEX prices_app_created;
DROP INDEX triggers_app_created;
CREATE INDEX prices_app_mode_created ON prices (app_id, livemode, created_at DESC, id DESC);
CREATE INDEX triggers_app_mode_created
    ON triggers (app_id, livemode, created_at DESC, id DESC);
