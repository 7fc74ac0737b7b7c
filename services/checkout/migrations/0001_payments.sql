-- Payments: one aggregate behind the NorPay payment routes and the NORAH
-- transaction routes. Amounts are integer minor units (wei for NOR).
CREATE TABLE payments (
    id               bigserial PRIMARY KEY,
    payment_id       text NOT NULL UNIQUE,
    trace            uuid NOT NULL UNIQUE,
    company_id       bigint NOT NULL,
    merchant_id      bigint NOT NULL,
    origin           text NOT NULL CHECK (origin IN ('norpay', 'norah')),
    amount           numeric(78, 0) NOT NULL CHECK (amount > 0),
    currency         text NOT NULL,
    description      text,
    metadata         jsonb NOT NULL DEFAULT '{}',
    success_url      text,
    cancel_url       text,
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN
                     ('pending', 'processing', 'completed', 'failed', 'canceled', 'refunded')),
    payment_method   text,
    pending_action   text,
    payer            text,
    transaction_hash text,
    card_brand       text,
    card_last4       text,
    phone_number     text,
    failure_reason   text,
    quote            jsonb,
    charges          numeric(78, 0),
    net_amount       numeric(78, 0),
    refunded_amount  numeric(78, 0) NOT NULL DEFAULT 0,
    expires_at       timestamptz NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    completed_at     timestamptz,
    canceled_at      timestamptz,
    CHECK (refunded_amount >= 0 AND refunded_amount <= amount)
);
CREATE INDEX payments_merchant_created ON payments (merchant_id, created_at DESC, id DESC);
CREATE INDEX payments_company_created ON payments (company_id, created_at DESC, id DESC);

CREATE TABLE refunds (
    id          bigserial PRIMARY KEY,
    refund_id   text NOT NULL UNIQUE,
    payment_pk  bigint NOT NULL REFERENCES payments (id),
    amount      numeric(78, 0) NOT NULL CHECK (amount > 0),
    reason      text,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refunds_payment ON refunds (payment_pk);

-- Every status change, for a payment's timeline.
CREATE TABLE payment_history (
    id          bigserial PRIMARY KEY,
    payment_pk  bigint NOT NULL REFERENCES payments (id),
    status      text NOT NULL,
    detail      jsonb NOT NULL DEFAULT '{}',
    at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX payment_history_payment ON payment_history (payment_pk, id);

-- Sandbox NOR wallets (the NOR connector's ledger of balances).
CREATE TABLE sandbox_wallets (
    address  text PRIMARY KEY,
    balance  numeric(78, 0) NOT NULL CHECK (balance >= 0)
);
