-- The payment methods a merchant takes; NULL means every method norgate offers.
ALTER TABLE merchants ADD COLUMN payment_methods text[];
