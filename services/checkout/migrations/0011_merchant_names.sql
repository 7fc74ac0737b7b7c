-- NORAH's search by merchant name: the names payments were made under, one row per
-- merchant and name, so a search reads the caller's company's merchants (a few rows)
-- and then each matching merchant's payments through payments_merchant_mode_created,
-- never an ILIKE over every payment. Kept by triggers, whatever writes payments (the
-- API's batched insert, a name set later, a bulk load), in the writing transaction.
-- The lookups by trace and payment id use the unique indexes of 0001; the keyset pages
-- use the (…, livemode, created_at DESC, id DESC) indexes of 0009: no index is missing.
CREATE TABLE merchant_names (
    company_id   bigint NOT NULL,
    merchant_id  bigint NOT NULL,
    name         text NOT NULL,
    PRIMARY KEY (company_id, merchant_id, name)
);

INSERT INTO merchant_names (company_id, merchant_id, name)
SELECT DISTINCT company_id, merchant_id, merchant_name FROM payments
 WHERE merchant_name IS NOT NULL;

-- One call per INSERT statement (a batch of creates is one), reading the inserted rows
-- from the transition table. A name already known conflicts and is skipped without a
-- write; ORDER BY takes the keys of a batch in one order, so two batches never deadlock.
-- search_path is this schema's, also for a session that names checkout.payments.
CREATE FUNCTION remember_merchant_names() RETURNS trigger LANGUAGE plpgsql
    SET search_path FROM CURRENT AS $$
BEGIN
    INSERT INTO merchant_names (company_id, merchant_id, name)
    SELECT DISTINCT company_id, merchant_id, merchant_name FROM new_payments
     WHERE merchant_name IS NOT NULL
     ORDER BY 1, 2, 3
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;

CREATE TRIGGER payments_remember_merchant_names AFTER INSERT ON payments
    REFERENCING NEW TABLE AS new_payments
    FOR EACH STATEMENT EXECUTE FUNCTION remember_merchant_names();

-- A name set after the insert (status changes never name the column, so never fire it).
CREATE FUNCTION remember_merchant_name() RETURNS trigger LANGUAGE plpgsql
    SET search_path FROM CURRENT AS $$
BEGIN
    INSERT INTO merchant_names (company_id, merchant_id, name)
    VALUES (NEW.company_id, NEW.merchant_id, NEW.merchant_name)
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;

CREATE TRIGGER payments_remember_merchant_name AFTER UPDATE OF merchant_name ON payments
    FOR EACH ROW WHEN (NEW.merchant_name IS NOT NULL
                       AND NEW.merchant_name IS DISTINCT FROM OLD.merchant_name)
    EXECUTE FUNCTION remember_merchant_name();

-- A merchant is of one company: without this the planner multiplies the two filters'
-- selectivities (a merchant's list is in its company's scope too) and halves a big
-- merchant's row estimate, which is the total a long list shows.
CREATE STATISTICS payments_merchant_company (dependencies) ON merchant_id, company_id
    FROM payments;
