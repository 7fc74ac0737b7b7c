-- Settlement accounts (docs/payouts.md): where a merchant's payouts go, a bank account
-- (BANK, paid over ZIMSWITCH) or a mobile wallet (ECOCASH, OMARI, INNBUCKS). Merchant
-- settings shared by both modes, like tax rates: no livemode. The number (account
-- number or wallet phone) is kept sealed (shared.crypto.SecretBox "settlement-account"),
-- with its last four beside it for the masked form every answer shows.
CREATE TABLE settlement_accounts (
    id                     bigserial PRIMARY KEY,
    settlement_account_id  text NOT NULL UNIQUE,                 -- sa_...
    company_id             bigint NOT NULL,
    merchant_id            bigint NOT NULL,
    type                   text NOT NULL
                           CHECK (type IN ('BANK', 'ECOCASH', 'OMARI', 'INNBUCKS')),
    currency               text NOT NULL,
    bank_name              text,
    branch_code            text,
    account_name           text,
    number_sealed          text NOT NULL,
    number_last4           text NOT NULL CHECK (number_last4 ~ '^[0-9]{4}$'),
    is_default             boolean NOT NULL DEFAULT false,
    created_at             timestamptz NOT NULL,
    updated_at             timestamptz NOT NULL,
    deleted_at             timestamptz,
    CHECK (type <> 'BANK' OR (bank_name IS NOT NULL AND branch_code IS NOT NULL
                              AND account_name IS NOT NULL)),
    -- A deleted account is no one's default.
    CHECK (deleted_at IS NULL OR NOT is_default)
);
-- One default per merchant and currency (the use case clears the old one first, in the
-- same transaction).
CREATE UNIQUE INDEX settlement_accounts_one_default
    ON settlement_accounts (merchant_id, currency) WHERE is_default;
CREATE INDEX settlement_accounts_merchant
    ON settlement_accounts (merchant_id, id) WHERE deleted_at IS NULL;
