-- Sign-in throttling by growing delays instead of locks (sessions_api.py): one row
-- per key, "pair:<email>|<client>", "client:<client>" and "acct:<email>", a client
-- being an IPv4 address or an IPv6 /64. sign_in_failures (the old locks) is no
-- longer read; it stays until no replica of the previous release runs, so a rolling
-- update never meets a missing table.
CREATE TABLE sign_in_throttle (
    key            text PRIMARY KEY,
    failures       integer NOT NULL,
    last_at        timestamptz NOT NULL,
    blocked_until  timestamptz
);

-- Clients that signed in to an account with its password lately: the account-wide
-- ceiling on distributed guessing does not hold them back.
CREATE TABLE sign_in_clients (
    account  text NOT NULL,
    client   text NOT NULL,
    last_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account, client)
);
CREATE INDEX sign_in_clients_last_at ON sign_in_clients (last_at);
