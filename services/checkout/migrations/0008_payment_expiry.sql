-- Why a payment was canceled, when it was not asked for: 'expired', set by the expiry
-- sweep (payments.sweep_expired), so a late confirm still answers "Payment session
-- expired". NULL for a merchant's or payer's cancel.
ALTER TABLE payments ADD COLUMN cancellation_reason text;
-- The sweep's query: pending payments by the end of their session. Partial, so it
-- stays as small as the payments still waiting for their payer.
CREATE INDEX payments_pending_expiry ON payments (expires_at) WHERE status = 'pending';
