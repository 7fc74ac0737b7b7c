"""SIGTERM drains in-flight requests before a service exits."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from tests.conftest import serve
from tests.e2e.conftest import REPO, get_status
from tests.support.net import free_port, free_ports
from tests.support.poll import poll_until

pytestmark = pytest.mark.e2e


async def test_sigterm_lets_an_in_flight_request_finish_then_exits_cleanly(settings):
    arrived = asyncio.Event()

    async def slow(_request: web.Request) -> web.Response:
        arrived.set()
        await asyncio.sleep(1.5)
        return web.json_response({"finished": True})

    upstream = web.Application()
    # A public path (checkout pages need no credentials), routed to checkout.
    upstream.router.add_get("/checkout/slow", slow)
    async with serve(upstream) as up:
        port = free_port()
        env = {**os.environ, "NORGATE_GATEWAY_PORT": str(port),
               "NORGATE_CHECKOUT_URL": f"http://127.0.0.1:{up.server.port}",
               "NORGATE_SHUTDOWN_GRACE_SECONDS": "10"}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "services.gateway", cwd=REPO, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        try:
            base = f"http://127.0.0.1:{port}"
            # Serving (its start-up done); not ready, as no other service runs here.
            await poll_until(lambda: _is(get_status(base + "/healthz"), 200), timeout=30,
                             what="gateway serving")
            async with aiohttp.ClientSession() as http:
                request = asyncio.create_task(http.get(base + "/checkout/slow"))
                await asyncio.wait_for(arrived.wait(), 10)
                proc.send_signal(signal.SIGTERM)
                resp = await request
                assert resp.status == 200
                assert await resp.json() == {"finished": True}
            code = await asyncio.wait_for(proc.wait(), 15)
            assert code == 0
            output = (await proc.stdout.read()).decode()
            assert '"event":"service_stopped"' in output
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()


async def _is(awaitable, expected) -> bool:
    return await awaitable == expected


async def test_services_do_not_outlive_a_killed_runner(settings):
    """Even SIGKILL to the runner (no chance to clean up) stops every service."""
    ports = free_ports(8)
    names = ["gateway", "auth", "checkout", "billing", "fees", "notifier"]
    env = {**os.environ, **{f"NORGATE_{n.upper()}_PORT": str(p) for n, p in zip(names, ports,
                                                                                 strict=False)},
           "NORGATE_MAILSINK_SMTP_PORT": str(ports[6]), "NORGATE_MAILSINK_HTTP_PORT": str(ports[7])}
    env.pop("NORGATE_SMTP_URL", None)
    runner = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "deploy.run", cwd=REPO, env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    try:
        for port in ports[:6]:
            await poll_until(lambda p=port: _is(get_status(f"http://127.0.0.1:{p}/healthz"), 200),
                             timeout=60, what=f"service on {port}")
        runner.kill()
        await runner.wait()

        marker = f"NORGATE_GATEWAY_PORT={ports[0]}".encode()

        async def all_gone():
            # Not just closed ports: every process of this stack has exited.
            return not _processes_with(marker)
        await poll_until(all_gone, timeout=30, interval=0.25, what="every service exited")
    finally:
        if runner.returncode is None:
            runner.kill()
            await runner.wait()


def _processes_with(marker: bytes) -> list[int]:
    """Pids whose environment holds `marker` (this stack's unique port setting)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found
