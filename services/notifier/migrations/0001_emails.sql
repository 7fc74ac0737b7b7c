-- Every e-mail the notifier has sent, keyed by the event that asked for it.
CREATE TABLE emails (
    event_id      uuid PRIMARY KEY,
    recipients    text[] NOT NULL,
    subject       text NOT NULL,
    correlation_id text,
    message_id    text NOT NULL,
    sent_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX emails_sent_at ON emails (sent_at);
