"""The stack under test: its settings, start-up, onboarding, quiet points and memory.

The stack runs with NORGATE_ENV=dev and production tuning otherwise: a random
64-character secret key, a random bootstrap password, logging at info, the default
pools, poll intervals and retry schedules. `prod` differs from `dev` in one thing
only besides refusing default secrets: it refuses webhook targets on loopback and
private addresses, and the benchmark's receiver listens on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import sys
import time
from email import policy
from email.parser import BytesParser
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import aio_pika
import aiohttp
import asyncpg

from deploy.run import Stack, _die_with_parent
from shared.events import Topology, catalog
from shared.settings import SERVICES
from tests.support.net import free_ports  # noqa: F401 (bench/run.py takes it from here)

PASSWORD = "Bench-Owner-Password-1"


def parse_workers(text: str) -> dict[str, int]:
    """"gateway=2,checkout=2" -> {"gateway": 2, "checkout": 2}."""
    out = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, count = part.partition("=")
        out[name.strip()] = int(count)
    return out


DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/norgate"
SOCKET_DIRS = ("/run/postgresql", "/var/run/postgresql", "/tmp")


def socket_url(url: str) -> str | None:
    """`url` over the Unix socket of the same server, when it runs on this machine and
    has one: how a stack on one machine may connect (BENCH_PG_SOCKET=1; the floors then
    connect the same way). A round trip over the socket skips the TCP stack on both
    sides. The default stays TCP, as in docker compose and on Kubernetes."""
    parts = urlsplit(url)
    if parts.hostname not in ("127.0.0.1", "localhost", "::1") or parts.query:
        return None
    port = parts.port or 5432
    for directory in SOCKET_DIRS:
        if os.path.exists(f"{directory}/.s.PGSQL.{port}"):
            credentials, at, _ = parts.netloc.rpartition("@")
            user = credentials + at
            at_port = f":{port}" if port != 5432 else ""
            return f"{parts.scheme}://{user}{at_port}{parts.path}?host={directory}"
    return None


def bench_env(tmp: Path, run_id: str, *, socket: bool = False) -> dict[str, str]:
    base = os.environ.get("NORGATE_DATABASE_URL", DEFAULT_DATABASE_URL)
    if socket:
        base = socket_url(base) or base
    parts = urlsplit(base)
    env = {k: v for k, v in os.environ.items() if not k.startswith("NORGATE_")}
    # Tuning to try (NORGATE_CONSUMER_LINGER_SECONDS=0.02 make bench) reaches the stack
    # through BENCH_NORGATE_*: plain NORGATE_* of the shell (a developer's own database,
    # workers or secrets) must not.
    env.update({k.removeprefix("BENCH_"): v for k, v in os.environ.items()
                if k.startswith("BENCH_NORGATE_")})
    ports = free_ports(len(SERVICES) + 2)
    env.update({f"NORGATE_{name.upper()}_PORT": str(port)
                for name, port in zip(SERVICES, ports, strict=False)})
    env.update({
        "NORGATE_ENV": "dev",
        "NORGATE_LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "info"),
        "NORGATE_DATABASE_URL": urlunsplit((parts.scheme, parts.netloc, f"/norgate_bench_{run_id}",
                                            parts.query, "")),
        "NORGATE_AMQP_URL": os.environ.get("NORGATE_AMQP_URL",
                                           "amqp://guest:guest@127.0.0.1:5672/"),
        "NORGATE_EVENTS_NAMESPACE": f"bench_{run_id}",
        "NORGATE_SECRET_KEY": secrets.token_hex(32),
        "NORGATE_BOOTSTRAP_SUPER_PASSWORD": secrets.token_urlsafe(16),
        "NORGATE_PUBLIC_URL": f"http://127.0.0.1:{ports[0]}",
        "NORGATE_MAILSINK_SMTP_PORT": str(ports[-2]),
        "NORGATE_MAILSINK_HTTP_PORT": str(ports[-1]),
        "NORGATE_MAIL_DIR": str(tmp / "mail"),
    })
    return env


class BenchStack(Stack):
    """deploy.run's Stack with a process count per service (NORGATE_WORKERS)."""

    def __init__(self, env: dict[str, str], workers: dict[str, int], **kwargs):
        super().__init__(env, **kwargs)
        self.workers = workers

    async def _spawn(self, name: str, module: str) -> None:
        """As Stack's, but each process writes its log lines straight to a file (as
        into a container runtime's log), not through a pipe this process copies."""
        assert self.log_dir is not None
        self.log_dir.mkdir(parents=True, exist_ok=True)
        env = {**self.env, "NORGATE_WORKERS": str(self.workers.get(name, 1))}
        with open(self.log_dir / f"{name}.log", "ab") as sink:
            self.procs[name] = await asyncio.create_subprocess_exec(
                sys.executable, "-m", module, env=env, stdout=sink,
                stderr=asyncio.subprocess.STDOUT, start_new_session=True,
                preexec_fn=_die_with_parent)

    def url(self, service: str = "gateway") -> str:
        return f"http://127.0.0.1:{self.settings.port_of(service)}"


# Onboarding through the gateway -------------------------------------------------

async def _mail_to(mail_dir: Path, address: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in sorted(mail_dir.glob("*.eml")):
            msg = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
            body = msg.get_body(("plain",)) if msg["To"] == address else None
            if body is not None:
                return str(body.get_content())
        await asyncio.sleep(0.2)
    raise RuntimeError(f"no mail to {address} in {timeout:.0f} s")


async def _json(resp: aiohttp.ClientResponse, expect: tuple[int, ...] = (200, 201)) -> dict:
    body = await resp.json(content_type=None)
    if resp.status not in expect:
        raise RuntimeError(f"{resp.method} {resp.url.path}: {resp.status} {body}")
    return body


async def onboard(stack: BenchStack, merchants: int, *,
                  owner: dict | None = None) -> list[dict]:
    """A company signed up and confirmed by e-mail, `merchants` ENTERPRISE merchants
    (activated), one secret API key each: [{"merchantId", "key"}]; the owner's (the
    company ADMIN's) e-mail and bearer token go in `owner` when given."""
    gw = stack.url()
    email = f"owner.{secrets.token_hex(4)}@bench.example.com"
    async with aiohttp.ClientSession() as http:
        await _json(await http.post(gw + "/api/v1/auth/admin-sign-up", json={
            "firstName": "Bench", "lastName": "Owner", "email": email, "password": PASSWORD,
            "companyName": "Bench Ltd"}))
        text = await _mail_to(Path(stack.env["NORGATE_MAIL_DIR"]), email)
        # The mail links the console page (token after #); the API takes the code.
        found = re.search(r"confirmation code: (\S+)", text)
        if found is None:
            raise RuntimeError(f"no confirmation code in the mail to {email}: {text}")
        code = found.group(1)
        async with http.post(gw + "/api/v1/auth/confirm-email", json={"token": code}) as resp:
            if resp.status >= 400:
                raise RuntimeError(f"confirm-email: {resp.status}")
        token = (await _json(await http.post(gw + "/api/v1/auth/sign-in", json={
            "email": email, "password": PASSWORD})))["token"]
        auth = {"Authorization": f"Bearer {token}"}
        if owner is not None:
            owner.update(email=email, token=token)
        out = []
        for i in range(merchants):
            merchant = (await _json(await http.post(
                gw + "/api/v1/admin/create-merchant-account", headers=auth, json={
                    "merchantName": f"Bench Shop {i}", "ratePlan": "ENTERPRISE",
                    "merchantEmail": f"shop{i}.{secrets.token_hex(3)}@bench.example.com"})))["data"]
            await _json(await http.post(
                gw + f"/api/v1/admin/merchants/{merchant['merchantId']}/activate", headers=auth))
            key = (await _json(await http.post(gw + "/api/v1/api-keys", headers=auth, json={
                "merchantId": merchant["merchantId"]})))["data"]["key"]
            out.append({"merchantId": int(merchant["merchantId"]), "key": key})
    return out


async def register_webhooks(stack: BenchStack, merchants: list[dict], url: str) -> None:
    async with aiohttp.ClientSession() as http:
        for m in merchants:
            await _json(await http.post(
                stack.url() + "/api/v2/webhooks/endpoints", headers={"X-API-Key": m["key"]},
                json={"url": url, "events": ["payment.created", "payment.completed"]}))


# Quiet points -------------------------------------------------------------------

async def drain(admin_dsn: str, amqp_url: str, namespace: str, timeout: float = 180) -> float:
    """Wait until no outbox row is pending, no consumer queue holds a message and no
    webhook delivery is due, twice in a row; returns the seconds it took."""
    started = time.monotonic()
    topology = Topology(namespace)
    names = [topology.queue(service, purpose) for service, purpose in catalog.QUEUES]
    quiet = 0
    conn = await asyncpg.connect(admin_dsn)
    amqp = await aio_pika.connect(amqp_url)
    try:
        channel = await amqp.channel()
        while time.monotonic() - started < timeout:
            pending = 0
            for schema in SERVICES:
                if await conn.fetchval("SELECT to_regclass($1)", f"{schema}.outbox"):
                    pending += await conn.fetchval(
                        f'SELECT count(*) FROM "{schema}".outbox WHERE published_at IS NULL')
            pending += await conn.fetchval(
                """SELECT count(*) FROM notifier.webhook_deliveries
                   WHERE status = 'pending' AND next_attempt_at <= now()""")
            for name in names:
                queue = await channel.declare_queue(name, passive=True)
                pending += queue.declaration_result.message_count or 0
            quiet = quiet + 1 if pending == 0 else 0
            if quiet >= 2:
                return round(time.monotonic() - started, 1)
            await asyncio.sleep(0.5)
        raise RuntimeError(f"the stack did not drain in {timeout:.0f} s")
    finally:
        await amqp.close()
        await conn.close()


# Memory -------------------------------------------------------------------------

def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            out.append(int(entry.name))
    return out


def _kib(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _spawned(pid: int) -> bool:
    """A multiprocessing helper (billing's reconciliation matcher, its resource tracker):
    a batch process of its own, not a replica of the service."""
    try:
        return b"multiprocessing" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def peak_rss(pids: dict[str, int]) -> dict[str, dict]:
    """Per service: the peak resident set (VmHWM) of its largest process and the sum
    over its processes (a worker is a full replica), in MB; and apart, the largest of
    the helpers it spawned (`helper_peak_mb`: billing matches a reconciliation file in
    one, which ends with the import)."""
    out = {}
    for name, pid in pids.items():
        children = _children(pid)
        helpers = [p for p in children if _spawned(p)]
        family = [pid] + [p for p in children if p not in helpers]
        peaks = [_kib(p, "VmHWM") for p in family]
        out[name] = {"processes": len(family), "peak_mb_max": round(max(peaks) / 1024, 1),
                     "peak_mb_sum": round(sum(peaks) / 1024, 1),
                     "helper_peak_mb": round(max([_kib(p, "VmHWM") for p in helpers],
                                                 default=0) / 1024, 1)}
    return out


_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    """User + system CPU seconds so far of each service (all its processes)."""
    out = {}
    for name, pid in pids.items():
        total = 0
        for p in [pid] + _children(pid):
            try:
                fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime
        out[name] = total / _TICKS
    return out


def infra_cpu_seconds() -> dict[str, float]:
    """User + system CPU seconds so far of PostgreSQL's processes (every backend: the
    stack's pools keep theirs for the whole run), RabbitMQ's Erlang VM, and the whole
    machine (every core busy, from /proc/stat: wrk and this process included)."""
    out = {"postgres": 0, "rabbitmq": 0}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            head, tail = (entry / "stat").read_text().rsplit(")", 1)
        except OSError:
            continue
        comm = head.split("(", 1)[1]
        kind = "postgres" if comm == "postgres" else "rabbitmq" if comm.startswith(
            "beam") else None
        if kind:
            fields = tail.split()
            out[kind] += int(fields[11]) + int(fields[12])
    cpu = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    busy = sum(int(v) for v in cpu) - int(cpu[3]) - int(cpu[4])  # minus idle, iowait
    out["machine"] = busy
    return {k: v / _TICKS for k, v in out.items()}
