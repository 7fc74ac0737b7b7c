-- Prices (`price_...`): a priced ticket of an app (auth's `app_...`), as the
-- Prices seed writes it. The price_item is the fees service's answer, kept as given.
CREATE TABLE prices (
    id                        bigserial PRIMARY KEY,
    price_id                  text NOT NULL UNIQUE,
    app_id                    text NOT NULL,
    company_id                bigint NOT NULL,
    merchant_id               bigint,
    amount                    numeric NOT NULL CHECK (amount > 0),
    currency                  text NOT NULL,
    currency_conversion       jsonb,
    type                      text NOT NULL DEFAULT 'dynamic'
                              CHECK (type IN ('static', 'dynamic')),
    kyc_id                    text,
    metadata                  jsonb,
    name                      text,
    trigger_id                text,
    trigger_data              jsonb,
    trigger_intent_id         text,
    trigger_params_data_input jsonb,
    price_item                jsonb NOT NULL,
    deleted                   boolean NOT NULL DEFAULT false,
    expired                   boolean NOT NULL DEFAULT false,
    views                     bigint NOT NULL DEFAULT 0,
    created_at                timestamptz NOT NULL DEFAULT now(),
    updated_at                timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX prices_app_created ON prices (app_id, created_at DESC, id DESC);
