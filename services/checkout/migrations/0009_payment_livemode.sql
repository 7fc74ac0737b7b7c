-- Test mode or live mode (docs/modes.md): set at create from the caller's mode, never
-- changed. Every payment made before modes existed was a sandbox one: test.
ALTER TABLE payments ADD COLUMN livemode boolean NOT NULL DEFAULT false;
-- Every list now filters on the mode as well as the tenant, newest first: the mode
-- joins the list indexes (replacing them, so a write maintains no more indexes than
-- before), else a live list would step over every test row of its merchant.
DROP INDEX payments_merchant_created;
DROP INDEX payments_company_created;
DROP INDEX payments_created;
CREATE INDEX payments_merchant_mode_created
    ON payments (merchant_id, livemode, created_at DESC, id DESC);
CREATE INDEX payments_company_mode_created
    ON payments (company_id, livemode, created_at DESC, id DESC);
CREATE INDEX payments_mode_created ON payments (livemode, created_at DESC, id DESC);
