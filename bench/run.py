"""`make bench`: the floors and norgate, measured in one run on one machine.

    python -m bench.run

1. Provisions its own database (`norgate_bench_<id>`) and event namespace, dropped at
   the end.
2. Floors (before the stack starts, so nothing else runs): bare aiohttp, bare aiohttp +
   asyncpg doing a payment create's writes, pgbench with that transaction.
3. Starts the six services (bench/stack.py: production tuning, logging at info),
   onboards a company through the gateway, warms up, then with wrk: payment create at
   32 and 128 connections (API key + unique Idempotency-Key), payment get, confirm with
   the sandbox card, fee quote; waiting for the stack to go quiet between phases.
4. Whole payments (create + confirm) at a steady ~300/s with a webhook endpoint per
   merchant pointing at a receiver in this process: event-to-webhook latency (the
   event's occurred_at to its arrival) and ledger lag (completed_at to the billing
   consumer handling payment.completed).
5. Money out (bench/money_out.py): GET /api/v2/balance of a merchant with a million
   ledger entries, one payouts tick making the daily payouts of 10,000 merchants, the
   import of a 100,000-line settlement file (bench/reconciliation.py).
6. Peak RSS of every service process; fee quotes on the fees service alone
   (bench/quotes.py).
Prints a table, writes bench/results/<timestamp>.json and bench/results/summary.md.

Environment: BENCH_DURATION (s per phase, 10), BENCH_PACED_SECONDS (20), BENCH_RATE
(payments/s of the paced phase, 300), BENCH_MERCHANTS (32), BENCH_WORKERS
(processes per service, e.g. "gateway=2,checkout=2"; default one each),
BENCH_SKIP_QUOTES=1, BENCH_ONLY=create or create,confirm or create,paced (skip the floors
and every phase but create at 32 connections and those named: a quick before/after of
CPU ms per request while tuning; writes the JSON only, not summary.md; the money-out
phases balance, payouts and import run alone, without the create, when only they are
named: BENCH_ONLY=balance,payouts,import), BENCH_ONLY=growth (bench/growth.py: the lists,
dashboards and reports at BENCH_GROWTH_SIZES payments, 1000000 by default, e.g.
1000000,10000000; never part of the whole run), BENCH_ONLY=ids (bench/id_order.py: WAL
and index blocks per insert with random against time-ordered ids, at BENCH_IDS_ROWS rows,
10000000; never part of the whole run), BENCH_BALANCE_ENTRIES (1,000,000),
BENCH_BALANCE_RATE (150 requests/s), BENCH_BALANCE_CONNECTIONS (8),
BENCH_PAYOUT_MERCHANTS (10,000), BENCH_IMPORT_LINES (100,000) (smaller, for a quick try),
BENCH_NORGATE_<SETTING> (the stack runs with NORGATE_<SETTING>, e.g.
BENCH_NORGATE_CONSUMER_LINGER_SECONDS=0.02), BENCH_KEEP=1 (keep the temporary directory with
the services' logs after a successful run), BENCH_PG_SOCKET=1 (the stack and the floors
reach a PostgreSQL on this machine over its Unix socket instead of TCP, when it has one).
The stack runs with its payouts tick loop off (NORGATE_PAYOUT_TICK_SECONDS=3600, unless
BENCH_NORGATE_PAYOUT_TICK_SECONDS says otherwise): the payouts phase calls the tick itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import secrets
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import aiohttp
import asyncpg
from aiohttp import web

from bench import floors, growth, id_order, money_out, report, scripts, wrk
from bench.hooks import HookServer
from bench.stack import (
    BenchStack,
    bench_env,
    cpu_seconds,
    drain,
    free_ports,
    infra_cpu_seconds,
    onboard,
    parse_workers,
    peak_rss,
    register_webhooks,
)
from deploy.provision import admin_dsn, drop, provision
from shared.events import Topology, catalog

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def _env_float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


class Receiver(HookServer):
    """The merchants' webhook endpoint: notes when each event id first arrives."""

    def __init__(self) -> None:
        super().__init__(free_ports(1)[0])
        self.arrived: dict[str, float] = {}
        self.deliveries = 0

    async def _handle(self, request: web.Request) -> web.Response:
        now = time.time()
        await request.read()
        self.deliveries += 1
        self.arrived.setdefault(request.headers.get("webhook-id", ""), now)
        return web.Response(status=204)


def _percentiles(values: list[float]) -> dict:
    if not values:
        return {"count": 0}
    values = sorted(values)
    pick = lambda q: values[min(len(values) - 1, int(len(values) * q))]  # noqa: E731
    return {"count": len(values), "p50_ms": round(pick(0.50), 1),
            "p99_ms": round(pick(0.99), 1), "max_ms": round(values[-1], 1)}


async def _wrk(url: str, script: str, *, stack: BenchStack | None = None,
               settle=None, **kwargs) -> dict:
    """wrk in a thread (this process's receiver keeps serving). With `stack`, also the
    CPU milliseconds each service spent per request, counted until `settle()` (the
    stack has handled the events the run caused) returns: a figure that other load
    on the machine disturbs far less than requests/s."""
    pids = {n: p.pid for n, p in stack.procs.items() if n != "mailsink"} if stack else {}
    before = cpu_seconds(pids)
    infra_before = infra_cpu_seconds()
    result = await asyncio.to_thread(wrk.run, url, script, **kwargs)
    if settle is not None:
        result["drain_s"] = await settle()
    if pids and result["requests"]:
        after = cpu_seconds(pids)
        result["cpu_ms_per_request"] = {
            n: round((after[n] - before[n]) * 1000 / result["requests"], 3) for n in pids}
        result["cpu_ms_per_request"]["total"] = round(
            sum(result["cpu_ms_per_request"].values()), 3)
        infra_after = infra_cpu_seconds()
        result["infra_cpu_ms_per_request"] = {
            n: round((infra_after[n] - infra_before[n]) * 1000 / result["requests"], 3)
            for n in infra_after}
    return result


async def _wait_http(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            try:
                async with http.post(url, json={"amount": "1", "currency": "USD"}) as resp:
                    if resp.status == 201:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError(f"{url} did not answer in {timeout:.0f} s")


async def measure_floors(admin: str, duration: float, workers: int) -> dict:
    await floors.prepare_schema(admin)
    out = {}
    for kind, name in (("bare", "bare_aiohttp"), ("db", "aiohttp_asyncpg")):
        port = free_ports(1)[0]
        server = floors.FloorServer(kind, port, workers, admin if kind == "db" else None)
        try:
            url = f"http://127.0.0.1:{port}/"
            await _wait_http(url)
            body = '{"amount": "1050", "currency": "USD", "description": "Bench order"}'
            script = (f"wrk.method = 'POST'\nwrk.body = '{body}'\n"
                      "wrk.headers['Content-Type'] = 'application/json'\n")
            await _wrk(url, script, connections=32, duration=3)  # warm-up
            await _checkpoint(admin)  # each phase starts with no dirty pages to flush
            out[name] = await _wrk(url, script, connections=32, duration=duration)
        finally:
            server.stop()
    await _checkpoint(admin)
    out["pgbench"] = await asyncio.to_thread(floors.pgbench, admin, clients=32,
                                             duration=duration)
    await _checkpoint(admin)
    return out


async def _pairs(admin: str, sql: str, index: dict[int, int]) -> list[tuple[int, str]]:
    conn = await asyncpg.connect(admin)
    try:
        return [(index[r["merchant_id"]], r["payment_id"]) for r in await conn.fetch(sql)]
    finally:
        await conn.close()


async def paced(stack: BenchStack, admin: str, keys: list[str], receiver: Receiver,
                rate: float, seconds: float) -> dict:
    """Create + confirm at `rate` payments/s; webhook latency and ledger lag."""
    threads = 2
    interval_ms = threads * 1000 / (rate * 2)  # per thread; two requests a payment
    connections = max(16, min(400, int(rate * 2 * 0.25)))  # free ones up to 250 ms latency
    conn = await asyncpg.connect(admin)
    try:
        started_db = await conn.fetchval("SELECT now()")
        load = await _wrk(stack.url() + "/", scripts.PACED, connections=connections,
                          duration=seconds, threads=threads, stack=stack,
                          data={"KEYS": keys, "PHASE": f"paced{secrets.token_hex(3)}",
                                "CONFIRM_BODY": scripts.CONFIRM_BODY,
                                "INTERVAL_MS": interval_ms})
        drained = await drain(admin, stack.settings.amqp_url, stack.settings.events_namespace)
        counts = await conn.fetchrow(
            """SELECT count(*) AS created, count(completed_at) AS completed
               FROM checkout.payments WHERE created_at >= $1""", started_db)
        events = await conn.fetch(
            """SELECT event_id::text AS id, extract(epoch FROM occurred_at) AS at
               FROM notifier.webhook_events WHERE occurred_at >= $1""", started_db)
        lags = await conn.fetch(
            """SELECT extract(epoch FROM i.handled_at - p.completed_at) * 1000 AS ms
               FROM checkout.payments p
               JOIN billing.ledger_transactions t
                 ON t.reference_type = 'payment' AND t.reference_id = p.payment_id
               JOIN billing.inbox i ON i.event_id = t.event_id
              WHERE p.completed_at >= $1""", started_db)
    finally:
        await conn.close()
    latencies = [(receiver.arrived[e["id"]] - float(e["at"])) * 1000
                 for e in events if e["id"] in receiver.arrived]
    return {
        "load": load, "connections": connections, "target_payments_per_s": rate,
        "payments_per_s": round(counts["completed"] / seconds, 1),
        "payments_created": counts["created"], "payments_completed": counts["completed"],
        "drain_s": drained,
        "webhook": {**_percentiles(latencies), "events": len(events),
                    "missing": len([e for e in events if e["id"] not in receiver.arrived]),
                    "deliveries": receiver.deliveries},
        "ledger_lag": _percentiles([float(r["ms"]) for r in lags]),
    }


async def measure_norgate(stack: BenchStack, admin: str, duration: float,
                          merchants: int) -> dict:
    out: dict = {}
    onboarded = await onboard(stack, merchants)
    keys = [m["key"] for m in onboarded]
    index = {m["merchantId"]: i + 1 for i, m in enumerate(onboarded)}  # Lua is 1-based
    gw = stack.url() + "/"
    amqp, ns = stack.settings.amqp_url, stack.settings.events_namespace

    def create(phase: str) -> dict:
        return {"KEYS": keys, "PHASE": f"{phase}{secrets.token_hex(3)}"}

    async def settle() -> float:
        """Wait until the stack has handled the events the phase caused, then flush what
        it wrote (CHECKPOINT), so that the next phase does not pay for this one's dirty
        pages in its latencies; the flush is counted in this phase's CPU figures."""
        drained = await drain(admin, amqp, ns)
        await _checkpoint(admin)
        return drained

    await _wrk(gw, scripts.CREATE, connections=32, duration=3, data=create("warm"))
    out["warmup_drain_s"] = await settle()
    only = _only()
    for c in (32,) if only else (32, 128):
        out[f"create_c{c}"] = await _wrk(gw, scripts.CREATE, connections=c, duration=duration,
                                         data=create(f"create{c}"), stack=stack, settle=settle)
    if only:
        if "paced" in only:
            return await _paced_phases(stack, admin, keys, onboarded, out)
        if "confirm" in only:
            out["confirm_c32"] = await _confirm(gw, admin, keys, index, duration, stack,
                                                settle)
        return out
    pairs = await _pairs(admin, "SELECT payment_id, merchant_id FROM checkout.payments "
                                "ORDER BY random() LIMIT 2000", index)
    out["get_c32"] = await _wrk(gw, scripts.GET, connections=32, duration=duration,
                                data={"KEYS": keys}, rows={"PAIRS": pairs}, stack=stack)
    out["confirm_c32"] = await _confirm(gw, admin, keys, index, duration, stack, settle)
    out["fee_quote_c32"] = await _wrk(gw, scripts.FEE_QUOTE, connections=32,
                                      duration=duration, data={"KEYS": keys}, stack=stack)
    return await _paced_phases(stack, admin, keys, onboarded, out)


async def measure_growth(stack: BenchStack, admin: str, duration: float) -> dict:
    """bench/growth.py, with the create phase at 32 connections as measure_norgate runs
    it (its own merchants and keys), so its figures compare with that phase's."""
    onboarded = await onboard(stack, int(os.environ.get("BENCH_MERCHANTS", 32)))
    keys = [m["key"] for m in onboarded]
    gw = stack.url() + "/"

    async def settle() -> float:
        drained = await drain(admin, stack.settings.amqp_url, stack.settings.events_namespace)
        await _checkpoint(admin)
        return drained

    def data(label: str) -> dict:
        return {"KEYS": keys, "PHASE": f"{label}{secrets.token_hex(3)}"}

    async def create(label: str) -> dict:
        return await _wrk(gw, scripts.CREATE, connections=32, duration=duration,
                          data=data(label), stack=stack, settle=settle)

    await _wrk(gw, scripts.CREATE, connections=32, duration=3, data=data("warm"))
    await settle()
    return await growth.measure(stack, admin, create)


async def _checkpoint(admin: str) -> None:
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute("CHECKPOINT")
    finally:
        await conn.close()


def _only() -> set[str]:
    """BENCH_ONLY's phases (empty: the whole run)."""
    return {p.strip() for p in os.environ.get("BENCH_ONLY", "").split(",") if p.strip()}


async def _confirm(gw: str, admin: str, keys: list[str], index: dict, duration: float,
                   stack: BenchStack, settle) -> dict:
    pending = await _pairs(admin, "SELECT payment_id, merchant_id FROM checkout.payments "
                                  "WHERE status = 'pending' ORDER BY id", index)
    result = await _wrk(
        gw, scripts.CONFIRM, connections=32, duration=duration,
        data={"KEYS": keys, "CONFIRM_BODY": scripts.CONFIRM_BODY}, rows={"PAIRS": pending},
        stack=stack, settle=settle)
    result["pending_payments_available"] = len(pending)
    return result


async def _paced_phases(stack: BenchStack, admin: str, keys: list[str], onboarded: list,
                        out: dict) -> dict:
    receiver = Receiver()
    await receiver.start()
    try:
        await register_webhooks(stack, onboarded, receiver.url)
        rate, seconds = _env_float("BENCH_RATE", 300), _env_float("BENCH_PACED_SECONDS", 20)
        out["paced"] = await paced(stack, admin, keys, receiver, rate, seconds)
        reached = out["paced"]["payments_per_s"]
        if reached < 0.9 * rate:
            # Saturated: queues grew all along, so the latencies say only that. Measure
            # them again at a rate the stack keeps up with.
            out["paced_sustained"] = await paced(stack, admin, keys, receiver,
                                                 max(5.0, round(reached * 0.6)), seconds)
    finally:
        await receiver.stop()
    return out


async def _delete_namespace(amqp_url: str, namespace: str, delays: tuple[float, ...]) -> None:
    import aio_pika

    topology = Topology(namespace)
    queues = [topology.queue(s, p) for s, p in catalog.QUEUES]
    conn = await aio_pika.connect(amqp_url)
    try:
        for name in queues + [Topology.dead_letter_queue(q) for q in queues] + \
                [topology.retry_queue(d) for d in delays]:
            channel = await conn.channel()
            with contextlib.suppress(Exception):  # already gone
                await channel.queue_delete(name)
        for name in [topology.exchange, topology.dead_letter_exchange] + \
                [topology.delay_exchange(d) for d in delays]:
            channel = await conn.channel()
            with contextlib.suppress(Exception):
                await channel.exchange_delete(name)
    finally:
        await conn.close()


async def _over_socket(settings) -> bool:
    """Provision the bench database over the socket; whether that worked and the
    services' roles then connect through it."""
    try:
        await provision(settings)
        conn = await asyncpg.connect(settings.dsn_of("gateway"), timeout=10)
    except (OSError, asyncpg.PostgresError, TimeoutError, SystemExit):
        return False
    await conn.close()
    return True


def _postgres_reached(settings) -> str:
    parts = urlsplit(settings.database_url)
    socket_dir = parse_qs(parts.query).get("host")
    return f"Unix socket {socket_dir[0]}" if socket_dir else f"TCP {parts.netloc.split('@')[-1]}"


def _stack_env(tmp: Path, run_id: str, socket: bool) -> dict[str, str]:
    env = bench_env(tmp, run_id, socket=socket)
    # Only the payouts phase's own call runs the payouts tick (a round of the loop at
    # the wrong moment would make the payouts, or hold the lock, in its place).
    env.setdefault("NORGATE_PAYOUT_TICK_SECONDS", "3600")
    return env


async def main() -> int:
    if wrk.ensure_wrk() is None:
        raise SystemExit("bench: wrk is needed (Debian package `wrk`)")
    run_id = secrets.token_hex(3)
    duration = _env_float("BENCH_DURATION", 10)
    workers = parse_workers(os.environ.get("BENCH_WORKERS", ""))
    tmp = Path(tempfile.mkdtemp(prefix="norgate-bench-"))
    socket = os.environ.get("BENCH_PG_SOCKET") == "1"
    stack = BenchStack(_stack_env(tmp, run_id, socket), workers, log_dir=tmp / "logs")
    if not (socket and await _over_socket(stack.settings)):
        if socket:  # the socket refuses us or the services' roles (peer auth): TCP
            stack = BenchStack(_stack_env(tmp, run_id, False), workers,
                               log_dir=tmp / "logs")
        await provision(stack.settings)  # over TCP, a failure stops the run as it says
    settings = stack.settings
    admin = admin_dsn(settings)
    started = datetime.now(UTC)
    only = _only()
    money = money_out.selected(only)
    growing = "growth" in only  # only when named: it seeds millions of rows
    ids = "ids" in only  # the same
    # the payment phases
    payments = not only or bool(only - set(money_out.PHASES) - set(growth.PHASES) - {"ids"})
    results: dict = {
        "started_at": started.isoformat(), "machine": report.machine(),
        "settings": {"env": "dev (production tuning; see docs/benchmarks.md)",
                     "log_level": settings.log_level, "workers": workers,
                     "duration_s": duration, "merchants": int(os.environ.get(
                         "BENCH_MERCHANTS", 32)),
                     "postgres": _postgres_reached(settings)},
    }
    failed = False
    try:
        if not only:
            results["floors"] = await measure_floors(admin, duration, os.cpu_count() or 1)
        await stack.start()
        results["ready_s"] = await stack.wait_ready(120)
        if payments:
            results["norgate"] = await measure_norgate(stack, admin, duration,
                                                       results["settings"]["merchants"])
        if money:
            results["money_out"] = await money_out.measure(stack, admin, money, duration)
        if growing:
            results["growth"] = await measure_growth(stack, admin, duration)
        if ids:
            results["ids"] = await id_order.measure(admin)
        results["memory"] = peak_rss({name: proc.pid for name, proc in stack.procs.items()
                                      if name != "mailsink"})
    except BaseException:
        failed = True
        print(f"bench: failed; service logs are in {tmp / 'logs'}", flush=True)
        raise
    finally:
        await stack.stop()
        await drop(settings)
        try:
            await _delete_namespace(settings.amqp_url, settings.events_namespace,
                                    settings.consumer_retry_delays)
        except Exception as exc:  # leftovers of a failed run are harmless
            print(f"bench: could not delete the event namespace: {exc}")
        if not failed and os.environ.get("BENCH_KEEP") != "1":
            shutil.rmtree(tmp, ignore_errors=True)
    if only:
        RESULTS.mkdir(parents=True, exist_ok=True)
        stamp = started.strftime("%Y%m%dT%H%M%SZ")
        (RESULTS / f"{stamp}-{'-'.join(sorted(only))}.json").write_text(
            json.dumps(results, indent=2, default=str) + "\n")
        print(json.dumps({phase: {k: r.get(k) for k in (
            "requests_per_s", "payments_per_s", "p50_ms", "p99_ms", "non_2xx", "drain_s",
            "cpu_ms_per_request", "infra_cpu_ms_per_request", "webhook_latency",
            "ledger_lag") if k in r} for phase, r in results.get("norgate", {}).items()
            if isinstance(r, dict)}, indent=1))
        if money:
            print("\n" + report.money_out_table(results))
        if growing:
            print("\n" + growth.table(results["growth"]))
        if ids:
            print("\n" + id_order.table(results["ids"]))
        return 0
    if os.environ.get("BENCH_SKIP_QUOTES") != "1":
        from bench import quotes

        results["fee_quote_internal"] = await quotes.measure()
    results["targets"] = report.targets(results)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    (RESULTS / f"{stamp}.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    table = report.table(results)
    (RESULTS / "summary.md").write_text(report.markdown(results, table))
    print("\n" + table)
    print(f"\nbench/results/{stamp}.json, bench/results/summary.md ({platform.node()})")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
