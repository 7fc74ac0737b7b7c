-- Test mode and live mode (docs/modes.md): every billing object, ledger book and
-- projection row belongs to one mode; rows made before modes existed are test.

ALTER TABLE plans ADD COLUMN livemode boolean NOT NULL DEFAULT false;
ALTER TABLE subscriptions ADD COLUMN livemode boolean NOT NULL DEFAULT false;
ALTER TABLE invoices ADD COLUMN livemode boolean NOT NULL DEFAULT false;

-- A subscription bills on a plan of its own mode, and its invoices are of its mode.
ALTER TABLE plans ADD CONSTRAINT plans_id_livemode UNIQUE (id, livemode);
ALTER TABLE subscriptions ADD CONSTRAINT subscriptions_plan_mode
    FOREIGN KEY (plan_pk, livemode) REFERENCES plans (id, livemode);
ALTER TABLE subscriptions ADD CONSTRAINT subscriptions_id_livemode UNIQUE (id, livemode);
ALTER TABLE invoices ADD CONSTRAINT invoices_subscription_mode
    FOREIGN KEY (subscription_pk, livemode) REFERENCES subscriptions (id, livemode);

-- Each mode numbers its own invoices, so test invoices leave no gaps in the live series.
ALTER TABLE invoice_counters ADD COLUMN livemode boolean NOT NULL DEFAULT false;
ALTER TABLE invoice_counters DROP CONSTRAINT invoice_counters_pkey;
ALTER TABLE invoice_counters ADD PRIMARY KEY (company_id, livemode, year);
ALTER TABLE invoices DROP CONSTRAINT invoices_company_id_invoice_number_key;
ALTER TABLE invoices ADD CONSTRAINT invoices_number_once
    UNIQUE (company_id, livemode, invoice_number);

CREATE INDEX plans_merchant_mode ON plans (merchant_id, livemode, id DESC);
DROP INDEX plans_merchant;
CREATE INDEX subscriptions_merchant_mode ON subscriptions (merchant_id, livemode, status);
DROP INDEX subscriptions_merchant;

-- The ledger keeps two books per merchant: an account is (merchant, mode, code,
-- currency), and a transaction posts only to accounts of its own mode.
ALTER TABLE ledger_accounts ADD COLUMN livemode boolean NOT NULL DEFAULT false;
ALTER TABLE ledger_accounts DROP CONSTRAINT ledger_accounts_merchant_id_code_currency_key;
ALTER TABLE ledger_accounts ADD CONSTRAINT ledger_accounts_key
    UNIQUE (merchant_id, livemode, code, currency);
ALTER TABLE ledger_transactions ADD COLUMN livemode boolean NOT NULL DEFAULT false;
CREATE INDEX ledger_transactions_merchant_mode
    ON ledger_transactions (merchant_id, livemode, posted_at);
DROP INDEX ledger_transactions_merchant;

-- The dashboard's projections, per mode.
ALTER TABLE payment_projection ADD COLUMN livemode boolean NOT NULL DEFAULT false;
CREATE INDEX payment_projection_merchant_mode
    ON payment_projection (merchant_id, livemode, created_at);
DROP INDEX payment_projection_merchant;
ALTER TABLE customers ADD COLUMN livemode boolean NOT NULL DEFAULT false;
ALTER TABLE customers DROP CONSTRAINT customers_pkey;
ALTER TABLE customers ADD PRIMARY KEY (merchant_id, livemode, customer_id);
