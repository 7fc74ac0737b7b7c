"""The dashboard and the settlement report read rollups, never a merchant's history, at a
million payments.

A million payments are written in SQL as billing's projection holds them (60 % one
merchant, the rest over 200 merchants of two companies, two years; the rollup triggers
fire as they do for the consumer's batches), and the big merchant's ledger postings are
written with their rollup rows. Each endpoint is called through the billing app; every
statement it ran is EXPLAIN ANALYZEd with its own arguments: none may scan the
projection, the ledger's entries or transactions sequentially, and a merchant's own
report reads at most a few thousand rows (a year of days, whatever the history). Times
are printed, never asserted. The rows are deleted at the end."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from services.billing import ledger_store, projections
from tests.integration.test_billing_api import billing_stack
from tests.integration.test_transaction_plans import _nodes, _Recorder
from tests.support.auth import Account, make_company_admin, make_merchant

pytestmark = pytest.mark.timeout(300)

PAYMENTS = 1_000_000
SMALL_MERCHANTS = 200
SMALL_BASE = 9_100_000_000  # merchants that exist only in these rows
STEP = timedelta(seconds=63)  # two years
RAW = {"payment_projection", "ledger_entries", "ledger_transactions", "customers"}
ROLLUPS = {"payment_day_counts", "revenue_days", "customer_days", "settlement_rollup"}

_SEED = """
INSERT INTO payment_projection (payment_id, company_id, merchant_id, status, status_rank,
    amount, currency, charges, refunded_amount, kind, product, customer_id, created_at,
    completed_at, livemode)
SELECT 'pay_' || substr(md5($1 || g), 1, 24),
       CASE WHEN big OR k < 100 THEN $2::bigint ELSE $3::bigint END,
       CASE WHEN big THEN $4::bigint ELSE $5::bigint + k END,
       status, CASE status WHEN 'completed' THEN 2 ELSE 2 END, amount,
       CASE WHEN g % 4 = 0 THEN 'USD' ELSE 'NOR' END, amount / 40, 0,
       CASE WHEN g % 10 = 0 THEN 'subscription' ELSE 'payment' END,
       'Product ' || (g % 20), 'cust_' || (g % 50000), created,
       CASE WHEN status = 'completed' THEN created + interval '2 seconds' END, false
  FROM (SELECT g, g % 5 < 3 AS big, g / 5 % $6 AS k, 10000 + (g * 7919) % 90000 AS amount,
               $7::timestamptz + g * $8::interval AS created,
               CASE g % 20 WHEN 0 THEN 'failed' WHEN 1 THEN 'canceled'
                    ELSE 'completed' END AS status
          FROM generate_series($9::bigint, $10::bigint) AS g) AS s"""

# The big merchant's completed payments' postings (one transaction, two entries each),
# as the admin without triggers (the balance check of two million rows would cost a
# minute), then their rollup rows as the trigger writes them.
_LEDGER = """
WITH accounts AS (
    INSERT INTO ledger_accounts (company_id, merchant_id, livemode, code, name, type,
                                 currency, debits, credits)
    SELECT $2, $1, false, code, name, type, currency, 0, 0
      FROM (VALUES ('customer_wallet', 'Customer Wallet', 'asset'),
                   ('revenue:product_sales', 'Revenue - Product Sales', 'revenue')) a
               (code, name, type)
     CROSS JOIN (VALUES ('NOR'), ('USD')) c (currency)
    RETURNING id, code, currency),
tx AS (
    INSERT INTO ledger_transactions (transaction_id, company_id, merchant_id, livemode,
        reference_type, reference_id, description, currency, posted_at)
    SELECT 'ltx_' || substr(md5(payment_id), 1, 24), company_id, merchant_id, false,
           'payment', payment_id, 'Payment ' || payment_id, currency, completed_at
      FROM payment_projection WHERE merchant_id = $1 AND completed_at IS NOT NULL
    RETURNING id, currency, reference_id)
INSERT INTO ledger_entries (transaction_pk, account_pk, direction, amount)
SELECT tx.id, a.id, CASE WHEN a.code = 'customer_wallet' THEN 'debit' ELSE 'credit' END,
       p.amount
  FROM tx JOIN accounts a ON a.currency = tx.currency
  JOIN payment_projection p ON p.payment_id = tx.reference_id"""

_LEDGER_ROLLUP = """
INSERT INTO settlement_rollup (merchant_id, livemode, grain, bucket, currency, gross,
                               charges, refunds, payments, refund_count)
SELECT t.merchant_id, false, g.grain, date_trunc(g.grain, t.posted_at, 'UTC'), t.currency,
       sum(e.amount), 0, 0, count(*), 0
  FROM ledger_transactions t JOIN ledger_entries e ON e.transaction_pk = t.id
  JOIN ledger_accounts a ON a.id = e.account_pk AND a.code = 'customer_wallet'
 CROSS JOIN (VALUES ('hour'), ('day')) AS g (grain)
 WHERE t.merchant_id = $1 GROUP BY 1, 2, 3, 4, 5"""


@dataclass(frozen=True)
class Seeded:
    client: Any
    admin: Account
    big: Account


async def _as_admin(settings, sql: str, *args: Any, replica: bool = False) -> Any:
    conn = await asyncpg.connect(settings.database_url)
    try:
        await conn.execute("SET search_path TO billing")
        async with conn.transaction():
            if replica:
                await conn.execute("SET LOCAL session_replication_role = replica")
            return await conn.execute(sql, *args)
    finally:
        await conn.close()


async def _seed(settings, *args: Any) -> None:
    conn = await asyncpg.connect(settings.dsn_of("billing"))  # as billing: triggers fire
    try:
        await conn.execute(_SEED, *args)
    finally:
        await conn.close()


@pytest.fixture(scope="module")
async def million(settings) -> AsyncIterator[Seeded]:
    async with billing_stack(settings) as (client, _checkout, _app):
        admin = await make_company_admin(settings)
        other = await make_company_admin(settings)
        big = await make_merchant(settings, admin, name="Bigstore", status="ACTIVE")
        assert big.merchant_id is not None
        tag = secrets.token_hex(4)
        start = datetime.now(UTC) - PAYMENTS * STEP - timedelta(days=1)
        args = (tag, admin.company_id, other.company_id, big.merchant_id, SMALL_BASE,
                SMALL_MERCHANTS, start, STEP)
        started = time.perf_counter()
        try:
            await asyncio.gather(*(_seed(settings, *args, low, high) for low, high in
                                   ((1, PAYMENTS // 2), (PAYMENTS // 2 + 1, PAYMENTS))))
            await _as_admin(settings, "INSERT INTO customers (company_id, merchant_id, "
                            "livemode, customer_id, first_seen_at) SELECT $1, $2, false, "
                            "'cust_' || g, $3::timestamptz + g * interval '20 minutes' "
                            "FROM generate_series(1, 50000) g",
                            admin.company_id, big.merchant_id, start)
            await _as_admin(settings, _LEDGER, big.merchant_id, admin.company_id,
                            replica=True)
            await _as_admin(settings, _LEDGER_ROLLUP, big.merchant_id)
            for table in RAW | ROLLUPS:
                await _as_admin(settings, f"ANALYZE {table}")
            print(f"\nseeded {PAYMENTS:,} payments, their rollups and the big merchant's "
                  f"ledger in {time.perf_counter() - started:.1f} s")
            yield Seeded(client, admin, big)
        finally:
            merchants = (big.merchant_id, SMALL_BASE, SMALL_BASE + SMALL_MERCHANTS)
            where = "merchant_id = $1 OR merchant_id BETWEEN $2 AND $3"
            await _as_admin(settings, "DELETE FROM ledger_entries WHERE transaction_pk IN "
                            "(SELECT id FROM ledger_transactions WHERE merchant_id = $1)",
                            big.merchant_id, replica=True)
            for table in ("ledger_transactions", "ledger_accounts", "payment_projection",
                          "customers", *sorted(ROLLUPS)):
                await _as_admin(settings, f"DELETE FROM {table} WHERE {where}", *merchants,
                                replica=True)
            conn = await asyncpg.connect(settings.database_url)
            try:  # later tests plan and scan tables of their own size again
                for table in RAW:
                    await conn.execute(f"VACUUM ANALYZE billing.{table}")
            finally:
                await conn.close()


@pytest.fixture
def statements(monkeypatch) -> list[tuple[str, tuple]]:
    seen: list[tuple[str, tuple]] = []
    for module, name in ((projections, "dashboard"), (ledger_store, "settlement")):
        real = getattr(module, name)

        async def recording(conn, *, _real=real, **kwargs):
            return await _real(_Recorder(conn, seen), **kwargs)

        monkeypatch.setattr(module, name, recording)
    return seen


def _leaf_rows(plan: dict, tables: set[str]) -> int:
    """Rows the plan's scans of these tables actually read (all loops)."""
    return sum(int(n.get("Actual Rows", 0)) * int(n.get("Actual Loops", 1))
               for n in _nodes(plan) if n.get("Relation Name") in tables)


async def test_dashboards_and_settlement_read_rollups_not_history(settings, million,
                                                                  statements, capsys):
    big, admin = million.big, million.admin
    now = int(time.time())
    cases = [
        ("dashboard today", big, "/api/v2/merchants/dashboard", {"period": "today"}, True),
        ("dashboard year", big, "/api/v2/merchants/dashboard", {"period": "year"}, True),
        ("dashboard year USD", big, "/api/v2/merchants/dashboard",
         {"period": "year", "currency": "USD"}, True),
        ("dashboard year (company)", admin, "/api/v2/merchants/dashboard",
         {"period": "year"}, False),
        ("settlement today", admin, "/api/v2/ledger/settlement",
         {"merchantId": big.merchant_id, "period": "today"}, True),
        ("settlement year", admin, "/api/v2/ledger/settlement",
         {"merchantId": big.merchant_id, "period": "year"}, True),
        ("settlement 400 days, odd seconds", big, "/api/v2/ledger/settlement",
         {"from": now - 400 * 86400 - 1234, "to": now - 4321}, True),
    ]
    timings = []
    conn = await asyncpg.connect(settings.dsn_of("billing"))
    try:
        for name, who, path, params, own in cases:
            statements.clear()
            started = time.perf_counter()
            resp = await million.client.get(path, headers=who.headers(settings),
                                            params=params)
            elapsed = (time.perf_counter() - started) * 1000
            body = await resp.json()
            assert resp.status == 200, (name, body)
            assert statements, name
            read = 0
            for sql, args in statements:
                raw = await conn.fetchval(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", *args)
                plan = json.loads(raw)[0]["Plan"]
                nodes = list(_nodes(plan))
                assert not [n for n in nodes if n["Node Type"] == "Seq Scan"
                            and n.get("Relation Name") in RAW], (name, sql, plan)
                assert not [n for n in nodes if n.get("Relation Name") ==
                            "payment_projection"], (name, "reads the projection", sql)
                read += _leaf_rows(plan, RAW | ROLLUPS)
            if own:  # a merchant's own: a year of days, not years of payments
                assert read <= 20_000, (name, read)
            timings.append((name, elapsed, read))
        body = await (await million.client.get(
            "/api/v2/merchants/dashboard", headers=big.headers(settings),
            params={"period": "year"})).json()
        assert int(body["result"]["payments"]["total"]) > 100_000  # the seed is there
    finally:
        await conn.close()
    with capsys.disabled():
        print(f"\nbilling reports at {PAYMENTS:,} payments, once each through the app:")
        for name, elapsed, read in timings:
            print(f"  {name:34} {elapsed:8.1f} ms  rows read {read:>8,}")
