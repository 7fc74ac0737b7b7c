"""The floors norgate is measured against, on the same machine in the same run.

- bare aiohttp: a handler that parses the create body and answers 201 with JSON;
- bare aiohttp + asyncpg: the same, plus the writes of a payment create, in one
  transaction: the payment row, its history row and the outbox row;
- pgbench: that transaction alone, straight against PostgreSQL (`-M prepared`).

They write to their own schema (`bench_floor`, created with checkout's migrations, so
the tables and indexes are the same), where no relay or consumer runs. The servers use
uvloop, orjson and one process per core (SO_REUSEPORT): what the machine can do.

    python -m bench.floors bare|db PORT WORKERS [DSN]
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import orjson
from aiohttp import web

from shared.db import apply_migrations, create_pool, discover

SCHEMA = "bench_floor"
CHECKOUT_MIGRATIONS = Path(__file__).resolve().parents[1] / "services" / "checkout" / "migrations"

_INSERT_PAYMENT = """
INSERT INTO payments (payment_id, trace, company_id, merchant_id, origin, amount, currency,
    description, metadata, quote, charges, net_amount, expires_at, merchant_name)
VALUES ($1, $2, $3, $4, 'norpay', $5, $6, $7, $8, $9, $10, $11, $12, $13)
RETURNING *"""
_INSERT_HISTORY = "INSERT INTO payment_history (payment_pk, status, detail) VALUES ($1, $2, $3)"
_INSERT_OUTBOX = "INSERT INTO outbox (event_id, event_type, payload) VALUES ($1, $2, $3)"

# The same transaction for pgbench; :m picks one of 16 merchants.
PGBENCH_SCRIPT = """\\set m random(1, 16)
\\set amount random(100, 100000)
BEGIN;
INSERT INTO payments (payment_id, trace, company_id, merchant_id, origin, amount, currency,
    description, metadata, quote, charges, net_amount, expires_at, merchant_name)
  VALUES ('pay_' || md5(random()::text), gen_random_uuid(), 1, :m, 'norpay', :amount, 'USD',
    NULL, '{}', '{"charges": "0", "netAmount": "0", "rules": []}', 0, :amount,
    now() + interval '1 hour', 'Bench shop') RETURNING *;
INSERT INTO payment_history (payment_pk, status, detail)
  VALUES (currval('payments_id_seq'), 'pending', '{"origin": "norpay"}');
INSERT INTO outbox (event_id, event_type, payload)
  VALUES (gen_random_uuid(), 'payment.created', convert_to(repeat('x', 600), 'UTF8'));
COMMIT;
"""


async def prepare_schema(admin_dsn: str) -> None:
    """`bench_floor` with checkout's tables (and the shared outbox), empty."""
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        await conn.execute(f"CREATE SCHEMA {SCHEMA}")
        await apply_migrations(conn, SCHEMA, discover(CHECKOUT_MIGRATIONS))
    finally:
        await conn.close()


# The servers --------------------------------------------------------------------

async def bare(request: web.Request) -> web.Response:
    body = orjson.loads(await request.read())
    return web.Response(status=201, content_type="application/json", body=orjson.dumps(
        {"status": "1", "message": "Payment created",
         "result": {"paymentId": "pay_" + secrets.token_urlsafe(12), "amount": body["amount"],
                    "currency": body["currency"], "status": "pending"}}))


async def with_db(request: web.Request) -> web.Response:
    body = orjson.loads(await request.read())
    pool: asyncpg.Pool = request.app["pool"]
    payment_id = "pay_" + secrets.token_urlsafe(12)
    amount = int(body["amount"])
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            _INSERT_PAYMENT, payment_id, uuid.uuid4(), 1, 1, amount, body["currency"],
            body.get("description"), body.get("metadata") or {},
            {"charges": "0", "netAmount": str(amount), "rules": []}, 0, amount,
            datetime.now(UTC) + timedelta(hours=1), "Bench shop")
        await conn.execute(_INSERT_HISTORY, row["id"], "pending", {"origin": "norpay"})
        event_id = uuid.uuid4()
        event = {"id": str(event_id), "type": "payment.created", "producer": "floor",
                 "occurred_at": datetime.now(UTC).isoformat(),
                 "data": {"paymentId": payment_id, "amount": str(amount),
                          "currency": row["currency"], "status": row["status"]}}
        await conn.execute(_INSERT_OUTBOX, event_id, event["type"],
                           orjson.dumps(event))
    return web.Response(status=201, content_type="application/json", body=orjson.dumps(
        {"status": "1", "message": "Payment created",
         "result": {"paymentId": payment_id, "amount": str(amount),
                    "currency": row["currency"], "status": row["status"],
                    "createdAt": str(int(row["created_at"].timestamp()))}}))


async def _pool_ctx(app: web.Application):
    app["pool"] = await create_pool(app["dsn"], schema=SCHEMA,
                                    application_name="norgate-bench-floor",
                                    min_size=1, max_size=10)
    yield
    await app["pool"].close()


def serve(kind: str, port: int, workers: int, dsn: str | None) -> None:
    import uvloop

    uvloop.install()
    for _ in range(workers - 1):
        if os.fork() == 0:
            break
    app = web.Application()
    app.router.add_post("/", bare if kind == "bare" else with_db)
    if kind == "db":
        app["dsn"] = dsn
        app.cleanup_ctx.append(_pool_ctx)
    web.run_app(app, host="127.0.0.1", port=port, reuse_port=True, access_log=None,
                print=None, handle_signals=True)


class FloorServer:
    """One floor server as child processes; `stop()` ends its whole process group."""

    def __init__(self, kind: str, port: int, workers: int, dsn: str | None = None):
        self.kind, self.port = kind, port
        args = [sys.executable, "-m", "bench.floors", kind, str(port), str(workers)]
        self.proc = subprocess.Popen(args + ([dsn] if dsn else []),
                                     cwd=Path(__file__).resolve().parents[1],
                                     start_new_session=True)

    def stop(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def pgbench_path() -> str | None:
    found = shutil.which("pgbench")
    if found:
        return found
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/pgbench"))
    return str(candidates[-1]) if candidates else None


def pgbench(admin_dsn: str, *, clients: int, duration: float) -> dict:
    """TPS of the create transaction through pgbench (prepared statements)."""
    exe = pgbench_path()
    if exe is None:
        return {"skipped": "pgbench not installed (Debian: postgresql-contrib)"}
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
        f.write(PGBENCH_SCRIPT)
    env = {**os.environ, "PGOPTIONS": f"-c search_path={SCHEMA}"}
    try:
        proc = subprocess.run(
            [exe, "-n", "-M", "prepared", "-c", str(clients), "-j", "2",
             "-T", str(max(1, round(duration))), "-r", "-f", f.name, admin_dsn],
            capture_output=True, text=True, env=env, check=False)
    finally:
        os.unlink(f.name)
    if proc.returncode != 0:
        raise RuntimeError(f"pgbench failed: {proc.stdout}\n{proc.stderr}")
    tps = re.search(r"tps = ([\d.]+)", proc.stdout)
    if tps is None:
        raise RuntimeError(f"pgbench printed no tps: {proc.stdout}")
    latency = re.search(r"latency average = ([\d.]+) ms", proc.stdout)
    return {"generator": "pgbench -M prepared", "connections": clients,
            "duration_s": duration, "requests_per_s": round(float(tps.group(1)), 1),
            "latency_avg_ms": float(latency.group(1)) if latency else None}


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]),
          sys.argv[4] if len(sys.argv) > 4 else None)
