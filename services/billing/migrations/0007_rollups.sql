-- Rollups: the merchant dashboard and the settlement report read these, never a
-- merchant's whole history (docs/rollups.md). Each is kept by triggers on the rows it
-- sums, in the writing transaction: whatever writes them (a consumer's batch, a
-- redelivered event, a refund, a bulk load) moves the rollup by exactly what the rows
-- moved, so a redelivery that changes nothing moves nothing. Days are UTC days.

-- Writers wait until the triggers exist: a row committed between a backfill below and
-- its trigger would be in neither (and each backfill would see another snapshot).
LOCK TABLE payment_projection, customers, ledger_transactions, ledger_entries
    IN SHARE ROW EXCLUSIVE MODE;

-- Payments by the day they were made and their status now (the dashboard's counts).
CREATE TABLE payment_day_counts (
    company_id   bigint NOT NULL,
    merchant_id  bigint NOT NULL,
    livemode     boolean NOT NULL,
    currency     text NOT NULL,
    day          date NOT NULL,
    status       text NOT NULL,
    n            bigint NOT NULL,
    PRIMARY KEY (merchant_id, livemode, currency, day, status)
);
CREATE INDEX payment_day_counts_company ON payment_day_counts (company_id, livemode, currency, day);

-- Completed payments by the day they completed, kind and product, net of refunds (the
-- dashboard's revenue and top products).
CREATE TABLE revenue_days (
    company_id   bigint NOT NULL,
    merchant_id  bigint NOT NULL,
    livemode     boolean NOT NULL,
    currency     text NOT NULL,
    day          date NOT NULL,
    kind         text NOT NULL,
    product      text NOT NULL,
    revenue      numeric(78, 0) NOT NULL,
    n            bigint NOT NULL,
    PRIMARY KEY (merchant_id, livemode, currency, day, kind, product)
);
CREATE INDEX revenue_days_company ON revenue_days (company_id, livemode, currency, day);

-- Customers by the day first seen (the dashboard's total and new).
CREATE TABLE customer_days (
    company_id   bigint NOT NULL,
    merchant_id  bigint NOT NULL,
    livemode     boolean NOT NULL,
    day          date NOT NULL,
    n            bigint NOT NULL,
    PRIMARY KEY (merchant_id, livemode, day)
);
CREATE INDEX customer_days_company ON customer_days (company_id, livemode, day);

-- The customer wallet's movements by hour and by day (the settlement report sums whole
-- days, then whole hours at the edges, then the edges' minutes from the ledger itself).
-- Every movement of the wallet makes its bucket's row (a release only, zeros): the
-- report lists each currency the wallet moved in.
CREATE TABLE settlement_rollup (
    merchant_id   bigint NOT NULL,
    livemode      boolean NOT NULL,
    grain         text NOT NULL CHECK (grain IN ('hour', 'day')),
    bucket        timestamptz NOT NULL,
    currency      text NOT NULL,
    gross         numeric(78, 0) NOT NULL,
    charges       numeric(78, 0) NOT NULL,
    refunds       numeric(78, 0) NOT NULL,
    payments      bigint NOT NULL,
    refund_count  bigint NOT NULL,
    PRIMARY KEY (merchant_id, livemode, grain, bucket, currency)
);

-- Each rollup's statements, as text for EXECUTE from a function that names their
-- source: the triggers below run them on their statement's transition tables, this
-- migration once on the rows already there (so the backfill is the triggers' own SQL).

-- A set of projection rows as contributions (`sign` 1 adds them, -1 takes them away).
CREATE FUNCTION payment_rollup_rows(source text, sign integer) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$
SELECT format('SELECT company_id, merchant_id, livemode, currency, status, kind, product, '
              'amount - refunded_amount AS revenue, '
              '(created_at AT TIME ZONE ''UTC'')::date AS made, '
              '(completed_at AT TIME ZONE ''UTC'')::date AS completed, %s AS s FROM %I',
              sign, source)
$$;

-- Adds contributions (`delta`, of payment_rollup_rows) to both payment rollups. Keys
-- whose delta is nil are not written; ORDER BY takes a batch's keys in one order.
CREATE FUNCTION payment_rollup_statements(delta text) RETURNS text[]
    LANGUAGE sql IMMUTABLE AS $$
SELECT ARRAY[
    format('WITH d AS (%s)
            INSERT INTO payment_day_counts AS c (company_id, merchant_id, livemode,
                                                 currency, day, status, n)
            SELECT min(company_id), merchant_id, livemode, currency, made, status, sum(s)
              FROM d GROUP BY 2, 3, 4, 5, 6 HAVING sum(s) <> 0 ORDER BY 2, 3, 4, 5, 6
            ON CONFLICT (merchant_id, livemode, currency, day, status)
               DO UPDATE SET n = c.n + EXCLUDED.n', delta),
    format('WITH d AS (%s)
            INSERT INTO revenue_days AS r (company_id, merchant_id, livemode, currency, day,
                                           kind, product, revenue, n)
            SELECT min(company_id), merchant_id, livemode, currency, completed, kind,
                   product, sum(s * revenue), sum(s)
              FROM d WHERE completed IS NOT NULL
             GROUP BY 2, 3, 4, 5, 6, 7 HAVING sum(s) <> 0 OR sum(s * revenue) <> 0
             ORDER BY 2, 3, 4, 5, 6, 7
            ON CONFLICT (merchant_id, livemode, currency, day, kind, product)
               DO UPDATE SET revenue = r.revenue + EXCLUDED.revenue, n = r.n + EXCLUDED.n',
           delta)]
$$;

CREATE FUNCTION customer_rollup_rows(source text, sign integer) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$
SELECT format('SELECT company_id, merchant_id, livemode, '
              '(first_seen_at AT TIME ZONE ''UTC'')::date AS day, %s AS s FROM %I',
              sign, source)
$$;

CREATE FUNCTION customer_rollup_statement(delta text) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$
SELECT format('WITH d AS (%s)
               INSERT INTO customer_days AS c (company_id, merchant_id, livemode, day, n)
               SELECT min(company_id), merchant_id, livemode, day, sum(s)
                 FROM d GROUP BY 2, 3, 4 HAVING sum(s) <> 0 ORDER BY 2, 3, 4
               ON CONFLICT (merchant_id, livemode, day) DO UPDATE SET n = c.n + EXCLUDED.n',
              delta)
$$;

-- Adds a set of ledger entries (`source`) to the settlement rollup: the customer
-- wallet's movements by reference type (a reversal carries its original's, so it nets
-- out), by hour and by day — the sums ledger_store.settlement reads at the edges.
CREATE FUNCTION settlement_rollup_statement(source text) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$
SELECT format('
    INSERT INTO settlement_rollup AS s (merchant_id, livemode, grain, bucket, currency,
                                        gross, charges, refunds, payments, refund_count)
    SELECT t.merchant_id, t.livemode, g.grain, date_trunc(g.grain, t.posted_at, ''UTC''),
           t.currency,
           COALESCE(SUM(CASE WHEN t.reference_type = ''payment'' THEN
               CASE e.direction WHEN ''debit'' THEN e.amount ELSE -e.amount END END), 0),
           COALESCE(SUM(CASE WHEN t.reference_type = ''fee'' THEN
               CASE e.direction WHEN ''credit'' THEN e.amount ELSE -e.amount END END), 0),
           COALESCE(SUM(CASE WHEN t.reference_type = ''refund'' THEN
               CASE e.direction WHEN ''credit'' THEN e.amount ELSE -e.amount END END), 0),
           COUNT(DISTINCT t.id) FILTER (WHERE t.reference_type = ''payment''
                                        AND t.reverses IS NULL),
           COUNT(DISTINCT t.id) FILTER (WHERE t.reference_type = ''refund''
                                        AND t.reverses IS NULL)
      FROM %I e
      JOIN ledger_transactions t ON t.id = e.transaction_pk
      JOIN ledger_accounts a ON a.id = e.account_pk AND a.code = ''customer_wallet''
     CROSS JOIN (VALUES (''hour''), (''day'')) AS g (grain)
     GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT (merchant_id, livemode, grain, bucket, currency) DO UPDATE
       SET gross = s.gross + EXCLUDED.gross, charges = s.charges + EXCLUDED.charges,
           refunds = s.refunds + EXCLUDED.refunds, payments = s.payments + EXCLUDED.payments,
           refund_count = s.refund_count + EXCLUDED.refund_count', source)
$$;

-- What is there already.
DO $$
DECLARE
    statement text;
BEGIN
    FOREACH statement IN ARRAY payment_rollup_statements(
            payment_rollup_rows('payment_projection', 1)) LOOP
        EXECUTE statement;
    END LOOP;
    EXECUTE customer_rollup_statement(customer_rollup_rows('customers', 1));
    EXECUTE settlement_rollup_statement('ledger_entries');
END $$;

-- The triggers: one call per statement (a consumer's batch is one), reading the
-- transition tables: an insert adds its rows' contributions, an update takes the old
-- rows' away and adds the new rows'. (EXECUTE sees the transition tables.)
CREATE FUNCTION payment_projection_rollups() RETURNS trigger LANGUAGE plpgsql
    SET search_path FROM CURRENT AS $$
DECLARE
    delta text := payment_rollup_rows('new_rows', 1);
    statement text;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        delta := delta || ' UNION ALL ' || payment_rollup_rows('old_rows', -1);
    END IF;
    FOREACH statement IN ARRAY payment_rollup_statements(delta) LOOP
        EXECUTE statement;
    END LOOP;
    RETURN NULL;
END $$;

CREATE TRIGGER payment_projection_rollups_insert AFTER INSERT ON payment_projection
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION payment_projection_rollups();
-- (Every update: a transition table cannot go with a column list. One that moves no
-- summed column, such as a refund's bookkeeping, nets to nothing and writes nothing.)
CREATE TRIGGER payment_projection_rollups_update AFTER UPDATE
    ON payment_projection
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION payment_projection_rollups();

CREATE FUNCTION customer_rollups() RETURNS trigger LANGUAGE plpgsql
    SET search_path FROM CURRENT AS $$
DECLARE
    delta text := customer_rollup_rows('new_rows', 1);
BEGIN
    IF TG_OP = 'UPDATE' THEN
        delta := delta || ' UNION ALL ' || customer_rollup_rows('old_rows', -1);
    END IF;
    EXECUTE customer_rollup_statement(delta);
    RETURN NULL;
END $$;

CREATE TRIGGER customers_rollups_insert AFTER INSERT ON customers
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION customer_rollups();
CREATE TRIGGER customers_rollups_update AFTER UPDATE ON customers
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION customer_rollups();

-- Ledger entries are immutable (ledger_immutable): an insert is the only change.
CREATE FUNCTION settlement_rollups() RETURNS trigger LANGUAGE plpgsql
    SET search_path FROM CURRENT AS $$
BEGIN
    EXECUTE settlement_rollup_statement('new_entries');
    RETURN NULL;
END $$;

CREATE TRIGGER ledger_entries_settlement_rollups AFTER INSERT ON ledger_entries
    REFERENCING NEW TABLE AS new_entries
    FOR EACH STATEMENT EXECUTE FUNCTION settlement_rollups();
