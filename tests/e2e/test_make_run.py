"""`make run` from this checkout: every service up, one request followed everywhere, clean stop."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import signal
from email import policy
from email.parser import BytesParser
from pathlib import Path

import aiohttp
import orjson
import pytest

from tests.conftest import TEST_ENV
from tests.e2e.conftest import REPO, SERVICES, get_status, wait_gateway_ready, wait_stack_ready
from tests.support.net import free_port
from tests.support.poll import poll_until

pytestmark = pytest.mark.e2e


async def test_make_run_brings_every_service_up_and_gateway_ready_within_60s(stack):
    seconds = await wait_gateway_ready(stack)
    # The whole make run (venv check, infra, provisioning, start) fits the budget.
    assert seconds < 60, f"gateway ready after {seconds:.1f}s"
    # The gateway's readiness is the signal to wait for: once it says ready, so does
    # every service behind it, at once (it used to say so a second early).
    statuses = {s: await get_status(f"http://127.0.0.1:{stack.port(s)}/readyz")
                for s in SERVICES}
    assert statuses == dict.fromkeys(SERVICES, 200)
    async with aiohttp.ClientSession() as http:
        async with http.post(stack.gateway + "/api/v1/auth/sign-in", json={
                "email": "first.request@example.com", "password": "Not-A-Password-1"}) as resp:
            assert resp.status == 401, await resp.text()  # auth answered, not a 502
    out = await poll_until(lambda: _banner(stack), timeout=10, what="start-up banner")
    assert f"{stack.gateway}/docs" in out
    assert "SUPER login  super@norgate.local" in out
    # A password the operator set stays off the terminal (a generated one is printed:
    # test_make_run_secrets.py).
    assert "(the NORGATE_BOOTSTRAP_SUPER_PASSWORD you set)" in out
    assert TEST_ENV["NORGATE_BOOTSTRAP_SUPER_PASSWORD"] not in stack.output()
    assert f"http://127.0.0.1:{stack.env['NORGATE_MAILSINK_HTTP_PORT']}" in out


async def _banner(stack):
    out = stack.output()
    return out if "norgate is up" in out else None


async def test_one_request_carries_its_correlation_id_into_every_service_log(stack):
    await wait_stack_ready(stack)
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


async def test_sign_up_request_is_followed_by_its_correlation_id_to_the_email(stack):
    """Gateway -> auth -> email.requested event -> notifier -> SMTP, one correlation id."""
    await wait_stack_ready(stack)
    correlation = "e2e-signup-0123456789"
    email = "owner.e2e@example.com"
    body = {"firstName": "Ada", "lastName": "Lovelace", "email": email,
            "password": "Analytical-Engine-1843", "companyName": "Engines Ltd"}
    async with aiohttp.ClientSession() as http:
        async with http.post(stack.gateway + "/api/v1/auth/admin-sign-up", json=body,
                             headers={"X-Correlation-ID": correlation}) as resp:
            assert resp.status == 201, await resp.text()
            assert (await resp.json())["data"]["enabled"] is False
        mail_dir = Path(stack.env["NORGATE_MAIL_DIR"])
        [eml] = await poll_until(lambda: list(mail_dir.glob("*.eml")), timeout=20,
                                 what="confirmation e-mail in the mail sink")
        message = BytesParser(policy=policy.default).parsebytes(eml.read_bytes())
        assert message["To"] == email
        assert message["X-Correlation-ID"] == correlation
        link = re.search(r"(http://\S+/console/confirm-email)#token=(\S+)",
                         message.get_body(("plain",)).get_content())
        assert link.group(1) == stack.gateway + "/console/confirm-email"
        async with http.get(link.group(1)) as resp:  # the page the link opens
            assert resp.status == 200 and resp.content_type == "text/html"
        async with http.post(stack.gateway + "/api/v1/auth/confirm-email",  # what it posts
                             json={"token": link.group(2)}) as resp:
            assert resp.status == 200
            assert (await resp.json())["data"]["enabled"] is True

    def records():
        return [orjson.loads(line) for line in stack.output().splitlines()
                if line.startswith("{") and correlation in line]

    by_service = {r["service"] for r in records() if r.get("correlation_id") == correlation}
    assert {"gateway", "auth", "notifier"} <= by_service
    handled = [r for r in records() if r.get("event") == "event_handled"]
    assert handled and handled[0]["event_type"] == "email.requested"



def _walkthrough(gateway: str, mail: str, hooks: int, email: str) -> str:
    """The README's "A first payment in five minutes" block, aimed at this stack."""
    readme = (REPO / "README.md").read_text()
    section = readme.split("### A first payment in five minutes", 1)[1]
    block = section.split("```sh\n", 1)[1].split("\n```", 1)[0]
    first = "GW=http://127.0.0.1:8080 MAIL=http://127.0.0.1:8025 HOOKS=9000"
    assert block.startswith(first + "\n"), "the walkthrough's first line changed"
    return (block.replace(first, f"GW={gateway} MAIL={mail} HOOKS={hooks}", 1)
            .replace("ada@example.com", email))


async def test_the_readme_first_payment_walkthrough_runs_as_written(stack, tmp_path):
    """Pasted into bash against `make run`: a confirmed admin, a merchant and key, a
    webhook receiver, a payment paid by card, and the receiver hearing of it, signed."""
    await wait_stack_ready(stack)
    email = f"ada.{secrets.token_hex(4)}@example.com"
    script = _walkthrough(stack.gateway,
                          f"http://127.0.0.1:{stack.env['NORGATE_MAILSINK_HTTP_PORT']}",
                          free_port(), email)
    out = tmp_path / "walkthrough.out"
    with open(out, "wb") as sink:
        proc = await asyncio.create_subprocess_exec(
            "bash", "-euo", "pipefail", "-c", script, stdout=sink,
            stderr=asyncio.subprocess.STDOUT, start_new_session=True)
        try:
            rc = await asyncio.wait_for(proc.wait(), 120)
            assert rc == 0, out.read_text()
            answer = out.read_text()
            assert '"status":"completed"' in answer.replace(" ", ""), answer
            heard = await poll_until(
                lambda: _line(out, "webhook:"), timeout=30, what="the receiver's line")
            assert "signature ok" in heard and "payment.completed" in heard, heard
        finally:
            os.killpg(proc.pid, signal.SIGTERM)  # the receiver, left running by the block


async def _line(path: Path, prefix: str) -> str | None:
    return next((line for line in path.read_text().splitlines()
                 if line.startswith(prefix)), None)


async def test_sigterm_to_make_run_stops_every_process_it_started(stack):
    await wait_stack_ready(stack)
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
