-- The notifier's cap on mail to one address (services/notifier/events.py): one row per
-- address an e-mail went to, kept about as long as the hourly window looks back. The
-- address is the normalised mailbox (lower case, no +tag), so one mailbox counts once.
CREATE TABLE email_recipient_sends (
    address  text NOT NULL,
    sent_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX email_recipient_sends_address ON email_recipient_sends (address, sent_at);
CREATE INDEX email_recipient_sends_sent_at ON email_recipient_sends (sent_at);

-- What each e-mail request came to: `recipients` it went to, `suppressed` the addresses
-- left out because they had their hour's mail; a request whose every address was left
-- out sent nothing, so it has no Message-ID.
ALTER TABLE emails ADD COLUMN suppressed text[] NOT NULL DEFAULT '{}';
ALTER TABLE emails ALTER COLUMN message_id DROP NOT NULL;
