"""Signed webhooks end to end inside one test process: events emitted through an
outbox reach a receiver that verifies every delivery with the NorPay seed's own
verifyWebhook (run by node) and with the standardwebhooks library."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections import Counter
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import orjson
import pytest
from aiohttp import web
from standardwebhooks import Webhook

from deploy.mailsink import start_mailsink
from services.notifier.app import build_spec
from services.notifier.webhooks import use_cases
from shared.db import apply_migrations, discover
from shared.events import Event, OutboxRelay, Topology, UnitOfWork
from shared.events.broker import Broker
from shared.http.app import create_app
from tests.conftest import DECLARED_DELAYS, DECLARED_QUEUES, serve
from tests.support.auth import make_company_admin, make_merchant
from tests.support.net import free_port
from tests.support.poll import poll_until
from tests.support.tcp_proxy import TcpProxy

REPO = Path(__file__).resolve().parents[2]
SEED = REPO.parent / "shared" / "seeds" / "norpay-payments-api.txt"
SCHEDULE = (0, 0.2, 0.5, 1, 1, 2, 2, 3)


def seed_verifier_source() -> str:
    """The seed's `verifyWebhook` as the seed prints it. Node 20 cannot strip
    TypeScript, so only the three `: string` parameter annotations are removed;
    the body is the seed's, character for character."""
    text = SEED.read_text()
    start = text.index("import crypto from 'crypto';")
    end = text.index("// Express.js example", start)
    code = text[start:end]
    code = re.sub(r"\((payload): string, (signature): string, (secret): string\)",
                  r"(\1, \2, \3)", code)
    assert ": string" not in code
    return code + """
import readline from 'readline';
const rl = readline.createInterface({ input: process.stdin });
rl.on('line', (line) => {
  const { payload, signature, secret } = JSON.parse(line);
  console.log(verifyWebhook(payload, signature, secret) ? 'true' : 'false');
});
"""


class SeedVerifier:
    """A node process running the seed's verifyWebhook, one JSON line per check."""

    def __init__(self, tmp: Path):
        self._script = tmp / "verify.mjs"
        self._script.write_text(seed_verifier_source())
        self._lock = asyncio.Lock()

    async def __aenter__(self) -> "SeedVerifier":
        self._proc = await asyncio.create_subprocess_exec(
            "node", str(self._script), stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE)
        return self

    async def __aexit__(self, *exc) -> None:
        self._proc.stdin.close()
        await self._proc.wait()

    async def verify(self, payload: str, signature: str | None, secret: str) -> bool:
        async with self._lock:
            self._proc.stdin.write(json.dumps({"payload": payload, "signature": signature,
                                               "secret": secret}).encode() + b"\n")
            await self._proc.stdin.drain()
            line = await asyncio.wait_for(self._proc.stdout.readline(), 10)
        return line.strip() == b"true"


class Receiver:
    """A merchant's webhook receiver. It checks both signatures, fails the first
    `fail_first` attempts of every event (500, then 429 with Retry-After: 1, then
    too slow to answer), and keeps each event once by its webhook-id."""

    def __init__(self, verifier: SeedVerifier, *, fail_first: int = 3, slow_seconds: float = 2):
        self.verifier = verifier
        self.secrets: list[str] = []
        # What X-NorPay-Signature is checked with when not the endpoint's secrets:
        # a webServiceUrl's merchant secret.
        self.norpay_secrets: list[str] | None = None
        self.fail_first = fail_first
        self.slow_seconds = slow_seconds
        self.attempts: Counter[str] = Counter()
        self.times: dict[str, list[float]] = {}
        self.events: dict[str, dict] = {}  # webhook-id -> payload, kept once
        self.duplicates = 0
        self.rejected: list[str] = []
        self.order: list[str] = []
        self.port = free_port()
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hooks", self.handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        await self._runner.cleanup()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    async def verified(self, body: bytes, headers) -> bool:
        for secret in self.secrets:
            try:
                Webhook(secret).verify(body, dict(headers))
            except Exception:
                continue
            # X-NorPay-Signature is made with the newest secret; while a rotation's
            # grace lasts, X-NorPay-Signature-Previous carries the old secret's.
            for key in self.norpay_secrets or [secret]:
                for header in ("X-NorPay-Signature", "X-NorPay-Signature-Previous"):
                    if header in headers and await self.verifier.verify(
                            body.decode(), headers[header], key):
                        return True
        return False

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if not await self.verified(body, request.headers):
            self.rejected.append(request.headers.get("webhook-id", "?"))
            return web.Response(status=401, text="Invalid signature")
        msg_id = request.headers["webhook-id"]
        self.attempts[msg_id] += 1
        self.times.setdefault(msg_id, []).append(time.monotonic())
        n = self.attempts[msg_id]
        if n <= self.fail_first:
            if n == 1:
                return web.Response(status=500, text="receiver broke")
            if n == 2:
                return web.Response(status=429, headers={"Retry-After": "1"})
            await asyncio.sleep(self.slow_seconds)  # longer than the webhook timeout
            return web.Response(status=200)
        payload = orjson.loads(body)
        assert payload["id"] == msg_id
        if msg_id in self.events:
            self.duplicates += 1
        else:
            self.events[msg_id] = payload
            self.order.append(msg_id)
        return web.json_response({"received": True})


@asynccontextmanager
async def notifier(settings, tmp_path, *, auth_proxy: TcpProxy | None = None, **overrides):
    """The notifier in-process with a short retry schedule, its own mail sink, and
    auth (for merchant lookups and secrets; `client.auth`), reached through
    `auth_proxy` when given, so a test can take it away."""
    from services.auth.app import build_spec as auth_spec

    sink = await start_mailsink(settings, host="127.0.0.1", smtp_port=0, http_port=0,
                                mail_dir=tmp_path / "mail")
    try:
        async with serve(create_app(settings, auth_spec(settings))) as auth:
            auth_port = auth.server.port
            if auth_proxy is not None:
                auth_proxy.target = ("127.0.0.1", auth_port)
                await auth_proxy.start()
                auth_port = auth_proxy.port
            s = settings.model_copy(update={
                "smtp_url": f"smtp://127.0.0.1:{sink.smtp_port}",
                "auth_url": f"http://127.0.0.1:{auth_port}",
                "webhook_retry_schedule": SCHEDULE, "webhook_timeout_seconds": 1.0,
                "webhook_poll_seconds": 0.2, **overrides})
            DECLARED_DELAYS.extend(s.consumer_retry_delays)
            for purpose in ("email", "webhooks"):
                DECLARED_QUEUES.append(Topology(s.events_namespace).queue("notifier", purpose))
            async with serve(create_app(s, build_spec(s))) as client:
                await poll_until(lambda: _ready(client), what="notifier ready")
                client.mail_dir = tmp_path / "mail"
                client.auth = auth
                yield client
    finally:
        if auth_proxy is not None:
            await auth_proxy.stop()
        await sink.stop()


async def _ready(client) -> bool:
    return (await client.get("/readyz")).status == 200


@pytest.fixture
async def emit(settings, billing_pool):
    """Billing stands in for any producing service: events through its outbox."""
    broker = Broker(settings.amqp_url, name="test-webhook-producer")
    await broker.start()
    relay = OutboxRelay(billing_pool, broker, Topology(settings.events_namespace),
                        service="billing", poll_seconds=0.1)
    await relay.start()

    async def emit(event_type: str, data: dict, merchant):
        async with UnitOfWork(billing_pool, producer="billing", relay=relay) as uow:
            return uow.emit(event_type, data, company_id=str(merchant.company_id),
                            merchant_id=str(merchant.merchant_id))

    yield emit
    await relay.stop()
    await broker.stop()


@pytest.fixture
async def verifier(tmp_path):
    async with SeedVerifier(tmp_path) as v:
        yield v


@pytest.fixture
async def merchant(settings):
    conn = await asyncpg.connect(settings.dsn_of("auth"))
    try:  # auth's tables, as auth itself would create them at start-up
        await apply_migrations(conn, "auth", discover(REPO / "services" / "auth" / "migrations"))
    finally:
        await conn.close()
    admin = await make_company_admin(settings)
    return await make_merchant(settings, admin, status="ACTIVE")


async def register(client, merchant, settings, receiver: Receiver, **fields) -> dict:
    resp = await client.post("/api/v2/webhooks/endpoints", headers=merchant.headers(settings),
                             json={"url": receiver.url, **fields})
    assert resp.status == 201, await resp.text()
    endpoint = (await resp.json())["result"]
    receiver.secrets.append(endpoint["secret"])
    return endpoint


# As billing emits them (shared/events/payloads.py checks the shape).
SUBSCRIPTION = {"subscriptionId": "sub_1", "planId": "plan_1", "customerId": "cus_1",
                "status": "active", "amount": "1000", "currency": "NOR", "interval": "month",
                "intervalCount": 1, "metadata": {}, "livemode": False}
INVOICE = {"invoiceId": "inv_1", "invoiceNumber": "INV-0001", "status": "paid",
           "subtotal": "1000", "tax": "0", "total": "1000", "currency": "NOR",
           "paymentId": "pay_0001", "livemode": False}


def payment(n: int, status: str = "completed") -> dict:
    return {"paymentId": f"pay_{n:04d}", "amount": "1000000000000000000", "currency": "NOR",
            "status": status, "payer": "0x742d35", "transactionHash": "0xtx",
            "metadata": {"orderId": f"order_{n}"}}


async def test_every_event_arrives_once_after_three_failed_attempts_and_both_signatures_verify(
        settings, tmp_path, emit, verifier, merchant):
    receiver = Receiver(verifier)
    await receiver.start()
    try:
        async with notifier(settings, tmp_path) as client:
            await register(client, merchant, settings, receiver)
            sent = [await emit("payment.created", payment(1, "pending"), merchant),
                    await emit("payment.completed", payment(1), merchant),
                    await emit("subscription.created", SUBSCRIPTION, merchant),
                    await emit("invoice.paid", INVOICE, merchant)]
            ids = {str(e.id) for e in sent}
            await poll_until(lambda: set(receiver.events) == ids, timeout=30,
                             what="every event accepted")

            async def settled():
                log = await client.get("/api/v2/webhooks/deliveries",
                                       headers=merchant.headers(settings))
                found = (await log.json())["result"]["deliveries"]
                return found if all(d["status"] == "succeeded" for d in found) else None

            deliveries = await poll_until(settled, timeout=10, what="the log recorded")
            one = await client.get(f"/api/v2/webhooks/deliveries/{deliveries[0]['deliveryId']}",
                                   headers=merchant.headers(settings))
            detail = (await one.json())["result"]
    finally:
        await receiver.stop()
    assert receiver.rejected == []
    assert receiver.duplicates == 0
    assert all(receiver.attempts[i] == 4 for i in ids)
    for msg_id in ids:  # Retry-After: 1 after the second attempt was honoured
        t = receiver.times[msg_id]
        assert t[2] - t[1] >= 0.95
    body = receiver.events[str(sent[1].id)]
    assert body["event"] == "payment.completed"
    assert body["timestamp"] == str(int(sent[1].occurred_at.timestamp()))
    assert body["data"]["paymentId"] == "pay_0001"
    assert body["data"]["metadata"] == {"orderId": "order_1"}
    assert {d["eventId"] for d in deliveries} == ids
    assert all(d["status"] == "succeeded" and d["attempts"] == 4 for d in deliveries)
    codes = [a["statusCode"] for a in detail["attemptLog"]]
    assert codes == [500, 429, None, 200]
    assert "timed out" in detail["attemptLog"][2]["error"]
    assert detail["attemptLog"][0]["responseBody"] == "receiver broke"


async def test_restarting_the_notifier_mid_run_loses_no_delivery(
        settings, tmp_path, emit, verifier, merchant):
    receiver = Receiver(verifier, fail_first=1)
    await receiver.start()
    try:
        async with notifier(settings, tmp_path) as client:
            await register(client, merchant, settings, receiver)
            sent = [await emit("payment.completed", payment(n), merchant) for n in range(12)]
            await poll_until(lambda: len(receiver.attempts) >= 3, timeout=20,
                             what="the first deliveries under way")
        # The notifier is gone; more events arrive while it is down.
        sent += [await emit("payment.refunded", payment(n, "refunded"), merchant)
                 for n in range(12, 16)]
        async with notifier(settings, tmp_path / "again"):
            ids = {str(e.id) for e in sent}
            await poll_until(lambda: set(receiver.events) >= ids, timeout=40,
                             what="every event after the restart")
    finally:
        await receiver.stop()
    assert set(receiver.events) >= ids and receiver.rejected == []


async def test_a_receiver_that_is_down_for_a_while_delays_but_never_drops(
        settings, tmp_path, emit, verifier, merchant):
    receiver = Receiver(verifier, fail_first=0)
    await receiver.start()
    async with notifier(settings, tmp_path) as client:
        await register(client, merchant, settings, receiver)
        first = await emit("payment.completed", payment(1), merchant)
        await poll_until(lambda: str(first.id) in receiver.events, timeout=15,
                         what="first event")
        await receiver.stop()
        later = [await emit("payment.completed", payment(n), merchant) for n in range(2, 6)]
        await asyncio.sleep(2.5)  # the receiver stays away while attempts fail
        assert not any(str(e.id) in receiver.events for e in later)
        await receiver.start()
        try:
            await poll_until(lambda: all(str(e.id) in receiver.events for e in later),
                             timeout=20, what="events after the receiver came back")
            log = await client.get(f"/api/v2/webhooks/deliveries?eventId={later[0].id}",
                                   headers=merchant.headers(settings))
            [delivery] = (await log.json())["result"]["deliveries"]

            async def recorded():
                # The success is recorded just after the receiver answered.
                body = await (await client.get(
                    f"/api/v2/webhooks/deliveries/{delivery['deliveryId']}",
                    headers=merchant.headers(settings))).json()
                return body if body["result"]["status"] != "pending" else None

            detail = await poll_until(recorded, timeout=10, what="the success recorded")
        finally:
            await receiver.stop()
    errors = [a["error"] for a in detail["result"]["attemptLog"][:-1]]
    assert errors and all(e.startswith("connection failed") for e in errors)
    assert detail["result"]["status"] == "succeeded"


class _SenderThatDied:
    """The fan-out's side of a notifier that took deliveries at birth (leased to it)
    and died before sending them: it reserves room and never sends."""

    lease_seconds = 1.5

    def reserve(self, endpoint_id: str, merchant_id: int) -> bool:
        return True

    def unreserve(self, rows: list) -> None:
        raise AssertionError("the fan-out committed: nothing to give back")


async def test_a_delivery_born_leased_to_a_sender_that_died_is_sent_when_its_lease_ends(
        settings, tmp_path, verifier, merchant, notifier_pool):
    receiver = Receiver(verifier, fail_first=0)
    await receiver.start()
    try:
        async with notifier(settings, tmp_path) as client:
            endpoint = await register(client, merchant, settings, receiver)
            event = Event(type="payment.completed", producer="tests", data=payment(7),
                          merchant_id=str(merchant.merchant_id),
                          company_id=str(merchant.company_id))
            async with notifier_pool.acquire() as conn, conn.transaction():
                _, leased = await use_cases.fan_out(conn, [event], _SenderThatDied())
            committed = time.monotonic()
            assert [d["endpoint_id"] for d in leased] == [endpoint["endpointId"]]
            await poll_until(lambda: str(event.id) in receiver.events, timeout=15,
                             what="the delivery sent by a claim once its lease ended")
            waited = time.monotonic() - committed
            log = await client.get(f"/api/v2/webhooks/deliveries?eventId={event.id}",
                                   headers=merchant.headers(settings))
            [delivery] = (await log.json())["result"]["deliveries"]
    finally:
        await receiver.stop()
    assert waited >= 1.4  # not before the lease ran out: nobody else sent it meanwhile
    assert receiver.attempts[str(event.id)] == 1
    assert delivery["attempts"] == 2  # the lost first attempt counts


async def test_a_retry_after_of_non_ascii_digits_is_retried_on_the_schedule(
        settings, tmp_path, emit, verifier, merchant):
    """Found by review: `Retry-After: ²` passed str.isdigit() and float() raised inside
    the send, so the delivery sat leased until its lease ran out."""
    receiver = Receiver(verifier, fail_first=0)
    original = receiver.handle

    async def superscript_first(request):
        if not receiver.attempts[request.headers.get("webhook-id", "?")]:
            receiver.attempts[request.headers["webhook-id"]] += 1
            return web.Response(status=503, headers={"Retry-After": "\u00b2"})
        return await original(request)
    receiver.handle = superscript_first
    await receiver.start()
    try:
        async with notifier(settings, tmp_path) as client:
            await register(client, merchant, settings, receiver)
            first = await emit("payment.completed", payment(1), merchant)
            # The schedule's next attempt is 0.2 s later; the lease (the timeout plus
            # 30 s) is far longer than this wait.
            await poll_until(lambda: str(first.id) in receiver.events, timeout=10,
                             what="the retry after the 503")
            later = await emit("payment.completed", payment(2), merchant)
            await poll_until(lambda: str(later.id) in receiver.events, timeout=10,
                             what="the dispatcher still sending")

            async def recorded():
                log = await client.get(f"/api/v2/webhooks/deliveries?eventId={first.id}",
                                       headers=merchant.headers(settings))
                found = (await log.json())["result"]["deliveries"]
                return found if found and found[0]["status"] == "succeeded" else None
            [delivery] = await poll_until(recorded, what="the success recorded")
            detail = await (await client.get(
                f"/api/v2/webhooks/deliveries/{delivery['deliveryId']}",
                headers=merchant.headers(settings))).json()
    finally:
        await receiver.stop()
    codes = [a["statusCode"] for a in detail["result"]["attemptLog"]]
    assert codes[0] == 503 and codes[-1] == 200
