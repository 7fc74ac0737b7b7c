-- The dashboard's series (docs/rollups.md): per UTC hour for `today` (and the day
-- before, its previous period), per UTC day otherwise. The hour rollups answer a day in
-- at most 24 rows per key instead of the day's payments; revenue_day_totals is
-- revenue_days without kind and product, so a year of days is 365 rows per currency,
-- not one per product too. Kept by the same triggers in the same statements as the day
-- and month rollups. Keyed by time before currency: the series reads every currency.

LOCK TABLE payment_projection IN SHARE ROW EXCLUSIVE MODE;

CREATE TABLE payment_hour_counts (
    company_id   bigint NOT NULL,
    merchant_id  bigint NOT NULL,
    livemode     boolean NOT NULL,
    currency     text NOT NULL,
    hour         timestamptz NOT NULL,
    status       text NOT NULL,
    n            bigint NOT NULL,
    PRIMARY KEY (merchant_id, livemode, hour, currency, status)
);
CREATE INDEX payment_hour_counts_company ON payment_hour_counts (company_id, livemode, hour);

-- Completed payments by the hour they completed, net of refunds (no kind or product:
-- the series sums them all).
CREATE TABLE revenue_hours (
    company_id   bigint NOT NULL,
    merchant_id  bigint NOT NULL,
    livemode     boolean NOT NULL,
    currency     text NOT NULL,
    hour         timestamptz NOT NULL,
    revenue      numeric(78, 0) NOT NULL,
    n            bigint NOT NULL,
    PRIMARY KEY (merchant_id, livemode, hour, currency)
);
CREATE INDEX revenue_hours_company ON revenue_hours (company_id, livemode, hour);

CREATE TABLE revenue_day_totals (
    company_id   bigint NOT NULL,
    merchant_id  bigint NOT NULL,
    livemode     boolean NOT NULL,
    currency     text NOT NULL,
    day          date NOT NULL,
    revenue      numeric(78, 0) NOT NULL,
    n            bigint NOT NULL,
    PRIMARY KEY (merchant_id, livemode, day, currency)
);
CREATE INDEX revenue_day_totals_company ON revenue_day_totals (company_id, livemode, day);

-- The contributions now carry the hours too (the columns before them are unchanged).
CREATE OR REPLACE FUNCTION payment_rollup_rows(source text, sign integer) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$
SELECT format('SELECT company_id, merchant_id, livemode, currency, status, kind, product, '
              'amount - refunded_amount AS revenue, '
              '(created_at AT TIME ZONE ''UTC'')::date AS made, '
              '(completed_at AT TIME ZONE ''UTC'')::date AS completed, %s AS s, '
              'date_trunc(''hour'', created_at, ''UTC'') AS made_hour, '
              'date_trunc(''hour'', completed_at, ''UTC'') AS completed_hour FROM %I',
              sign, source)
$$;

-- What is there already, by the statements the triggers will run (below).
INSERT INTO payment_hour_counts (company_id, merchant_id, livemode, currency, hour, status, n)
SELECT min(company_id), merchant_id, livemode, currency,
       date_trunc('hour', created_at, 'UTC'), status, count(*)
  FROM payment_projection GROUP BY 2, 3, 4, 5, 6;
INSERT INTO revenue_hours (company_id, merchant_id, livemode, currency, hour, revenue, n)
SELECT min(company_id), merchant_id, livemode, currency,
       date_trunc('hour', completed_at, 'UTC'), sum(amount - refunded_amount), count(*)
  FROM payment_projection WHERE completed_at IS NOT NULL GROUP BY 2, 3, 4, 5;
INSERT INTO revenue_day_totals (company_id, merchant_id, livemode, currency, day, revenue, n)
SELECT min(company_id), merchant_id, livemode, currency,
       (completed_at AT TIME ZONE 'UTC')::date, sum(amount - refunded_amount), count(*)
  FROM payment_projection WHERE completed_at IS NOT NULL GROUP BY 2, 3, 4, 5;

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
            INSERT INTO payment_hour_counts AS c (company_id, merchant_id, livemode,
                                                  currency, hour, status, n)
            SELECT min(company_id), merchant_id, livemode, currency, made_hour, status,
                   sum(s)
              FROM d GROUP BY 2, 3, 4, 5, 6 HAVING sum(s) <> 0 ORDER BY 2, 3, 5, 4, 6
            ON CONFLICT (merchant_id, livemode, hour, currency, status)
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
           delta),
    format('WITH d AS (%s)
            INSERT INTO revenue_hours AS r (company_id, merchant_id, livemode, currency,
                                            hour, revenue, n)
            SELECT min(company_id), merchant_id, livemode, currency, completed_hour,
                   sum(s * revenue), sum(s)
              FROM d WHERE completed_hour IS NOT NULL
             GROUP BY 2, 3, 4, 5 HAVING sum(s) <> 0 OR sum(s * revenue) <> 0
             ORDER BY 2, 3, 5, 4
            ON CONFLICT (merchant_id, livemode, hour, currency)
               DO UPDATE SET revenue = r.revenue + EXCLUDED.revenue, n = r.n + EXCLUDED.n',
           delta),
    format('WITH d AS (%s)
            INSERT INTO revenue_day_totals AS r (company_id, merchant_id, livemode,
                                                 currency, day, revenue, n)
            SELECT min(company_id), merchant_id, livemode, currency, completed,
                   sum(s * revenue), sum(s)
              FROM d WHERE completed IS NOT NULL
             GROUP BY 2, 3, 4, 5 HAVING sum(s) <> 0 OR sum(s * revenue) <> 0
             ORDER BY 2, 3, 5, 4
            ON CONFLICT (merchant_id, livemode, day, currency)
               DO UPDATE SET revenue = r.revenue + EXCLUDED.revenue, n = r.n + EXCLUDED.n',
           delta)]
$$;
