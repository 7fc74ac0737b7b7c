-- Test and live mode (docs/modes.md), and the company's webServiceUrl as an endpoint.

-- The mode an endpoint was registered in through the API. The implicit endpoints (a
-- merchant's or a company's webServiceUrl) receive both modes and ignore it.
ALTER TABLE webhook_endpoints ADD COLUMN livemode boolean NOT NULL DEFAULT false;

-- A company's endpoint belongs to no merchant: it receives the events of them all.
ALTER TABLE webhook_endpoints ALTER COLUMN merchant_id DROP NOT NULL;
ALTER TABLE webhook_endpoints DROP CONSTRAINT webhook_endpoints_source_check;
ALTER TABLE webhook_endpoints ADD CONSTRAINT webhook_endpoints_source_check
    CHECK (source IN ('api', 'merchant', 'company'));
ALTER TABLE webhook_endpoints ADD CONSTRAINT webhook_endpoints_merchant_check
    CHECK ((merchant_id IS NULL) = (source = 'company'));
-- One implicit endpoint per company: its webServiceUrl. The fan-out finds it by company.
CREATE UNIQUE INDEX webhook_endpoints_company_url ON webhook_endpoints (company_id)
    WHERE source = 'company' AND deleted_at IS NULL;

-- The event's mode (its data.livemode): deliveries are listed in it, and a redelivery
-- sends again only events of the caller's mode.
ALTER TABLE webhook_events ADD COLUMN livemode boolean NOT NULL DEFAULT false;
-- A time-range redelivery to a company's endpoint takes the company's events.
CREATE INDEX webhook_events_company_time ON webhook_events (company_id, occurred_at);

-- webhook_manual_sends.merchant_id: a company's endpoint spends the budget of the
-- company, kept under the negated company id (no merchant id is negative).
