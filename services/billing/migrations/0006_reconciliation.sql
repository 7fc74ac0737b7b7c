-- Three-way reconciliation (services/billing/reconciliation*.py): each imported
-- processor settlement file or bank statement, its summary, and its exceptions (the
-- lines and movements that did not match). Amounts are integer minor units, signed as
-- the file shows them (a credit is positive).

CREATE TABLE reconciliation_imports (
    id                   bigserial PRIMARY KEY,
    import_id            text NOT NULL UNIQUE,                -- rci_...
    company_id           bigint NOT NULL,
    merchant_id          bigint NOT NULL,
    livemode             boolean NOT NULL,
    source               text NOT NULL CHECK (source IN ('processor', 'bank')),
    format               text NOT NULL CHECK (format IN ('sandbox', 'csv', 'camt053')),
    rail                 text,
    file_sha256          text NOT NULL CHECK (file_sha256 ~ '^[0-9a-f]{64}$'),
    filename             text,
    line_count           integer NOT NULL CHECK (line_count > 0),
    period_start         date NOT NULL,
    period_end           date NOT NULL CHECK (period_end >= period_start),
    matched              integer NOT NULL,
    missing_from_ledger  integer NOT NULL,
    missing_from_file    integer NOT NULL,
    amount_mismatch      integer NOT NULL,
    date_mismatch        integer NOT NULL,
    resolved             integer NOT NULL DEFAULT 0,          -- exceptions resolved so far
    totals               jsonb NOT NULL DEFAULT '{}',         -- per currency: credits, debits
    created_by           text NOT NULL,                       -- user:<id>, api_key:<id>
    created_at           timestamptz NOT NULL,
    -- The same file imported twice is the same import.
    CONSTRAINT reconciliation_imports_once UNIQUE (merchant_id, livemode, file_sha256)
);
CREATE INDEX reconciliation_imports_merchant
    ON reconciliation_imports (merchant_id, livemode, created_at DESC, id DESC);
CREATE INDEX reconciliation_imports_company
    ON reconciliation_imports (company_id, livemode, created_at DESC, id DESC);

CREATE TABLE reconciliation_exceptions (
    id               bigserial PRIMARY KEY,
    exception_id     text NOT NULL UNIQUE,                    -- rcx_...
    import_pk        bigint NOT NULL REFERENCES reconciliation_imports (id),
    kind             text NOT NULL CHECK (kind IN
                     ('missing_from_ledger', 'missing_from_file', 'amount_mismatch',
                      'date_mismatch')),
    line_number      integer,                                 -- NULL: missing from the file
    refs             text[] NOT NULL,
    currency         text NOT NULL,
    file_amount      numeric(78, 0),
    ledger_amount    numeric(78, 0),
    file_date        date,
    ledger_date      date,
    movement_id      text,                                    -- btx_... or po_...
    movement_type    text,
    description      text NOT NULL DEFAULT '',
    resolution_note  text,
    resolved_by      text,
    resolved_at      timestamptz,
    CHECK ((line_number IS NULL) = (kind = 'missing_from_file')),
    CHECK ((resolved_at IS NULL) = (resolved_by IS NULL)
           AND (resolved_at IS NULL) = (resolution_note IS NULL))
);
CREATE INDEX reconciliation_exceptions_import
    ON reconciliation_exceptions (import_pk, line_number, id);
