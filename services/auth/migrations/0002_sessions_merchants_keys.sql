-- Sessions, merchants, API keys and apps.

-- Access tokens are signed with Ed25519 keys kept here (private half sealed
-- with a key derived from NORGATE_SECRET_KEY). A retired key stays published
-- in the JWKS until every token it signed has expired.
CREATE TABLE signing_keys (
    kid          text PRIMARY KEY,
    private_key  text NOT NULL,
    public_jwk   jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    retired_at   timestamptz
);

-- Refresh tokens rotate within a family; presenting a used one revokes the family.
CREATE TABLE refresh_tokens (
    token_hash  text PRIMARY KEY,
    family      uuid NOT NULL,
    user_id     bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    issued_at   timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    revoked_at  timestamptz
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);

-- Failed sign-ins per account ("acct:<email>") and per client ("ip:<addr>").
CREATE TABLE sign_in_failures (
    key           text PRIMARY KEY,
    failures      integer NOT NULL,
    first_at      timestamptz NOT NULL,
    locked_until  timestamptz
);

CREATE TABLE merchants (
    id               bigserial PRIMARY KEY,
    uid              uuid NOT NULL UNIQUE,
    company_id       bigint NOT NULL REFERENCES companies (id),
    name             text NOT NULL,
    email            text NOT NULL,
    address          text,
    phone            text,
    country          text,
    city             text,
    website          text,
    description      text,
    return_url       text,
    web_service_url  text,
    status           text NOT NULL DEFAULT 'DEVELOPMENT'
                     CHECK (status IN ('DEVELOPMENT', 'ACTIVE', 'INACTIVE')),
    rate_plan        text NOT NULL DEFAULT 'STARTER'
                     CHECK (rate_plan IN ('STARTER', 'PROFESSIONAL', 'ENTERPRISE')),
    secret           text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX merchants_company ON merchants (company_id);

ALTER TABLE users
    ADD COLUMN merchant_id bigint REFERENCES merchants (id),
    ADD COLUMN secret text,
    ADD COLUMN notes text,
    ADD COLUMN deleted_at timestamptz,
    ADD COLUMN confirmed_at timestamptz,
    ADD CONSTRAINT users_merchant_role CHECK (role <> 'MERCHANT' OR merchant_id IS NOT NULL);

-- Confirmation tokens also serve merchant invitations (set a password).
ALTER TABLE email_confirmations
    ADD COLUMN purpose text NOT NULL DEFAULT 'confirm' CHECK (purpose IN ('confirm', 'invite'));

CREATE TABLE apps (
    id              bigserial PRIMARY KEY,
    app_id          text NOT NULL UNIQUE,
    company_id      bigint NOT NULL REFERENCES companies (id),
    merchant_id     bigint REFERENCES merchants (id),
    name            text NOT NULL,
    type            text NOT NULL DEFAULT 'individual' CHECK (type IN ('individual', 'marketplace')),
    status          text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'inactive')),
    use_explorer    boolean NOT NULL DEFAULT true,
    kyc_return_url  text,
    app_fee         numeric(9, 4) NOT NULL DEFAULT 0 CHECK (app_fee >= 0 AND app_fee <= 100),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    deleted_at      timestamptz
);
CREATE INDEX apps_company ON apps (company_id);

-- API keys: only a SHA-256 of the key is kept (keys are 240-bit random, so a
-- fast hash is enough); the prefix lets people tell their keys apart.
CREATE TABLE api_keys (
    id            bigserial PRIMARY KEY,
    key_id        text NOT NULL UNIQUE,
    prefix        text NOT NULL,
    key_hash      text NOT NULL UNIQUE,
    name          text,
    company_id    bigint NOT NULL REFERENCES companies (id),
    merchant_id   bigint NOT NULL REFERENCES merchants (id),
    app_id        bigint REFERENCES apps (id),
    created_by    bigint REFERENCES users (id),
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz,
    revoked_at    timestamptz
);
CREATE INDEX api_keys_merchant ON api_keys (merchant_id);

-- Accounts enabled before this migration had confirmed their address.
UPDATE users SET confirmed_at = updated_at WHERE enabled;
