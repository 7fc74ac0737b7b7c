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

from bench import growth_seeds
from services.billing import ledger_store, payouts_store, projections, store
from tests.integration.test_billing_api import billing_stack
from tests.integration.test_transaction_plans import _nodes, _Recorder
from tests.support.auth import Account, make_company_admin, make_merchant

pytestmark = pytest.mark.timeout(300)

PAYMENTS = 1_000_000
SMALL_MERCHANTS = 200
SMALL_BASE = 9_100_000_000  # merchants that exist only in these rows
STEP = timedelta(seconds=63)  # two years
# Rows a merchant's own report or list may read: a year of days and edge hours; a page
# and its total's 10,001 rows, each entry with its transaction, once per account walked
# (an account filter walks one per currency: two here). Bounds that history never moves.
REPORT, LIST = 20_000, 100_000
RAW = {"payment_projection", "ledger_entries", "ledger_transactions", "customers",
       "balance_transactions"}
ROLLUPS = {"payment_day_counts", "revenue_days", "customer_days", "settlement_rollup",
           "payment_month_counts", "revenue_months", "customer_months", "subscription_counts",
           "payment_hour_counts", "revenue_hours", "revenue_day_totals"}

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
        await conn.execute(growth_seeds.BILLING_PROJECTION, *args)
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
            await _as_admin(settings, growth_seeds.BIG_CUSTOMERS, admin.company_id,
                            big.merchant_id, start, 50_000)
            await _as_admin(settings, growth_seeds.BIG_LEDGER_ACCOUNTS, big.merchant_id,
                            admin.company_id)
            end = datetime.now(UTC)
            await _as_admin(settings, growth_seeds.BIG_LEDGER, big.merchant_id, start, end,
                            replica=True)
            await _as_admin(settings, growth_seeds.BIG_LEDGER_ROLLUP, big.merchant_id,
                            start, end)
            await _as_admin(settings, growth_seeds.BIG_MOVEMENTS, big.merchant_id, start, end)
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
                          "balance_transactions",
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
    for module, name in ((projections, "dashboard"), (projections, "dashboard_series"),
                         (ledger_store, "settlement"),
                         (ledger_store, "entries"), (payouts_store, "movements_page"),
                         (store, "subscriptions_page"), (store, "invoices_page")):
        real = getattr(module, name)

        async def recording(conn, *, _real=real, **kwargs):
            return await _real(_Recorder(conn, seen), **kwargs)

        monkeypatch.setattr(module, name, recording)
    return seen


def _shape(plan: dict, depth: int = 0) -> str:
    """The plan as an indented outline (what an assertion shows)."""
    line = "  " * depth + " ".join(str(plan.get(k, "")) for k in (
        "Node Type", "Relation Name", "Index Name", "Actual Rows")).strip()
    return "\n".join([line] + [_shape(c, depth + 1) for c in plan.get("Plans", [])])


def _leaf_rows(plan: dict, tables: set[str]) -> int:
    """Rows the plan's scans of these tables actually read (all loops)."""
    return sum(int(n.get("Actual Rows", 0)) * int(n.get("Actual Loops", 1))
               for n in _nodes(plan) if n.get("Relation Name") in tables)


async def test_dashboards_and_settlement_read_rollups_not_history(settings, million,
                                                                  statements, capsys):
    big, admin = million.big, million.admin
    now = int(time.time())
    cases = [
        ("dashboard today", big, "/api/v2/merchants/dashboard",
         {"period": "today", "currency": "USD"}, REPORT),
        ("dashboard year", big, "/api/v2/merchants/dashboard",
         {"period": "year", "currency": "USD"}, REPORT),
        ("dashboard year ZWG", big, "/api/v2/merchants/dashboard",
         {"period": "year", "currency": "ZWG"}, REPORT),
        ("dashboard year (company)", admin, "/api/v2/merchants/dashboard",
         {"period": "year", "currency": "USD"}, 0),
        ("dashboard series today", big, "/api/v2/merchants/dashboard/series",
         {"period": "today"}, REPORT),
        ("dashboard series year", big, "/api/v2/merchants/dashboard/series",
         {"period": "year"}, REPORT),
        ("settlement today", admin, "/api/v2/ledger/settlement",
         {"merchantId": big.merchant_id, "period": "today"}, REPORT),
        ("settlement year", admin, "/api/v2/ledger/settlement",
         {"merchantId": big.merchant_id, "period": "year"}, REPORT),
        ("settlement 400 days, odd seconds", big, "/api/v2/ledger/settlement",
         {"from": now - 400 * 86400 - 1234, "to": now - 4321}, REPORT),
        ("ledger entries page 1", big, "/api/v2/ledger/entries", {}, LIST),
        ("ledger entries deep page (offset 9,950)", big, "/api/v2/ledger/entries",
         {"page": 200, "per_page": 50}, LIST),
        ("ledger entries: payments only", big, "/api/v2/ledger/entries",
         {"referenceType": "payment", "account": "customer_wallet"}, LIST),
        ("ledger entries (company)", admin, "/api/v2/ledger/entries", {}, LIST),
        ("ledger entries by cursor", big, "/api/v2/ledger/entries", {"cursor": FIRST}, LIST),
        ("balance transactions page 1", big, "/api/v2/balance/transactions", {}, LIST),
        ("balance transactions, payments, deep", big, "/api/v2/balance/transactions",
         {"type": "payment", "page": 100, "per_page": 100}, LIST),
        ("balance transactions by cursor", big, "/api/v2/balance/transactions",
         {"cursor": FIRST}, LIST),
    ]
    timings = await _explained(settings, million.client, statements, cases)
    body = await (await million.client.get(
        "/api/v2/merchants/dashboard", headers=big.headers(settings),
        params={"period": "year", "currency": "USD"})).json()
    assert int(body["result"]["payments"]["total"]) > 100_000  # the seed is there
    with capsys.disabled():
        print(f"\nbilling reports at {PAYMENTS:,} payments, once each through the app:")
        for name, elapsed, read in timings:
            print(f"  {name:34} {elapsed:8.1f} ms  rows read {read:>8,}")


FIRST = object()  # in a case's params: the cursor its list's first page gives
ESTIMATED = ("/entries", "/transactions", "/subscriptions", "/invoices")


async def _explained(settings, client, statements, cases) -> list[tuple[str, float, int]]:
    """Each case called once through the app, every statement it ran EXPLAIN ANALYZEd:
    no sequential scan of a growing table, none of the projection, at most `bound` rows
    read (0: unbounded); (name, ms, rows read) of each."""
    timings = []
    conn = await asyncpg.connect(settings.dsn_of("billing"))
    try:
        for name, who, path, params, bound in cases:
            if params.get("cursor") is FIRST:
                first = await (await client.get(path, headers=who.headers(settings))).json()
                params = {**params, "cursor": first["result"]["pagination"]["nextCursor"]}
                assert params["cursor"], (name, first)
            statements.clear()
            started = time.perf_counter()
            resp = await client.get(path, headers=who.headers(settings), params=params)
            elapsed = (time.perf_counter() - started) * 1000
            body = await resp.json()
            assert resp.status == 200, (name, body)
            assert statements, name
            read = 0
            for sql, args in statements:
                if sql.startswith("EXPLAIN"):  # the total's estimate: planned, never run
                    continue
                raw = await conn.fetchval(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", *args)
                plan = json.loads(raw)[0]["Plan"]
                nodes = list(_nodes(plan))
                assert not [n for n in nodes if n["Node Type"] == "Seq Scan"
                            and n.get("Relation Name") in RAW | PAGED], \
                    (name, sql, _shape(plan))
                assert not [n for n in nodes if n.get("Relation Name") ==
                            "payment_projection"], (name, "reads the projection", sql)
                read += _leaf_rows(plan, RAW | ROLLUPS | PAGED)
            if bound:  # a merchant's own: a year of days, not years of payments
                assert read <= bound, (name, read)
            if path.endswith(ESTIMATED) and not any(
                    k in params for k in ("customerId", "customerEmail")):
                assert body["result"]["pagination"].get("totalIsEstimate") is True, name
            timings.append((name, elapsed, read))
    finally:
        await conn.close()
    return timings


SUBSCRIPTIONS, INVOICES = 200_000, 300_000
PAGED = {"subscriptions", "invoices"}
_PLAN = """INSERT INTO plans (plan_id, company_id, merchant_id, livemode, name, amount,
               currency, interval, interval_count)
           VALUES ('plan_growth_' || $1, $2, $3, false, 'Growth', 1000, 'USD', 'month', 1)
           RETURNING id"""
# In the shape billing writes them (store.insert_subscription, store.insert_invoice):
# a customer of every 100th row has two subscriptions, one status in four is canceled.
_SUBSCRIPTIONS = """
    INSERT INTO subscriptions (subscription_id, plan_pk, company_id, merchant_id,
        customer_id, status, billing_anchor, period_number, current_period_start,
        current_period_end, next_charge_at, livemode, created_at, updated_at)
    SELECT 'sub_g' || $1 || '_' || n, $2, $3, $4, 'cust_' || (n % ($5::int / 2)),
           (ARRAY['active', 'active', 'past_due', 'canceled'])[n % 4 + 1],
           $6::timestamptz + n * interval '1 minute', 1, $6::timestamptz + n * interval '1 minute',
           $6::timestamptz + n * interval '1 minute' + interval '1 month',
           $6::timestamptz + n * interval '1 minute' + interval '1 month', false,
           $6::timestamptz + n * interval '1 minute', $6::timestamptz + n * interval '1 minute'
      FROM generate_series(1, $5) AS n"""
_INVOICES = """
    INSERT INTO invoices (invoice_id, invoice_number, company_id, merchant_id, status,
        customer, items, currency, subtotal, tax, total, due_date, livemode, created_at,
        updated_at)
    SELECT 'inv_g' || $1 || '_' || n, 'G' || $1 || '-' || n, $2, $3,
           (ARRAY['paid', 'paid', 'open', 'void', 'draft'])[n % 5 + 1],
           jsonb_build_object('name', 'Customer ' || n,
                              'email', 'c' || (n % 50000) || '@example.com'),
           '[{"description": "Pro", "quantity": 1, "unitPrice": "1000", "amount": "1000"}]',
           'USD', 1000, 0, 1000, at + interval '30 days', false, at, at
      FROM generate_series(1, $4) AS n,
           LATERAL (SELECT $5::timestamptz + n * interval '1 minute' AS at) AS t"""


async def test_subscriptions_and_invoices_page_through_indexes(settings, million, statements,
                                                               capsys):
    big, admin = million.big, million.admin
    tag = secrets.token_hex(4)
    start = datetime.now(UTC) - timedelta(days=400)
    plan_pk = await _as_admin_value(settings, _PLAN, tag, admin.company_id, big.merchant_id)
    try:
        await _as_admin(settings, _SUBSCRIPTIONS, tag, plan_pk, admin.company_id,
                        big.merchant_id, SUBSCRIPTIONS, start)
        await _as_admin(settings, _INVOICES, tag, admin.company_id, big.merchant_id,
                        INVOICES, start)
        for table in PAGED:
            await _as_admin(settings, f"ANALYZE {table}")
        subs, invs = "/api/v2/subscriptions", "/api/v2/invoices"
        cases = [
            ("subscriptions page 1", big, subs, {}, LIST),
            ("subscriptions deep page", big, subs, {"page": 400, "per_page": 25}, LIST),
            ("subscriptions past_due", big, subs, {"status": "past_due"}, LIST),
            ("subscriptions by cursor", big, subs, {"cursor": FIRST}, LIST),
            ("subscriptions of a customer", big, subs, {"customerId": "cust_7"}, LIST),
            ("subscriptions (company)", admin, subs, {}, LIST),
            # The dashboard counts them from subscription_counts, not row by row.
            ("dashboard year, 200,000 subscriptions", big, "/api/v2/merchants/dashboard",
             {"period": "year"}, REPORT),
            ("invoices page 1", big, invs, {}, LIST),
            ("invoices open", big, invs, {"status": "open"}, LIST),
            ("invoices by cursor", big, invs, {"cursor": FIRST}, LIST),
            ("invoices of an e-mail", big, invs, {"customerEmail": "C7@example.com"}, LIST),
            ("invoices (company)", admin, invs, {"per_page": 100}, LIST),
        ]
        timings = await _explained(settings, million.client, statements, cases)
        dash = await (await million.client.get(
            "/api/v2/merchants/dashboard", headers=big.headers(settings))).json()
        assert dash["result"]["subscriptions"] == {
            "active": SUBSCRIPTIONS // 2, "trialing": 0, "past_due": SUBSCRIPTIONS // 4,
            "canceled": SUBSCRIPTIONS // 4}, dash
        mine = await (await million.client.get(
            invs, headers=big.headers(settings),
            params={"customerEmail": "c7@example.com"})).json()
        assert mine["result"]["pagination"]["total"] == INVOICES // 50_000
    finally:
        for table in ("invoices", "subscriptions", "plans"):
            await _as_admin(settings, f"DELETE FROM {table} WHERE merchant_id = $1",
                            big.merchant_id)
        conn = await asyncpg.connect(settings.database_url)
        try:
            for table in PAGED:
                await conn.execute(f"VACUUM ANALYZE billing.{table}")
        finally:
            await conn.close()
    with capsys.disabled():
        print(f"\nsubscriptions ({SUBSCRIPTIONS:,}) and invoices ({INVOICES:,}) of one "
              "merchant, once each through the app:")
        for name, elapsed, read in timings:
            print(f"  {name:34} {elapsed:8.1f} ms  rows read {read:>8,}")


async def _as_admin_value(settings, sql: str, *args: Any) -> Any:
    conn = await asyncpg.connect(settings.database_url)
    try:
        await conn.execute("SET search_path TO billing")
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()
