"""`make run` with no secret set uses this checkout's generated ones (issue 19, item 4).

The attack: settings used to default to a master key and a SUPER password published in
the source. Outside prod they worked, so a `make run` stack (or a dev box exposed by
mistake) accepted principals anyone could sign and the published SUPER password. Now
`make run` generates both once (the file NORGATE_LOCAL_SECRETS_FILE names; var/secrets.env
by default), prints the password in its banner, and the second run reuses them."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import re
import signal
import stat
import time
from pathlib import Path

import aiohttp
import jwt
import pytest

from deploy import local_secrets
from deploy.provision import drop
from shared.events import Topology
from shared.principal import HEADER, Principal, sign
from shared.settings import PUBLIC_SECRETS, SERVICES, Settings
from tests.conftest import DECLARED_QUEUES, TEST_ENV
from tests.e2e.conftest import REPO, RunningStack, wait_gateway_ready
from tests.support.net import free_ports
from tests.support.poll import poll_until

pytestmark = pytest.mark.e2e

OLD_KEY = next(v for v in PUBLIC_SECRETS if len(v) >= 32)  # the old built-in master key
OLD_PASSWORD = next(v for v in PUBLIC_SECRETS if len(v) < 32)  # and SUPER password
SUPER = Principal(kind="user", subject="1", role="SUPER")


def _env(tmp: Path) -> dict[str, str]:
    """An operator's environment: servers and ports, no secret at all."""
    ports = free_ports(len(SERVICES) + 2)
    env = {k: v for k, v in os.environ.items() if not k.startswith("NORGATE_")}
    env.update({k: v for k, v in TEST_ENV.items()
                if k not in ("NORGATE_SECRET_KEY", "NORGATE_BOOTSTRAP_SUPER_PASSWORD")})
    env["NORGATE_DATABASE_URL"] = TEST_ENV["NORGATE_DATABASE_URL"] + "_gen"
    env.update({f"NORGATE_{n.upper()}_PORT": str(p)
                for n, p in zip(SERVICES, ports, strict=False)})
    env.update({"NORGATE_MAILSINK_SMTP_PORT": str(ports[-2]),
                "NORGATE_MAILSINK_HTTP_PORT": str(ports[-1]),
                "NORGATE_MAIL_DIR": str(tmp / "mail"),
                "NORGATE_PUBLIC_URL": f"http://127.0.0.1:{ports[0]}",
                local_secrets.FILE_VARIABLE: str(tmp / "var" / "secrets.env"),
                "MAKEFLAGS": ""})
    return env


async def _make_run(env: dict[str, str], log: Path) -> RunningStack:
    with open(log, "wb") as out:
        proc = await asyncio.create_subprocess_exec(
            "make", "--no-print-directory", "run", cwd=REPO, env=env, stdout=out,
            stderr=asyncio.subprocess.STDOUT, stdin=asyncio.subprocess.DEVNULL,
            start_new_session=True)
    stack = RunningStack(proc, env, log, time.monotonic())
    await wait_gateway_ready(stack)
    return stack


async def _stop(stack: RunningStack) -> None:
    if stack.proc.returncode is None:
        stack.proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(stack.proc.wait(), 30)
        except TimeoutError:
            os.killpg(stack.proc.pid, signal.SIGKILL)
            await stack.proc.wait()


async def _banner_password(stack: RunningStack) -> str:
    async def banner():
        out = stack.output()
        return out if "norgate is up" in out else None
    out = await poll_until(banner, timeout=15, what="start-up banner")
    found = re.search(r"SUPER login  super@norgate\.local / (\S+)   \(generated", out)
    assert found, out[-2000:]
    return found.group(1)


async def _sign_in(http: aiohttp.ClientSession, stack: RunningStack, password: str) -> int:
    async with http.post(stack.gateway + "/api/v1/auth/sign-in", json={
            "email": "super@norgate.local", "password": password}) as resp:
        return resp.status


def _old_key_principal(audience: str | None) -> str:
    """A SUPER principal signed with the old public key, as HEAD's services checked it
    (`internal-principal`) and as they would now (`internal-principal:<audience>`)."""
    purpose = f"internal-principal:{audience}" if audience else "internal-principal"
    key = hmac.new(OLD_KEY.encode(), purpose.encode(), hashlib.sha256).hexdigest()
    now = int(time.time())
    claims = {**SUPER.model_dump(exclude_none=True), "iss": "norgate-internal", "iat": now,
              "exp": now + 60, **({"aud": audience} if audience else {})}
    return jwt.encode(claims, key, algorithm="HS256")


async def _at_auth(http: aiohttp.ClientSession, stack: RunningStack, token: str) -> int:
    url = f"http://127.0.0.1:{stack.port('auth')}/api/v1/admin/merchants"
    async with http.get(url, headers={HEADER: token}) as resp:
        return resp.status


async def test_make_run_generates_its_secrets_once_prints_the_password_and_reuses_them(
        tmp_path):
    env = _env(tmp_path)
    path = Path(env[local_secrets.FILE_VARIABLE])
    DECLARED_QUEUES.append(Topology(TEST_ENV["NORGATE_EVENTS_NAMESPACE"]).queue("notifier",
                                                                                  "email"))
    try:
        first = await _make_run(env, tmp_path / "first.log")
        try:
            password = await _banner_password(first)
            generated = local_secrets.parse(path.read_text())
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
            assert generated["NORGATE_BOOTSTRAP_SUPER_PASSWORD"] == password
            assert not set(generated.values()) & PUBLIC_SECRETS
            async with aiohttp.ClientSession() as http:
                # The published password and the published key do not work here.
                assert await _sign_in(http, first, OLD_PASSWORD) == 401
                for audience in (None, "auth"):
                    assert await _at_auth(http, first, _old_key_principal(audience)) == 401
                # The printed password does: that is the operator's first sign-in.
                assert await _sign_in(http, first, password) == 200
                # The services run with the generated key.
                own = Settings(secret_key=generated["NORGATE_SECRET_KEY"])
                assert await _at_auth(http, first, sign(SUPER, own, audience="auth")) == 200
        finally:
            await _stop(first)
        before = path.read_bytes()
        second = await _make_run(env, tmp_path / "second.log")
        try:
            assert await _banner_password(second) == password
            assert path.read_bytes() == before  # reused, not regenerated
            async with aiohttp.ClientSession() as http:
                assert await _sign_in(http, second, password) == 200
            assert f"generated {path}" in first.output()
            assert f"generated {path}" not in second.output()
        finally:
            await _stop(second)
    finally:
        await drop(Settings(database_url=env["NORGATE_DATABASE_URL"]))
