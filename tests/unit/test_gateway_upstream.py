"""The gateway's own HTTP/1.1 client (services/gateway/upstream.py) against a real
aiohttp server on a local port: keep-alive, answers whole or streamed, and the failures
the proxy maps to 502 and 504."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web

from services.gateway import upstream as upstream_mod
from services.gateway.upstream import UpstreamError, Upstreams
from tests.conftest import serve
from tests.support.net import free_port
from tests.support.poll import poll_until

BIG = b"x" * (3 * upstream_mod.HIGH_WATER)
PEERS = web.AppKey("peers", list)


def _app() -> web.Application:
    peers: list = []

    async def echo(request: web.Request) -> web.Response:
        peers.append(request.transport.get_extra_info("peername"))
        body = await request.read()
        return web.json_response({"method": request.method, "path": request.path_qs,
                                  "body": body.decode(), "x": request.headers.get("X-Thing"),
                                  "length": request.headers.get("Content-Length")})

    async def chunked(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for part in (b"one,", b"two,", b"three"):
            await response.write(part)
        await response.write_eof()
        return response

    async def big(request: web.Request) -> web.Response:
        return web.Response(body=BIG)

    async def just_over(request: web.Request) -> web.Response:
        return web.Response(body=b"y" * (upstream_mod.HIGH_WATER + 100))

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.Response(text="late")

    async def cut(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Length": "100"})
        await response.prepare(request)
        await response.write(b"only ten b")
        request.transport.close()
        return response

    app = web.Application()
    app[PEERS] = peers
    app.router.add_route("*", "/echo", echo)
    app.router.add_get("/chunked", chunked)
    app.router.add_get("/big", big)
    app.router.add_get("/slow", slow)
    app.router.add_get("/just-over", just_over)
    app.router.add_get("/cut", cut)
    return app


@pytest.fixture
async def server():
    async with serve(_app()) as client:
        yield client


@pytest.fixture
async def upstreams():
    made = Upstreams()
    yield made
    made.close()


@pytest.fixture
def pool_of(upstreams):
    return lambda server: upstreams.pool(f"http://127.0.0.1:{server.server.port}")


async def test_requests_share_one_kept_alive_connection_and_arrive_as_sent(pool_of, server):
    pool = pool_of(server)
    answers = []
    for n in range(3):
        response = await pool.request("POST", f"/echo?n={n}&q=%20x", [("X-Thing", "yes")],
                                      b'{"a": 1}', timeout=5)
        body, complete = await response.read_at_most(1 << 20)
        assert response.status == 200 and complete
        answers.append(body)
    assert b'"path": "/echo?n=2&q=%20x"' in answers[2]
    assert b'"x": "yes"' in answers[0] and b'"length": "8"' in answers[0]
    assert len(set(server.server.app[PEERS])) == 1  # one connection for all three
    assert len(pool.in_use) == 0


async def test_a_get_has_no_body_and_no_content_length(pool_of, server):
    response = await pool_of(server).request("GET", "/echo", [], b"", timeout=5)
    body, _ = await response.read_at_most(1 << 20)
    assert b'"length": null' in body and b'"method": "GET"' in body


async def test_a_chunked_answer_is_read_to_its_end(pool_of, server):
    response = await pool_of(server).request("GET", "/chunked", [], b"", timeout=5)
    assert response.content_length is None
    body, complete = await response.read_at_most(1 << 20)
    assert (body, complete) == (b"one,two,three", True)


async def test_a_large_answer_streams_with_back_pressure_and_arrives_whole(pool_of, server):
    response = await pool_of(server).request("GET", "/big", [], b"", timeout=5)
    assert response.content_length == len(BIG)
    head, complete = await response.read_at_most(1024)
    assert not complete
    parts = [head]
    async for chunk in response.chunks():
        assert len(chunk) <= 2 * upstream_mod.HIGH_WATER
        parts.append(chunk)
    assert b"".join(parts) == BIG


async def test_an_upstream_that_is_down_is_unavailable(upstreams):
    pool = upstreams.pool(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(UpstreamError) as caught:
        await pool.request("GET", "/", [], b"", timeout=5)
    assert caught.value.kind == "unavailable"


async def test_a_slow_upstream_times_out_and_its_connection_is_not_reused(pool_of, server):
    pool = pool_of(server)
    with pytest.raises(UpstreamError) as caught:
        await pool.request("GET", "/slow", [], b"", timeout=0.3)
    assert caught.value.kind == "timeout"
    assert len(pool.in_use) == 0 and pool._idle == []  # noqa: SLF001
    response = await pool.request("GET", "/echo", [], b"", timeout=5)  # a fresh one
    assert response.status == 200


async def test_an_answer_cut_short_is_broken(pool_of, server):
    response = await pool_of(server).request("GET", "/cut", [], b"", timeout=5)
    with pytest.raises(UpstreamError) as caught:
        await response.read_at_most(1 << 20)
    assert caught.value.kind == "broken"
    response.close_unless_released()


async def test_an_idle_connection_past_its_time_is_not_reused(pool_of, server, monkeypatch):
    pool = pool_of(server)
    for _ in range(2):
        response = await pool.request("GET", "/echo", [], b"", timeout=5)
        await response.read_at_most(1 << 20)
        monkeypatch.setattr(upstream_mod, "IDLE_SECONDS", 0.0)
    assert len(set(server.server.app[PEERS])) == 2


def test_only_plain_http_host_and_port_urls_get_a_pool(upstreams):
    ups = upstreams
    assert ups.pool("http://checkout:8002") is not None
    assert ups.pool("http://[::1]:8002").host == "::1"
    assert ups.pool("https://checkout:8002") is None
    assert ups.pool("http://checkout:8002/prefix") is None
    assert ups.pool("http://user@checkout:8002") is None


async def _raw_server(answer: bytes):
    """A server that answers every request on a connection with `answer` (raw bytes),
    then closes if the answer says so."""
    async def handle(reader, writer):
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                writer.close()
                return
            length = [int(line.split(b":")[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length")]
            if length:
                await reader.readexactly(length[0])
            writer.write(answer)
            await writer.drain()
            if b"Connection: close" in answer or b"Content-Length" not in answer:
                writer.close()
                return
    return await asyncio.start_server(handle, "127.0.0.1", 0)


async def test_an_interim_answer_is_skipped_and_each_request_gets_its_own(upstreams):
    server = await _raw_server(b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"
                               b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst")
    async with server:
        pool = upstreams.pool(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}")
        for _ in range(2):
            response = await pool.request("GET", "/", [], b"", timeout=5)
            assert response.status == 200
            assert await response.read_at_most(1024) == (b"first", True)


async def test_an_answer_delimited_by_the_close_of_the_connection_is_whole(upstreams):
    server = await _raw_server(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nto the end")
    async with server:
        pool = upstreams.pool(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}")
        response = await pool.request("GET", "/", [], b"", timeout=5)
        assert await response.read_at_most(1024) == (b"to the end", True)


async def test_a_connection_paused_for_back_pressure_is_resumed_before_reuse(pool_of, server):
    pool = pool_of(server)
    response = await pool.request("GET", "/just-over", [], b"", timeout=5)
    conn = next(iter(pool.in_use))
    # Nobody reads: the whole answer arrives, and its last bytes pass the high water.
    await poll_until(lambda: conn._paused and response.complete,  # noqa: SLF001
                     what="the answer buffered, reading paused")
    response.close_unless_released()  # the client left; the answer was complete
    again = await pool.request("GET", "/echo", [], b"", timeout=2)
    assert again.status == 200
    assert (await again.read_at_most(1 << 20))[1]


async def test_a_header_with_a_line_break_is_refused_before_anything_is_sent(pool_of, server):
    with pytest.raises(UpstreamError):
        await pool_of(server).request("GET", "/echo", [("X-A", "a\r\nX-Injected: 1")], b"",
                                    timeout=5)
