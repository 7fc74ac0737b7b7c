"""`BENCH_ONLY=growth`: every list, search, dashboard and report at a million payments
(and ten million with BENCH_GROWTH_SIZES=1000000,10000000), through the gateway.

A company is onboarded; its one merchant (the big one) gets 60 % of the payments, 200
merchants that exist only in the rows the rest (bench/growth_seeds.py: checkout's
payments, billing's projection with its rollups, the big merchant's ledger), two years
of history ending now. After each size is seeded and analyzed, each endpoint of issue
21's table is called BENCH_GROWTH_CALLS times (100) one after the other, after 5
warm-up calls, and its p50/p99 printed; then payment create is measured with wrk at 32
connections (the caller passes it in: it is run.py's create phase), once on the empty
database first and once per size, so the table shows create throughput with the big
tables in place. The seeded rows stay until the bench database is dropped.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import asyncpg

from bench import growth_seeds
from bench.stack import BenchStack, onboard

PHASES = ("growth",)
SMALL_MERCHANTS = 200
SMALL_BASE = 9_000_000_000
OTHER_COMPANY = SMALL_BASE  # the second company exists only in the rows (ids do not meet)
YEARS = 2
TARGET_P99_MS = 50.0
WARMUP = 5


def _sizes() -> list[int]:
    raw = os.environ.get("BENCH_GROWTH_SIZES", "1000000")
    return sorted({int(x) for x in raw.split(",") if x.strip()})


async def _seed(admin: str, sql: str, *args: Any, replica: bool = False) -> None:
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute("SET search_path TO checkout")  # the checkout seed's table
        async with conn.transaction():
            if replica:
                await conn.execute("SET LOCAL session_replication_role = replica")
            await conn.execute(sql, *args)
    finally:
        await conn.close()


async def _seed_range(admin: str, tag: str, company: int, big: int, name: str,
                      start: datetime, step: timedelta, low: int, high: int) -> float:
    """Payments g in [low, high], in both schemas, the big merchant's ledger with them;
    the series in slices (one per statement, two at a time: one per core)."""
    started = time.perf_counter()
    slices = [(lo, min(lo + 250_000 - 1, high)) for lo in range(low, high + 1, 250_000)]
    for i in range(0, len(slices), 2):
        pair = slices[i:i + 2]
        await asyncio.gather(*(_seed(admin, growth_seeds.CHECKOUT_PAYMENTS, tag, company,
                                     OTHER_COMPANY, big, SMALL_BASE, name, "Growth shop ",
                                     SMALL_MERCHANTS, start, step, lo, hi)
                               for lo, hi in pair))
        await asyncio.gather(*(_seed(admin, growth_seeds.BILLING_PROJECTION, tag, company,
                                     OTHER_COMPANY, big, SMALL_BASE, SMALL_MERCHANTS,
                                     start, step, lo, hi) for lo, hi in pair))
    first, last = start + low * step, start + (high + 1) * step
    await _seed(admin, growth_seeds.BIG_LEDGER_ACCOUNTS, big, company)
    await _seed(admin, growth_seeds.BIG_LEDGER, big, first, last, replica=True)
    await _seed(admin, growth_seeds.BIG_LEDGER_ROLLUP, big, first, last)
    conn = await asyncpg.connect(admin)
    try:
        for table in ("checkout.payments", "checkout.merchant_names",
                      "billing.payment_projection", "billing.ledger_transactions",
                      "billing.ledger_entries", "billing.payment_day_counts",
                      "billing.revenue_days", "billing.payment_month_counts",
                      "billing.revenue_months", "billing.settlement_rollup",
                      "billing.payment_hour_counts", "billing.revenue_hours",
                      "billing.revenue_day_totals"):
            await conn.execute(f"VACUUM ANALYZE {table}")
        await conn.execute("CHECKPOINT")
    finally:
        await conn.close()
    return round(time.perf_counter() - started, 1)


async def _a_payment(admin: str, big: int) -> asyncpg.Record:
    conn = await asyncpg.connect(admin)
    try:
        return await conn.fetchrow(
            "SELECT payment_id, trace FROM checkout.payments WHERE merchant_id = $1 "
            "AND NOT livemode ORDER BY created_at DESC, id DESC OFFSET 5000 LIMIT 1", big)
    finally:
        await conn.close()


def _endpoints(big: int, name: str, payment: asyncpg.Record) -> list[tuple[str, str, str]]:
    """(label, who: admin | key, path with query) — issue 21's table."""
    return [
        ("/api/v1/transactions/merchant/{id}?page=1&per_page=10", "admin",
         f"/api/v1/transactions/merchant/{big}?page=1&per_page=10"),
        ("/api/v1/transactions/all?search=<trace>", "admin",
         f"/api/v1/transactions/all?search={payment['trace']}"),
        ("/api/v1/transactions/all?search=<merchant name>", "admin",
         f"/api/v1/transactions/all?search={name}"),
        ("/api/v1/dashboard/recent-transactions", "admin",
         "/api/v1/dashboard/recent-transactions"),
        ("/api/v2/merchants/dashboard?period=today", "key",
         "/api/v2/merchants/dashboard?period=today&currency=USD"),
        ("/api/v2/merchants/dashboard?period=year", "key",
         "/api/v2/merchants/dashboard?period=year&currency=USD"),
        ("/api/v2/merchants/dashboard/series?period=today", "key",
         "/api/v2/merchants/dashboard/series?period=today"),
        ("/api/v2/merchants/dashboard/series?period=year", "key",
         "/api/v2/merchants/dashboard/series?period=year"),
        ("/api/v2/ledger/settlement?period=year", "key",
         "/api/v2/ledger/settlement?period=year"),
        ("GET /api/v2/payments/{id}", "key", f"/api/v2/payments/{payment['payment_id']}"),
        ("/api/v1/transactions/details/{id}", "admin",
         f"/api/v1/transactions/details/{payment['payment_id']}"),
    ]


def _percentiles(values: list[float]) -> dict[str, float]:
    values = sorted(values)
    pick = lambda q: values[min(len(values) - 1, int(len(values) * q))]  # noqa: E731
    return {"p50_ms": round(pick(0.50), 1), "p99_ms": round(pick(0.99), 1)}


async def _latencies(gw: str, endpoints: list[tuple[str, str, str]],
                     headers: dict[str, dict[str, str]], calls: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    async with aiohttp.ClientSession() as http:
        for label, who, path in endpoints:
            times = []
            for i in range(WARMUP + calls):
                started = time.perf_counter()
                async with http.get(gw + path, headers=headers[who]) as resp:
                    await resp.read()
                    if resp.status != 200:
                        raise RuntimeError(f"growth: {path}: {resp.status}")
                if i >= WARMUP:
                    times.append((time.perf_counter() - started) * 1000)
            out[label] = _percentiles(times)
    return out


async def measure(stack: BenchStack, admin: str,
                  create: Callable[[str], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
    """`create(label)`: a wrk payment-create phase (run.py's), its result."""
    sizes = _sizes()
    calls = int(os.environ.get("BENCH_GROWTH_CALLS", "100"))
    owner: dict[str, str] = {}
    [shop] = await onboard(stack, 1, owner=owner)
    big = int(shop["merchantId"])
    conn = await asyncpg.connect(admin)
    try:
        row = await conn.fetchrow("SELECT company_id, name FROM auth.merchants WHERE id = $1",
                                  big)
    finally:
        await conn.close()
    company, name = int(row["company_id"]), str(row["name"])
    headers = {"admin": {"Authorization": f"Bearer {owner['token']}"},
               "key": {"X-API-Key": shop["key"]}}
    out: dict[str, Any] = {"sizes": sizes, "calls": calls, "target_p99_ms": TARGET_P99_MS,
                           "create_empty": await create("growth0")}
    # The largest history ends now; the smaller sizes are its most recent part.
    largest, tag = sizes[-1], secrets.token_hex(3)
    step = timedelta(days=365 * YEARS) / largest
    start = datetime.now(UTC) - largest * step
    seeded = 0
    gw = stack.url()
    for size in sizes:
        seconds = await _seed_range(admin, tag, company, big, name, start, step,
                                    largest - size + 1, largest - seeded)
        seeded = size
        payment = await _a_payment(admin, big)
        out[str(size)] = {
            "seed_s": seconds,
            "endpoints": await _latencies(gw, _endpoints(big, name, payment), headers, calls),
            "create": await create(f"growth{size}"),
        }
    return out


def table(results: dict[str, Any]) -> str:
    sizes = [str(s) for s in results["sizes"]]
    head = "| endpoint (big merchant) | " + " | ".join(
        f"{int(s):,} p50 / p99 ms" for s in sizes) + " |"
    lines = [head, "|---|" + "---:|" * len(sizes)]
    for label in results[sizes[0]]["endpoints"]:
        cells = [f"{results[s]['endpoints'][label]['p50_ms']} / "
                 f"{results[s]['endpoints'][label]['p99_ms']}" for s in sizes]
        lines.append(f"| `{label}` | " + " | ".join(cells) + " |")
    empty = results["create_empty"]["requests_per_s"]
    cells = [f"{results[s]['create']['requests_per_s']:,.0f} req/s "
             f"({results[s]['create']['requests_per_s'] / empty - 1:+.0%})" for s in sizes]
    lines.append(f"| payment create, 32 connections (empty: {empty:,.0f} req/s) | "
                 + " | ".join(cells) + " |")

    def cpu(run: dict) -> str:  # what the machine spent per create: steadier than req/s
        services = run.get("cpu_ms_per_request", {}).get("total")
        postgres = run.get("infra_cpu_ms_per_request", {}).get("postgres")
        return f"{services} / {postgres}" if services is not None else "n/a"

    lines.append(f"| create CPU ms per request, services / PostgreSQL (empty: "
                 f"{cpu(results['create_empty'])}) | "
                 + " | ".join(cpu(results[s]["create"]) for s in sizes) + " |")
    lines.append("\nseeded in: " + ", ".join(
        f"{int(s):,} payments {results[s]['seed_s']} s" for s in sizes) +
        f"; {results['calls']} calls per endpoint; target p99 <= {results['target_p99_ms']} ms")
    return "\n".join(lines)
