-- The methods the merchant took when the payment was made (its account's
-- paymentMethods); NULL: every method.
ALTER TABLE payments ADD COLUMN methods text[];
