"""What a payment's ids cost PostgreSQL at ten million rows (BENCH_ONLY=ids): random
ids (`pay_` + 24 random base 62, uuid4 traces, as before shared/ids.py) against
time-ordered ones (shared.ids.record_id, uuid7), each in a table of BENCH_IDS_ROWS rows
(10,000,000) made in its own scheme, with the keys a payment has: the primary key, the
two unique ids and a merchant's list index.

The create benchmark's requests/s move ±15 % between runs on a shared VM, more than the
difference sought; these figures do not: WAL bytes and index blocks read from outside
shared_buffers per insert are counted by PostgreSQL itself. The schemes run in
alternating rounds, each after a CHECKPOINT (the first change of a page after one writes
the whole page to the WAL), so drift on the machine falls on both alike."""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from bench.growth_seeds import _clock, _uuid7
from shared.crypto import base62
from shared.ids import record_id, uuid7

SCHEMES = ("random", "ordered")
ROUNDS = 4
BATCH = 1_000_000


def _ids(scheme: str) -> tuple[str, uuid.UUID]:
    if scheme == "random":
        return "pay_" + base62(24), uuid.uuid4()
    return "pay_" + record_id(24), uuid7()


def _seed_sql(scheme: str) -> str:
    """Rows g in [$1, $2], one every $4 from $3, ids as `scheme` makes them."""
    if scheme == "random":
        pid, trace = "'pay_' || substr(md5(g::text || 'r'), 1, 24)", "gen_random_uuid()"
    else:
        pid = f"'pay_' || {_clock('created')} || substr(md5(g::text || 'o'), 1, 16)"
        trace = _uuid7("created")
    return f"""
INSERT INTO bench_ids_{scheme} (payment_id, trace, merchant_id, livemode, created_at)
SELECT {pid}, {trace}, 1 + g % 200, false, created
  FROM (SELECT g, $3::timestamptz + g * $4::interval AS created
          FROM generate_series($1::bigint, $2::bigint) AS g) AS s"""


async def _make(conn: asyncpg.Connection, scheme: str, rows: int) -> float:
    started = time.perf_counter()
    await conn.execute(f"DROP TABLE IF EXISTS bench_ids_{scheme}")
    await conn.execute(f"""
        CREATE TABLE bench_ids_{scheme} (
            id bigserial PRIMARY KEY, payment_id text NOT NULL UNIQUE,
            trace uuid NOT NULL UNIQUE, merchant_id bigint NOT NULL,
            livemode boolean NOT NULL, created_at timestamptz NOT NULL DEFAULT now())""")
    await conn.execute(f"""CREATE INDEX ON bench_ids_{scheme}
                           (merchant_id, livemode, created_at DESC, id DESC)""")
    step = timedelta(days=730) / rows
    start = datetime.now(UTC) - rows * step
    for low in range(1, rows + 1, BATCH):
        await conn.execute(_seed_sql(scheme), low, min(low + BATCH - 1, rows), start, step)
    await conn.execute(f"VACUUM ANALYZE bench_ids_{scheme}")
    return time.perf_counter() - started


async def _round(conn: asyncpg.Connection, scheme: str, inserts: int) -> dict[str, float]:
    table = f"bench_ids_{scheme}"
    await conn.execute("CHECKPOINT")
    stats = f"""SELECT pg_current_wal_lsn() AS lsn, idx_blks_read, idx_blks_hit
                  FROM pg_statio_user_tables WHERE relname = '{table}'"""
    before = await conn.fetchrow(stats)
    insert = f"""INSERT INTO {table} (payment_id, trace, merchant_id, livemode)
                 VALUES ($1, $2, $3, false)"""
    started = time.perf_counter()
    for i in range(inserts):  # one transaction each, as a create commits
        pid, trace = _ids(scheme)
        await conn.execute(insert, pid, trace, 1 + i % 200)
    seconds = time.perf_counter() - started
    await conn.execute("SELECT pg_stat_force_next_flush()")
    after = await conn.fetchrow(stats)
    wal = await conn.fetchval("SELECT $1::pg_lsn - $2::pg_lsn", after["lsn"], before["lsn"])
    return {"seconds": seconds, "wal_bytes": float(wal),
            "idx_blks_read": float(after["idx_blks_read"] - before["idx_blks_read"]),
            "idx_blks_hit": float(after["idx_blks_hit"] - before["idx_blks_hit"])}


async def measure(admin: str) -> dict[str, Any]:
    rows = int(os.environ.get("BENCH_IDS_ROWS", "10000000"))
    inserts = int(os.environ.get("BENCH_IDS_INSERTS", "20000"))
    conn = await asyncpg.connect(admin)
    try:
        out: dict[str, Any] = {"rows": rows, "inserts": inserts, "rounds": ROUNDS,
                               "shared_buffers": await conn.fetchval("SHOW shared_buffers")}
        for scheme in SCHEMES:
            out[scheme] = {"seed_s": await _make(conn, scheme, rows), "runs": []}
        for _ in range(ROUNDS):
            for scheme in SCHEMES:
                out[scheme]["runs"].append(await _round(conn, scheme, inserts // ROUNDS))
        for scheme in SCHEMES:
            runs, n = out[scheme]["runs"], inserts // ROUNDS * ROUNDS
            out[scheme]["per_insert"] = {
                "wal_bytes": sum(r["wal_bytes"] for r in runs) / n,
                "idx_blks_read": sum(r["idx_blks_read"] for r in runs) / n,
                "idx_blks_hit": sum(r["idx_blks_hit"] for r in runs) / n,
                "us": sum(r["seconds"] for r in runs) / n * 1e6}
            await conn.execute(f"DROP TABLE bench_ids_{scheme}")
    finally:
        await conn.close()
    return out


def table(results: dict[str, Any]) -> str:
    lines = [f"ids at {results['rows']:,} rows (shared_buffers {results['shared_buffers']}), "
             f"{results['inserts']:,} single-row inserts per scheme in "
             f"{results['rounds']} alternating rounds",
             "| per insert | random ids (uuid4 trace) | time-ordered ids (uuid7 trace) |",
             "|---|---:|---:|"]
    r, o = results["random"]["per_insert"], results["ordered"]["per_insert"]
    for key, label, fmt in (("wal_bytes", "WAL bytes", "{:,.0f}"),
                            ("idx_blks_read", "index blocks read into shared_buffers",
                             "{:.2f}"),
                            ("idx_blks_hit", "index blocks found in shared_buffers",
                             "{:.2f}"),
                            ("us", "µs, one connection, commit each", "{:,.0f}")):
        lines.append(f"| {label} | {fmt.format(r[key])} | {fmt.format(o[key])} |")
    return "\n".join(lines)
