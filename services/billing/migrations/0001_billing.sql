-- Billing: plans, subscriptions, invoices (with a gap-free number per company and
-- year), the NorLedger double-entry ledger, and projections of checkout's payment
-- events for the merchant dashboard. Amounts are integer minor units (wei for NOR).

CREATE TABLE plans (
    id              bigserial PRIMARY KEY,
    plan_id         text NOT NULL UNIQUE,
    company_id      bigint NOT NULL,
    merchant_id     bigint NOT NULL,
    name            text NOT NULL,
    amount          numeric(78, 0) NOT NULL CHECK (amount > 0),
    currency        text NOT NULL,
    interval        text NOT NULL CHECK (interval IN ('day', 'week', 'month', 'year')),
    interval_count  integer NOT NULL CHECK (interval_count BETWEEN 1 AND 365),
    features        jsonb NOT NULL DEFAULT '[]',
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX plans_merchant ON plans (merchant_id, id DESC);

CREATE TABLE subscriptions (
    id                    bigserial PRIMARY KEY,
    subscription_id       text NOT NULL UNIQUE,
    plan_pk               bigint NOT NULL REFERENCES plans (id),
    company_id            bigint NOT NULL,
    merchant_id           bigint NOT NULL,
    customer_id           text NOT NULL,
    status                text NOT NULL CHECK (status IN
                          ('trialing', 'active', 'past_due', 'canceled')),
    billing_anchor        timestamptz NOT NULL,  -- start of the first paid period
    period_number         integer NOT NULL,      -- 0 = trial; n = n-th paid period
    current_period_start  timestamptz NOT NULL,
    current_period_end    timestamptz NOT NULL,
    trial_end             timestamptz,
    next_charge_at        timestamptz,           -- start of the next period to bill
    cancel_at_period_end  boolean NOT NULL DEFAULT false,
    canceled_at           timestamptz,
    ends_at               timestamptz,
    cancel_reason         text,
    metadata              jsonb NOT NULL DEFAULT '{}',
    payment_method        jsonb,                 -- saved off-session method (no card numbers)
    created_at            timestamptz NOT NULL,
    updated_at            timestamptz NOT NULL
);
CREATE INDEX subscriptions_due ON subscriptions (next_charge_at)
    WHERE status <> 'canceled' AND next_charge_at IS NOT NULL;
CREATE INDEX subscriptions_merchant ON subscriptions (merchant_id, status);

CREATE TABLE tax_rates (
    id           bigserial PRIMARY KEY,
    tax_rate_id  text NOT NULL UNIQUE,
    company_id   bigint NOT NULL,
    merchant_id  bigint NOT NULL,
    name         text NOT NULL,
    rate_ppm     bigint NOT NULL CHECK (rate_ppm BETWEEN 0 AND 1000000),  -- 15% = 150000
    is_default   boolean NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX tax_rates_one_default ON tax_rates (merchant_id) WHERE is_default;

-- The last invoice number used per company and year: taken with UPDATE ... RETURNING
-- in the transaction that inserts the invoice, so numbers have no gaps or duplicates.
CREATE TABLE invoice_counters (
    company_id  bigint NOT NULL,
    year        integer NOT NULL,
    last_value  integer NOT NULL,
    PRIMARY KEY (company_id, year)
);

CREATE TABLE invoices (
    id               bigserial PRIMARY KEY,
    invoice_id       text NOT NULL UNIQUE,
    invoice_number   text NOT NULL,
    company_id       bigint NOT NULL,
    merchant_id      bigint NOT NULL,
    status           text NOT NULL CHECK (status IN
                     ('draft', 'open', 'paid', 'void', 'uncollectible')),
    customer         jsonb NOT NULL,
    items            jsonb NOT NULL,
    currency         text NOT NULL,
    subtotal         numeric(78, 0) NOT NULL,
    tax              numeric(78, 0) NOT NULL,
    total            numeric(78, 0) NOT NULL CHECK (total > 0),
    due_date         timestamptz NOT NULL,
    notes            text,
    payment_id       text,
    payment_url      text,
    subscription_pk  bigint REFERENCES subscriptions (id),
    period_start     timestamptz,
    period_end       timestamptz,
    attempt_count    integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz,
    last_failure     text,
    sent_at          timestamptz,
    paid_at          timestamptz,
    voided_at        timestamptz,
    overdue_at       timestamptz,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    UNIQUE (company_id, invoice_number)
);
CREATE UNIQUE INDEX invoices_one_per_period ON invoices (subscription_pk, period_start)
    WHERE subscription_pk IS NOT NULL;
CREATE INDEX invoices_collect ON invoices (next_attempt_at)
    WHERE status = 'open' AND next_attempt_at IS NOT NULL;
CREATE INDEX invoices_overdue ON invoices (due_date)
    WHERE status = 'open' AND overdue_at IS NULL;
CREATE INDEX invoices_payment ON invoices (payment_id);

-- NorLedger ----------------------------------------------------------------------

CREATE TABLE ledger_accounts (
    id           bigserial PRIMARY KEY,
    company_id   bigint NOT NULL,
    merchant_id  bigint NOT NULL,
    code         text NOT NULL,
    name         text NOT NULL,
    type         text NOT NULL CHECK (type IN ('asset', 'revenue', 'contra_revenue', 'expense')),
    currency     text NOT NULL,
    debits       numeric(78, 0) NOT NULL DEFAULT 0,  -- running totals, kept with each posting
    credits      numeric(78, 0) NOT NULL DEFAULT 0,
    UNIQUE (merchant_id, code, currency)
);

CREATE TABLE ledger_transactions (
    id              bigserial PRIMARY KEY,
    transaction_id  text NOT NULL UNIQUE,
    company_id      bigint NOT NULL,
    merchant_id     bigint NOT NULL,
    reference_type  text NOT NULL,
    reference_id    text NOT NULL,
    description     text NOT NULL,
    currency        text NOT NULL,
    event_id        uuid,
    reverses        bigint REFERENCES ledger_transactions (id),
    posted_at       timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX ledger_transactions_once ON ledger_transactions (event_id, reference_type)
    WHERE event_id IS NOT NULL;
CREATE UNIQUE INDEX ledger_transactions_reversed_once ON ledger_transactions (reverses)
    WHERE reverses IS NOT NULL;
CREATE INDEX ledger_transactions_reference ON ledger_transactions (reference_type, reference_id);
CREATE INDEX ledger_transactions_merchant ON ledger_transactions (merchant_id, posted_at);

CREATE TABLE ledger_entries (
    id              bigserial PRIMARY KEY,
    transaction_pk  bigint NOT NULL REFERENCES ledger_transactions (id),
    account_pk      bigint NOT NULL REFERENCES ledger_accounts (id),
    direction       text NOT NULL CHECK (direction IN ('debit', 'credit')),
    amount          numeric(78, 0) NOT NULL CHECK (amount > 0)
);
CREATE INDEX ledger_entries_transaction ON ledger_entries (transaction_pk);
CREATE INDEX ledger_entries_account ON ledger_entries (account_pk);

-- Entries and transactions are immutable: a correction is a reversing transaction.
CREATE FUNCTION ledger_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger % rows are immutable; post a reversing transaction', TG_TABLE_NAME;
END $$;
CREATE TRIGGER ledger_entries_immutable BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_immutable();
CREATE TRIGGER ledger_transactions_immutable BEFORE UPDATE OR DELETE ON ledger_transactions
    FOR EACH ROW EXECUTE FUNCTION ledger_immutable();

-- Every transaction balances, checked at commit (after all its lines are in).
CREATE FUNCTION ledger_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    diff numeric;
BEGIN
    SELECT COALESCE(SUM(CASE direction WHEN 'debit' THEN amount ELSE -amount END), 0)
      INTO diff FROM ledger_entries WHERE transaction_pk = NEW.transaction_pk;
    IF diff <> 0 THEN
        RAISE EXCEPTION 'ledger transaction % does not balance (%)', NEW.transaction_pk, diff;
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER ledger_entries_balanced AFTER INSERT ON ledger_entries
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_balanced();

-- Projections of checkout's payment events (the dashboard reads these) ---------------

CREATE TABLE payment_projection (
    payment_id       text PRIMARY KEY,
    company_id       bigint NOT NULL,
    merchant_id      bigint NOT NULL,
    status           text NOT NULL,
    status_rank      integer NOT NULL,
    amount           numeric(78, 0) NOT NULL,
    currency         text NOT NULL,
    charges          numeric(78, 0) NOT NULL DEFAULT 0,
    refunded_amount  numeric(78, 0) NOT NULL DEFAULT 0,
    refund_posted    numeric(78, 0) NOT NULL DEFAULT 0,  -- refunds already in the ledger
    kind             text NOT NULL CHECK (kind IN ('payment', 'subscription', 'invoice')),
    product          text NOT NULL,
    customer_id      text,
    created_at       timestamptz NOT NULL,
    completed_at     timestamptz
);
CREATE INDEX payment_projection_merchant ON payment_projection (merchant_id, created_at);

CREATE TABLE customers (
    company_id     bigint NOT NULL,
    merchant_id    bigint NOT NULL,
    customer_id    text NOT NULL,
    first_seen_at  timestamptz NOT NULL,
    PRIMARY KEY (merchant_id, customer_id)
);
