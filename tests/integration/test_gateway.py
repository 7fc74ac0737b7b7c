"""The gateway's proxy, error envelopes and docs, with the real database and broker.

The upstream here is a small echo app standing in for "a service behind the
gateway" so the proxy's mechanics (headers, streaming, timeouts) can be seen;
the services' own behaviour is tested against the services themselves.
"""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from aiohttp import web
from pydantic import SecretStr

from services.auth.app import build_spec as auth_spec
from services.gateway.app import build_spec
from services.gateway.proxy import UPSTREAM_SESSION, UPSTREAMS
from shared import metrics, principal
from shared.http.app import create_app
from tests.conftest import serve
from tests.support.auth import PASSWORD, make_company_admin
from tests.support.net import free_port
from tests.support.poll import poll_until


def echo_app() -> web.Application:
    async def echo(request: web.Request) -> web.Response:
        body = await request.read()
        return web.json_response({
            "method": request.method, "path_qs": request.path_qs, "length": len(body),
            "headers": {k: v for k, v in request.headers.items()},
        }, headers={"X-Upstream": "echo"})

    async def stream(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        await resp.prepare(request)
        for i in range(50):
            await resp.write(f"chunk-{i};".encode())
        await resp.write_eof()
        return resp

    async def slow(_request: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.json_response({})

    app = web.Application(client_max_size=10 * 1024 * 1024)
    app.router.add_get("/api/v2/payments/stream", stream)
    app.router.add_get("/api/v2/payments/slow", slow)
    app.router.add_route("*", "/{tail:.*}", echo)
    return app


@pytest.fixture
async def upstream():
    async with serve(echo_app()) as client:
        yield f"http://127.0.0.1:{client.server.port}"


@pytest.fixture
async def gateway(settings, upstream):
    """The gateway in front of the real auth service and the echo upstream, with a
    signed-in ADMIN whose token goes on every request the test client sends."""
    down = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    async with serve(create_app(settings, auth_spec(settings))) as auth:
        s = settings.model_copy(update={
            "checkout_url": upstream, "billing_url": down, "fees_url": down,
            "notifier_url": down, "auth_url": f"http://127.0.0.1:{auth.server.port}",
            "max_body_bytes": 64 * 1024, "upstream_timeout_seconds": 2.0,
        })
        admin = await make_company_admin(settings)
        async with serve(create_app(s, build_spec(s))) as client:
            resp = await client.post("/api/v1/auth/sign-in",
                                     json={"email": admin.email, "password": PASSWORD})
            assert resp.status == 200, await resp.text()
            token = (await resp.json())["token"]
            client.session.headers["Authorization"] = f"Bearer {token}"
            yield client, s


async def test_gateway_is_not_ready_while_services_behind_it_are_not(gateway):
    client, _ = gateway
    resp = await client.get("/readyz")
    assert resp.status == 503  # billing, fees and notifier never started here
    body = await resp.json()
    assert body["checks"] == {
        "database": "up", "broker": "up", "upstream.auth": "up", "upstream.checkout": "up",
        "upstream.billing": "not_ready", "upstream.fees": "not_ready",
        "upstream.notifier": "not_ready"}
    assert body["waitingFor"] == ["upstream.billing", "upstream.fees", "upstream.notifier"]


async def test_a_route_without_credentials_is_401_in_its_familys_envelope(gateway):
    client, _ = gateway
    resp = await client.get("/api/v2/payments/p1", headers={"Authorization": ""})
    assert resp.status == 401
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert (await resp.json())["message"] == "Error! Authentication required"


async def test_proxy_forwards_method_path_query_and_body(gateway):
    client, _ = gateway
    resp = await client.post("/api/v2/payments/create?x=1&y=2", data=b"a" * 40_000,
                              headers={"Content-Type": "application/json"})
    assert resp.status == 200
    seen = await resp.json()
    assert (seen["method"], seen["path_qs"], seen["length"]) == \
        ("POST", "/api/v2/payments/create?x=1&y=2", 40_000)
    assert resp.headers["X-Upstream"] == "echo"


async def test_client_supplied_principal_is_replaced_by_the_gateways_signed_one(gateway):
    client, s = gateway
    forged = principal.sign(principal.Principal(kind="user", role="SUPER", subject="1"),
                            s.model_copy(update={"secret_key": SecretStr("x" * 40)}))
    resp = await client.get("/api/v2/payments/p1", headers={principal.HEADER: forged})
    forwarded = (await resp.json())["headers"][principal.HEADER]
    assert forwarded != forged
    who = principal.verify(forwarded, s, audience="checkout")  # the echo stands in for it
    assert (who.kind, who.role) == ("user", "ADMIN")  # from the access token, not the forgery


async def test_a_session_acts_in_test_mode_unless_it_asks_for_live(gateway):
    client, s = gateway

    async def mode(**headers) -> str:
        resp = await client.get("/api/v2/payments/p1", headers=headers)
        assert resp.status == 200, await resp.text()
        forwarded = (await resp.json())["headers"][principal.HEADER]
        return principal.verify(forwarded, s, audience="checkout").mode

    assert await mode() == "test"
    assert await mode(**{"X-Norgate-Mode": "live"}) == "live"
    assert await mode(**{"X-Norgate-Mode": "Test"}) == "test"
    bad = await client.get("/api/v2/payments/p1", headers={"X-Norgate-Mode": "prod"})
    assert bad.status == 400
    assert "X-Norgate-Mode" in (await bad.json())["message"]


async def test_request_and_correlation_ids_travel_to_the_service_and_back(gateway):
    client, _ = gateway
    resp = await client.get("/api/v2/payments/p1", headers={"X-Correlation-ID": "corr-abc12345"})
    seen = (await resp.json())["headers"]
    assert seen["X-Correlation-ID"] == "corr-abc12345"
    assert seen["X-Request-ID"] == resp.headers["X-Request-ID"]
    assert resp.headers["X-Correlation-ID"] == "corr-abc12345"
    assert seen["X-Forwarded-For"] == "127.0.0.1"


async def test_streamed_response_arrives_whole(gateway):
    client, _ = gateway
    resp = await client.get("/api/v2/payments/stream")
    assert await resp.text() == "".join(f"chunk-{i};" for i in range(50))


async def test_body_over_the_limit_is_413_in_the_family_envelope(gateway):
    client, _ = gateway
    resp = await client.post("/api/v2/payments/create", data=b"x" * (64 * 1024 + 1))
    assert resp.status == 413
    body = await resp.json()
    assert body["status"] == "0" and body["result"] is None
    assert "65536 bytes" in body["message"]


@pytest.mark.parametrize("path,expect", [
    ("/api/v1/merchant/charges/add",
     lambda b: b["statusCode"] == 502 and b["status"] == "BAD_GATEWAY"),
    ("/api/v2/plans/create", lambda b: b["status"] == "0" and "billing" in b["message"]),
])
async def test_service_down_is_502_in_the_family_envelope(gateway, path, expect):
    client, _ = gateway
    resp = await client.post(path, json={})
    assert resp.status == 502
    assert resp.headers["X-Error-Code"] == "upstream_unavailable"
    assert expect(await resp.json())


async def test_slow_service_is_504(gateway):
    client, _ = gateway
    resp = await client.get("/api/v2/payments/slow")
    assert resp.status == 504
    assert (await resp.json())["message"] == \
        "Error! The checkout service did not answer in time"


async def test_unknown_routes_answer_in_their_familys_envelope(gateway):
    client, _ = gateway
    norah = await client.get("/api/v1/no-such-thing")
    assert norah.status == 404
    assert (await norah.json())["status"] == "NOT_FOUND"
    plain = await client.get("/nothing-here")
    assert plain.status == 404
    assert (await plain.json())["error"]["code"] == "route_not_found"


async def test_openapi_merges_what_is_up_and_names_what_is_not(gateway):
    client, _ = gateway
    resp = await client.get("/openapi.json")
    assert resp.status == 200
    spec = await resp.json()
    assert spec["openapi"].startswith("3.")
    assert "/readyz" in spec["paths"]
    assert spec["info"]["x-unavailable-services"] == ["billing", "fees", "notifier"]
    assert "/api/v1/auth/sign-in" in spec["paths"]


async def test_docs_page_and_its_assets_are_served_locally(gateway):
    client, _ = gateway
    page = await client.get("/docs")
    init = await client.get("/docs/init.js")
    assert page.status == 200 and "/openapi.json" in await init.text()
    assert 'src="/docs/static/swagger-ui-bundle.js"' in await page.text()
    js = await client.get("/docs/static/swagger-ui-bundle.js")
    assert js.status == 200 and len(await js.read()) > 100_000


@pytest.mark.parametrize("raw_path", [
    "/api/v2/payments/../../../metrics",
    "/api/v2/payments/%2e%2e/%2e%2e/%2e%2e/metrics",
    "/api/v2/payments/..%2f..%2f..%2fmetrics",
])
async def test_dot_segments_cannot_walk_past_the_routing_table(gateway, raw_path):
    client, _ = gateway
    host, port = client.server.host, client.server.port
    reader, writer = await asyncio.open_connection(host, port)
    auth = client.session.headers["Authorization"]
    writer.write(f"GET {raw_path} HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\n"
                 "Connection: close\r\n\r\n".encode())
    await writer.drain()
    response = await reader.read()
    writer.close()
    assert response.startswith(b"HTTP/1.1 404"), response[:200]
    assert b'"status":"0"' in response or b"route_not_found" in response


async def test_encoded_characters_reach_the_service_as_sent(gateway):
    client, _ = gateway
    resp = await client.get("/api/v2/payments/x%3Fa=b%23c?real=1")
    assert (await resp.json())["path_qs"] == "/api/v2/payments/x%3Fa=b%23c?real=1"


async def test_chunked_body_over_the_limit_is_413_not_502(gateway):
    client, _ = gateway

    async def chunks():
        for _ in range(40):
            yield b"x" * 4096  # 160 KiB in all, limit 64 KiB, no Content-Length

    resp = await client.post("/api/v2/payments/create", data=chunks())
    assert resp.status == 413
    assert resp.headers["X-Error-Code"] == "body_too_large"


async def test_readyz_is_503_naming_the_broker_while_rabbitmq_is_unreachable(settings):
    s = settings.model_copy(update={"amqp_url": f"amqp://guest:guest@127.0.0.1:{free_port()}/"})
    async with serve(create_app(s, build_spec(s))) as client:
        resp = await client.get("/readyz")
        assert resp.status == 503
        body = await resp.json()
    assert body["status"] == "not_ready"
    assert body["checks"]["broker"] == "down" and body["checks"]["database"] == "up"


@contextlib.asynccontextmanager
async def production_gateway(s):
    """The gateway as shared/http/app.py runs it: a plain AppRunner, whose handlers go
    on when their client hangs up (the test server cancels them instead)."""
    runner = web.AppRunner(create_app(s, build_spec(s)), access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield port, runner.app
    finally:
        await runner.cleanup()


def _counters() -> list:
    return [metrics.CLIENTS_GONE.labels("checkout")] + [
        metrics.UPSTREAM_ERRORS.labels("checkout", kind)
        for kind in ("broken", "unavailable", "timeout", "mid_stream")]


async def _moved(before: list[float]) -> list[float]:
    """How much each of _counters() moved since `before` (gone, broken, unavailable,
    timeout, mid_stream)."""
    return [c._value.get() - b for c, b in zip(_counters(), before, strict=True)]


def _create_head(client, framing: str) -> str:
    """The head of a raw authenticated payment create, its body framed by `framing`."""
    return ("POST /api/v2/payments/create HTTP/1.1\r\nHost: x\r\n"
            f"Authorization: {client.session.headers['Authorization']}\r\n"
            f"Content-Type: application/json\r\n{framing}\r\n\r\n")


async def _hang_up(port: int, head: str, body: bytes, *, then) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(head.encode() + body)
    await writer.drain()
    await poll_until(then, what="the request forwarded")
    writer.close()
    await writer.wait_closed()


async def test_a_client_hanging_up_mid_body_is_counted_as_gone_not_as_an_upstream_failure(
        gateway):
    """Found by the benchmark: wrk closing its connections at a phase's end made the
    gateway log and count upstream failures (502s) that were the client's doing."""
    client, s = gateway
    async with production_gateway(s) as (port, app):
        before = [c._value.get() for c in _counters()]
        head = _create_head(client, "Content-Length: 40000")
        # A large body streams upstream as it arrives: hang up once the gateway has the
        # request on its way upstream, body unfinished.
        await _hang_up(port, head, b"a" * 1000, then=lambda: _forwarding(app))
        await poll_until(lambda: _is(_moved(before), [1, 0, 0, 0, 0]),
                         what="the client counted as gone, and nothing else")


async def test_a_client_hanging_up_mid_small_body_is_counted_as_gone(gateway):
    """A small body is read whole before it is forwarded (the lean client): a client that
    hangs up while it is read is gone, nothing upstream failed, nothing was forwarded."""
    client, s = gateway
    async with production_gateway(s) as (port, app):
        before = [c._value.get() for c in _counters()]
        head = _create_head(client, "Content-Length: 4000")
        # Hang up as soon as the head and part of the body are out.
        await _hang_up(port, head, b"a" * 1000, then=lambda: True)
        await poll_until(lambda: _is(_moved(before), [1, 0, 0, 0, 0]),
                         what="the client counted as gone, and nothing else")
        assert app[UPSTREAMS].in_use() == 0



async def test_an_upstream_timeout_after_the_client_left_is_still_the_upstreams(gateway):
    """Found by review: a client gone before a slow upstream's timeout must not hide the
    timeout (norgate_upstream_errors_total, the upstream_timeout warning)."""
    client, s = gateway
    async with production_gateway(s) as (port, app):
        before = [c._value.get() for c in _counters()]
        head = ("GET /api/v2/payments/slow HTTP/1.1\r\nHost: x\r\n"
                f"Authorization: {client.session.headers['Authorization']}\r\n\r\n")
        await _hang_up(port, head, b"", then=lambda: _forwarding(app))
        await poll_until(lambda: _is(_moved(before), [0, 0, 0, 1, 0]),
                         what="an upstream timeout, and no client gone")


async def test_a_chunked_body_that_does_not_parse_is_a_400(gateway):
    """Bad input: aiohttp's parser answers it (the proxy never mistakes it for a client
    that hung up, a 499, or an upstream failure, a 502)."""
    client, s = gateway
    async with production_gateway(s) as (port, app):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write((
            _create_head(client, "Transfer-Encoding: chunked")
            + "5\r\n{\"a\":\r\nzz\r\n").encode())
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 10)
        writer.close()
    assert status_line.split()[1] == b"400", status_line


def _forwarding(app) -> bool:
    """True while the gateway holds a connection upstream for a request."""
    return len(app[UPSTREAM_SESSION].connector._acquired) > 0 \
        or app[UPSTREAMS].in_use() > 0  # noqa: SLF001


async def _is(value, expected) -> bool:
    return await value == expected


async def _counted(counter, before: float) -> bool:
    return counter._value.get() > before


async def test_an_api_key_lookup_auth_answers_503_is_a_503_to_retry(settings):
    """Found by make chaos: while PostgreSQL restarted, auth answered the gateway's key
    lookups 503 (its database was down) and the gateway answered 502, as if auth itself
    were gone. It now passes the 503 on, with Retry-After. The stand-in answers as auth
    does then (its own 503 is tested in the chaos run and the database tests)."""
    async def verify(_request: web.Request) -> web.Response:
        return web.json_response({"error": {"code": "database_unavailable"}}, status=503,
                                 headers={"Retry-After": "1"})

    busy = web.Application()
    busy.router.add_post("/internal/api-keys/verify", verify)
    async with serve(busy) as auth:
        down = f"http://127.0.0.1:{free_port()}"
        s = settings.model_copy(update={
            "auth_url": f"http://127.0.0.1:{auth.server.port}", "checkout_url": down,
            "billing_url": down, "fees_url": down, "notifier_url": down})
        async with serve(create_app(s, build_spec(s))) as client:
            resp = await client.get("/api/v2/payments/p1",
                                    headers={"X-API-Key": "nk_live_" + "a" * 40})
            body = await resp.json()
    assert (resp.status, resp.headers.get("Retry-After")) == (503, "1")
    assert body["message"] == "Error! The database is unavailable; retry shortly"
