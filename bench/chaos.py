"""`make chaos`: faults under steady load, then proof that nothing was lost or doubled.

It runs on a PostgreSQL cluster and a RabbitMQ node of its own (bench/chaos_infra.py),
never the machine's shared ones, and removes both at the end, also after a failure or
Ctrl-C. Steps:

1. start the private PostgreSQL and RabbitMQ, provision the database, start the six
   services and the mail sink as separate processes, and a webhook receiver;
2. onboard a merchant through the gateway and register the receiver as its endpoint;
   give it USD settlement accounts and a daily payout schedule;
3. run a steady payment load (create + confirm, card in USD and NOR wallet) throughout,
   with a manual payout every few seconds (one of them canceled at once) beside the
   automatic ones, and inject, in turn: kill -9 checkout, billing and notifier, each
   restarted at once; RabbitMQ `stop_app` for 20 s; PostgreSQL stopped and started
   again; the receiver answering 500 for 60 s;
4. stop the load, wait (with deadlines) until outboxes, queues and webhook deliveries
   have drained and the payouts have come to rest, and print the checks
   (bench/chaos_checks.py).

Exit status: 0 when every check holds, 1 when one fails, 2 when the run could not be
set up. Service logs stay in var/chaos/logs/. See docs/chaos.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from bench.chaos_checks import (
    STATUS_CHECK_SECONDS,
    Check,
    run_checks,
    wait_drained,
    wait_payouts_settled,
)
from bench.chaos_infra import PrivatePostgres, PrivateRabbit, free_ports, run
from bench.chaos_load import Load
from bench.chaos_receiver import Receiver
from bench.chaos_stack import ROOT, SUPER_EMAIL, SUPER_PASSWORD, Processes, onboard
from shared.settings import SERVICES

DATABASE = "norgate_chaos"
LOG_DIR = ROOT / "var" / "chaos" / "logs"
# Time is compressed: webhook and consumer retries follow short schedules (set by the
# documented variables) so that the run, outages included, fits in about five minutes.
WEBHOOK_SCHEDULE = "[0, 1, 2, 4, 8, 15, 20, 20, 20, 20, 30, 30, 30, 30, 30]"
CONSUMER_DELAYS = "[0.5, 1, 2, 5, 10, 20, 30]"
# Money out, compressed too (docs/payouts.md): a settlement day of 2 s, so a payment is
# available a day after it completed and the daily payout runs every 2 s; the payouts
# tick every 0.5 s; a manual payout cancelable for 1 s; the sandbox rail's callback
# after 0.5 s (a return 2 s after being paid), and a payout unanswered for 5 s asked
# about by the tick (a callback lost with billing's kill -9).
PAYOUT_SETTINGS = {
    "NORGATE_PAYOUT_DAY_SECONDS": "2",
    "NORGATE_PAYOUT_TICK_SECONDS": "0.5",
    "NORGATE_PAYOUT_HOLD_SECONDS": "1",
    "NORGATE_SANDBOX_PAYOUT_CALLBACK_SECONDS": "0.5",
    "NORGATE_SANDBOX_PAYOUT_RETURN_SECONDS": "2",
    "NORGATE_PAYOUT_STATUS_CHECK_SECONDS": str(STATUS_CHECK_SECONDS),
}
PAYOUT_QUIET = 8.0  # seconds without a posting: books at rest (> a day, a tick, a return)


@dataclass
class Fault:
    name: str
    at: float  # seconds into the load
    outage: float  # how long the thing was away (killed until ready again, etc.)
    recovered: float  # seconds from the end of the outage until every service was ready


def _say(message: str) -> None:
    print(f"chaos: {message}", flush=True)


class Run:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.run_id = secrets.token_hex(3)
        self.root = Path(tempfile.mkdtemp(prefix=f"norgate-chaos-{self.run_id}-"))
        self.root.chmod(0o755)  # the postgres user must reach its data directory
        (pg_port, node_port, dist_port, receiver_port, smtp_port, mail_http_port,
         *service_ports) = free_ports(6 + len(SERVICES))
        self.pg = PrivatePostgres(self.root, pg_port)
        self.rabbit = PrivateRabbit(self.root, node_port, dist_port, self.run_id)
        self.receiver = Receiver(receiver_port)
        self.service_ports = dict(zip(SERVICES, service_ports, strict=True))
        self.mail_ports = (smtp_port, mail_http_port)
        self.procs: Processes | None = None
        self.faults: list[Fault] = []
        self.load: Load | None = None
        self.load_started = 0.0

    # Set-up ---------------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("NORGATE_")}
        gateway = f"http://127.0.0.1:{self.service_ports['gateway']}"
        env.update({
            "NORGATE_ENV": "dev",
            "NORGATE_DATABASE_URL": self.pg.url(DATABASE),
            "NORGATE_AMQP_URL": self.rabbit.url,
            "NORGATE_EVENTS_NAMESPACE": "chaos",
            "NORGATE_SECRET_KEY": secrets.token_hex(32),
            "NORGATE_PUBLIC_URL": gateway,
            "NORGATE_SMTP_URL": f"smtp://127.0.0.1:{self.mail_ports[0]}",
            "NORGATE_MAILSINK_SMTP_PORT": str(self.mail_ports[0]),
            "NORGATE_MAILSINK_HTTP_PORT": str(self.mail_ports[1]),
            "NORGATE_MAIL_DIR": str(self.root / "mail"),
            "NORGATE_BOOTSTRAP_SUPER_EMAIL": SUPER_EMAIL,
            "NORGATE_BOOTSTRAP_SUPER_PASSWORD": SUPER_PASSWORD,
            "NORGATE_SHUTDOWN_GRACE_SECONDS": "3",
            "NORGATE_WEBHOOK_RETRY_SCHEDULE": WEBHOOK_SCHEDULE,
            "NORGATE_WEBHOOK_TIMEOUT_SECONDS": "5",
            "NORGATE_WEBHOOK_POLL_SECONDS": "0.5",
            "NORGATE_CONSUMER_RETRY_DELAYS": CONSUMER_DELAYS,
            "NORGATE_CONSUMER_MAX_ATTEMPTS": "12",
            **PAYOUT_SETTINGS,
            **{f"NORGATE_{name.upper()}_PORT": str(port)
               for name, port in self.service_ports.items()},
        })
        return env

    async def set_up(self) -> dict:
        started = time.monotonic()
        _say(f"private PostgreSQL on 127.0.0.1:{self.pg.port} ({self.pg.dir})")
        await self.pg.init()
        _say(f"private RabbitMQ node {self.rabbit.node} on 127.0.0.1:{self.rabbit.node_port}")
        await self.rabbit.start()
        env = self.env()
        await run(sys.executable, "-m", "deploy.provision", env=env)
        shutil.rmtree(LOG_DIR, ignore_errors=True)
        LOG_DIR.mkdir(parents=True)
        self.procs = Processes(env, LOG_DIR)
        await self.procs.spawn("mailsink")
        for name in SERVICES:
            await self.procs.spawn(name)
        await self.procs.wait_ready()
        await self.receiver.start()
        merchant = await onboard(env["NORGATE_PUBLIC_URL"], self.root / "mail",
                                 self.receiver.url, delay_days=self.args.delay_days)
        self.receiver.secret = merchant["secret"]
        _say(f"stack ready in {time.monotonic() - started:.0f}s; merchant "
             f"{merchant['merchant_id']} onboarded, webhook endpoint {merchant['endpoint_id']}, "
             f"settlement accounts {', '.join(merchant['accounts'].values())}")
        return merchant

    # Faults -------------------------------------------------------------------------

    def _begin(self, name: str) -> float:
        assert self.load is not None
        self.load.phase = name
        _say(f"fault: {name}")
        return time.monotonic()

    async def _ready_after(self, fault: str, began: float, outage_end: float) -> None:
        assert self.procs is not None
        recovered = await self.procs.wait_ready(timeout=90)
        self.faults.append(Fault(fault, began - self.load_started, outage_end - began,
                                 recovered))

    async def _payout_in_transit(self, timeout: float) -> bool:
        """Waits until a payout is in transit (its rail's callback is due), at most
        `timeout` seconds."""
        conn = await asyncpg.connect(self.pg.url(DATABASE))
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if await conn.fetchval("SELECT EXISTS (SELECT 1 FROM billing.payouts "
                                       "WHERE status = 'in_transit')"):
                    return True
                await asyncio.sleep(0.05)
            return False
        finally:
            await conn.close()

    async def kill_and_restart(self, service: str) -> None:
        assert self.procs is not None
        if service == "billing":
            # Killed while a payout is in transit, so the sandbox rail's callback that
            # billing was to make is lost and the tick's status check must answer it.
            if not await self._payout_in_transit(timeout=8):
                _say("no payout in transit within 8s; killing billing anyway")
        name = f"kill -9 {service}, restart"
        began = self._begin(name)
        await self.procs.kill9(service)
        await self.procs.spawn(service)
        await self.procs.wait_ready((service,), timeout=90)
        await self._ready_after(name, began, time.monotonic())

    async def broker_outage(self, seconds: float) -> None:
        name = f"RabbitMQ stop_app {seconds:.0f}s"
        began = self._begin(name)
        await self.rabbit.stop_app()
        await asyncio.sleep(max(0.0, seconds - (time.monotonic() - began)))
        await self.rabbit.start_app()
        await self._ready_after(name, began, time.monotonic())

    async def database_restart(self, down: float) -> None:
        name = "PostgreSQL restart"
        began = self._begin(name)
        await self.pg.stop()
        await asyncio.sleep(down)
        await self.pg.start()
        await self._ready_after(name, began, time.monotonic())

    async def receiver_outage(self, seconds: float) -> None:
        name = f"webhook receiver 500s {seconds:.0f}s"
        began = self._begin(name)
        self.receiver.fail_for(seconds)
        await asyncio.sleep(seconds)
        self.receiver.heal()
        self.faults.append(Fault(name, began - self.load_started, seconds, 0.0))

    async def go(self) -> int:
        args = self.args
        merchant = await self.set_up()
        gateway = f"http://127.0.0.1:{self.service_ports['gateway']}"
        self.load = Load(gateway, merchant["key"], rate=args.rate,
                         accounts=merchant["accounts"], payout_every=args.payout_every)
        self.load_started = time.monotonic()
        load_task = asyncio.create_task(self.load.run())
        _say(f"steady load: {args.rate:g} payments/s (create + confirm), a manual payout "
             f"every {args.payout_every:g}s, automatic payouts daily (a day is 2s)")
        try:
            await asyncio.sleep(args.settle)
            for service in ("checkout", "billing", "notifier"):
                await self.kill_and_restart(service)
                await asyncio.sleep(args.settle)
            await self.broker_outage(args.broker_outage)
            await asyncio.sleep(args.settle)
            await self.database_restart(args.db_down)
            await asyncio.sleep(args.settle)
            await self.receiver_outage(args.receiver_outage)
            self.load.phase = "after the faults"
            await asyncio.sleep(args.settle / 2)
        finally:
            self.load.stop()
            await load_task
        load_seconds = time.monotonic() - self.load_started
        _say(f"load stopped after {load_seconds:.0f}s; waiting for the backlog to drain")
        conn = await asyncpg.connect(self.pg.url(DATABASE))
        try:
            drain_seconds, state = await wait_drained(conn, self.rabbit, args.drain_timeout)
            # Then money out comes to rest (the last payments become available and are
            # paid out), and what that emitted drains too.
            settle_seconds, rest, settled = await wait_payouts_settled(
                conn, args.payout_timeout, PAYOUT_QUIET)
            _say(f"drained in {drain_seconds:.0f}s; payouts "
                 f"{'at rest' if settled else 'NOT at rest'} after {settle_seconds:.0f}s "
                 f"({rest['payouts']} payouts, {rest['moving']} pending or in transit, "
                 f"{rest['unreleased']} movements unreleased)")
            more, state = await wait_drained(conn, self.rabbit, args.drain_timeout)
            drain_seconds += settle_seconds + more
            checks = await run_checks(
                conn, self.rabbit, self.load, self.receiver, gateway=gateway,
                api_key=merchant["key"], endpoint_id=merchant["endpoint_id"],
                drained_state=state, settled=settled)
        finally:
            await conn.close()
        self.report(load_seconds, drain_seconds, checks)
        return 0 if all(c.passed for c in checks) else 1

    # Report ---------------------------------------------------------------------------

    def report(self, load_seconds: float, drain_seconds: float, checks: list[Check]) -> None:
        load = self.load
        assert load is not None
        started = sum(sum(n for o, n in c.items() if o.startswith("create"))
                      for c in load.outcomes.values())
        retries = sum(sum(c.values()) for c in load.retried.values())
        payouts = sum(sum(n for o, n in c.items() if o.startswith("payout"))
                      for c in load.outcomes.values())
        lines = ["", f"norgate chaos run {self.run_id}: {started} payments started in "
                 f"{load_seconds:.0f}s at {load.rate:g}/s ({retries} client retries, "
                 f"{load.shed} ticks shed), {payouts} manual payout answers "
                 f"({len(load.payouts)} created, {len(load.cancels)} cancels asked); "
                 f"drained and at rest in {drain_seconds:.0f}s",
                 f"on its own PostgreSQL (127.0.0.1:{self.pg.port}) and RabbitMQ node "
                 f"{self.rabbit.node} (127.0.0.1:{self.rabbit.node_port}); the shared ones "
                 "were not touched", "",
                 "OUTAGE: from the fault until the service or broker was back (ready);",
                 "READY: then until every service answered /readyz 200.",
                 "LOAD: final answers to the payments and manual payouts started in the",
                 "window; RETRIED: answers that the client retried with the same",
                 "Idempotency-Key.", "",
                 f"{'FAULT':34} {'AT':>6} {'OUTAGE':>7} {'READY':>6}  LOAD / RETRIED"]
        windows = ["warm-up"] + [f.name for f in self.faults] + ["after the faults"]
        by_name = {f.name: f for f in self.faults}
        for window in windows:
            outcomes = load.outcomes.get(window, Counter())
            summary = ", ".join(f"{o} x{n}" for o, n in sorted(outcomes.items())) or "-"
            fault = by_name.get(window)
            timing = (f"{fault.at:5.0f}s {fault.outage:6.1f}s {fault.recovered:5.1f}s"
                      if fault else f"{'':6} {'':7} {'':6}")
            lines.append(f"{window:34} {timing}  {summary}")
            retried = load.retried.get(window)
            if retried:
                lines.append(f"{'':57}retried: " + ", ".join(
                    f"{o} x{n}" for o, n in sorted(retried.items())))
        lines += ["", f"{'CHECK':56} RESULT"]
        for check in checks:
            lines.append(f"{check.name:56} {'PASS' if check.passed else 'FAIL'}")
            lines.append(f"    {check.summary}")
            lines += [f"    ! {d}" for d in check.details]
        passed = sum(c.passed for c in checks)
        lines += ["", f"{passed}/{len(checks)} checks hold"
                  + ("" if passed == len(checks) else f"; service logs in {LOG_DIR}"), ""]
        print("\n".join(lines), flush=True)

    # Clean-up -------------------------------------------------------------------------

    async def stop_async(self) -> None:
        if self.procs is not None:
            await self.procs.stop_all()
        await self.receiver.stop()

    def clean_up(self) -> None:
        """Synchronous, idempotent, and run whatever happened before it."""
        if self.procs is not None:
            self.procs.kill_all_sync()
        for path, name in ((self.pg.log, "postgres.log"),
                           (self.rabbit.dir / "log", "rabbitmq")):
            try:
                if path.is_dir():
                    shutil.copytree(path, LOG_DIR / name, dirs_exist_ok=True)
                elif path.exists():
                    shutil.copy(path, LOG_DIR / name)
            except OSError:
                pass
        self.rabbit.stop_sync()
        self.pg.stop_sync()
        if not self.args.keep:
            shutil.rmtree(self.root, ignore_errors=True)
        _say("private PostgreSQL and RabbitMQ stopped"
             + ("" if self.args.keep else f", {self.root} removed"))


async def _main(chaos: Run) -> int:
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(sig, task.cancel)
    try:
        return await chaos.go()
    finally:
        await chaos.stop_async()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=20, help="payments per second")
    parser.add_argument("--settle", type=float, default=8,
                        help="seconds of plain load between faults")
    parser.add_argument("--broker-outage", type=float, default=20)
    parser.add_argument("--db-down", type=float, default=3,
                        help="seconds PostgreSQL stays stopped in its restart")
    parser.add_argument("--receiver-outage", type=float, default=60)
    parser.add_argument("--drain-timeout", type=float, default=120)
    parser.add_argument("--payout-every", type=float, default=5,
                        help="seconds between manual payouts")
    parser.add_argument("--delay-days", type=int, default=1, choices=(0, 1),
                        help="the merchant's settlement delay, in (2 s) settlement days")
    parser.add_argument("--payout-timeout", type=float, default=90,
                        help="how long to wait for the payouts to come to rest")
    parser.add_argument("--keep", action="store_true",
                        help="keep the temporary directory (data, mail) for inspection")
    args = parser.parse_args(argv)
    chaos = Run(args)
    try:
        return asyncio.run(_main(chaos))
    except (KeyboardInterrupt, asyncio.CancelledError):
        _say("interrupted")
        return 130
    except (RuntimeError, TimeoutError, OSError) as exc:
        _say(f"could not run: {exc}")
        return 2
    finally:
        chaos.clean_up()


if __name__ == "__main__":
    raise SystemExit(main())
