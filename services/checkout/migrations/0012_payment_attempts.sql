-- Declined attempts a shopper's checkout page let them retry (domain.MAX_FAILED_ATTEMPTS):
-- the payment stays pending and each attempt is a payment_history row
-- ('attempt_failed'); this counts them so the next decline knows whether it is the last.
ALTER TABLE payments ADD COLUMN failed_attempts smallint NOT NULL DEFAULT 0
    CHECK (failed_attempts >= 0);
