-- Signed webhooks: endpoints, the events fanned out to them, deliveries and attempts.

CREATE TABLE webhook_endpoints (
    endpoint_id      text PRIMARY KEY,              -- ep_...
    company_id       bigint NOT NULL,
    merchant_id      bigint NOT NULL,
    source           text NOT NULL DEFAULT 'api' CHECK (source IN ('api', 'merchant')),
    url              text NOT NULL,
    description      text,
    event_types      text[] NOT NULL,               -- '*' subscribes to every type
    enabled          boolean NOT NULL DEFAULT true,
    ordered          boolean NOT NULL DEFAULT false,
    secret           text NOT NULL,                 -- sealed whsec_...
    previous_secret  text,                          -- sealed, valid until the grace ends
    previous_secret_until timestamptz,
    disabled_reason  text,
    failing_since    timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    deleted_at       timestamptz
);
CREATE INDEX webhook_endpoints_merchant ON webhook_endpoints (merchant_id)
    WHERE deleted_at IS NULL;
-- One implicit endpoint per merchant: its account's webServiceUrl.
CREATE UNIQUE INDEX webhook_endpoints_merchant_url ON webhook_endpoints (merchant_id)
    WHERE source = 'merchant' AND deleted_at IS NULL;

-- The exact body every attempt sends (so retries and redeliveries are byte-identical).
CREATE TABLE webhook_events (
    event_id     uuid PRIMARY KEY,
    event_type   text NOT NULL,
    company_id   bigint,
    merchant_id  bigint NOT NULL,
    occurred_at  timestamptz NOT NULL,
    body         bytea NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_events_merchant_time ON webhook_events (merchant_id, occurred_at);

CREATE TABLE webhook_deliveries (
    seq              bigserial PRIMARY KEY,         -- fan-out order (ordered endpoints)
    delivery_id      text NOT NULL UNIQUE,          -- dlv_...
    endpoint_id      text NOT NULL REFERENCES webhook_endpoints (endpoint_id),
    event_id         uuid NOT NULL REFERENCES webhook_events (event_id),
    occurred_at      timestamptz NOT NULL,          -- the event's: ordered endpoints follow it
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'succeeded', 'failed', 'canceled')),
    trigger          text NOT NULL DEFAULT 'event'
                     CHECK (trigger IN ('event', 'redelivery', 'test')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_attempt_at  timestamptz,
    last_status_code integer,
    last_error       text,
    completed_at     timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, seq);
CREATE INDEX webhook_deliveries_endpoint_pending ON webhook_deliveries
    (endpoint_id, occurred_at, seq) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_id);

CREATE TABLE webhook_attempts (
    id             bigserial PRIMARY KEY,
    delivery_seq   bigint NOT NULL REFERENCES webhook_deliveries (seq),
    attempt        integer NOT NULL,
    attempted_at   timestamptz NOT NULL DEFAULT now(),
    status_code    integer,
    error          text,
    response_ms    integer NOT NULL,
    response_body  text
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_seq, attempt);
