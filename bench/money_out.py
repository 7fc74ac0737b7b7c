"""Money out under load (issue 20), three phases of `make bench`:

balance   GET /api/v2/balance of a merchant whose test-mode USD book holds a million
          ledger entries (payments, their fees, their releases to available, seeded
          in SQL; then one real payout through the gateway, so the book has all three
          balance accounts): through the gateway with the merchant's API key, at 8
          connections paced under the merchant's plan (ENTERPRISE: 10,000 requests a
          minute; faster, the gateway answers 429), target p99 < 20 ms. The same route
          on billing alone, unpaced, shows what the route itself can do.
payouts   One payouts tick (POST /internal/payouts/tick on billing) making the daily
          automatic payouts of 10,000 merchants seeded in SQL (an available balance,
          a default BANK account, a daily schedule due now), target < 60 s; then the
          database must hold exactly 10,000 new automatic payouts, one a merchant, of
          all that was available, and every book must balance.
import    bench/reconciliation.py's import of a 100,000-line sandbox settlement file,
          target < 30 s.

Seeding writes balanced transactions with generate_series (one INSERT ... SELECT per
table, the per-row triggers off as pg_restore loads) and then sets each seeded account's
running totals (debits, credits) to the sums of its entries; `check_books` proves the
whole ledger even with set-wise queries, after each seed and after the payouts. The stack must
run with its payouts tick loop off (bench/run.py sets NORGATE_PAYOUT_TICK_SECONDS=3600),
so that only the benchmark's call makes the payouts.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
import asyncpg

from bench import reconciliation, wrk
from bench.stack import BenchStack, cpu_seconds, drain, onboard, peak_rss
from services.billing import ledger
from shared.crypto import SecretBox
from shared.principal import HEADER, Principal, sign
from tests.support.poll import poll_until

PHASES = ("balance", "payouts", "import")
BALANCE_P99_MS, PAYOUTS_SECONDS = 20.0, 60.0
IMPORT_SECONDS = reconciliation.TARGET_SECONDS
CURRENCY = "USD"
# ENTERPRISE allows 10,000 requests a minute per merchant (services/gateway/ratelimit.py):
# 150 a second stays under it whichever minute boundaries the phase straddles.
BALANCE_RATE, BALANCE_CONNECTIONS = 150.0, 8

_ACCOUNTS = [ledger.wallet(CURRENCY), ledger.revenue("Product Sales"), ledger.FEES,
             ledger.AVAILABLE, ledger.IN_TRANSIT, ledger.SETTLEMENT_BANK, ledger.PAYOUT_FEES]
WALLET, REVENUE = ledger.wallet(CURRENCY).code, ledger.revenue("Product Sales").code
FEES, AVAILABLE = ledger.FEES.code, ledger.AVAILABLE.code


def selected(only: set[str]) -> list[str]:
    """The money-out phases to run: those BENCH_ONLY names, or all in a full run."""
    return [p for p in PHASES if not only or p in only]


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


# Seeding --------------------------------------------------------------------------------

# A plan's rows are transactions (merchant_id, company_id, transaction_id, reference_type,
# reference_id, description, posted_at, amount, debit_code, credit_code, n): each becomes
# one ledger transaction and its two entries, a balanced pair, in one statement.
_LEDGER = """
WITH plan AS MATERIALIZED ({plan}),
lines AS (
    SELECT p.*, d.id AS debit_pk, c.id AS credit_pk FROM plan p
      JOIN billing.ledger_accounts d ON d.merchant_id = p.merchant_id AND NOT d.livemode
                                    AND d.currency = 'USD' AND d.code = p.debit_code
      JOIN billing.ledger_accounts c ON c.merchant_id = p.merchant_id AND NOT c.livemode
                                    AND c.currency = 'USD' AND c.code = p.credit_code),
tx AS (
    INSERT INTO billing.ledger_transactions (transaction_id, company_id, merchant_id,
        livemode, reference_type, reference_id, description, currency, posted_at)
    SELECT transaction_id, company_id, merchant_id, false, reference_type, reference_id,
           description, 'USD', posted_at FROM plan ORDER BY n
    RETURNING id, transaction_id)
INSERT INTO billing.ledger_entries (transaction_pk, account_pk, direction, amount)
SELECT tx.id, x.account_pk, x.direction, l.amount
  FROM lines l JOIN tx USING (transaction_id)
 CROSS JOIN LATERAL (VALUES (l.debit_pk, 'debit'), (l.credit_pk, 'credit'))
       AS x(account_pk, direction)
 ORDER BY tx.id, x.direction DESC"""

# Amounts of a payment numbered k (minor units): $10 to $1,000, its fee 2.9 % + 30 cents.
_AMOUNT = "(1000 + ({k} * 7919) % 99000)"
_FEE = f"(30 + {_AMOUNT} * 29 / 1000)"


def _amount(k: int) -> int:
    return 1000 + (k * 7919) % 99000


def _fee(k: int) -> int:
    return 30 + _amount(k) * 29 // 1000


async def _accounts(conn: asyncpg.Connection, merchants: list[int], company_id: int) -> None:
    """The test-mode USD accounts of each merchant (totals set from entries later)."""
    await conn.execute(
        """INSERT INTO billing.ledger_accounts (company_id, merchant_id, livemode, code, name,
                                                type, currency)
           SELECT $2, m, false, a.code, a.name, a.type, 'USD'
             FROM unnest($1::bigint[]) AS m,
                  unnest($3::text[], $4::text[], $5::text[]) AS a(code, name, type)
           ON CONFLICT (merchant_id, livemode, code, currency) DO NOTHING""",
        merchants, company_id, [a.code for a in _ACCOUNTS], [a.name for a in _ACCOUNTS],
        [a.type for a in _ACCOUNTS])


async def sync_totals(conn: asyncpg.Connection, merchants: list[int]) -> None:
    """Each account of these merchants' test USD books: running totals = its entries'
    sums (what every posting keeps them at)."""
    await conn.execute(
        """UPDATE billing.ledger_accounts a
              SET debits = s.debits, credits = s.credits
             FROM (SELECT e.account_pk,
                          coalesce(sum(e.amount) FILTER (WHERE e.direction = 'debit'), 0)
                              AS debits,
                          coalesce(sum(e.amount) FILTER (WHERE e.direction = 'credit'), 0)
                              AS credits
                     FROM billing.ledger_entries e
                     JOIN billing.ledger_accounts x ON x.id = e.account_pk
                    WHERE x.merchant_id = ANY($1::bigint[]) AND NOT x.livemode
                      AND x.currency = 'USD'
                    GROUP BY e.account_pk) s
            WHERE a.id = s.account_pk""", merchants)


async def _connect(admin: str) -> asyncpg.Connection:
    """The superuser's connection, in billing's schema: the ledger's commit-time balance
    check (ledger_balanced) names its tables without one."""
    return await asyncpg.connect(admin, server_settings={"search_path": "billing"})


async def _bulk(conn: asyncpg.Connection) -> None:
    """For this seeding transaction: the per-row triggers off, as pg_restore loads
    (foreign-key checks and the commit-time balance check cost 40 % of the seed, row by
    row); `check_books` then proves the same set-wise. Sorts in memory."""
    await conn.execute("SET LOCAL session_replication_role = replica")
    await conn.execute("SET LOCAL work_mem = '256MB'")


def _inserted(status: str) -> int:
    return int(status.rsplit(" ", 1)[-1])


SPACING_MINUTES = 3  # between a book's seeded payments
PENDING_CYCLES = 480  # the last day's payments (480 x 3 minutes), still pending


@dataclass(frozen=True)
class BookPlan:
    """A merchant's history as cycles: payment k, its fee, and (for all but the last
    `pending` cycles, of the past day) their release to available. Released cycles are
    a day older still, so each is past the two-day delay and no pending one becomes due
    within the run (the payouts tick must release nothing of this book)."""
    cycles: int
    pending: int

    @classmethod
    def of_entries(cls, entries: int) -> BookPlan:
        transactions = entries // 2
        if transactions < 3 * PENDING_CYCLES:
            raise ValueError(f"at least {6 * PENDING_CYCLES} entries")
        pending = PENDING_CYCLES + (3 - (transactions + PENDING_CYCLES) % 3) % 3
        return cls((transactions + pending) // 3, pending)  # 3 x cycles - pending = txs

    @property
    def transactions(self) -> int:
        return 3 * self.cycles - self.pending


async def seed_book(conn: asyncpg.Connection, *, company_id: int, merchant_id: int,
                    entries: int, tag: str) -> dict[str, Any]:
    """`entries` ledger entries (an even number) in the merchant's test USD book, three
    minutes apart over the past year, and a balance transaction per payment and fee."""
    plan = BookPlan.of_entries(entries)
    c, p = plan.cycles, plan.pending
    at = (f"(now() - ({c} - k) * interval '{SPACING_MINUTES} minutes'"
          f" - CASE WHEN k <= {c - p} THEN interval '1 day' ELSE interval '0' END)")
    rows = f"""
        SELECT {merchant_id}::bigint AS merchant_id, {company_id}::bigint AS company_id,
               'ltx_{tag}' || v.kind || k AS transaction_id, v.kind AS reference_type,
               CASE v.kind WHEN 'release' THEN 'rel_{tag}' || k
                           ELSE 'pay_{tag}' || k END AS reference_id,
               CASE v.kind WHEN 'payment' THEN 'Payment pay_{tag}' || k
                           WHEN 'fee' THEN 'Processing fee of payment pay_{tag}' || k
                           ELSE 'Balance available (rel_{tag}' || k || ')' END AS description,
               CASE v.kind WHEN 'release' THEN {at} + interval '2 days'
                           ELSE {at} END AS posted_at,
               CASE v.kind WHEN 'payment' THEN {_AMOUNT.format(k='k')}
                           WHEN 'fee' THEN {_FEE.format(k='k')}
                           ELSE {_AMOUNT.format(k='k')} - {_FEE.format(k='k')} END::numeric
                   AS amount,
               v.debit_code, v.credit_code, 3 * k + v.o AS n
          FROM generate_series(1, {c}) AS k,
               (VALUES ('payment', 0, '{WALLET}', '{REVENUE}'), ('fee', 1, '{FEES}', '{WALLET}'),
                       ('release', 2, '{AVAILABLE}', '{WALLET}'))
               AS v(kind, o, debit_code, credit_code)
         WHERE v.kind <> 'release' OR k <= {c - p}"""
    started = time.perf_counter()
    async with conn.transaction():
        await _bulk(conn)
        await _accounts(conn, [merchant_id], company_id)
        written = _inserted(await conn.execute(_LEDGER.format(plan=rows)))
        movements = _inserted(await conn.execute(f"""
            INSERT INTO billing.balance_transactions (balance_transaction_id, company_id,
                merchant_id, livemode, currency, type, source_id, amount, description,
                available_on, released, rail, ledger_transaction_id, created_at)
            SELECT 'btx_{tag}' || v.kind || k, {company_id}, {merchant_id}, false, 'USD',
                   v.kind, 'pay_{tag}' || k,
                   CASE v.kind WHEN 'payment' THEN {_AMOUNT.format(k='k')}
                               ELSE -{_FEE.format(k='k')} END,
                   CASE v.kind WHEN 'payment' THEN 'Payment pay_{tag}' || k
                               ELSE 'Processing fee of payment pay_{tag}' || k END,
                   {at} + interval '2 days', k <= {c - p}, 'VISA_MASTER',
                   'ltx_{tag}' || v.kind || k, {at}
              FROM generate_series(1, {c}) AS k, (VALUES ('payment'), ('fee')) AS v(kind)"""))
        await sync_totals(conn, [merchant_id])
    if written != 2 * plan.transactions:
        raise RuntimeError(f"seeded {written} entries, planned {2 * plan.transactions}")
    return {"entries": written, "transactions": plan.transactions,
            "balance_transactions": movements, "seed_s": round(time.perf_counter() - started, 1)}


async def seed_settlement_accounts(conn: asyncpg.Connection, box: SecretBox,
                                   merchants: list[int], company_id: int,
                                   tag: str) -> None:
    """A default USD BANK account per merchant, its number sealed as the API seals it
    (never ending 0001 or 0002, which the sandbox rail fails or returns)."""
    numbers = [f"62{m % 10**8:08d}9" for m in merchants]
    await conn.execute(
        """INSERT INTO billing.settlement_accounts (settlement_account_id, company_id,
               merchant_id, type, currency, bank_name, branch_code, account_name,
               number_sealed, number_last4, is_default, created_at, updated_at)
           SELECT 'sa_' || $5 || m, $2, m, 'BANK', 'USD', 'CBZ Bank', '6101',
                  'Bench Shop ' || m, sealed, last4, true, now(), now()
             FROM unnest($1::bigint[], $3::text[], $4::text[]) AS t(m, sealed, last4)""",
        merchants, company_id, [box.seal(n) for n in numbers], [n[-4:] for n in numbers],
        tag)


async def seed_payout_merchants(conn: asyncpg.Connection, box: SecretBox, *, company_id: int,
                                base: int, count: int, tag: str) -> dict[str, Any]:
    """`count` merchants (ids base..base+count-1, known to billing only) each with a
    payment, its fee and their release (so a positive available balance), a default USD
    BANK account and a daily payout schedule due a minute ago."""
    merchants = list(range(base, base + count))
    at = "now() - interval '3 days'"
    rows = f"""
        SELECT m AS merchant_id, {company_id}::bigint AS company_id,
               'ltx_{tag}' || v.kind || m AS transaction_id, v.kind AS reference_type,
               CASE v.kind WHEN 'release' THEN 'rel_{tag}' || m
                           ELSE 'pay_{tag}' || m END AS reference_id,
               CASE v.kind WHEN 'payment' THEN 'Payment pay_{tag}' || m
                           WHEN 'fee' THEN 'Processing fee of payment pay_{tag}' || m
                           ELSE 'Balance available (rel_{tag}' || m || ')' END AS description,
               CASE v.kind WHEN 'release' THEN {at} + interval '2 days'
                           ELSE {at} END AS posted_at,
               CASE v.kind WHEN 'payment' THEN {_AMOUNT.format(k='m')}
                           WHEN 'fee' THEN {_FEE.format(k='m')}
                           ELSE {_AMOUNT.format(k='m')} - {_FEE.format(k='m')} END::numeric
                   AS amount,
               v.debit_code, v.credit_code, 3 * (m - {base}) + v.o AS n
          FROM generate_series({base}::bigint, {base + count - 1}::bigint) AS m,
               (VALUES ('payment', 0, '{WALLET}', '{REVENUE}'), ('fee', 1, '{FEES}', '{WALLET}'),
                       ('release', 2, '{AVAILABLE}', '{WALLET}'))
               AS v(kind, o, debit_code, credit_code)"""
    started = time.perf_counter()
    async with conn.transaction():
        await _bulk(conn)
        await _accounts(conn, merchants, company_id)
        written = _inserted(await conn.execute(_LEDGER.format(plan=rows)))
        await conn.execute(f"""
            INSERT INTO billing.balance_transactions (balance_transaction_id, company_id,
                merchant_id, livemode, currency, type, source_id, amount, description,
                available_on, released, rail, ledger_transaction_id, created_at)
            SELECT 'btx_{tag}' || v.kind || m, {company_id}, m, false, 'USD', v.kind,
                   'pay_{tag}' || m,
                   CASE v.kind WHEN 'payment' THEN {_AMOUNT.format(k='m')}
                               ELSE -{_FEE.format(k='m')} END,
                   CASE v.kind WHEN 'payment' THEN 'Payment pay_{tag}' || m
                               ELSE 'Processing fee of payment pay_{tag}' || m END,
                   {at} + interval '2 days', true, 'VISA_MASTER',
                   'ltx_{tag}' || v.kind || m, {at}
              FROM generate_series({base}::bigint, {base + count - 1}::bigint) AS m,
                   (VALUES ('payment'), ('fee')) AS v(kind)""")
        await sync_totals(conn, merchants)
        await seed_settlement_accounts(conn, box, merchants, company_id, tag)
        await conn.execute(
            """INSERT INTO billing.payout_schedules (merchant_id, company_id, interval,
                   delay_days, minimum_amount, next_run_at, updated_at)
               SELECT m, $3, 'daily', 2, 0, now() - interval '1 minute', now()
                 FROM generate_series($1::bigint, $2::bigint) AS m""",
            base, base + count - 1, company_id)
    if written != 6 * count:
        raise RuntimeError(f"seeded {written} entries, planned {6 * count}")
    return {"merchants": count, "entries": written,
            "available": sum(_amount(m) - _fee(m) for m in merchants),
            "seed_s": round(time.perf_counter() - started, 1)}


async def check_books(conn: asyncpg.Connection) -> dict[str, Any]:
    """The whole ledger, set-wise: books whose debits and credits differ (the trial
    balance), transactions whose entries do not net to zero or that have none, entries
    of no transaction or account or of another book than their transaction's, accounts
    whose running totals differ from their entries' sums. All zero when it holds."""
    started = time.perf_counter()
    row = await conn.fetchrow("""
        SELECT
          (SELECT count(*) FROM (SELECT 1 FROM billing.ledger_accounts
                                  GROUP BY merchant_id, livemode, currency
                                 HAVING sum(debits) <> sum(credits)) b) AS unbalanced_books,
          (SELECT count(*) FROM (SELECT 1 FROM billing.ledger_entries GROUP BY transaction_pk
                                 HAVING sum(CASE direction WHEN 'debit' THEN amount
                                                           ELSE -amount END) <> 0) t)
              AS unbalanced_transactions,
          (SELECT count(*) FROM billing.ledger_transactions t
            WHERE NOT EXISTS (SELECT 1 FROM billing.ledger_entries e
                               WHERE e.transaction_pk = t.id)) AS empty_transactions,
          (SELECT count(*) FROM billing.ledger_entries e
             LEFT JOIN billing.ledger_transactions t ON t.id = e.transaction_pk
             LEFT JOIN billing.ledger_accounts a ON a.id = e.account_pk
            WHERE t.id IS NULL OR a.id IS NULL OR a.merchant_id <> t.merchant_id
               OR a.livemode <> t.livemode OR a.currency <> t.currency) AS stray_entries,
          (SELECT count(*) FROM billing.ledger_accounts a
             LEFT JOIN (SELECT account_pk,
                               sum(amount) FILTER (WHERE direction = 'debit') AS debits,
                               sum(amount) FILTER (WHERE direction = 'credit') AS credits
                          FROM billing.ledger_entries GROUP BY account_pk) e
                    ON e.account_pk = a.id
            WHERE a.debits <> coalesce(e.debits, 0) OR a.credits <> coalesce(e.credits, 0))
              AS accounts_off,
          (SELECT count(*) FROM billing.ledger_entries) AS entries""")
    out: dict[str, Any] = dict(row)
    out["even"] = not any(out[k] for k in ("unbalanced_books", "unbalanced_transactions",
                                           "empty_transactions", "stray_entries",
                                           "accounts_off"))
    out["check_s"] = round(time.perf_counter() - started, 1)
    return out


# Loads ----------------------------------------------------------------------------------

_PACED_GET = """
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clock, bench_timespec *ts);
]]
local ts = ffi.new("bench_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, ts)  -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end
local start, scheduled = nil, 0
request = function()
  return wrk.format("GET", PATH, HEADERS)
end
delay = function()
  if INTERVAL_MS <= 0 then
    return 0
  end
  local now = now_ms()
  start = start or now
  local due = start + scheduled * INTERVAL_MS
  scheduled = scheduled + 1
  if due <= now then
    return 0
  end
  return math.floor(due - now)
end
"""


async def _load(stack: BenchStack, origin: str, path: str, headers: dict[str, str], *,
                rate: float, connections: int, duration: float) -> dict[str, Any]:
    """wrk GETs of `path` on `origin` with `headers`, `rate` a second in all (0: as
    fast as it goes), and the services' CPU milliseconds per request."""
    threads = 2
    pids = {n: p.pid for n, p in stack.procs.items() if n != "mailsink" and p.pid}
    before = cpu_seconds(pids)
    result: dict[str, Any] = await asyncio.to_thread(
        wrk.run, origin + "/", _PACED_GET, connections=connections, duration=duration,
        threads=threads, data={"PATH": path, "HEADERS": headers,
                               "INTERVAL_MS": threads * 1000 / rate if rate > 0 else 0})
    after = cpu_seconds(pids)
    if result["requests"]:
        cpu = {n: round((after[n] - before[n]) * 1000 / result["requests"], 3) for n in pids}
        cpu["total"] = round(sum(cpu.values()), 3)
        result["cpu_ms_per_request"] = cpu
    result["target_requests_per_s"] = rate or None
    return result


async def _json(resp: aiohttp.ClientResponse, *expect: int) -> Any:
    body = await resp.json(content_type=None)
    if resp.status not in expect:
        raise RuntimeError(f"{resp.method} {resp.url.path}: {resp.status} {body}")
    return body


async def _entries_balance(conn: asyncpg.Connection, merchant_id: int) -> dict[str, int]:
    """The three balances summed from the book's entries (what the route must show,
    from the accounts' running totals)."""
    rows = await conn.fetch(
        """SELECT a.code, sum(CASE e.direction WHEN 'debit' THEN e.amount
                                                ELSE -e.amount END) AS net
             FROM billing.ledger_entries e JOIN billing.ledger_accounts a
               ON a.id = e.account_pk
            WHERE a.merchant_id = $1 AND NOT a.livemode AND a.currency = 'USD'
              AND a.code = ANY($2::text[]) GROUP BY a.code""",
        merchant_id, [WALLET, AVAILABLE, ledger.IN_TRANSIT.code])
    net = {r["code"]: int(r["net"]) for r in rows}
    return {"pending": net.get(WALLET, 0), "available": net.get(AVAILABLE, 0),
            "inTransit": net.get(ledger.IN_TRANSIT.code, 0)}


async def measure_balance(stack: BenchStack, admin: str, duration: float) -> dict[str, Any]:
    entries = _env_int("BENCH_BALANCE_ENTRIES", 1_000_000)
    rate = float(os.environ.get("BENCH_BALANCE_RATE", BALANCE_RATE))
    connections = _env_int("BENCH_BALANCE_CONNECTIONS", BALANCE_CONNECTIONS)
    [shop] = await onboard(stack, 1)
    merchant_id, key = shop["merchantId"], shop["key"]
    gw = stack.url()
    conn = await _connect(admin)
    try:
        company_id = await conn.fetchval("SELECT company_id FROM auth.merchants WHERE id = $1",
                                         merchant_id)
        tag = secrets.token_hex(3)
        seeded = await seed_book(conn, company_id=company_id, merchant_id=merchant_id,
                                 entries=entries, tag=tag)
        await seed_settlement_accounts(conn, SecretBox(stack.settings, "settlement-account"),
                                       [merchant_id], company_id, tag)
        headers = {"X-API-Key": key}
        async with aiohttp.ClientSession() as http:
            # One real payout, so in transit is a balance the code itself posted.
            await _json(await http.post(
                gw + "/api/v2/payouts/create", json={
                    "amount": "100000", "currency": CURRENCY, "description": "Bench payout"},
                headers={**headers, "Idempotency-Key": f"bench-payout-{tag}"}), 201)
            answer = (await _json(await http.get(gw + "/api/v2/balance", headers=headers,
                                                 params={"currency": CURRENCY}), 200))
        [shown] = answer["result"]["balances"]
        expected = await _entries_balance(conn, merchant_id)
        books = await check_books(conn)
        # What autovacuum would do after such an insert, and the seed's pages flushed,
        # so the phase measures reads, not the seed's aftermath.
        await conn.execute("ANALYZE billing.ledger_entries")
        await conn.execute("ANALYZE billing.ledger_transactions")
        await conn.execute("ANALYZE billing.balance_transactions")
        await conn.execute("CHECKPOINT")
    finally:
        await conn.close()
    path = f"/api/v2/balance?currency={CURRENCY}"
    await _load(stack, gw, path, headers, rate=rate, connections=connections,
                duration=2)  # warm-up: connections, pools, caches
    load = await _load(stack, gw, path, headers, rate=rate, connections=connections,
                       duration=duration)
    token = sign(Principal(kind="api_key", subject="bench", role="MERCHANT",
                           company_id=str(company_id), merchant_id=str(merchant_id)),
                 stack.settings, audience="billing", ttl=3600)
    alone = await _load(stack, stack.url("billing"), path, {HEADER: token}, rate=0,
                        connections=connections, duration=duration)
    return {"merchant_id": merchant_id, **seeded, "books": books,
            "answer": {k: shown[k] for k in ("pending", "available", "inTransit")},
            "answer_matches_entries": {k: int(shown[k]) for k in expected} == expected,
            "gateway": load, "billing_alone": alone, "target_p99_ms": BALANCE_P99_MS}


async def _count_payouts(conn: asyncpg.Connection, base: int, count: int) -> asyncpg.Record:
    return await conn.fetchrow(
        """SELECT count(*) AS payouts, count(DISTINCT merchant_id) AS merchants,
                  count(*) FILTER (WHERE automatic) AS automatic,
                  count(*) FILTER (WHERE status = 'paid') AS paid,
                  count(*) FILTER (WHERE status = 'failed') AS failed,
                  coalesce(sum(amount + fee), 0) AS taken
             FROM billing.payouts WHERE merchant_id BETWEEN $1 AND $2 AND NOT livemode""",
        base, base + count - 1)


async def measure_payouts(stack: BenchStack, admin: str) -> dict[str, Any]:
    count = _env_int("BENCH_PAYOUT_MERCHANTS", 10_000)
    tag = secrets.token_hex(3)
    base = 7_000_000_000 + secrets.randbelow(10**8) * 10**4  # ids of no one else
    company_id = 7_000_000_000 + secrets.randbelow(10**9)
    settings = stack.settings
    conn = await _connect(admin)
    watcher = await _connect(admin)
    try:
        seeded = await seed_payout_merchants(
            conn, SecretBox(settings, "settlement-account"), company_id=company_id,
            base=base, count=count, tag=tag)
        books_before = await check_books(conn)
        await conn.execute("CHECKPOINT")
        token = sign(Principal(kind="service", subject="bench"), settings, audience="billing",
                     ttl=3600)
        created_s: float | None = None

        async def watch(started: float) -> None:
            # When the last payout became visible: the tick also sends them to the rail
            # after making them, so its own time is both.
            nonlocal created_s
            while True:
                if (await _count_payouts(watcher, base, count))["payouts"] >= count:
                    created_s = round(time.perf_counter() - started, 2)
                    return
                await asyncio.sleep(0.25)

        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=900)) as http:
            started = time.perf_counter()
            watching = asyncio.create_task(watch(started))
            try:
                report = await _json(await http.post(
                    stack.url("billing") + "/internal/payouts/tick", json={},
                    headers={HEADER: token}), 200)
            finally:
                tick_s = round(time.perf_counter() - started, 2)
                watching.cancel()
        made = await _count_payouts(conn, base, count)
        if created_s is None and made["payouts"] >= count:
            created_s = tick_s  # the last ones appeared after the watcher's last look

        async def all_settled() -> Any:
            now = await _count_payouts(conn, base, count)
            return now if now["paid"] + now["failed"] >= now["payouts"] else None

        try:  # the sandbox rail calls back each payout 2 s after it was sent
            settled: Any = await poll_until(all_settled, timeout=300, interval=0.5,
                                            what="the payouts paid")
            paid_s: float | None = round(time.perf_counter() - started, 1)
        except AssertionError:
            settled, paid_s = await _count_payouts(conn, base, count), None
        drain_s = await drain(admin, settings.amqp_url, settings.events_namespace, timeout=300)
        books = await check_books(conn)
        left = await conn.fetchval(
            """SELECT count(*) FROM billing.ledger_accounts
                WHERE merchant_id BETWEEN $1 AND $2 AND code = $3 AND debits <> credits""",
            base, base + count - 1, AVAILABLE)
        await conn.execute("CHECKPOINT")
    finally:
        await watcher.close()
        await conn.close()
    ok = (report.get("scheduled") == count and made["payouts"] == count
          and made["automatic"] == count and made["merchants"] == count
          and int(made["taken"]) == seeded["available"] and left == 0 and books["even"])
    return {**seeded, "tick": report, "tick_s": tick_s, "created_s": created_s,
            "payouts_per_s": round(count / tick_s, 1) if tick_s else None,
            "new_automatic_payouts": made["automatic"], "merchants_paid": made["merchants"],
            "taken": int(made["taken"]), "available_left": left,
            "paid": settled["paid"], "failed": settled["failed"], "settled_s": paid_s,
            "drain_s": drain_s, "books_before": books_before, "books": books,
            "correct": ok, "target_s": PAYOUTS_SECONDS,
            # The target: the scheduler *creating* them (the tick then also
            # sends them to the rail, reported as tick_s).
            "met": ok and created_s is not None and created_s < PAYOUTS_SECONDS}


async def measure_import(stack: BenchStack) -> dict[str, Any]:
    """bench/reconciliation.py's phase; its failure is the row's, not the run's."""
    lines = _env_int("BENCH_IMPORT_LINES", 100_000)
    settings = stack.settings
    pool = await asyncpg.create_pool(settings.dsn_of("billing"), min_size=1, max_size=2)
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=900)) as http:
            return await reconciliation.bench_import(http, stack.url("billing"), settings,
                                                     pool, lines=lines)
    except Exception as exc:  # another helper's code, still changing: say what broke
        return {"lines": lines, "error": f"{type(exc).__name__}: {exc}"[:500],
                "target_s": IMPORT_SECONDS, "met": False}
    finally:
        await pool.close()


def _peaks(stack: BenchStack) -> dict[str, float]:
    """Each service's peak RSS so far (VmHWM, MB): read after each phase, it shows which
    phase raised it."""
    return {name: mem["peak_mb_max"] for name, mem in peak_rss(
        {n: p.pid for n, p in stack.procs.items() if n != "mailsink" and p.pid}).items()}


async def measure(stack: BenchStack, admin: str, phases: list[str],
                  duration: float) -> dict[str, Any]:
    out: dict[str, Any] = {"started_at": datetime.now(UTC).isoformat(),
                           "peak_rss_mb_before": _peaks(stack)}
    for phase in phases:
        if phase == "balance":
            out[phase] = await measure_balance(stack, admin, duration)
        elif phase == "payouts":
            out[phase] = await measure_payouts(stack, admin)
        else:
            out[phase] = await measure_import(stack)
        out[phase]["peak_rss_mb_after"] = _peaks(stack)
        out[phase]["helper_peak_rss_mb_after"] = _helper_peaks(stack)
    return out


def _helper_peaks(stack: BenchStack) -> dict[str, float]:
    """The largest helper process each service spawned so far (MB, when any is alive)."""
    return {name: mem["helper_peak_mb"] for name, mem in peak_rss(
        {n: p.pid for n, p in stack.procs.items() if n != "mailsink" and p.pid}).items()
        if mem["helper_peak_mb"]}
