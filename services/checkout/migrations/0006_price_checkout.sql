-- A price opens the card checkout: payments made for a price (origin 'prices'), and
-- the price's trigger: a merchant-defined signed call made when such a payment succeeds.
ALTER TABLE payments DROP CONSTRAINT payments_origin_check;
ALTER TABLE payments ADD CONSTRAINT payments_origin_check
    CHECK (origin IN ('norpay', 'norah', 'prices', 'billing'));
CREATE INDEX payments_price ON payments ((metadata->>'priceId'))
    WHERE metadata ? 'priceId';

ALTER TABLE prices ADD COLUMN expires_at timestamptz;

-- A trigger (`tri_...`): where to call and which params a price must supply.
CREATE TABLE triggers (
    id            bigserial PRIMARY KEY,
    trigger_id    text NOT NULL UNIQUE,
    app_id        text NOT NULL,
    company_id    bigint NOT NULL,
    merchant_id   bigint,
    name          text NOT NULL,
    url           text NOT NULL,
    params        text[] NOT NULL DEFAULT '{}',
    secret_sealed text NOT NULL,
    deleted       boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX triggers_app_created ON triggers (app_id, created_at DESC, id DESC);

-- A trigger intent (`ti_...`): one price's use of a trigger, with its params.
CREATE TABLE trigger_intents (
    id          bigserial PRIMARY KEY,
    intent_id   text NOT NULL UNIQUE,
    trigger_id  text NOT NULL REFERENCES triggers (trigger_id),
    price_id    text NOT NULL UNIQUE,
    params      jsonb,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- One execution per successful payment of the price: its delivery status and attempts.
CREATE TABLE trigger_executions (
    id               bigserial PRIMARY KEY,
    intent_id        text NOT NULL REFERENCES trigger_intents (intent_id),
    payment_id       text NOT NULL UNIQUE,
    event_id         uuid NOT NULL,
    body             jsonb NOT NULL,
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         int NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_status_code int,
    last_error       text,
    delivered_at     timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX trigger_executions_due ON trigger_executions (next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX trigger_executions_intent ON trigger_executions (intent_id, created_at DESC);
