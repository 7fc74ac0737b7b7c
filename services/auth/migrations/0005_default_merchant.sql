-- The merchant a company's users pay when a NORAH user payment token names none (an
-- ADMIN's /transaction/u/generate with the seed's body): the company's first merchant
-- unless an ADMIN chose another (POST /api/v1/admin/merchants/{id}/default).
ALTER TABLE companies ADD COLUMN default_merchant_id bigint REFERENCES merchants (id);
UPDATE companies c
   SET default_merchant_id = (SELECT min(m.id) FROM merchants m WHERE m.company_id = c.id);
