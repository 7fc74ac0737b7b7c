-- Charge rules. SYSTEM rules apply to every merchant that has no active rule of
-- its own for the same currency and category; MERCHANT rules replace them.
-- Amounts (a FLAT value, thresholds) are in major units of `currency`, as the
-- NORAH API sends them; the engine converts them to minor units exactly.
CREATE TABLE charges (
    id                   bigserial PRIMARY KEY,
    scope                text NOT NULL CHECK (scope IN ('SYSTEM', 'MERCHANT')),
    merchant_id          bigint,
    company_id           bigint,
    merchant_user_name   text,
    charge_type          text NOT NULL CHECK (charge_type IN ('FLAT', 'PERCENTAGE')),
    charge_source        text NOT NULL,
    charge_category      text NOT NULL,
    status               text NOT NULL CHECK (status IN ('ACTIVE', 'INACTIVE')),
    currency             text NOT NULL,
    value                numeric(40, 18) NOT NULL CHECK (value >= 0),
    statement_narration  text,
    min_threshold        numeric(78, 18) NOT NULL DEFAULT 0 CHECK (min_threshold >= 0),
    max_threshold        numeric(78, 18),
    pl_account           text,
    allow_above_amount   boolean NOT NULL DEFAULT false,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    deleted_at           timestamptz,
    CHECK ((scope = 'MERCHANT') = (merchant_id IS NOT NULL)),
    CHECK (max_threshold IS NULL OR max_threshold >= min_threshold),
    CHECK (charge_type = 'FLAT' OR value <= 100),
    CHECK (charge_type = 'FLAT' OR NOT allow_above_amount)
);
CREATE INDEX charges_merchant ON charges (merchant_id) WHERE deleted_at IS NULL;
CREATE INDEX charges_company ON charges (company_id) WHERE deleted_at IS NULL;
