-- NORAH receipts: one PDF per payment, rendered once and kept (a second request
-- for the same payment answers the stored one).
CREATE TABLE receipts (
    receipt_id  text PRIMARY KEY,
    payment_pk  bigint NOT NULL UNIQUE REFERENCES payments (id),
    pdf         bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
