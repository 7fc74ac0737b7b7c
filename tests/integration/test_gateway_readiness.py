"""The gateway's /readyz covers the services behind it at start-up (and only then), with
every service real: an orchestrator or a script that waits on it never meets a 502 on
its first request, and a service that goes down later fails only its own routes."""

from __future__ import annotations

from contextlib import AsyncExitStack

import pytest
from aiohttp.test_utils import TestServer

from services.auth.app import build_spec as auth_spec
from services.billing.app import build_spec as billing_spec
from services.checkout.app import build_spec as checkout_spec
from services.fees.app import build_spec as fees_spec
from services.gateway.app import build_spec as gateway_spec
from services.notifier.app import build_spec as notifier_spec
from shared.events import Topology, catalog
from shared.http.app import create_app
from tests.conftest import serve
from tests.support.auth import PASSWORD, make_company_admin
from tests.support.broker import delete_namespace
from tests.support.net import free_ports
from tests.support.poll import poll_until

UPSTREAMS = {"auth": auth_spec, "checkout": checkout_spec,
             "billing": lambda s: billing_spec(s, run_scheduler=False),
             "fees": fees_spec, "notifier": notifier_spec}


async def _start(stack: AsyncExitStack, settings, name: str, port: int) -> TestServer:
    server = TestServer(create_app(settings, UPSTREAMS[name](settings)), host="127.0.0.1",
                        port=port)
    await server.start_server()
    stack.push_async_callback(server.close)
    return server


async def _until(probe, what: str, seen: list[dict]) -> None:
    try:
        await poll_until(probe, timeout=30, interval=0.1, what=what)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; the gateway's last /readyz: {seen}") from None


@pytest.fixture
async def own_namespace(settings):
    """An event namespace of this test's own: the consumers of the services it starts
    must not take (and fail) the queued events of other tests."""
    topology = Topology(f"{settings.events_namespace}_ready")
    yield topology.namespace
    await delete_namespace(settings.amqp_url, topology,
                           [topology.queue(*key) for key in catalog.QUEUES],
                           tuple(settings.consumer_retry_delays))


async def test_gateway_is_not_ready_until_every_upstream_is_then_stays_ready(
        settings, own_namespace):
    *free, smtp = free_ports(len(UPSTREAMS) + 1)
    ports = dict(zip(UPSTREAMS, free, strict=True))
    s = settings.model_copy(update={
        "smtp_url": f"smtp://127.0.0.1:{smtp}",  # the notifier needs one; no mail is sent
        "events_namespace": own_namespace,
        **{f"{name}_url": f"http://127.0.0.1:{port}" for name, port in ports.items()}})
    seen: list[dict] = []  # the last answer, for a failure's message

    async def readyz() -> tuple[int, dict]:
        resp = await gateway.get("/readyz")
        seen[:] = [await resp.json()]
        return resp.status, seen[0]

    async with AsyncExitStack() as stack, serve(create_app(s, gateway_spec(s))) as gateway:
        # Nothing behind it yet: once its own broker connection is up (it connects in
        # the background), 503 naming every upstream and nothing else.
        async def own_checks_up():
            status, body = await readyz()
            return status == 503 and body["checks"]["broker"] == "up"

        await _until(own_checks_up, "the gateway's own checks up", seen)
        body = seen[0]
        assert body["status"] == "not_ready"
        assert sorted(body["waitingFor"]) == sorted(f"upstream.{n}" for n in UPSTREAMS)
        assert body["checks"]["database"] == body["checks"]["broker"] == "up"

        for name in ("auth", "checkout", "billing", "notifier"):
            await _start(stack, s, name, ports[name])

        async def only_fees_missing():
            status, body = await readyz()
            return status == 503 and body.get("waitingFor") == ["upstream.fees"]

        await _until(only_fees_missing, "only fees not ready", seen)

        fees = await _start(stack, s, "fees", ports["fees"])

        async def ready():
            status, body = await readyz()
            return status == 200 and body["status"] == "ready"

        await _until(ready, "gateway ready", seen)
        resp = await gateway.get("/readyz")
        assert (await resp.json())["checks"]["upstream.fees"] == "up"
        # Ready means routed: the first sign-in through it reaches auth, a quote fees.
        admin = await make_company_admin(s)
        resp = await gateway.post("/api/v1/auth/sign-in",
                                  json={"email": admin.email, "password": PASSWORD})
        assert resp.status == 200, await resp.text()
        auth = {"Authorization": f"Bearer {(await resp.json())['token']}"}
        quote = {"amount": 100, "currency": "USD"}
        resp = await gateway.post("/api/v1/test-charge-calculation", json=quote, headers=auth)
        assert resp.status == 200, await resp.text()

        # Once ready, an upstream going down fails its own routes only.
        await fees.close()
        resp = await gateway.post("/api/v1/test-charge-calculation", json=quote, headers=auth)
        assert resp.status == 502
        assert "fees" in (await resp.json())["message"]
        resp = await gateway.get("/readyz")
        assert resp.status == 200
        resp = await gateway.get("/api/v1/admin/merchants", headers=auth)
        assert resp.status == 200  # auth's routes still answer
