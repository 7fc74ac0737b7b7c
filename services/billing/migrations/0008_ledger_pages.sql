-- The ledger entries list (oldest transaction first) walks one of these and stops at
-- the page, for the page and for its bounded total (ledger_store.entries): a book's
-- transactions by id, or one account's entries by transaction. (The account index
-- replaces the one on account_pk alone, which it starts with.)
CREATE INDEX ledger_transactions_merchant_mode_id ON ledger_transactions (merchant_id, livemode, id);
CREATE INDEX ledger_transactions_company_mode_id ON ledger_transactions (company_id, livemode, id);
CREATE INDEX ledger_entries_account_transaction ON ledger_entries (account_pk, transaction_pk, id);
DROP INDEX ledger_entries_account;
