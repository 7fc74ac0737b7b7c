"""The webhook delivery log reads an index slice per endpoint, at a million deliveries.

Half a million events and their deliveries (about 925,000) are written in SQL in the
shape the notifier writes them (bench/growth_seeds: 60 % one merchant's, the rest over
200 merchants of two companies, each delivered to its merchant's endpoint, the big
merchant's to its webServiceUrl too, one in four to its company's), the tables are
analyzed, and `GET /api/v2/webhooks/deliveries` is called through the notifier app as
each kind of caller, with each filter. Each statement the list ran is EXPLAINed with its
own arguments: none may read deliveries or events by a sequential scan or read a range
of deliveries that no LIMIT stops. Times are printed, never asserted. The rows are
deleted at the end.
"""

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
from services.notifier.webhooks import store
from shared.db import EXACT_TOTAL_UP_TO, Position
from shared.http.pagination import encode_cursor
from tests.integration.test_transaction_plans import _nodes, _Recorder
from tests.integration.test_webhooks_delivery import notifier
from tests.support.auth import Account, make_company_admin, make_merchant, make_super

pytestmark = pytest.mark.timeout(300)

EVENTS = 500_000
SMALL_MERCHANTS = 200
SMALL_BASE = 9_100_000_000  # far above auth's ids, and apart from the payment plans'
STEP = timedelta(seconds=126)  # half a million events over two years
PATH = "/api/v2/webhooks/deliveries"


@dataclass(frozen=True)
class Seeded:
    client: Any
    admin: Account
    other_admin: Account
    super_user: Account
    big: Account
    tag: str

    def endpoint(self, name: str) -> str:
        return f"ep_{self.tag}_{name}"


@pytest.fixture(scope="module")
async def log(settings, tmp_path_factory) -> AsyncIterator[Seeded]:
    # The notifier (and the auth it starts) first: they migrate their schemas.
    async with notifier(settings, tmp_path_factory.mktemp("notifier")) as client:
        admin = await make_company_admin(settings)
        other_admin = await make_company_admin(settings)
        big = await make_merchant(settings, admin, name="Bigstore", status="ACTIVE")
        super_user = await make_super(settings)
        tag = secrets.token_hex(4)
        started = time.perf_counter()
        try:
            await _endpoints(settings, tag, admin, other_admin, big)
            start = datetime.now(UTC) - EVENTS * STEP - timedelta(days=1)
            halves = ((1, EVENTS // 2), (EVENTS // 2 + 1, EVENTS))
            await asyncio.gather(*(_seed(settings, growth_seeds.NOTIFIER_EVENTS, tag,
                                         admin.company_id, other_admin.company_id,
                                         big.merchant_id, SMALL_BASE, SMALL_MERCHANTS,
                                         start, STEP, low, high) for low, high in halves))
            made = await asyncio.gather(*(_seed(settings, growth_seeds.NOTIFIER_DELIVERIES,
                                                tag, SMALL_MERCHANTS, low, high)
                                          for low, high in halves))
            conn = await asyncpg.connect(settings.dsn_of("notifier"))
            try:
                for table in ("webhook_endpoints", "webhook_events", "webhook_deliveries"):
                    await conn.execute(f"ANALYZE {table}")
            finally:
                await conn.close()
            print(f"\nseeded {EVENTS:,} events, {sum(made):,} deliveries and analyzed in "
                  f"{time.perf_counter() - started:.1f} s")
            yield Seeded(client, admin, other_admin, super_user, big, tag)
        finally:
            await _unseed(settings, tag)


async def _endpoints(settings, tag: str, admin: Account, other: Account,
                     big: Account) -> None:
    """The endpoints as the API and the webServiceUrl follower make them."""
    rows = [(f"ep_{tag}_test", admin.company_id, big.merchant_id, "api", False),
            (f"ep_{tag}_live", admin.company_id, big.merchant_id, "api", True),
            (f"ep_{tag}_big", admin.company_id, big.merchant_id, "merchant", False),
            (f"ep_{tag}_coA", admin.company_id, None, "company", False),
            (f"ep_{tag}_coB", other.company_id, None, "company", False)]
    rows += [(f"ep_{tag}_s{k}",
              admin.company_id if k < SMALL_MERCHANTS // 2 else other.company_id,
              SMALL_BASE + k, "merchant", False) for k in range(SMALL_MERCHANTS)]
    conn = await asyncpg.connect(settings.dsn_of("notifier"))
    try:
        await conn.executemany(
            """INSERT INTO webhook_endpoints (endpoint_id, company_id, merchant_id, source,
                   livemode, url, event_types, secret)
               VALUES ($1, $2, $3, $4, $5, 'https://shop.example/hooks', '{*}', 'sealed')""",
            rows)
    finally:
        await conn.close()


async def _seed(settings, sql: str, *args: Any) -> int:
    """As the administrator, without the foreign key checks (each delivery's event is
    joined in the statement that writes it)."""
    conn = await asyncpg.connect(settings.database_url)
    try:
        await conn.execute("SET search_path TO notifier")
        async with conn.transaction():
            await conn.execute("SET LOCAL session_replication_role = replica")
            done = await conn.execute(sql, *args)
        return int(done.split()[-1])
    finally:
        await conn.close()


async def _unseed(settings, tag: str) -> None:
    conn = await asyncpg.connect(settings.database_url)
    try:
        await conn.execute("SET search_path TO notifier")
        like = f"ep\\_{tag}\\_%"
        async with conn.transaction():
            await conn.execute("SET LOCAL session_replication_role = replica")
            await conn.execute("DELETE FROM webhook_deliveries WHERE endpoint_id LIKE $1", like)
            await conn.execute("DELETE FROM webhook_events WHERE event_id = ANY(ARRAY("
                               "SELECT md5($1 || g)::uuid FROM generate_series(1, $2) g))",
                               tag, EVENTS)
            await conn.execute("DELETE FROM webhook_endpoints WHERE endpoint_id LIKE $1", like)
        await conn.execute("VACUUM ANALYZE webhook_deliveries")
        await conn.execute("VACUUM ANALYZE webhook_events")
    finally:
        await conn.close()


@pytest.fixture
def statements(monkeypatch) -> list[tuple[str, tuple]]:
    seen: list[tuple[str, tuple]] = []
    real = store.list_deliveries

    async def recording(conn, **kwargs):
        return await real(_Recorder(conn, seen), **kwargs)

    monkeypatch.setattr(store, "list_deliveries", recording)
    return seen


async def _plans(settings, seen: list[tuple[str, tuple]]) -> list[tuple[str, dict]]:
    """(statement, plan) of each statement the list ran on the log, planned with its
    arguments as the notifier's connections plan (a custom plan each time) after the
    settings its transaction made (set_config) are made again. The total's estimate is
    an EXPLAIN already (planned, never run), so it is left out."""
    conn = await asyncpg.connect(settings.dsn_of("notifier"))
    try:
        await conn.execute("SET plan_cache_mode = force_custom_plan")
        out = []
        async with conn.transaction(readonly=True):
            for sql, args in seen:
                if "set_config" in sql:
                    await conn.fetchrow(sql, *args)
                elif "webhook_deliveries" in sql and not sql.lstrip().startswith("EXPLAIN"):
                    raw = await conn.fetchval(f"EXPLAIN (FORMAT JSON) {sql}", *args)
                    out.append((sql, json.loads(raw)[0]["Plan"]))
        return out
    finally:
        await conn.close()


def _unbounded_reads(node: dict, bounded: bool = False) -> list[str]:
    """The reads of deliveries or events that are not an index walk stopped by a LIMIT:
    a scan feeding a sort, a hash or an aggregate (or a bitmap, which reads its whole
    range first) reads every row that matches, however many years of them. A lookup of
    one event's deliveries by webhook_deliveries_event reads a handful."""
    kind = node["Node Type"]
    if kind == "Limit":
        bounded = True
    elif kind in ("Sort", "Incremental Sort", "Hash", "Aggregate", "Materialize"):
        bounded = False
    found = []
    index = node.get("Index Name", "")
    table = node.get("Relation Name", "")
    if table in ("webhook_deliveries", "webhook_events") or index.startswith("webhook_"):
        lookup = index in ("webhook_deliveries_event", "webhook_events_pkey",
                           "webhook_deliveries_pkey")
        if not lookup and not (bounded and kind in ("Index Scan", "Index Only Scan")):
            found.append(f"{kind} {index or table}")
    for child in node.get("Plans", []):
        found += _unbounded_reads(child, bounded)
    return found


MODE = {"webhook_deliveries_endpoint_mode"}


async def _deep_cursor(settings, s: Seeded) -> str:
    """A cursor 300,000 rows into the big merchant's test-mode log."""
    conn = await asyncpg.connect(settings.dsn_of("notifier"))
    try:
        seq = await conn.fetchval(
            "SELECT seq FROM webhook_deliveries WHERE endpoint_id = ANY($1) AND NOT livemode"
            " ORDER BY seq DESC OFFSET 300000 LIMIT 1",
            [s.endpoint("test"), s.endpoint("live"), s.endpoint("big")])
    finally:
        await conn.close()
    return encode_cursor(2, Position(seq, seq))


async def _some_event(settings, s: Seeded) -> str:
    conn = await asyncpg.connect(settings.dsn_of("notifier"))
    try:
        return str(await conn.fetchval(
            "SELECT event_id FROM webhook_deliveries WHERE endpoint_id = $1"
            " ORDER BY seq OFFSET 1000 LIMIT 1", s.endpoint("test")))
    finally:
        await conn.close()


# (name, who, mode, params, the delivery indexes the statements may use: at least one)
def _cases(s: Seeded, cursor: str, event: str) -> list[tuple]:
    big = s.big.merchant_id
    return [
        ("merchant page 1", s.big, "test", {}, MODE),
        ("merchant deep page (offset 9,900)", s.big, "test",
         {"page": 100, "per_page": 100}, MODE),
        ("merchant cursor 300,000 deep", s.big, "test", {"cursor": cursor}, MODE),
        ("merchant status=failed", s.big, "test", {"status": "failed"},
         {"webhook_deliveries_endpoint_status"}),
        ("merchant status=succeeded", s.big, "test", {"status": "succeeded"},
         {"webhook_deliveries_endpoint_status"}),
        ("merchant event=payout.paid", s.big, "test", {"event": "payout.paid"},
         {"webhook_deliveries_endpoint_type"}),
        ("merchant eventId", s.big, "test", {"eventId": event},
         {"webhook_deliveries_event"}),
        ("merchant one endpoint", s.big, "test", {"endpointId": s.endpoint("test")}, MODE),
        ("merchant live mode", s.big, "live", {}, MODE),
        ("admin (company, 103 endpoints)", s.admin, "test", {}, MODE),
        ("admin merchantId=<big>", s.admin, "test", {"merchantId": str(big)}, MODE),
        ("admin status=canceled", s.admin, "test", {"status": "canceled"},
         {"webhook_deliveries_endpoint_status"}),
        ("admin (the other company)", s.other_admin, "test", {}, MODE),
        ("super (every endpoint)", s.super_user, "test", {}, MODE),
    ]


async def test_the_delivery_log_reads_an_index_never_a_scan(settings, log, statements,
                                                            capsys):
    cursor, event = await _deep_cursor(settings, log), await _some_event(settings, log)
    timings = []
    for name, who, mode, params, indexes in _cases(log, cursor, event):
        statements.clear()
        started = time.perf_counter()
        resp = await log.client.get(PATH, headers=who.headers(settings, mode), params=params)
        elapsed = (time.perf_counter() - started) * 1000
        body = await resp.json()
        assert resp.status == 200, (name, body)
        assert body["result"]["deliveries"], name
        timings.append((name, elapsed, body["result"]["pagination"]))
        plans = await _plans(settings, statements)
        assert len(plans) >= 2, name
        used: set[str] = set()
        for sql, plan in plans:
            nodes = list(_nodes(plan))
            assert not [n for n in nodes if n["Node Type"] == "Seq Scan" and n.get(
                "Relation Name") in ("webhook_deliveries", "webhook_events")], (name, sql, plan)
            used |= {n["Index Name"] for n in nodes
                     if n.get("Index Name", "").startswith("webhook_deliveries")}
            assert not _unbounded_reads(plan), (name, sql, _unbounded_reads(plan), plan)
        assert used and used <= indexes, (name, used)
    with capsys.disabled():
        print("\nthe delivery log at ~925,000 deliveries, once each through the notifier:")
        for name, elapsed, pagination in timings:
            print(f"  {name:36} {elapsed:8.1f} ms  total {pagination['total']:>9,}"
                  f"{' (estimate)' if pagination.get('totalIsEstimate') else ''}")


async def _newest(settings, endpoints: list[str], *, livemode: bool, offset: int,
                  limit: int, status: str | None = None) -> list[str]:
    conn = await asyncpg.connect(settings.dsn_of("notifier"))
    try:
        rows = await conn.fetch(
            "SELECT delivery_id FROM webhook_deliveries WHERE endpoint_id = ANY($1)"
            " AND livemode = $2 AND ($3::text IS NULL OR status = $3)"
            " ORDER BY seq DESC OFFSET $4 LIMIT $5", endpoints, livemode, status, offset, limit)
    finally:
        await conn.close()
    return [r["delivery_id"] for r in rows]


async def test_pages_totals_and_cursors_at_a_million(settings, log):
    headers = log.big.headers(settings)
    mine = [log.endpoint("test"), log.endpoint("live"), log.endpoint("big")]

    async def page(params: dict, who_headers: dict = headers) -> dict:
        resp = await log.client.get(PATH, headers=who_headers, params=params)
        body = await resp.json()
        assert resp.status == 200, body
        return body["result"]

    # The merchant's test-mode log: its API endpoint's and its webServiceUrl's, newest
    # first, never the live endpoint's or the company's.
    first = await page({"per_page": 100})
    assert [d["deliveryId"] for d in first["deliveries"]] == await _newest(
        settings, mine, livemode=False, offset=0, limit=100)
    assert {d["endpointId"] for d in first["deliveries"]} <= {mine[0], mine[2]}
    # 550,000 rows: past the exact count, the planner's estimate, said so.
    pagination = first["pagination"]
    assert pagination["totalIsEstimate"] is True
    assert pagination["total"] > EXACT_TOTAL_UP_TO
    assert abs(pagination["total"] - 550_000) < 550_000 * 0.15, pagination
    # The cursor walks on from any depth without a gap or a repeat.
    seen: list[str] = []
    cursor = pagination["nextCursor"]
    for _ in range(10):
        body = await page({"cursor": cursor, "per_page": 100})
        seen += [d["deliveryId"] for d in body["deliveries"]]
        cursor = body["pagination"]["nextCursor"]
    assert seen == await _newest(settings, mine, livemode=False, offset=100, limit=1000)
    # A rare status is counted exactly, and its pages are the rows of that status; a
    # commoner one past the exact count is estimated, near the truth.
    canceled = await page({"status": "canceled", "per_page": 50})
    expected = await _newest(settings, mine, livemode=False, offset=0, limit=10_000,
                             status="canceled")
    assert canceled["pagination"]["total"] == len(expected) > 100
    assert "totalIsEstimate" not in canceled["pagination"]
    assert [d["deliveryId"] for d in canceled["deliveries"]] == expected[:50]
    failed = await page({"status": "failed", "per_page": 50})
    expected = await _newest(settings, mine, livemode=False, offset=0, limit=10_000,
                             status="failed")
    assert len(expected) > EXACT_TOTAL_UP_TO and failed["pagination"]["totalIsEstimate"]
    assert abs(failed["pagination"]["total"] - len(expected)) < len(expected) * 0.3
    assert [d["deliveryId"] for d in failed["deliveries"]] == expected[:50]
    # Live mode: the live endpoint's and the webServiceUrl's live deliveries only.
    live = await page({"per_page": 100}, log.big.headers(settings, "live"))
    assert [d["deliveryId"] for d in live["deliveries"]] == await _newest(
        settings, mine, livemode=True, offset=0, limit=100)
    assert all(d["livemode"] for d in live["deliveries"])
    # The other company sees none of the big merchant's, even by name.
    other = await page({"merchantId": str(log.big.merchant_id)},
                       log.other_admin.headers(settings))
    assert other["deliveries"] == [] and other["pagination"]["total"] == 0
