-- Month rollups (docs/rollups.md): the dashboard's `year` (and every period that holds
-- whole months) reads one row per month for the months already over, and days only for
-- the rest, so a year is about 11 month rows and 30 day rows per key, not 365 day rows.
-- Kept by the same triggers in the same statements as the day rollups.

LOCK TABLE payment_projection, customers IN SHARE ROW EXCLUSIVE MODE;

CREATE TABLE payment_month_counts (
    company_id   bigint NOT NULL,
    merchant_id  bigint NOT NULL,
    livemode     boolean NOT NULL,
    currency     text NOT NULL,
    month        date NOT NULL,                  -- its first day (UTC)
    status       text NOT NULL,
    n            bigint NOT NULL,
    PRIMARY KEY (merchant_id, livemode, currency, month, status)
);
CREATE INDEX payment_month_counts_company ON payment_month_counts
    (company_id, livemode, currency, month);

CREATE TABLE revenue_months (
    company_id   bigint NOT NULL,
    merchant_id  bigint NOT NULL,
    livemode     boolean NOT NULL,
    currency     text NOT NULL,
    month        date NOT NULL,
    kind         text NOT NULL,
    product      text NOT NULL,
    revenue      numeric(78, 0) NOT NULL,
    n            bigint NOT NULL,
    PRIMARY KEY (merchant_id, livemode, currency, month, kind, product)
);
CREATE INDEX revenue_months_company ON revenue_months (company_id, livemode, currency, month);

CREATE TABLE customer_months (
    company_id   bigint NOT NULL,
    merchant_id  bigint NOT NULL,
    livemode     boolean NOT NULL,
    month        date NOT NULL,
    n            bigint NOT NULL,
    PRIMARY KEY (merchant_id, livemode, month)
);
CREATE INDEX customer_months_company ON customer_months (company_id, livemode, month);

-- What is there already: the months of the day rows (the same sums, grouped coarser).
INSERT INTO payment_month_counts (company_id, merchant_id, livemode, currency, month,
                                  status, n)
SELECT min(company_id), merchant_id, livemode, currency, date_trunc('month', day)::date,
       status, sum(n)
  FROM payment_day_counts GROUP BY 2, 3, 4, 5, 6 HAVING sum(n) <> 0;
INSERT INTO revenue_months (company_id, merchant_id, livemode, currency, month, kind,
                            product, revenue, n)
SELECT min(company_id), merchant_id, livemode, currency, date_trunc('month', day)::date,
       kind, product, sum(revenue), sum(n)
  FROM revenue_days GROUP BY 2, 3, 4, 5, 6, 7 HAVING sum(n) <> 0 OR sum(revenue) <> 0;
INSERT INTO customer_months (company_id, merchant_id, livemode, month, n)
SELECT min(company_id), merchant_id, livemode, date_trunc('month', day)::date, sum(n)
  FROM customer_days GROUP BY 2, 3, 4 HAVING sum(n) <> 0;

-- The triggers' statements now move the months too (the trigger functions call these).
CREATE OR REPLACE FUNCTION payment_rollup_statements(delta text) RETURNS text[]
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
            INSERT INTO payment_month_counts AS c (company_id, merchant_id, livemode,
                                                   currency, month, status, n)
            SELECT min(company_id), merchant_id, livemode, currency,
                   date_trunc(''month'', made)::date, status, sum(s)
              FROM d GROUP BY 2, 3, 4, 5, 6 HAVING sum(s) <> 0 ORDER BY 2, 3, 4, 5, 6
            ON CONFLICT (merchant_id, livemode, currency, month, status)
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
           delta),
    format('WITH d AS (%s)
            INSERT INTO revenue_months AS r (company_id, merchant_id, livemode, currency,
                                             month, kind, product, revenue, n)
            SELECT min(company_id), merchant_id, livemode, currency,
                   date_trunc(''month'', completed)::date, kind, product, sum(s * revenue),
                   sum(s)
              FROM d WHERE completed IS NOT NULL
             GROUP BY 2, 3, 4, 5, 6, 7 HAVING sum(s) <> 0 OR sum(s * revenue) <> 0
             ORDER BY 2, 3, 4, 5, 6, 7
            ON CONFLICT (merchant_id, livemode, currency, month, kind, product)
               DO UPDATE SET revenue = r.revenue + EXCLUDED.revenue, n = r.n + EXCLUDED.n',
           delta)]
$$;

-- One statement for both (its data-modifying CTE sees the same contributions).
CREATE OR REPLACE FUNCTION customer_rollup_statement(delta text) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$
SELECT format('WITH d AS (%s),
               days AS (
                   INSERT INTO customer_days AS c (company_id, merchant_id, livemode, day, n)
                   SELECT min(company_id), merchant_id, livemode, day, sum(s)
                     FROM d GROUP BY 2, 3, 4 HAVING sum(s) <> 0 ORDER BY 2, 3, 4
                   ON CONFLICT (merchant_id, livemode, day) DO UPDATE SET n = c.n + EXCLUDED.n
                   RETURNING 1)
               INSERT INTO customer_months AS c (company_id, merchant_id, livemode, month, n)
               SELECT min(company_id), merchant_id, livemode, date_trunc(''month'', day)::date,
                      sum(s)
                 FROM d GROUP BY 2, 3, 4 HAVING sum(s) <> 0 ORDER BY 2, 3, 4
               ON CONFLICT (merchant_id, livemode, month) DO UPDATE SET n = c.n + EXCLUDED.n',
              delta)
$$;
