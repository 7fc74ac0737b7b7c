-- Money out (docs/payouts.md): the merchant's balance movements, payouts and their
-- timeline, and the payout schedule. Amounts are integer minor units. Settlement
-- accounts are in 0004; reconciliation in 0006.

-- Every movement of a merchant's balance, in the book of one mode: what
-- GET /api/v2/balance/transactions lists and what reconciliation matches. `amount` is
-- signed: positive adds to the merchant's balance (a payment), negative takes from it
-- (a fee, a refund, a payout, a payout fee). A movement is `pending` until
-- `available_on`; the payouts tick then moves the due movements' net from the pending
-- account (customer_wallet) to available_balance and marks them released. Payouts and
-- their fees are taken from available_balance at once (released from the start).
CREATE TABLE balance_transactions (
    id                      bigserial PRIMARY KEY,
    balance_transaction_id  text NOT NULL UNIQUE,            -- btx_...
    company_id              bigint NOT NULL,
    merchant_id             bigint NOT NULL,
    livemode                boolean NOT NULL,
    currency                text NOT NULL,
    type                    text NOT NULL CHECK (type IN
                            ('payment', 'fee', 'refund', 'payout', 'payout_fee', 'adjustment')),
    source_id               text NOT NULL,                   -- pay_... or po_...
    amount                  numeric(78, 0) NOT NULL CHECK (amount <> 0),
    description             text NOT NULL,
    available_on            timestamptz NOT NULL,
    released                boolean NOT NULL,
    -- The rail the money moved on and its references (reconciliation matches on them):
    -- a payment's method (VISA_MASTER, ECOCASH, ...), its NORAH trace and the rail's
    -- own reference (transaction hash); a payout's rail and the rail's reference.
    rail                    text,
    trace                   text,
    rail_reference          text,
    ledger_transaction_id   text,
    event_id                uuid,
    created_at              timestamptz NOT NULL
);
CREATE UNIQUE INDEX balance_transactions_once ON balance_transactions (event_id, type)
    WHERE event_id IS NOT NULL;
CREATE INDEX balance_transactions_merchant
    ON balance_transactions (merchant_id, livemode, created_at DESC, id DESC);
CREATE INDEX balance_transactions_merchant_type
    ON balance_transactions (merchant_id, livemode, type, created_at DESC, id DESC);
CREATE INDEX balance_transactions_due ON balance_transactions (available_on)
    WHERE NOT released;
CREATE INDEX balance_transactions_source ON balance_transactions (source_id);
CREATE INDEX balance_transactions_trace ON balance_transactions (trace)
    WHERE trace IS NOT NULL;
CREATE INDEX balance_transactions_rail_reference ON balance_transactions (rail_reference)
    WHERE rail_reference IS NOT NULL;
CREATE INDEX balance_transactions_day ON balance_transactions (rail, livemode, created_at);

-- How and when a merchant is paid automatically; one row per merchant, shared by its
-- two modes (like tax rates). Made with the defaults when its first settlement account
-- is added. `next_run_at` is when the scheduler next pays out (NULL: manual).
CREATE TABLE payout_schedules (
    merchant_id     bigint PRIMARY KEY,
    company_id      bigint NOT NULL,
    interval        text NOT NULL CHECK (interval IN ('manual', 'daily', 'weekly', 'monthly')),
    weekly_anchor   text CHECK (weekly_anchor IN
                    ('monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday',
                     'sunday')),
    monthly_anchor  integer CHECK (monthly_anchor BETWEEN 1 AND 31),
    delay_days      integer NOT NULL CHECK (delay_days BETWEEN 0 AND 30),
    minimum_amount  numeric(78, 0) NOT NULL DEFAULT 0 CHECK (minimum_amount >= 0),
    next_run_at     timestamptz,
    updated_at      timestamptz NOT NULL
);
CREATE INDEX payout_schedules_due ON payout_schedules (next_run_at)
    WHERE next_run_at IS NOT NULL;

CREATE TABLE payouts (
    id                     bigserial PRIMARY KEY,
    payout_id              text NOT NULL UNIQUE,              -- po_...
    company_id             bigint NOT NULL,
    merchant_id            bigint NOT NULL,
    livemode               boolean NOT NULL,
    amount                 numeric(78, 0) NOT NULL CHECK (amount > 0),
    fee                    numeric(78, 0) NOT NULL DEFAULT 0 CHECK (fee >= 0),
    currency               text NOT NULL,
    status                 text NOT NULL CHECK (status IN
                           ('pending', 'in_transit', 'paid', 'failed', 'canceled')),
    automatic              boolean NOT NULL,
    -- An automatic payout's run (merchant, mode, currency, run time): at most one.
    run_key                text UNIQUE,
    settlement_account_id  text NOT NULL,
    rail                   text NOT NULL,                      -- ZIMSWITCH, ECOCASH, ...
    destination            jsonb NOT NULL,                     -- masked: type, last4, names
    -- The destination as it was when the payout was made, sealed (AES-GCM, number in
    -- clear inside): the rail is paid there even if the account changes or goes later.
    destination_sealed     text NOT NULL,
    description            text,
    metadata               jsonb NOT NULL DEFAULT '{}',
    rail_reference         text,
    failure_code           text,
    failure_reason         text,
    submit_after           timestamptz NOT NULL,               -- sent to the rail from then
    attempts               integer NOT NULL DEFAULT 0,
    created_ledger_tx      text,
    created_at             timestamptz NOT NULL,
    updated_at             timestamptz NOT NULL,
    in_transit_at          timestamptz,
    -- When the tick asks the rail about it if no callback came: while in transit, and
    -- while paid with a return still due (the rail said it would call again).
    next_check_at          timestamptz,
    paid_at                timestamptz,
    failed_at              timestamptz,
    canceled_at            timestamptz
);
CREATE INDEX payouts_merchant ON payouts (merchant_id, livemode, created_at DESC, id DESC);
CREATE INDEX payouts_company ON payouts (company_id, livemode, created_at DESC, id DESC);
CREATE INDEX payouts_to_submit ON payouts (submit_after) WHERE status = 'pending';
CREATE INDEX payouts_to_check ON payouts (next_check_at) WHERE next_check_at IS NOT NULL;
CREATE INDEX payouts_rail_reference ON payouts (rail_reference) WHERE rail_reference IS NOT NULL;

-- Each payout's timeline: every status it took, when, and why.
CREATE TABLE payout_events (
    id          bigserial PRIMARY KEY,
    payout_pk   bigint NOT NULL REFERENCES payouts (id),
    status      text NOT NULL,
    note        text,
    at          timestamptz NOT NULL
);
CREATE INDEX payout_events_payout ON payout_events (payout_pk, id);

-- Books that existed before payouts: what their customer wallets hold becomes one
-- movement each, available at the first payouts tick, so pending and the movements agree.
INSERT INTO balance_transactions (balance_transaction_id, company_id, merchant_id, livemode,
                                  currency, type, source_id, amount, description,
                                  available_on, released, created_at)
SELECT 'btx_' || md5(a.id::text || clock_timestamp()::text), a.company_id, a.merchant_id,
       a.livemode, a.currency, 'adjustment', 'balance_before_payouts',
       a.debits - a.credits, 'The balance before payouts existed', now(), false, now()
  FROM ledger_accounts a
 WHERE a.code = 'customer_wallet' AND a.debits <> a.credits;
