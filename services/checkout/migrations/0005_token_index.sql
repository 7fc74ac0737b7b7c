-- NORAH payment tokens are single use: find a payment by the token's id quickly.
CREATE INDEX payments_token_jti ON payments ((metadata->>'tokenJti'))
    WHERE metadata ? 'tokenJti';
