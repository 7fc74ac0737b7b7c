-- NORAH lists search by merchant name; checkout cannot join auth's merchants, so
-- the name is copied from auth's lookup when the payment is created.
ALTER TABLE payments ADD COLUMN merchant_name text;
CREATE INDEX payments_created ON payments (created_at DESC, id DESC);
