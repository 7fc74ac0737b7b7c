"""The whole stack with split secrets, as compose and Kubernetes run it (issue 19, item 10).

Every service starts with only what deploy/service_secrets.py gives it: its own role's
DSN and derived keys, the broker URL; auth alone the first SUPER password, the notifier
alone SMTP. Nobody but provisioning has the master key or the administrator DSN. The
stack must still serve: sign-in (auth), a SUPER-only route (fees), the merged OpenAPI
(every service), a sign-up e-mail (auth -> event -> notifier -> SMTP)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import aiohttp
import pytest

from deploy import service_secrets
from deploy.provision import drop, provision
from deploy.run import Stack
from shared.events import Topology
from shared.settings import SERVICES, Settings
from tests.conftest import DECLARED_QUEUES, TEST_ENV
from tests.support.net import free_ports
from tests.support.poll import poll_until

pytestmark = pytest.mark.e2e

SECRETS = set(service_secrets.MASTER_ONLY) | set(service_secrets.PER_SERVICE)


def _environ(pid: int) -> dict[str, str]:
    """A process's environment as the kernel holds it (what a compromise of it reads)."""
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(item.split("=", 1) for item in raw.decode().split("\0") if "=" in item)


@pytest.fixture(scope="module")
async def split_stack(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("split")
    ports = free_ports(len(SERVICES) + 2)
    env = {k: v for k, v in os.environ.items() if not k.startswith("NORGATE_")}
    env.update(TEST_ENV)
    env["NORGATE_DATABASE_URL"] = TEST_ENV["NORGATE_DATABASE_URL"] + "_split"
    env.update({f"NORGATE_{n.upper()}_PORT": str(p)
                for n, p in zip(SERVICES, ports, strict=False)})
    env.update({"NORGATE_MAILSINK_SMTP_PORT": str(ports[-2]),
                "NORGATE_MAILSINK_HTTP_PORT": str(ports[-1]),
                "NORGATE_MAIL_DIR": str(tmp / "mail"),
                "NORGATE_PUBLIC_URL": f"http://127.0.0.1:{ports[0]}"})
    admin = Settings(database_url=env["NORGATE_DATABASE_URL"],
                     secret_key=TEST_ENV["NORGATE_SECRET_KEY"])
    await provision(admin)  # the one process with the master key and the admin DSN
    DECLARED_QUEUES.append(Topology(TEST_ENV["NORGATE_EVENTS_NAMESPACE"]).queue("notifier",
                                                                                  "email"))
    stack = Stack(env, split=True, log_dir=tmp / "logs")
    try:
        await stack.start()
        await stack.wait_ready(timeout=120)
        yield stack
    finally:
        await stack.stop()
        await drop(admin)


async def test_no_process_holds_the_master_key_or_another_services_secrets(split_stack):
    for name, proc in split_stack.procs.items():
        env = _environ(proc.pid)
        held = SECRETS & set(env)
        assert "NORGATE_SECRET_KEY" not in held and "NORGATE_DATABASE_URL" not in held, name
        if name == "mailsink":
            assert not held
            continue
        assert ("NORGATE_BOOTSTRAP_SUPER_PASSWORD" in held) == (name == "auth"), name
        assert ("NORGATE_SMTP_URL" in held) == (name == "notifier"), name
        assert set(json.loads(env["NORGATE_SERVICE_KEYS"])) == \
            set(service_secrets.purposes_of(name))
        assert f"_{name}:" in env["NORGATE_SERVICE_DATABASE_URL"]  # its own role


async def test_the_split_stack_serves_across_every_service(split_stack):
    gateway = f"http://127.0.0.1:{split_stack.settings.gateway_port}"
    async with aiohttp.ClientSession() as http:
        async with http.post(gateway + "/api/v1/auth/sign-in", json={
                "email": split_stack.settings.bootstrap_super_email,
                "password": TEST_ENV["NORGATE_BOOTSTRAP_SUPER_PASSWORD"]}) as resp:
            assert resp.status == 200, await resp.text()
            bearer = {"Authorization": f"Bearer {(await resp.json())['token']}"}
        async with http.get(gateway + "/api/v1/system/charges", headers=bearer) as resp:
            assert resp.status == 200, await resp.text()  # fees, for a SUPER
        async with http.get(gateway + "/openapi.json") as resp:
            assert resp.status == 200
            assert "x-unavailable-services" not in (await resp.json())["info"]
        email = "split.owner@example.com"
        async with http.post(gateway + "/api/v1/auth/admin-sign-up", json={
                "firstName": "Ada", "lastName": "Split", "email": email,
                "password": "Analytical-Engine-1843", "companyName": "Split Ltd"}) as resp:
            assert resp.status == 201, await resp.text()
    mail = Path(split_stack.env["NORGATE_MAIL_DIR"])
    await poll_until(lambda: [p for p in mail.glob("*.eml") if email in p.read_text()],
                     timeout=30, what="the confirmation e-mail, sent by the notifier")
