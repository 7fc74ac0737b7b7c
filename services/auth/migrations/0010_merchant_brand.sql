-- The merchant's brand on its checkout pages (docs/payments.md, Brand): a logo's URL
-- and an accent colour, both optional. The API checks them (merchant_domain); the
-- checks here keep a row that skipped it from reaching a page's style or policy.
ALTER TABLE merchants
    ADD COLUMN logo_url text CHECK (length(logo_url) <= 500),
    ADD COLUMN accent_color text CHECK (accent_color ~ '^#[0-9a-f]{6}$');
