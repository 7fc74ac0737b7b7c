-- Every e-mail of an invoice a merchant asked for (POST /api/v2/invoices/{id}/send):
-- what the per-invoice and per-recipient hourly caps count. `recipient` is the
-- customer's address in lower case, so one mailbox counts once however it is cased.
-- Rows older than the window are deleted by the send that looks at them.
CREATE TABLE invoice_sends (
    id           bigserial PRIMARY KEY,
    invoice_pk   bigint NOT NULL REFERENCES invoices (id),
    merchant_id  bigint NOT NULL,
    recipient    text NOT NULL,
    sent_at      timestamptz NOT NULL
);
CREATE INDEX invoice_sends_invoice ON invoice_sends (invoice_pk, sent_at);
CREATE INDEX invoice_sends_recipient ON invoice_sends (merchant_id, recipient, sent_at);
