"""Internal HTTP client: signed principal, ids, timeouts, retries only where safe."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web

from shared.http.client import InternalClient, ServiceUnavailable
from shared.http.middleware import (
    SERVICE_NAME,
    SETTINGS,
    context_middleware,
    principal_middleware,
    principal_of,
)
from shared.logging import bind_ids
from shared.principal import Principal
from tests.conftest import serve
from tests.support.net import free_port
from tests.support.poll import poll_until


@pytest.fixture
async def upstream(settings):
    """A service app built from our own middlewares, so it verifies the principal."""
    calls: dict[str, int] = {"flaky": 0, "post": 0}

    async def whoami(request: web.Request) -> web.Response:
        return web.json_response({
            "principal": principal_of(request).model_dump(),
            "request_id": request.headers.get("X-Request-ID"),
            "correlation_id": request.headers.get("X-Correlation-ID"),
        })

    async def flaky(_request: web.Request) -> web.Response:
        calls["flaky"] += 1
        return web.json_response({"n": calls["flaky"]}, status=503 if calls["flaky"] < 3 else 200)

    async def post_fails(_request: web.Request) -> web.Response:
        calls["post"] += 1
        return web.json_response({}, status=503)

    async def slow(_request: web.Request) -> web.Response:
        await asyncio.sleep(2)
        return web.json_response({})

    app = web.Application(middlewares=[context_middleware, principal_middleware])
    app[SETTINGS] = settings
    app[SERVICE_NAME] = "fees"
    app.router.add_get("/whoami", whoami)
    app.router.add_get("/flaky", flaky)
    app.router.add_post("/charge", post_fails)
    app.router.add_get("/slow", slow)
    async with serve(app) as client:
        s = settings.model_copy(update={"fees_url": f"http://127.0.0.1:{client.server.port}"})
        yield s, calls


async def test_calls_carry_a_signed_principal_and_the_callers_ids(upstream):
    s, _ = upstream
    bind_ids(request_id="req-client-0001", correlation_id="corr-client-0001")
    async with InternalClient(s, caller="checkout") as client:
        status, body = await client.request("fees", "GET", "/whoami")
        _, as_user = await client.request(
            "fees", "GET", "/whoami",
            principal=Principal(kind="user", subject="7", role="ADMIN", company_id="c9"))
    assert status == 200
    assert body["principal"]["kind"] == "service" and body["principal"]["subject"] == "checkout"
    assert (body["request_id"], body["correlation_id"]) == ("req-client-0001",
                                                            "corr-client-0001")
    assert as_user["principal"]["role"] == "ADMIN" and as_user["principal"]["company_id"] == "c9"


async def test_idempotent_calls_are_retried_through_transient_503s(upstream):
    s, calls = upstream
    async with InternalClient(s, caller="checkout", retries=2) as client:
        status, body = await client.request("fees", "GET", "/flaky")
    assert (status, body, calls["flaky"]) == (200, {"n": 3}, 3)


async def test_a_post_is_sent_once_even_when_it_fails(upstream):
    s, calls = upstream
    async with InternalClient(s, caller="checkout", retries=2) as client:
        status, _ = await client.request("fees", "POST", "/charge", json={"amount": "1"})
    assert (status, calls["post"]) == (503, 1)


async def test_a_slow_service_times_out_as_unavailable(upstream):
    s, _ = upstream
    async with InternalClient(s, caller="checkout", timeout=0.3, retries=0) as client:
        with pytest.raises(ServiceUnavailable) as err:
            await client.request("fees", "GET", "/slow")
    assert err.value.service == "fees"


async def test_a_service_that_is_down_is_unavailable_after_retries(settings):
    port = free_port()
    s = settings.model_copy(update={"fees_url": f"http://127.0.0.1:{port}"})
    async with InternalClient(s, caller="checkout", retries=2) as client:
        with pytest.raises(ServiceUnavailable, match="fees"):
            await client.request("fees", "GET", "/whoami")


async def test_a_call_retrying_when_its_client_closes_opens_no_new_session(upstream,
                                                                          monkeypatch):
    """The app's cleanup closes the client while a consumer's call waits to retry (the
    first attempt refused with a 503): the retry is refused, and no session is left
    open for the garbage collector to find."""
    import aiohttp

    s, calls = upstream
    made: list[aiohttp.ClientSession] = []
    real = aiohttp.ClientSession.__init__

    def counting(self, *args, **kwargs):
        made.append(self)
        real(self, *args, **kwargs)

    monkeypatch.setattr(aiohttp.ClientSession, "__init__", counting)
    client = InternalClient(s, caller="notifier", retries=2)
    call = asyncio.create_task(client.request("fees", "GET", "/flaky"))
    await poll_until(lambda: calls["flaky"] >= 1, what="the first attempt's 503")
    await client.close()
    with pytest.raises(ServiceUnavailable, match="closed"):
        await call
    assert calls["flaky"] == 1
    assert made and all(session.closed for session in made)
