"""Every NORAH transaction list reads an index slice, at a million payments.

A million payments are written in SQL in the shape the API writes them (every column a
create and its settlement set; 60 % one merchant, the rest over 200 merchants of two
companies, two years of history), the table is analyzed, and each endpoint is called
through the checkout app. Each SQL statement the endpoint ran is captured and EXPLAINed
(with its own arguments, as the server plans it): none may read payments by a
sequential scan, each must use the index the list is built on. The endpoints' times are
printed, never asserted. The rows are deleted (and the table vacuumed) at the end.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from bench import growth_seeds
from services.checkout import store
from tests.integration.test_payments import services
from tests.support.auth import Account, make_company_admin, make_merchant, make_super

pytestmark = pytest.mark.timeout(300)

PAYMENTS = 1_000_000
SMALL_MERCHANTS = 200  # the 40 % not the big merchant's, half in each company
# Far above auth's ids: these merchants exist only in checkout's rows (no list reads
# auth for them; the big merchant, whose own list does, is a real one).
SMALL_BASE = 9_000_000_000
STEP = timedelta(seconds=63)  # a million payments over two years
# The newest rows are another tenant's, as the growth benchmark's create phases leave
# them: a list that walked (livemode, created_at) and filtered would read all of them
# before the first of its own scope's. One merchant of the other company, above the
# small ones' ids.
NEWER = 20_000
NEWER_MERCHANT = SMALL_BASE + SMALL_MERCHANTS

@dataclass(frozen=True)
class Seeded:
    client: Any
    admin: Account
    other_admin: Account
    super_user: Account
    big: Account
    big_name: str
    tag: str


def _nodes(plan: dict) -> Iterator[dict]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


@pytest.fixture(scope="module")
async def million(settings) -> AsyncIterator[Seeded]:
    async with services(settings) as client:
        admin = await make_company_admin(settings)
        other_admin = await make_company_admin(settings)
        big = await make_merchant(settings, admin, name="Bigstore", status="ACTIVE")
        assert big.merchant_id is not None
        super_user = await make_super(settings)
        tag = secrets.token_hex(4)
        auth = await asyncpg.connect(settings.dsn_of("auth"))
        try:
            big_name = await auth.fetchval("SELECT name FROM merchants WHERE id = $1",
                                           big.merchant_id)
        finally:
            await auth.close()
        started = time.perf_counter()
        start = datetime.now(UTC) - PAYMENTS * STEP - timedelta(days=1)
        args = (tag, admin.company_id, other_admin.company_id, big.merchant_id, SMALL_BASE,
                big_name, f"Plan{tag} shop ", SMALL_MERCHANTS, start, STEP)
        try:
            # Two halves at once, one per core, as the checkout role (its triggers fire).
            halves = await asyncio.gather(*(_seed(settings, *args, low, high) for low, high
                                            in ((1, PAYMENTS // 2),
                                                (PAYMENTS // 2 + 1, PAYMENTS))))
            assert sum(halves) == PAYMENTS
            newer = (f"{tag}n", other_admin.company_id, other_admin.company_id,
                     NEWER_MERCHANT, NEWER_MERCHANT, "Newer shop", "Newer shop", 1,
                     datetime.now(UTC) - timedelta(hours=20), timedelta(seconds=1))
            assert await _seed(settings, *newer, 1, NEWER) == NEWER
            conn = await asyncpg.connect(settings.dsn_of("checkout"))
            try:
                await conn.execute("ANALYZE payments")
                await conn.execute("ANALYZE merchant_names")
            finally:
                await conn.close()
            print(f"\nseeded {PAYMENTS:,} payments and analyzed in "
                  f"{time.perf_counter() - started:.1f} s")
            yield Seeded(client, admin, other_admin, super_user, big, big_name, tag)
        finally:
            await _unseed(settings, big.merchant_id)


async def _seed(settings, *args: Any) -> int:
    conn = await asyncpg.connect(settings.dsn_of("checkout"))
    try:
        return await conn.fetchval(growth_seeds.CHECKOUT_PAYMENTS, *args)
    finally:
        await conn.close()


async def _unseed(settings, big_merchant: int) -> None:
    """Delete these merchants' rows (the big merchant is new: all of its rows are seeded
    ones). As the administrator, without the foreign key checks (no history, refund or
    receipt row points at a seeded payment): a million checks would cost a minute."""
    conn = await asyncpg.connect(settings.database_url)
    try:
        await conn.execute("SET search_path TO checkout")
        async with conn.transaction():
            await conn.execute("SET LOCAL session_replication_role = replica")
            for table in ("payments", "merchant_names"):
                await conn.execute(
                    f"DELETE FROM {table} WHERE merchant_id = $1 "
                    "OR merchant_id BETWEEN $2 AND $3", big_merchant, SMALL_BASE,
                    SMALL_BASE + SMALL_MERCHANTS)
        # Later tests plan and scan a table of their own size again.
        await conn.execute("VACUUM ANALYZE payments")
    finally:
        await conn.close()


class _Recorder:
    """A connection that remembers every statement run through it."""

    def __init__(self, conn: Any, seen: list[tuple[str, tuple]]) -> None:
        self._conn, self._seen = conn, seen

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)

    async def fetch(self, sql: str, *args: Any) -> Any:
        self._seen.append((sql, args))
        return await self._conn.fetch(sql, *args)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        self._seen.append((sql, args))
        return await self._conn.fetchval(sql, *args)

    async def fetchrow(self, sql: str, *args: Any) -> Any:
        self._seen.append((sql, args))
        return await self._conn.fetchrow(sql, *args)


@pytest.fixture
def statements(monkeypatch) -> list[tuple[str, tuple]]:
    """The SQL of store.list_transactions as the endpoints call it, with its arguments."""
    seen: list[tuple[str, tuple]] = []
    real = store.list_transactions

    async def recording(conn, **kwargs):
        return await real(_Recorder(conn, seen), **kwargs)

    monkeypatch.setattr(store, "list_transactions", recording)
    return seen


async def _plans(settings, seen: list[tuple[str, tuple]]) -> list[tuple[str, dict]]:
    """(statement, plan) for each statement run on payments, planned as the endpoint's
    transaction planned it: the settings it made (set_config) are made again first. The
    total's estimate is an EXPLAIN already (planned, never run), so it is left out."""
    conn = await asyncpg.connect(settings.dsn_of("checkout"))
    try:
        out = []
        async with conn.transaction(readonly=True):
            for sql, args in seen:
                if "set_config" in sql:
                    await conn.fetchval(sql, *args)
                elif not sql.startswith("EXPLAIN") and "payments" in sql:
                    raw = await conn.fetchval(f"EXPLAIN (FORMAT JSON) {sql}", *args)
                    out.append((sql, json.loads(raw)[0]["Plan"]))
        return out
    finally:
        await conn.close()


UNIQUE = {"payments_trace_key", "payments_payment_id_key"}


def _unbounded_reads(node: dict, bounded: bool = False) -> list[str]:
    """The reads of payments that are not an index walk stopped by a LIMIT: a scan
    feeding a sort (or a bitmap, which reads its whole range first) reads every row that
    matches, however many years of them. A lookup by a unique index reads one row."""
    kind = node["Node Type"]
    if kind == "Limit":
        bounded = True
    elif kind in ("Sort", "Incremental Sort", "Hash"):  # each reads all of its input
        bounded = False
    found = []
    index = node.get("Index Name", "")
    if node.get("Relation Name") == "payments" or index.startswith("payments"):
        if index not in UNIQUE and not (bounded and kind in ("Index Scan", "Index Only Scan")):
            found.append(f"{kind} {index or node.get('Relation Name')}")
    for child in node.get("Plans", []):
        found += _unbounded_reads(child, bounded)
    return found


MERCHANT = {"payments_merchant_mode_created"}
COMPANY = {"payments_company_mode_created"}
# The newest-first indexes, for a search by the big merchant's name (60 % of all rows):
# walking any of them finds its rows at once, and the planner takes whichever it costs
# lowest. Every other list must read its own scope's index.
NEWEST_FIRST = MERCHANT | COMPANY | {"payments_mode_created"}


# (name, who, path, params, the payments indexes the statements may use: at least one)
def _cases(s: Seeded, trace: str, payment_id: str) -> list[tuple]:
    big = s.big.merchant_id
    today = datetime.now(UTC).date()
    month = {"start_date": (today - timedelta(days=40)).isoformat(),
             "end_date": (today - timedelta(days=10)).isoformat()}
    return [
        # A merchant's or a company's list walks its own index, never (livemode,
        # created_at) past other tenants' newer rows (the growth benchmark found them).
        ("merchant page 1", s.admin, f"/api/v1/transactions/merchant/{big}",
         {"page": 1, "per_page": 10}, MERCHANT),
        ("merchant deep page (offset 9,900)", s.admin, f"/api/v1/transactions/merchant/{big}",
         {"page": 100, "per_page": 100}, MERCHANT),
        ("merchant charges", s.admin, f"/api/v1/transactions/merchant-charges/{big}",
         {"per_page": 10}, MERCHANT),
        ("user (the big merchant)", s.big, "/api/v1/transactions/user", {"per_page": 10},
         MERCHANT),
        ("all: search=<trace>", s.admin, "/api/v1/transactions/all", {"search": trace},
         {"payments_trace_key"}),
        ("all: search=<transaction id>", s.admin, "/api/v1/transactions/all",
         {"search": payment_id}, {"payments_payment_id_key"}),
        ("all: search=<big merchant name>", s.admin, "/api/v1/transactions/all",
         {"search": s.big_name}, NEWEST_FIRST),
        ("all: search=<small merchant name>", s.admin, "/api/v1/transactions/all",
         {"search": f"plan{s.tag} shop 042"}, MERCHANT),
        ("all: search=<100 merchants' name>", s.admin, "/api/v1/transactions/all",
         {"search": f"plan{s.tag}"}, MERCHANT),
        ("all: status and currency", s.admin, "/api/v1/transactions/all",
         {"status": "COMPLETED", "currency": "USD"}, COMPANY),
        ("all: a month", s.admin, "/api/v1/transactions/all", month, COMPANY),
        ("all (the other company)", s.other_admin, "/api/v1/transactions/all", {}, COMPANY),
        ("all (SUPER)", s.super_user, "/api/v1/transactions/all", {},
         {"payments_mode_created"}),
        ("dashboard recent", s.admin, "/api/v1/dashboard/recent-transactions",
         {"per_page": 10}, COMPANY),
        ("dashboard recent (MERCHANT)", s.big, "/api/v1/dashboard/recent-transactions",
         {"per_page": 10}, MERCHANT),
    ]


async def _some_big_payment(settings, seeded: Seeded) -> asyncpg.Record:
    conn = await asyncpg.connect(settings.dsn_of("checkout"))
    try:
        return await conn.fetchrow(
            "SELECT trace, payment_id FROM payments WHERE merchant_id = $1 AND NOT livemode"
            " ORDER BY created_at DESC, id DESC OFFSET 5000 LIMIT 1", seeded.big.merchant_id)
    finally:
        await conn.close()


async def test_every_list_reads_an_index_never_a_scan_of_payments(settings, million,
                                                                  statements, capsys):
    row = await _some_big_payment(settings, million)
    timings = []
    for name, who, path, params, indexes in _cases(million, str(row["trace"]),
                                                 row["payment_id"]):
        statements.clear()
        started = time.perf_counter()
        resp = await million.client.get(path, headers=who.headers(settings), params=params)
        elapsed = (time.perf_counter() - started) * 1000
        body = await resp.json()
        assert resp.status == 200, (name, body)
        assert body["data"], name
        timings.append((name, elapsed, body["pagination"]))
        plans = await _plans(settings, statements)
        assert plans, name
        for sql, plan in plans:
            nodes = list(_nodes(plan))
            assert not [n for n in nodes if n["Node Type"] == "Seq Scan"
                        and n.get("Relation Name") == "payments"], (name, sql, plan)
            used = {n["Index Name"] for n in nodes
                    if n.get("Index Name", "").startswith("payments")}
            assert used and used <= indexes, (name, sql, used)
            assert not _unbounded_reads(plan), (name, sql, _unbounded_reads(plan), plan)
    with capsys.disabled():
        print(f"\nNORAH lists at {PAYMENTS:,} payments, once each through the checkout app:")
        for name, elapsed, pagination in timings:
            print(f"  {name:38} {elapsed:8.1f} ms  total {pagination['total']:>9,}"
                  f"{' (estimate)' if pagination.get('totalIsEstimate') else ''}")


async def test_lookups_and_the_estimate_at_a_million(settings, million):
    row = await _some_big_payment(settings, million)
    headers = million.admin.headers(settings)
    for search in (str(row["trace"]), row["payment_id"]):
        resp = await million.client.get("/api/v1/transactions/all", headers=headers,
                                        params={"search": search})
        body = await resp.json()
        assert [t["trace"] for t in body["data"]] == [str(row["trace"])]
        assert body["pagination"]["total"] == 1 and "totalIsEstimate" not in body["pagination"]
    # The other company sees none of it, by trace or by name.
    other = million.other_admin.headers(settings)
    for search in (str(row["trace"]), row["payment_id"], million.big_name):
        resp = await million.client.get("/api/v1/transactions/all", headers=other,
                                        params={"search": search})
        body = await resp.json()
        assert body["data"] == [] and body["pagination"]["total"] == 0, search

    # 600,000 of the big merchant's: past the exact count, the planner's estimate, said so.
    resp = await million.client.get(
        f"/api/v1/transactions/merchant/{million.big.merchant_id}", headers=headers)
    pagination = (await resp.json())["pagination"]
    assert pagination["totalIsEstimate"] is True
    assert abs(pagination["total"] - PAYMENTS * 3 // 5) < PAYMENTS // 20, pagination
    assert pagination["total"] > store.EXACT_TOTAL_UP_TO
    # Its cursor walks on from any depth at the cost of a first page: 20 pages on, the
    # rows continue newest first without a gap.
    seen: list[str] = []
    cursor = pagination["nextCursor"]
    for _ in range(20):
        resp = await million.client.get(
            f"/api/v1/transactions/merchant/{million.big.merchant_id}", headers=headers,
            params={"cursor": cursor, "per_page": 100})
        body = await resp.json()
        assert resp.status == 200, body
        seen += [t["transactionId"] for t in body["data"]]
        cursor = body["pagination"]["nextCursor"]
    assert body["pagination"]["page"] == 21 and len(seen) == len(set(seen)) == 2000
    conn = await asyncpg.connect(settings.dsn_of("checkout"))
    try:
        expected = await conn.fetch(
            "SELECT payment_id FROM payments WHERE merchant_id = $1 AND livemode = false "
            "ORDER BY created_at DESC, id DESC OFFSET 10 LIMIT 2000", million.big.merchant_id)
    finally:
        await conn.close()
    assert seen == [r["payment_id"] for r in expected]

