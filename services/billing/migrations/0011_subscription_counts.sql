-- Subscriptions by status, kept as counts (docs/rollups.md): the dashboard read every
-- subscription of the merchant to count them. Kept by statement triggers, in the
-- writing transaction, as the other rollups are: an insert adds its rows, a delete
-- takes them away, an update moves a row from its old status to its new one (an update
-- that changes no status, such as a renewal, nets to nothing and writes nothing).

LOCK TABLE subscriptions IN SHARE ROW EXCLUSIVE MODE;

CREATE TABLE subscription_counts (
    company_id   bigint NOT NULL,
    merchant_id  bigint NOT NULL,
    livemode     boolean NOT NULL,
    status       text NOT NULL,
    n            bigint NOT NULL,
    PRIMARY KEY (merchant_id, livemode, status)
);
CREATE INDEX subscription_counts_company ON subscription_counts (company_id, livemode);

CREATE FUNCTION subscription_count_rows(source text, sign integer) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$
SELECT format('SELECT company_id, merchant_id, livemode, status, %s AS s FROM %I',
              sign, source)
$$;

CREATE FUNCTION subscription_count_statement(delta text) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$
SELECT format('WITH d AS (%s)
               INSERT INTO subscription_counts AS c (company_id, merchant_id, livemode,
                                                     status, n)
               SELECT min(company_id), merchant_id, livemode, status, sum(s)
                 FROM d GROUP BY 2, 3, 4 HAVING sum(s) <> 0 ORDER BY 2, 3, 4
               ON CONFLICT (merchant_id, livemode, status) DO UPDATE SET n = c.n + EXCLUDED.n',
              delta)
$$;

-- What is there already, by the triggers' own statement.
DO $$
BEGIN
    EXECUTE subscription_count_statement(subscription_count_rows('subscriptions', 1));
END $$;

CREATE FUNCTION subscription_counts_rollup() RETURNS trigger LANGUAGE plpgsql
    SET search_path FROM CURRENT AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        EXECUTE subscription_count_statement(subscription_count_rows('new_rows', 1));
    ELSIF TG_OP = 'DELETE' THEN
        EXECUTE subscription_count_statement(subscription_count_rows('old_rows', -1));
    ELSE
        EXECUTE subscription_count_statement(subscription_count_rows('new_rows', 1)
            || ' UNION ALL ' || subscription_count_rows('old_rows', -1));
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER subscription_counts_insert AFTER INSERT ON subscriptions
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION subscription_counts_rollup();
CREATE TRIGGER subscription_counts_update AFTER UPDATE ON subscriptions
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION subscription_counts_rollup();
CREATE TRIGGER subscription_counts_delete AFTER DELETE ON subscriptions
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION subscription_counts_rollup();
