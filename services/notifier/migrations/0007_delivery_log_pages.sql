-- The delivery log pages by endpoint, mode and seq (docs/lists.md). A delivery's mode and
-- event type are its event's, copied when it is made (they never change), so a page walks
-- one index per endpoint and stops at the page: it no longer joins every delivery of the
-- endpoint to its event to learn the mode. The status and event-type filters have their
-- own ranges, so a rare value is as quick to list as a common one.
ALTER TABLE webhook_deliveries ADD COLUMN livemode boolean, ADD COLUMN event_type text;
UPDATE webhook_deliveries d SET livemode = ev.livemode, event_type = ev.event_type
  FROM webhook_events ev WHERE ev.event_id = d.event_id;
ALTER TABLE webhook_deliveries ALTER COLUMN livemode SET NOT NULL,
                               ALTER COLUMN event_type SET NOT NULL;

CREATE INDEX webhook_deliveries_endpoint_mode ON webhook_deliveries
    (endpoint_id, livemode, seq);
CREATE INDEX webhook_deliveries_endpoint_status ON webhook_deliveries
    (endpoint_id, livemode, status, seq);
CREATE INDEX webhook_deliveries_endpoint_type ON webhook_deliveries
    (endpoint_id, livemode, event_type, seq);
-- (endpoint_id, seq) served only the log's old walk.
DROP INDEX webhook_deliveries_endpoint;

-- The endpoints a page walks, deleted ones included (their deliveries stay in the log):
-- a company's, and a merchant's.
CREATE INDEX webhook_endpoints_company ON webhook_endpoints (company_id, merchant_id);
CREATE INDEX webhook_endpoints_merchant_all ON webhook_endpoints (merchant_id);
