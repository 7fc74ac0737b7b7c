"""The whole stack, started the way an operator starts it: `make run`."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import DECLARED_QUEUES, TEST_ENV
from tests.support.net import free_ports
from tests.support.poll import poll_until

REPO = Path(__file__).resolve().parents[2]
SERVICES = ("gateway", "auth", "checkout", "billing", "fees", "notifier")


class RunningStack:
    def __init__(self, proc: asyncio.subprocess.Process, env: dict[str, str], log: Path,
                 started: float):
        self.proc = proc
        self.env = env
        self.log = log
        self.started = started

    def port(self, service: str) -> int:
        return int(self.env[f"NORGATE_{service.upper()}_PORT"])

    @property
    def gateway(self) -> str:
        return f"http://127.0.0.1:{self.port('gateway')}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture(scope="module")
async def stack(tmp_path_factory, settings):
    from deploy.provision import drop
    from shared.events import Topology
    from shared.settings import Settings

    tmp = tmp_path_factory.mktemp("stack")
    names = ["gateway", "auth", "checkout", "billing", "fees", "notifier"]
    ports = free_ports(len(names) + 2)
    env = {k: v for k, v in os.environ.items() if not k.startswith("NORGATE_")}
    env.update(TEST_ENV)
    env["NORGATE_DATABASE_URL"] = TEST_ENV["NORGATE_DATABASE_URL"] + "_e2e"
    env.update({f"NORGATE_{n.upper()}_PORT": str(p) for n, p in zip(names, ports, strict=False)})
    env["NORGATE_MAILSINK_SMTP_PORT"] = str(ports[-2])
    env["NORGATE_MAILSINK_HTTP_PORT"] = str(ports[-1])
    env["NORGATE_MAIL_DIR"] = str(tmp / "mail")
    env["NORGATE_CHECK_ANSWERS"] = "true"
    env["NORGATE_PUBLIC_URL"] = f"http://127.0.0.1:{ports[0]}"
    env["MAKEFLAGS"] = ""
    log = tmp / "make-run.log"
    started = time.monotonic()
    with open(log, "wb") as out:
        proc = await asyncio.create_subprocess_exec(
            "make", "--no-print-directory", "run", cwd=REPO, env=env, stdout=out,
            stderr=asyncio.subprocess.STDOUT, stdin=asyncio.subprocess.DEVNULL,
            start_new_session=True)
    running = RunningStack(proc, env, log, started)
    DECLARED_QUEUES.append(Topology(TEST_ENV["NORGATE_EVENTS_NAMESPACE"]).queue("notifier",
                                                                                  "email"))
    try:
        yield running
    finally:
        if proc.returncode is None:  # stop it as an operator would, then make sure
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                os.killpg(proc.pid, signal.SIGKILL)
                await proc.wait()
        await drop(Settings(database_url=env["NORGATE_DATABASE_URL"],
                            secret_key=TEST_ENV["NORGATE_SECRET_KEY"]))


async def get_status(url: str) -> int | None:
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            async with http.get(url) as resp:
                return resp.status
    except (TimeoutError, aiohttp.ClientError):
        return None


async def wait_gateway_ready(stack: RunningStack, timeout: float = 120) -> float:
    """Seconds from `make run` until the gateway's /readyz answered 200."""
    async def probe():
        if stack.proc.returncode is not None:
            raise AssertionError(f"make run exited {stack.proc.returncode}:\n{stack.output()}")
        return await get_status(stack.gateway + "/readyz") == 200
    await poll_until(probe, timeout=timeout, interval=0.25, what="gateway /readyz 200")
    return time.monotonic() - stack.started


async def wait_stack_ready(stack: RunningStack, timeout: float = 120) -> None:
    """The whole stack is ready: the gateway's /readyz covers every service behind it
    (test_make_run checks that they agree)."""
    await wait_gateway_ready(stack, timeout)
