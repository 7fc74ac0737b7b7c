"""Payments seeded in SQL in the shape the API writes them, for the plan tests
(tests/integration/test_transaction_plans.py, test_billing_plans.py) and the growth
benchmark (bench/growth.py): 60 % one merchant, the rest over 200 merchants of two
companies, one payment every `step` from `start`. Rows g in [low, high] of the series:
the same g makes the same payment in checkout and in billing's projection."""

from shared.ids import SORTED62


def _clock(at: str) -> str:
    """SQL for the eight clock characters shared.ids.record_id writes at the time `at`."""
    ms = f"floor(extract(epoch FROM {at}) * 1000)::bigint"
    return " || ".join(f"substr('{SORTED62}', ({ms} / {62 ** i} % 62)::int + 1, 1)"
                       for i in reversed(range(8)))


def _record_id(prefix: str, at: str, seed: str) -> str:
    """SQL for an id of shared.ids.record_id(24) made at `at`, its random part from
    md5(`seed`): the same seed makes the same id in checkout and in billing."""
    return f"'{prefix}' || {_clock(at)} || substr(md5({seed}), 1, 16)"


def _uuid7(at: str) -> str:
    """SQL for a version 7 UUID of the time `at` (shared.ids.uuid7), random bits from
    gen_random_uuid (whose variant it keeps)."""
    hexms = f"lpad(to_hex(floor(extract(epoch FROM {at}) * 1000)::bigint), 12, '0')"
    return (f"(substr({hexms}, 1, 8) || '-' || substr({hexms}, 9, 4) || '-7' || "
            "substr(gen_random_uuid()::text, 16, 3) || "
            "substr(gen_random_uuid()::text, 19))::uuid")


# Ids as the API makes them: time-ordered (shared/ids.py), here from the row's time.
PAYMENT_ID = _record_id("pay_", "created", "$1 || g")


# checkout.payments ($1 tag, $2 company, $3 the other company, $4 the big merchant, $5
# the small merchants' first id, $6 the big merchant's name, $7 the small ones' name
# prefix, $8 how many small merchants, $9 start, $10 step, $11 low, $12 high). Run as
# the checkout role or the administrator: its triggers (merchant names) fire.
CHECKOUT_PAYMENTS = f"""
WITH made AS (
    INSERT INTO payments (payment_id, trace, company_id, merchant_id, origin, amount,
        currency, metadata, status, payment_method, quote, charges, net_amount,
        refunded_amount, expires_at, created_at, updated_at, completed_at, canceled_at,
        failure_reason, merchant_name, livemode)
    SELECT {PAYMENT_ID}, {_uuid7("created")},
           CASE WHEN big OR k < 100 THEN $2::bigint ELSE $3::bigint END,
           CASE WHEN big THEN $4::bigint ELSE $5::bigint + k END,
           'norah', amount, CASE WHEN g % 4 = 0 THEN 'ZWG' ELSE 'USD' END, '{{}}'::jsonb,
           status, CASE WHEN g % 3 = 0 THEN 'ECOCASH' ELSE 'ZIMSWITCH' END,
           jsonb_build_object('charges', charges::text,
                              'netAmount', (amount - charges)::text,
                              'breakdown', jsonb_build_array(jsonb_build_object(
                                  'type', 'PERCENTAGE', 'value', 2.5,
                                  'amount', charges::text))),
           charges, amount - charges, 0, created + interval '1 hour', created,
           created + interval '2 seconds',
           CASE WHEN status = 'completed' THEN created + interval '2 seconds' END,
           CASE WHEN status = 'canceled' THEN created + interval '2 seconds' END,
           CASE WHEN status = 'failed' THEN 'Account declined' END,
           CASE WHEN big THEN $6 ELSE $7 || lpad(k::text, 3, '0') END, false
      FROM (SELECT g, g % 5 < 3 AS big, g / 5 % $8 AS k, 10000 + (g * 7919) % 90000 AS amount,
                   (10000 + (g * 7919) % 90000) * 25 / 1000 AS charges,
                   $9::timestamptz + g * $10::interval AS created,
                   -- Settled ones only: a pending or processing row would wake the
                   -- expiry sweep and the rail timeouts, which this test does not test.
                   CASE g % 20 WHEN 0 THEN 'failed' WHEN 1 THEN 'canceled'
                        ELSE 'completed' END AS status
              FROM generate_series($11::bigint, $12::bigint) AS g) AS s
    RETURNING id)
SELECT count(*) FROM made"""

# billing.payment_projection, the same payments ($1 tag, $2 company, $3 the other
# company, $4 the big merchant, $5 the small merchants' first id, $6 how many small
# merchants, $7 start, $8 step, $9 low, $10 high); the rollup triggers fire.
BILLING_PROJECTION = f"""
INSERT INTO billing.payment_projection (payment_id, company_id, merchant_id, status,
    status_rank, amount, currency, charges, refunded_amount, kind, product, customer_id,
    created_at, completed_at, livemode)
SELECT {PAYMENT_ID},
       CASE WHEN big OR k < 100 THEN $2::bigint ELSE $3::bigint END,
       CASE WHEN big THEN $4::bigint ELSE $5::bigint + k END,
       status, 2, amount, CASE WHEN g % 4 = 0 THEN 'ZWG' ELSE 'USD' END,
       amount * 25 / 1000, 0, CASE WHEN g % 10 = 0 THEN 'subscription' ELSE 'payment' END,
       'Product ' || (g % 20), 'cust_' || (g % 50000), created,
       CASE WHEN status = 'completed' THEN created + interval '2 seconds' END, false
  FROM (SELECT g, g % 5 < 3 AS big, g / 5 % $6 AS k, 10000 + (g * 7919) % 90000 AS amount,
               $7::timestamptz + g * $8::interval AS created,
               CASE g % 20 WHEN 0 THEN 'failed' WHEN 1 THEN 'canceled'
                    ELSE 'completed' END AS status
          FROM generate_series($9::bigint, $10::bigint) AS g) AS s"""

# The big merchant's ledger: its accounts ($1 merchant, $2 company), then one posting
# (two entries) per payment it completed in [$2, $3) — as the administrator with
# session_replication_role = replica (the balance check of millions of rows would cost
# minutes) — then their rollup rows as the trigger writes them.
BIG_LEDGER_ACCOUNTS = """
INSERT INTO billing.ledger_accounts (company_id, merchant_id, livemode, code, name, type,
                                     currency, debits, credits)
SELECT $2, $1, false, code, name, type, currency, 0, 0
  FROM (VALUES ('customer_wallet', 'Customer Wallet', 'asset'),
               ('revenue:product_sales', 'Revenue - Product Sales', 'revenue')) a
           (code, name, type)
 CROSS JOIN (VALUES ('USD'), ('ZWG')) c (currency)
ON CONFLICT DO NOTHING"""

BIG_LEDGER = f"""
WITH tx AS (
    INSERT INTO billing.ledger_transactions (transaction_id, company_id, merchant_id,
        livemode, reference_type, reference_id, description, currency, posted_at)
    SELECT {_record_id("ltx_", "completed_at", "payment_id")}, company_id, merchant_id, false,
           'payment', payment_id, 'Payment ' || payment_id, currency, completed_at
      FROM billing.payment_projection
     WHERE merchant_id = $1 AND completed_at >= $2 AND completed_at < $3
    RETURNING id, currency, reference_id)
INSERT INTO billing.ledger_entries (transaction_pk, account_pk, direction, amount)
SELECT tx.id, a.id, CASE WHEN a.code = 'customer_wallet' THEN 'debit' ELSE 'credit' END,
       p.amount
  FROM tx JOIN billing.ledger_accounts a
    ON a.merchant_id = $1 AND NOT a.livemode AND a.currency = tx.currency
  JOIN billing.payment_projection p ON p.payment_id = tx.reference_id"""

BIG_LEDGER_ROLLUP = """
INSERT INTO billing.settlement_rollup AS s (merchant_id, livemode, grain, bucket, currency,
                                            gross, charges, refunds, payments, refund_count)
SELECT t.merchant_id, false, g.grain, date_trunc(g.grain, t.posted_at, 'UTC'), t.currency,
       sum(e.amount), 0, 0, count(*), 0
  FROM billing.ledger_transactions t JOIN billing.ledger_entries e ON e.transaction_pk = t.id
  JOIN billing.ledger_accounts a ON a.id = e.account_pk AND a.code = 'customer_wallet'
 CROSS JOIN (VALUES ('hour'), ('day')) AS g (grain)
 WHERE t.merchant_id = $1 AND t.posted_at >= $2 AND t.posted_at < $3
 GROUP BY 1, 2, 3, 4, 5
ON CONFLICT (merchant_id, livemode, grain, bucket, currency) DO UPDATE
   SET gross = s.gross + EXCLUDED.gross, payments = s.payments + EXCLUDED.payments"""

# The big merchant's customers ($1 company, $2 merchant, $3 start, $4 how many).
BIG_CUSTOMERS = """
INSERT INTO billing.customers (company_id, merchant_id, livemode, customer_id, first_seen_at)
SELECT $1, $2, false, 'cust_' || g, $3::timestamptz + g * interval '20 minutes'
  FROM generate_series(1, $4::bigint) AS g ON CONFLICT DO NOTHING"""

# The big merchant's balance movements: one per payment it completed in [$2, $3),
# released (as the administrator, like the ledger).
BIG_MOVEMENTS = f"""
INSERT INTO billing.balance_transactions (balance_transaction_id, company_id, merchant_id,
    livemode, currency, type, source_id, amount, description, available_on, released,
    rail, created_at)
SELECT {_record_id("btx_", "completed_at", "payment_id")}, company_id, merchant_id, false,
       currency,
       'payment', payment_id, amount, 'Payment ' || payment_id,
       completed_at + interval '2 days', true, 'ZIMSWITCH', completed_at
  FROM billing.payment_projection
 WHERE merchant_id = $1 AND completed_at >= $2 AND completed_at < $3"""

# notifier: webhook events and their deliveries (the delivery log), for
# tests/integration/test_delivery_plans.py. Events g in [low, high] ($1 tag, $2 company,
# $3 the other company, $4 the big merchant, $5 the small merchants' first id, $6 how
# many small merchants, $7 start, $8 step, $9 low, $10 high): 60 % the big merchant's
# (one in twelve of them live), the rest over the small merchants, half in each company.
NOTIFIER_EVENTS = """
INSERT INTO webhook_events (event_id, event_type, company_id, merchant_id, occurred_at,
    livemode, body, created_at)
SELECT md5($1 || g)::uuid, type,
       CASE WHEN big OR k < $6 / 2 THEN $2::bigint ELSE $3::bigint END,
       CASE WHEN big THEN $4::bigint ELSE $5::bigint + k END, occurred,
       big AND g % 20 = 1,
       convert_to(json_build_object('id', md5($1 || g)::uuid, 'type', type,
                                    'created', extract(epoch FROM occurred)::bigint,
                                    'data', json_build_object('paymentId', 'pay_' || g,
                                        'amount', (10000 + g % 90000)::text,
                                        'currency', 'USD', 'status', 'completed'))::text,
                  'UTF8'),
       occurred
  FROM (SELECT g, g % 5 < 3 AS big, g / 5 % $6 AS k,
               $7::timestamptz + g * $8::interval AS occurred,
               CASE WHEN g % 50 = 0 THEN 'payment.failed'
                    WHEN g % 100 = 7 THEN 'refund.succeeded'
                    WHEN g % 250 = 11 THEN 'payout.paid'
                    ELSE 'payment.succeeded' END AS type
          FROM generate_series($9::bigint, $10::bigint) AS g) AS s"""

# The deliveries of those events, in the order they happened ($1 tag, $2 how many small
# merchants, $3 low, $4 high): each event to its merchant's endpoint (the big merchant's
# API endpoint of the event's mode, a small merchant's webServiceUrl), the big
# merchant's to its webServiceUrl too, and one in four to its company's webServiceUrl.
# Endpoint ids: ep_<tag>_test, _live, _big (the big merchant's), _s<k>, _coA, _coB.
# One in 200 failed, one in 1,000 canceled, the rest succeeded (none pending: the
# dispatcher would send them).
NOTIFIER_DELIVERIES = """
INSERT INTO webhook_deliveries (delivery_id, endpoint_id, event_id, occurred_at, status,
    trigger, attempts, next_attempt_at, last_attempt_at, last_status_code, last_error,
    completed_at, created_at, livemode, event_type)
SELECT 'dlv_' || md5($1 || g || '/' || ep), ep, ev.event_id, ev.occurred_at, status,
       'event', 1, ev.occurred_at, ev.occurred_at + interval '1 second',
       CASE status WHEN 'failed' THEN 500 WHEN 'canceled' THEN NULL ELSE 200 END,
       CASE status WHEN 'failed' THEN 'HTTP 500' END,
       ev.occurred_at + interval '1 second', ev.occurred_at, ev.livemode, ev.event_type
  FROM (SELECT g, md5($1 || g)::uuid AS event_id, ep,
               CASE WHEN abs(hashtext(ep || g)) % 1000 < 5 THEN 'failed'
                    WHEN abs(hashtext(ep || g)) % 1000 = 5 THEN 'canceled'
                    ELSE 'succeeded' END AS status
          FROM generate_series($3::bigint, $4::bigint) AS g
          CROSS JOIN LATERAL (VALUES
              (0, CASE WHEN g % 5 >= 3 THEN 'ep_' || $1 || '_s' || (g / 5 % $2)
                       WHEN g % 20 = 1 THEN 'ep_' || $1 || '_live'
                       ELSE 'ep_' || $1 || '_test' END),
              (1, CASE WHEN g % 5 < 3 THEN 'ep_' || $1 || '_big' END),
              (2, CASE WHEN g % 4 <> 0 THEN NULL
                       WHEN g % 5 < 3 OR g / 5 % $2 < $2 / 2 THEN 'ep_' || $1 || '_coA'
                       ELSE 'ep_' || $1 || '_coB' END)) AS t(n, ep)
         WHERE ep IS NOT NULL) AS s
  JOIN webhook_events ev ON ev.event_id = s.event_id
 ORDER BY s.g, s.ep"""
