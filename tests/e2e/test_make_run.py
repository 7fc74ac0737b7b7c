"""`make run` from this checkout: every service up, one request followed everywhere, clean stop."""

from __future__ import annotations

import asyncio
import os
import signal

import aiohttp
import orjson
import pytest

from tests.e2e.conftest import get_status, wait_gateway_ready
from tests.support.poll import poll_until

pytestmark = pytest.mark.e2e
SERVICES = ("gateway", "auth", "checkout", "billing", "fees", "notifier")


async def test_make_run_brings_every_service_up_and_gateway_ready_within_60s(stack):
    seconds = await wait_gateway_ready(stack)
    # The whole make run (venv check, infra, provisioning, start) fits the budget.
    assert seconds < 60, f"gateway ready after {seconds:.1f}s"
    for service in SERVICES:
        assert await get_status(f"http://127.0.0.1:{stack.port(service)}/readyz") == 200, service
    out = await poll_until(lambda: _banner(stack), timeout=10, what="start-up banner")
    assert f"{stack.gateway}/docs" in out
    assert "SUPER login  super@norgate.local" in out
    assert f"http://127.0.0.1:{stack.env['NORGATE_MAILSINK_HTTP_PORT']}" in out


async def _banner(stack):
    out = stack.output()
    return out if "norgate is up" in out else None


async def test_one_request_carries_its_correlation_id_into_every_service_log(stack):
    await wait_gateway_ready(stack)
    correlation = "e2e-openapi-0123456789"
    async with aiohttp.ClientSession() as http:
        async with http.get(stack.gateway + "/openapi.json",
                            headers={"X-Correlation-ID": correlation}) as resp:
            assert resp.status == 200
            assert resp.headers["X-Correlation-ID"] == correlation
            spec = await resp.json()
    assert "x-unavailable-services" not in spec["info"]

    async def services_logging_it():
        seen = set()
        for line in stack.output().splitlines():
            if correlation in line and line.startswith("{"):
                record = orjson.loads(line)
                if record.get("correlation_id") == correlation:
                    seen.add(record["service"])
        return seen if seen >= set(SERVICES) else None

    seen = await poll_until(services_logging_it, timeout=10, what="the id in all six logs")
    assert seen >= set(SERVICES)


async def test_sigterm_to_make_run_stops_every_process_it_started(stack):
    await wait_gateway_ready(stack)
    os.kill(stack.proc.pid, signal.SIGTERM)
    code = await asyncio.wait_for(stack.proc.wait(), 30)
    # make passes SIGTERM to the runner, waits for it, then ends itself by the same signal.
    assert code in (0, -signal.SIGTERM), stack.output()[-3000:]
    stopped = [line for line in stack.output().splitlines() if line.startswith("norgate: stopped")]
    assert stopped and all(part.endswith("=0") for part in
                           stopped[-1].removeprefix("norgate: stopped (").rstrip(")").split(", "))
    for service in SERVICES:
        assert await get_status(f"http://127.0.0.1:{stack.port(service)}/healthz") is None
    assert await get_status(
        f"http://127.0.0.1:{stack.env['NORGATE_MAILSINK_HTTP_PORT']}/") is None
