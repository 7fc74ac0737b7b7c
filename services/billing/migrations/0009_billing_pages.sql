-- The subscriptions and invoices lists (newest first, by id) walk one of these and stop
-- at the page, for the page, for its keyset cursor and for its bounded total
-- (store._page): a merchant's or a company's rows of a mode by id, or of one status by
-- id; a customer's or an e-mail's few rows by their own index. Before these, a
-- merchant's page read and sorted every subscription of a status, and every invoice
-- of the whole table.
CREATE INDEX subscriptions_merchant_page ON subscriptions (merchant_id, livemode, id DESC);
CREATE INDEX subscriptions_merchant_status_page
    ON subscriptions (merchant_id, livemode, status, id DESC);
CREATE INDEX subscriptions_company_page ON subscriptions (company_id, livemode, id DESC);
CREATE INDEX subscriptions_customer ON subscriptions (merchant_id, customer_id);
DROP INDEX subscriptions_merchant_mode;
CREATE INDEX invoices_merchant_page ON invoices (merchant_id, livemode, id DESC);
CREATE INDEX invoices_merchant_status_page ON invoices (merchant_id, livemode, status, id DESC);
CREATE INDEX invoices_company_page ON invoices (company_id, livemode, id DESC);
CREATE INDEX invoices_customer_email ON invoices (merchant_id, lower(customer->>'email'));
