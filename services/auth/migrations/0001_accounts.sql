-- Companies, their users, and e-mail confirmation tokens.
CREATE TABLE companies (
    id               bigserial PRIMARY KEY,
    uid              uuid NOT NULL UNIQUE,
    name             text NOT NULL,
    address          text,
    description      text,
    phone            text,
    public_email     text,
    website          text,
    return_url       text,
    web_service_url  text,
    created_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    id             bigserial PRIMARY KEY,
    company_id     bigint REFERENCES companies (id),
    first_name     text NOT NULL,
    last_name      text NOT NULL,
    email          text NOT NULL,
    phone          text,
    password_hash  text NOT NULL,
    role           text NOT NULL CHECK (role IN ('SUPER', 'ADMIN', 'MERCHANT')),
    enabled        boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CHECK (role = 'SUPER' OR company_id IS NOT NULL)
);
-- One account per address, whatever its case.
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

-- Only a hash of each token is stored: a database dump confirms nobody.
CREATE TABLE email_confirmations (
    token_hash  text PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);
CREATE INDEX email_confirmations_user ON email_confirmations (user_id);
