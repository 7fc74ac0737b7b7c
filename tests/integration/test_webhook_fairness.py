# ruff: noqa: F811 - the shared fixtures are imported from test_webhooks_delivery
"""One tenant cannot starve the others' webhooks: a tarpit endpoint holds only its
merchant's share of the delivery slots, on the fast path and on the claim, and
endpoints, redeliveries and test events are limited per merchant."""

from __future__ import annotations

import asyncio
import math
import secrets
import time
import uuid
from datetime import UTC, datetime, timedelta

from aiohttp import web

from services.notifier.webhooks import domain, store
from services.notifier.webhooks.dispatch import Dispatcher
from shared.crypto import SecretBox
from shared.events import OutboxRelay, Topology, UnitOfWork
from shared.events.broker import Broker
from shared.http.client import InternalClient
from shared.settings import Settings
from tests.integration.test_webhooks_delivery import (  # noqa: F401 - fixtures
    emit,
    merchant,
    notifier,
    payment,
)
from tests.support.auth import make_company_admin, make_merchant
from tests.support.net import free_port
from tests.support.poll import poll_until

BASE = "/api/v2/webhooks"
DEFAULT_SCHEDULE = Settings.model_fields["webhook_retry_schedule"].default


class Hooks:
    """A merchant-side server. POST /tarpit/... accepts the request and never
    answers (until the sender gives up and hangs up); POST /ok/... answers 204 and
    notes when each webhook-id first arrived (wall clock)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.holding = 0  # tarpit requests open now
        self.most_held = 0
        self.tarpitted = 0  # tarpit requests ever
        self.arrived: dict[tuple[str, str], float] = {}  # (path, webhook-id) -> time
        self._released = asyncio.Event()
        self._runner: web.AppRunner | None = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/tarpit/{n}", self._tarpit)
        app.router.add_post("/ok/{n}", self._ok)
        # A client that gives up cancels its handler, so `holding` counts open requests.
        self._runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=1)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        self._released.set()
        await self._runner.cleanup()

    async def _tarpit(self, request: web.Request) -> web.Response:
        self.holding += 1
        self.tarpitted += 1
        self.most_held = max(self.most_held, self.holding)
        try:
            await self._released.wait()
            return web.Response(status=204)
        finally:
            self.holding -= 1

    async def _ok(self, request: web.Request) -> web.Response:
        now = time.time()
        await request.read()
        self.arrived.setdefault((request.path, request.headers["webhook-id"]), now)
        return web.Response(status=204)


async def _register(client, settings, who, url: str, **fields) -> dict:
    resp = await client.post(f"{BASE}/endpoints", headers=who.headers(settings),
                             json={"url": url, **fields})
    body = await resp.json()
    assert resp.status == 201, body
    return body["result"]


def _p99(values: list[float]) -> float:
    values = sorted(values)
    return values[math.ceil(0.99 * len(values)) - 1]


async def test_a_tarpit_merchant_does_not_delay_another_merchants_webhooks(
        settings, tmp_path, billing_pool, merchant):
    """Merchant A's endpoints (as many as it may register) all point at a tarpit and
    200 events are fanned out to them; merchant B's deliveries, one endpoint sent on
    the fast path and one ordered (always claimed) on the tarpit's own host, arrive
    within a second of their event while A's tarpit holds its share of the slots."""
    broker = Broker(settings.amqp_url, name="test-fairness-producer")
    await broker.start()
    relay = OutboxRelay(billing_pool, broker, Topology(settings.events_namespace),
                        service="billing", poll_seconds=0.1)
    await relay.start()

    async def emit_all(who, datas: list[dict]) -> list:
        async with UnitOfWork(billing_pool, producer="billing", relay=relay) as uow:
            return [uow.emit("payment.completed", data, company_id=str(who.company_id),
                             merchant_id=str(who.merchant_id)) for data in datas]

    shop_b = await make_merchant(settings, await make_company_admin(settings), status="ACTIVE")
    tarpit, healthy = Hooks(), Hooks()
    await tarpit.start()
    await healthy.start()
    try:
        async with notifier(settings, tmp_path, webhook_timeout_seconds=3.0,
                            webhook_retry_schedule=DEFAULT_SCHEDULE) as client:
            for n in range(16):
                await _register(client, settings, merchant, tarpit.url(f"/tarpit/{n}"))
            await _register(client, settings, shop_b, healthy.url("/ok/fast"))
            await _register(client, settings, shop_b, tarpit.url("/ok/ordered"), ordered=True)

            for start in range(0, 200, 50):
                await emit_all(merchant, [payment(n) for n in range(start, start + 50)])
            await poll_until(lambda: tarpit.holding >= 16, timeout=15,
                             what="the tarpit holding A's sends")

            sent = []
            for n in range(50):  # about 10 a second while the tarpit holds its slots
                sent += await emit_all(shop_b, [payment(1000 + n)])
                await asyncio.sleep(0.1)
            wanted = {(path, str(e.id)) for e in sent for path in ("/ok/fast", "/ok/ordered")}

            def arrived() -> bool:
                return wanted <= (set(healthy.arrived) | set(tarpit.arrived))
            try:
                await poll_until(arrived, timeout=10, what="B's deliveries")
            except AssertionError:
                pass  # measured below: what did not arrive counts as never
            held_at_the_end = tarpit.holding
            # Deleting A's endpoints cancels its backlog, which would otherwise keep
            # later tests' notifiers busy.
            listed = await client.get(f"{BASE}/endpoints?per_page=50",
                                      headers=merchant.headers(settings))
            for ep in (await listed.json())["result"]["endpoints"]:
                await client.delete(f"{BASE}/endpoints/{ep['endpointId']}",
                                    headers=merchant.headers(settings))
    finally:
        await tarpit.stop()
        await healthy.stop()
        await relay.stop()
        await broker.stop()
    occurred = {str(e.id): e.occurred_at.timestamp() for e in sent}
    got = {**healthy.arrived, **tarpit.arrived}
    latencies = [got.get(key, math.inf) - occurred[key[1]] for key in wanted]
    missing = sum(1 for v in latencies if v == math.inf)
    assert _p99(latencies) < 1.0, (
        f"B's p99 {_p99(latencies):.3f} s, {missing} of {len(latencies)} never arrived")
    # A was held to its share (a quarter of 64) and was still being served.
    assert tarpit.most_held <= 16 and held_at_the_end >= 1
    assert tarpit.tarpitted >= 16


async def _backlog(conn, merchant_id: int, endpoints: int, per_endpoint: int,
                   due_since: timedelta) -> list[str]:
    """`endpoints` endpoints of a merchant, each with `per_endpoint` deliveries due
    since `due_since` ago; their ids."""
    ids = []
    for _ in range(endpoints):
        row = await store.insert_endpoint(
            conn, endpoint_id=domain.new_endpoint_id(), company_id=1,
            merchant_id=merchant_id, url="https://hooks.example.com/h", event_types=["*"],
            enabled=True, ordered=False, description=None, sealed_secret="sealed")
        ids.append(row["endpoint_id"])
        events = [(uuid.uuid4(), "payment.completed", 1, merchant_id, datetime.now(UTC),
                   False, b"{}") for _ in range(per_endpoint)]
        await store.insert_events(conn, events)
        await store.insert_deliveries(
            conn, [(domain.new_delivery_id(), row["endpoint_id"], e[0]) for e in events],
            "event")
        await conn.execute(
            "UPDATE webhook_deliveries SET next_attempt_at = now() - $2::interval "
            "WHERE endpoint_id = $1", row["endpoint_id"], due_since)
    return ids


async def test_a_claim_takes_merchants_in_turn_within_their_limits(notifier_pool):
    """A's backlog is older and larger than B's, and B is still served by the first
    claim; what a sender has in flight counts against each limit."""
    a, b = (secrets.randbelow(10**12) + 10**12 for _ in range(2))
    async with notifier_pool.acquire() as conn:
        tr = conn.transaction()
        await tr.start()
        try:  # rolled back: nothing is left for other tests' notifiers
            a_eps = await _backlog(conn, a, endpoints=3, per_endpoint=10,
                                   due_since=timedelta(hours=1))
            [b_ep] = await _backlog(conn, b, endpoints=1, per_endpoint=2,
                                    due_since=timedelta(minutes=30))

            async def claim(limit: int, endpoint_load=None, merchant_load=None) -> list:
                sp = conn.transaction()  # each claim undone before the next
                await sp.start()
                try:
                    return await store.claim_due(
                        conn, limit=limit, lease_seconds=60, per_endpoint=4,
                        per_merchant=8, endpoint_load=endpoint_load or {},
                        merchant_load=merchant_load or {})
                finally:
                    await sp.rollback()

            ours = {a: "A", b: "B"}
            first = [ours[r["merchant_id"]] for r in await claim(2)
                     if r["merchant_id"] in ours]
            assert sorted(first) == ["A", "B"]
            # A's endpoints in turn, 4 each at most, 8 for A in all.
            rows = [r for r in await claim(100) if r["merchant_id"] in ours]
            a_rows = [r["endpoint_id"] for r in rows if r["merchant_id"] == a]
            assert len(a_rows) == 8 and max(a_rows.count(e) for e in a_eps) <= 4
            assert min(a_rows.count(e) for e in a_eps) >= 2
            assert [r["endpoint_id"] for r in rows if r["merchant_id"] == b] == [b_ep] * 2
            # In flight already: A at its limit gets nothing, B's endpoint 3 of 4 one more.
            rows = [r for r in await claim(100, {b_ep: 3}, {a: 8}) if r["merchant_id"] in ours]
            assert [r["endpoint_id"] for r in rows] == [b_ep]
        finally:
            await tr.rollback()


async def test_the_fast_path_keeps_each_limit_and_leaves_room_for_the_claim(
        settings, notifier_pool):
    """Room reserved at fan-out: 4 per endpoint, 16 per merchant (a quarter of 64),
    and 60 in all, the last 4 slots left to the claim's turns. An endpoint refused
    once waits for the claim (its delivery went there) until a claim finds no more."""
    dispatcher = Dispatcher(notifier_pool, settings, SecretBox(settings, "webhook-secrets"),
                            InternalClient(settings, caller="notifier"))
    await dispatcher.start()
    try:
        # No await below until the room is given back: nothing else takes a slot.
        assert [dispatcher.reserve("ep_a0", 1) for _ in range(5)] == [True] * 4 + [False]
        assert all(dispatcher.reserve(f"ep_a{n}", 1) for n in (1, 2, 3) for _ in range(4))
        assert not dispatcher.reserve("ep_a4", 1)  # merchant 1 holds 16
        taken = [(f"ep_a{n}", 1) for n in range(4) for _ in range(4)]
        for m in range(2, 100):
            if not dispatcher.reserve(f"ep_m{m}", m):
                break
            taken.append((f"ep_m{m}", m))
        assert len(taken) == 60 and dispatcher._in_flight() == 60
        dispatcher.unreserve([{"endpoint_id": e, "merchant_id": m} for e, m in taken])
        assert dispatcher._in_flight() == 0
        assert dispatcher.reserve("ep_a9", 1)  # the merchant has room again
        assert not dispatcher.reserve("ep_a0", 1)  # behind what it sent to the claim
        dispatcher.unreserve([{"endpoint_id": "ep_a9", "merchant_id": 1}])
        dispatcher.wake()
        # A claim finds nothing of ep_a0's due: the fast path takes it again.
        await poll_until(lambda: dispatcher.reserve("ep_a0", 1), what="ep_a0 undeferred")
        dispatcher.unreserve([{"endpoint_id": "ep_a0", "merchant_id": 1}])
    finally:
        await dispatcher.stop()


async def test_a_merchant_may_register_at_most_16_endpoints(settings, tmp_path, merchant):
    h = merchant.headers(settings)
    async with notifier(settings, tmp_path) as client:
        # Concurrent creates cannot get past the limit together.
        answers = await asyncio.gather(*(
            client.post(f"{BASE}/endpoints", headers=h,
                        json={"url": f"https://hooks.example.com/{n}"}) for n in range(20)))
        statuses = sorted(r.status for r in answers)
        assert statuses == [201] * 16 + [409] * 4
        refused = next(r for r in answers if r.status == 409)
        body = await refused.json()
        assert refused.headers["X-Error-Code"] == "webhook_endpoint_limit"
        assert body["status"] == "0" and "16" in body["message"]
        listed = (await (await client.get(f"{BASE}/endpoints?per_page=50",
                                          headers=h)).json())["result"]
        assert listed["pagination"]["total"] == 16
        # A disabled endpoint still counts; a deleted one makes room.
        first = listed["endpoints"][0]["endpointId"]
        await client.patch(f"{BASE}/endpoints/{first}", headers=h, json={"enabled": False})
        resp = await client.post(f"{BASE}/endpoints", headers=h,
                                 json={"url": "https://hooks.example.com/x"})
        assert resp.status == 409
        assert (await client.delete(f"{BASE}/endpoints/{first}", headers=h)).status == 200
        resp = await client.post(f"{BASE}/endpoints", headers=h,
                                 json={"url": "https://hooks.example.com/x"})
        assert resp.status == 201, await resp.text()


async def _away_from_a_minute_boundary() -> None:
    # The budget is counted per UTC minute: a test crossing one would see it refilled.
    await poll_until(lambda: time.time() % 60 < 50, timeout=15, interval=0.2,
                     what="the start of a minute")


async def test_redeliveries_and_test_events_are_rate_limited_per_merchant(
        settings, tmp_path, emit, merchant):
    h = merchant.headers(settings)
    other = await make_merchant(settings, await make_company_admin(settings), status="ACTIVE")
    async with notifier(settings, tmp_path, webhook_manual_sends_per_minute=5) as client:
        ep = await _register(client, settings, merchant, f"http://127.0.0.1:{free_port()}/h")
        theirs = await _register(client, settings, other, f"http://127.0.0.1:{free_port()}/h")
        start = datetime.now(UTC) - timedelta(seconds=1)
        events = [await emit("payment.completed", payment(n), merchant) for n in range(8)]

        async def fanned_out():
            log = await client.get(f"{BASE}/deliveries?per_page=50", headers=h)
            return len((await log.json())["result"]["deliveries"]) == 8
        await poll_until(fanned_out, what="the events fanned out")
        await _away_from_a_minute_boundary()

        # A range redelivery takes at most the minute's budget: the 5 oldest events.
        ranged = await client.post(f"{BASE}/redeliver", headers=h, json={
            "endpointId": ep["endpointId"], "since": start.isoformat()})
        body = await ranged.json()
        assert ranged.status == 202, body
        assert [d["eventId"] for d in body["result"]["deliveries"]] == \
            [str(e.id) for e in events[:5]]

        for call in (
                client.post(f"{BASE}/endpoints/{ep['endpointId']}/test", headers=h),
                client.post(f"{BASE}/redeliver", headers=h, json={
                    "endpointId": ep["endpointId"], "eventId": str(events[7].id)}),
                client.post(f"{BASE}/deliveries/{body['result']['deliveries'][0]['deliveryId']}"
                            "/redeliver", headers=h)):
            resp = await call
            refused = await resp.json()
            assert resp.status == 429, refused
            assert resp.headers["X-Error-Code"] == "webhook_sends_rate_limited"
            assert 1 <= int(resp.headers["Retry-After"]) <= 60
            assert refused["status"] == "0" and "5" in refused["message"]
            assert refused["result"] is None

        # Another merchant has its own budget.
        resp = await client.post(f"{BASE}/endpoints/{theirs['endpointId']}/test",
                                 headers=other.headers(settings))
        assert resp.status == 202, await resp.text()
        # Nothing was queued by the refused calls.
        log = await client.get(f"{BASE}/deliveries?per_page=50", headers=h)
        assert len((await log.json())["result"]["deliveries"]) == 8 + 5
