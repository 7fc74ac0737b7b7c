"""`docker compose up` for real (make compose-test): the stack docker-compose.yml
starts, driven only through its published gateway as a merchant would: sign-up, the
confirmation mail, sign-in, a merchant and its key, a payment confirmed, its signed
webhooks at the merchant's receiver exactly once, and the ledger entries it posted."""

from __future__ import annotations

import aiohttp
import orjson
import pytest
from aiohttp import web
from standardwebhooks import Webhook

from tests.compose.stack import ComposeStack
from tests.support.net import free_port
from tests.support.onboarding import onboard
from tests.support.poll import poll_until

pytestmark = [pytest.mark.compose, pytest.mark.timeout(300)]
WALLET = "0x742d35cc6634c0532925a3b844bc454e4438f44e"
SERVICES = {"gateway", "auth", "checkout", "billing", "fees", "notifier"}


class BridgeReceiver:
    """The merchant's webhook URL, on the host's address on the compose network (where
    the notifier's container reaches it): every call kept as it came."""

    def __init__(self, host: str) -> None:
        self.host, self.port = host, free_port()
        self.calls: list[tuple[bytes, dict[str, str]]] = []
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/hooks"

    async def _handle(self, request: web.Request) -> web.Response:
        self.calls.append((await request.read(), dict(request.headers)))
        return web.json_response({"received": True})

    async def __aenter__(self) -> BridgeReceiver:
        app = web.Application()
        app.router.add_post("/hooks", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


def test_every_container_is_healthy_and_provisioning_exited_0(
        compose_stack: ComposeStack) -> None:
    rows = {c["Service"]: c for c in compose_stack.containers()}
    assert SERVICES | {"postgres", "rabbitmq", "mailsink", "provision"} <= set(rows)
    for name in SERVICES | {"postgres", "rabbitmq", "mailsink"}:
        assert (rows[name]["State"], rows[name]["Health"]) == ("running", "healthy"), rows[name]
    assert (rows["provision"]["State"], rows["provision"]["ExitCode"]) == ("exited", 0)


async def test_a_merchant_signs_up_takes_a_payment_and_gets_its_webhooks_and_ledger(
        compose_stack: ComposeStack) -> None:
    gw = compose_stack.gateway
    shop = await onboard(compose_stack, "compose", name="Compose Shop")
    async with BridgeReceiver(compose_stack.network_gateway()) as receiver, \
            aiohttp.ClientSession(headers=shop.headers) as http:
        async def call(method: str, path: str, **kw: object) -> dict:
            async with http.request(method, gw + path, **kw) as resp:  # type: ignore[arg-type]
                body = await resp.json(content_type=None)
                assert resp.status < 300, (method, path, resp.status, body)
                return body

        endpoint = (await call("POST", "/api/v2/webhooks/endpoints", json={
            "url": receiver.url, "events": ["payment.created", "payment.completed"]}))["result"]
        created = (await call("POST", "/api/v2/payments/create", json={
            "amount": "2500000000000000000", "currency": "NOR",
            "metadata": {"orderId": "compose-1"}}))["result"]
        pid = created["paymentId"]
        confirmed = (await call("POST", f"/api/v2/payments/{pid}/confirm", json={
            "paymentMethod": "NOR_WALLET", "payer": WALLET}))["result"]
        assert confirmed["status"] == "completed"

        def events() -> list[dict]:
            return [Webhook(endpoint["secret"]).verify(body, headers)
                    for body, headers in receiver.calls]
        await poll_until(lambda: len(events()) >= 2, timeout=60,
                         what="both webhooks at the receiver")
        got = sorted((e["event"], e["data"]["paymentId"]) for e in events())
        assert got == [("payment.completed", pid), ("payment.created", pid)]
        completed = next(e for e in events() if e["event"] == "payment.completed")
        assert completed["data"]["amount"] == "2500000000000000000"
        assert completed["data"]["metadata"] == {"orderId": "compose-1"}

        async def entries() -> list[dict]:
            found = (await call("GET", f"/api/v2/ledger/entries?referenceId={pid}"))["result"]
            return found["entries"]
        posted: list[dict] = await poll_until(entries, timeout=60,
                                              what=f"the ledger entries of {pid}")
        for currency in {e["currency"] for e in posted}:
            mine = [e for e in posted if e["currency"] == currency]
            debits = sum(int(e["amount"]) for e in mine if e["direction"] == "debit")
            credits = sum(int(e["amount"]) for e in mine if e["direction"] == "credit")
            assert debits == credits > 0, mine
        trial = (await call("GET", "/api/v2/ledger/trial-balance"))["result"]
        assert trial["balanced"] is True, trial
    # The webhook bodies are JSON a merchant can parse, with no secret in them.
    for body, _ in receiver.calls:
        assert endpoint["secret"] not in body.decode()
        orjson.loads(body)
