"""The gateway's upstream client with a name that stands for several replicas (compose's
`deploy.replicas`, a headless Service): it sends requests to each replica in turn though
connections are kept alive, and past one that went away. Two real servers on one port,
on 127.0.0.1 and 127.0.0.2; only the name's DNS answer is given (socket.getaddrinfo)."""

from __future__ import annotations

import socket
from collections import Counter

import pytest
from aiohttp import web

from services.gateway.upstream import UpstreamError, Upstreams
from tests.support.net import free_port

NAME = "checkout.replicas.test"
REPLICAS = ["127.0.0.1", "127.0.0.2"]


def _replica(seen: Counter, address: str) -> web.Application:
    async def who(request: web.Request) -> web.Response:
        seen[address] += 1
        assert request.transport is not None
        seen["connections", address, request.transport.get_extra_info("peername")] += 1
        return web.Response(text=address)

    app = web.Application()
    app.router.add_get("/who", who)
    return app


@pytest.fixture
async def replicas(monkeypatch):
    """(port, seen, runners): both replicas serving; `seen` counts answers by address."""
    port, seen, runners = free_port(), Counter[object](), {}
    for address in REPLICAS:
        runner = web.AppRunner(_replica(seen, address))
        await runner.setup()
        await web.TCPSite(runner, address, port).start()
        runners[address] = runner
    real = socket.getaddrinfo

    def dns(host, *args, **kwargs):
        if host == NAME:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in REPLICAS]
        return real(host, *args, **kwargs)
    monkeypatch.setattr(socket, "getaddrinfo", dns)
    yield port, seen, runners
    for runner in runners.values():
        await runner.cleanup()


@pytest.fixture
async def upstreams():
    made = Upstreams()
    yield made
    made.close()


async def _get(pool) -> str:
    response = await pool.request("GET", "/who", [], b"", timeout=5)
    body, complete = await response.read_at_most(1 << 10)
    assert response.status == 200 and complete
    return body.decode()


async def test_requests_go_to_every_replica_in_turn_on_kept_alive_connections(
        replicas, upstreams):
    port, seen, _ = replicas
    pool = upstreams.pool(f"http://{NAME}:{port}")
    answered = [await _get(pool) for _ in range(10)]
    assert Counter(answered) == {"127.0.0.1": 5, "127.0.0.2": 5}
    assert answered[:2] != [answered[0]] * 2  # alternating, not one then the other
    # Each replica's five came on one connection: keep-alive kept, not pinned.
    connections = [k for k in seen if isinstance(k, tuple)]
    assert len(connections) == 2 and all(seen[k] == 5 for k in connections)
    assert len(pool.in_use) == 0


async def test_a_replica_that_went_away_is_skipped_and_none_of_the_requests_fail(
        replicas, upstreams):
    port, seen, runners = replicas
    pool = upstreams.pool(f"http://{NAME}:{port}")
    assert {await _get(pool) for _ in range(2)} == set(REPLICAS)
    await runners.pop("127.0.0.2").cleanup()  # its kept-alive connection closes too
    answered = [await _get(pool) for _ in range(6)]
    assert answered == ["127.0.0.1"] * 6


async def test_a_name_that_does_not_resolve_is_unavailable(upstreams):
    pool = upstreams.pool(f"http://nowhere.invalid:{free_port()}")
    with pytest.raises(UpstreamError) as caught:
        await _get(pool)
    assert caught.value.kind == "unavailable"
