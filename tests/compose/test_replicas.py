"""make compose-chaos: deploy/compose/replicas.yml (two replicas of every service, a
RabbitMQ cluster of three nodes with quorum queues) under a steady payment load of its
own while one replica of checkout, billing and notifier is killed in turn and then a
broker node stops. Afterwards, with make chaos's checks (bench/chaos_checks.py): every
answered payment exists as answered, none is charged twice, every payment event reached
the merchant's webhook once, the ledger and its trial balance balance."""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from collections import Counter

import aiohttp
import asyncpg
import pytest
from aiohttp import web

from bench.chaos_checks import payment_checks, wait_drained
from bench.chaos_load import Load
from bench.chaos_receiver import Receiver
from tests.compose.stack import ComposeStack
from tests.support.net import free_port
from tests.support.onboarding import onboard
from tests.support.poll import poll_until

pytestmark = [pytest.mark.compose, pytest.mark.replicas, pytest.mark.timeout(1200)]
SERVICES = ("gateway", "auth", "checkout", "billing", "fees", "notifier")
NODES = ("rabbitmq", "rabbitmq-2", "rabbitmq-3")
RATE = 6.0  # payments per second: bounded, and within 2 shared cores


class BridgeReceiver(Receiver):
    """make chaos's receiver (signatures, webhook-id counts) on the host's address on
    the compose network, where the notifiers' containers reach it."""

    def __init__(self, host: str) -> None:
        super().__init__(free_port())
        self.host = host
        self.url = f"http://{host}:{self.port}/hooks"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hooks", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()


class ClusterQueues:
    """Queue depths as any running node reports them (bench.chaos_checks.Broker)."""

    def __init__(self, stack: ComposeStack) -> None:
        self.stack = stack
        self.down: set[str] = set()

    async def queues(self) -> dict[str, tuple[int, int]]:
        node = next(n for n in NODES if n not in self.down)
        out = await asyncio.to_thread(
            self.stack.rabbitmqctl, "list_queues", "--no-table-headers", "name",
            "messages_ready", "messages_unacknowledged", node=node)
        depths = {}
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
                depths[parts[0]] = (int(parts[1]), int(parts[2]))
        return depths


def _running(stack: ComposeStack) -> Counter:
    return Counter(c["Service"] for c in stack.containers()
                   if c["State"] == "running" and c.get("Health") in ("healthy", ""))


async def _healthy(stack: ComposeStack, container: str, timeout: float = 180) -> None:
    def state() -> str:
        return stack.docker("inspect", "--format", "{{.State.Health.Status}}", container)

    async def probe() -> str:
        now = (await asyncio.to_thread(state)).strip()
        return now if now == "healthy" else ""
    seen: str = await poll_until(probe, timeout=timeout, interval=1,
                                 what=f"{container} healthy again")
    assert seen == "healthy"


def _payment_requests(stack: ComposeStack, service: str) -> list[int]:
    """Payment API requests each replica of `service` logged (http_request lines)."""
    counts = []
    for index in (1, 2):
        logs = stack.docker("logs", stack.container(service, index))
        counts.append(sum(1 for line in logs.splitlines()
                          if '"http_request"' in line and "/api/v2/payments" in line))
    return counts


def _connections_by_node(stack: ComposeStack) -> Counter:
    """Client connections by the node that holds them (its name in each one's pid)."""
    out = stack.rabbitmqctl("list_connections", "--no-table-headers", "pid")
    return Counter(re.findall(r"rabbit@([\w-]+)\.", out))


async def test_replicas_and_a_broker_node_fail_under_load_and_nothing_is_lost_or_doubled(
        compose_stack: ComposeStack) -> None:
    s = compose_stack
    running = _running(s)
    assert all(running[name] == 2 for name in SERVICES), running
    assert all(running[node] == 1 for node in NODES), running
    cluster = s.rabbitmqctl("eval", "lists:sort(rabbit_mnesia:cluster_nodes(running)).")
    assert all(f"rabbit@rabbitmq-{n}" in cluster for n in (1, 2, 3)), cluster
    # Every durable queue is a quorum queue with a member on each node.
    listed = s.rabbitmqctl("list_queues", "--no-table-headers", "name", "type", "members")
    quorum = [line for line in listed.splitlines() if line.split()[1:2] == ["quorum"]]
    assert quorum and all(line.count("rabbit@rabbitmq-") == 3 for line in quorum), listed
    # Both gateways answer; each reaches both replicas of every service (readyz).
    async with aiohttp.ClientSession() as http:
        for gw in s.gateways:
            async with http.get(gw + "/readyz") as resp:
                assert resp.status == 200, (gw, await resp.text())

    shop = await onboard(s, f"replicas{secrets.token_hex(3)}", name="Replica Shop")
    receiver = BridgeReceiver(s.network_gateway())
    await receiver.start()
    broker = ClusterQueues(s)
    try:
        async with aiohttp.ClientSession(headers=shop.headers) as http:
            async with http.post(s.gateway + "/api/v2/webhooks/endpoints", json={
                    "url": receiver.url, "events": ["*"]}) as resp:
                assert resp.status == 201, await resp.text()
                endpoint = (await resp.json())["result"]
        receiver.secret = endpoint["secret"]
        load = Load(s.gateway, shop.key, rate=RATE)
        load_task = asyncio.create_task(load.run())
        timeline: list[str] = []

        async def window(phase: str, seconds: float) -> None:
            """The load runs `seconds` under `phase` (the fault's duration, not a wait
            for an effect: effects are polled for below)."""
            load.phase = phase
            timeline.append(f"{time.strftime('%X')} {phase}")
            await asyncio.sleep(seconds)

        await window("warm-up", 5)
        # The gateways spread the payment requests over both checkout replicas.
        served = await asyncio.to_thread(_payment_requests, s, "checkout")
        assert min(served) >= sum(served) / 4, served
        for service in ("checkout", "billing", "notifier"):
            victim = s.container(service, 1)
            await asyncio.to_thread(s.docker, "kill", "--signal", "KILL", victim)
            await window(f"{service} replica killed", 6)
            await asyncio.to_thread(s.docker, "start", victim)
            await _healthy(s, victim)
            await window(f"{service} replica back", 3)

        # The node carrying the most client connections stops (a clean stop, as for
        # maintenance; its quorum queue members are lost for the time).
        by_node = _connections_by_node(s)
        node = max(NODES, key=lambda n: by_node["rabbitmq-1" if n == "rabbitmq" else n])
        created_before = len(load.created)
        broker.down.add(node)
        await asyncio.to_thread(s.docker, "stop", "--time", "30", s.container(node))
        await window(f"broker node {node} stopped", 15)
        created_during = len(load.created) - created_before
        await asyncio.to_thread(s.docker, "start", s.container(node))
        await _healthy(s, s.container(node))
        broker.down.discard(node)
        await window("after the faults", 5)
        load.stop()
        await load_task

        async with asyncio.timeout(300):
            conn = await asyncpg.connect(s.postgres)
        try:
            _, drained = await wait_drained(conn, broker, timeout=240)
            checks = await payment_checks(conn, load, receiver, gateway=s.gateway,
                                          api_key=shop.key, endpoint_id=endpoint["endpointId"],
                                          drained_state=drained)
        finally:
            await conn.close()
    finally:
        await receiver.stop()
    report = "\n".join([*timeline, f"connections by node before the stop: {dict(by_node)}",
                        f"outcomes: {dict(load.outcomes)}",
                        *(f"{'ok ' if c.passed else 'BAD'} {c.name}: {c.summary} {c.details}"
                          for c in checks)])
    print(report)
    assert created_during > 0, report  # payments (and so publishing) went on meanwhile
    assert all(c.passed for c in checks), report
