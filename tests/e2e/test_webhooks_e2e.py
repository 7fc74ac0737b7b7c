"""Signed webhooks through a `make run` stack: a merchant onboarded through the
gateway registers an endpoint with its API key, takes payments, and its receiver
(the seed's verifyWebhook under node, and standardwebhooks) gets every event
exactly once although it fails the first three attempts of each."""

from __future__ import annotations

import aiohttp
import pytest

from tests.conftest import TEST_ENV
from tests.e2e.conftest import wait_stack_ready
from tests.integration.test_webhooks_delivery import Receiver, SeedVerifier
from tests.support.onboarding import onboard
from tests.support.poll import poll_until

pytestmark = pytest.mark.e2e
WALLET = "0x742d35cc6634c0532925a3b844bc454e4438f44e"
SHORT = {"NORGATE_WEBHOOK_RETRY_SCHEDULE": "[0, 0.3, 0.6, 1, 1, 2, 2, 3]",
         "NORGATE_WEBHOOK_TIMEOUT_SECONDS": "1", "NORGATE_WEBHOOK_POLL_SECONDS": "0.2"}


@pytest.fixture(scope="module")
def short_schedule():
    """The stack of this module runs with the retry schedule shortened by config."""
    TEST_ENV.update(SHORT)
    yield
    for key in SHORT:
        TEST_ENV.pop(key, None)


@pytest.fixture(scope="module")
async def hooked(short_schedule, stack):
    await wait_stack_ready(stack)
    return stack


async def _merchant_key(stack) -> str:
    return (await onboard(stack, "hooks", name="Hook Shop")).key


async def test_receiver_failing_three_times_gets_each_payment_event_exactly_once(
        hooked, tmp_path):
    key = await _merchant_key(hooked)
    async with SeedVerifier(tmp_path) as verifier:
        receiver = Receiver(verifier, fail_first=3)
        await receiver.start()
        try:
            async with aiohttp.ClientSession(headers={"X-API-Key": key}) as http:
                gw = hooked.gateway
                async with http.post(gw + "/api/v2/webhooks/endpoints", json={
                        "url": receiver.url,
                        "events": ["payment.created", "payment.completed"]}) as resp:
                    assert resp.status == 201, await resp.text()
                    endpoint = (await resp.json())["result"]
                receiver.secrets.append(endpoint["secret"])
                payments = []
                for _ in range(2):
                    async with http.post(gw + "/api/v2/payments/create", json={
                            "amount": "1000000000000000000", "currency": "NOR",
                            "metadata": {"orderId": "order_123"}}) as resp:
                        pid = (await resp.json())["result"]["paymentId"]
                    async with http.post(gw + f"/api/v2/payments/{pid}/confirm", json={
                            "paymentMethod": "NOR_WALLET", "payer": WALLET}) as resp:
                        assert (await resp.json())["result"]["status"] == "completed"
                    payments.append(pid)

                def seen():
                    got = {(p["event"], p["data"]["paymentId"])
                           for p in receiver.events.values()}
                    want = {(e, pid) for pid in payments
                            for e in ("payment.created", "payment.completed")}
                    return got == want
                await poll_until(seen, timeout=60, what="every payment event")

                async def logged():
                    async with http.get(gw + "/api/v2/webhooks/deliveries") as resp:
                        rows = (await resp.json())["result"]["deliveries"]
                    return rows if len(rows) == 4 and all(
                        r["status"] == "succeeded" for r in rows) else None
                deliveries = await poll_until(logged, timeout=20, what="delivery log")
        finally:
            await receiver.stop()
    assert receiver.rejected == [] and receiver.duplicates == 0
    assert all(n == 4 for n in receiver.attempts.values())
    assert all(d["attempts"] == 4 for d in deliveries)
    completed = [p for p in receiver.events.values() if p["event"] == "payment.completed"]
    assert all(p["data"]["status"] == "completed" and p["data"]["payer"] == WALLET
               and p["data"]["metadata"] == {"orderId": "order_123"} for p in completed)
