-- The version of the charge rules: bumped in the same transaction as every change to
-- `charges`, so a replica that read version N with its rules in one snapshot knows its
-- cache is current while N is (services/fees/rules_cache.py, shared/lease.py).
CREATE TABLE rules_version (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    version    bigint NOT NULL
);
INSERT INTO rules_version (singleton, version) VALUES (true, 1);

CREATE FUNCTION bump_rules_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE rules_version SET version = version + 1;
    RETURN NULL;
END $$;

CREATE TRIGGER charges_bump_rules_version
    AFTER INSERT OR UPDATE OR DELETE ON charges
    FOR EACH STATEMENT EXECUTE FUNCTION bump_rules_version();
