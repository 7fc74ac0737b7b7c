"""Every payment method's success and failure paths, through the gateway of a
`make run` stack, with an API key from a merchant onboarded through the same gateway."""

from __future__ import annotations

import time

import aiohttp
import pytest

from tests.e2e.conftest import wait_stack_ready
from tests.support.onboarding import onboard
from tests.support.poll import poll_until

pytestmark = pytest.mark.e2e
WALLET = "0x742d35cc6634c0532925a3b844bc454e4438f44e"
CARD = {"expMonth": 12, "expYear": 2099, "cvc": "123"}


@pytest.fixture(scope="module")
async def merchant(stack):
    """Onboarded through the gateway: sign-up, confirm, sign in, merchant, activate, key."""
    await wait_stack_ready(stack)
    return await onboard(stack, "payments", name="Pay Shop")


async def _pay(stack, merchant, *, currency: str, amount: str, confirm: dict,
               action: dict | None = None):
    gw, headers = stack.gateway, {"X-API-Key": merchant.key}
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.post(gw + "/api/v2/payments/create",
                             json={"amount": amount, "currency": currency}) as resp:
            assert resp.status == 201, await resp.text()
            pid = (await resp.json())["result"]["paymentId"]
        async with http.post(gw + f"/api/v2/payments/{pid}/confirm", json=confirm) as resp:
            body = await resp.json()
        if action is not None:
            async with http.post(gw + f"/api/v2/payments/{pid}/action", json=action) as resp:
                body = await resp.json()
        return pid, body


async def _status(stack, merchant, pid: str) -> str:
    async with aiohttp.ClientSession(headers={"X-API-Key": merchant.key}) as http:
        async with http.get(stack.gateway + f"/api/v2/payments/{pid}") as resp:
            return (await resp.json())["result"]["status"]


CASES = [
    ("NOR wallet pays", "NOR", "1000000000000000000",
     {"paymentMethod": "NOR_WALLET", "payer": WALLET}, None, "completed"),
    ("NOR wallet without funds", "NOR", "1000000000000000000",
     {"paymentMethod": "NOR_WALLET", "payer": "0x" + "2" * 36 + "dead"}, None,
     "Error! Insufficient balance"),
    ("card pays", "USD", "1050",
     {"paymentMethod": "VISA_MASTER", "card": {"number": "4242424242424242", **CARD}}, None,
     "completed"),
    ("card declined", "USD", "1050",
     {"paymentMethod": "VISA_MASTER", "card": {"number": "4000000000000002", **CARD}}, None,
     "Error! Card declined"),
    ("card with 3-D Secure", "USD", "1050",
     {"paymentMethod": "VISA_MASTER", "card": {"number": "4000002500003155", **CARD}},
     {"threeDSecure": "pass"}, "completed"),
    ("card failing 3-D Secure", "USD", "1050",
     {"paymentMethod": "VISA_MASTER", "card": {"number": "4000002500003155", **CARD}},
     {"threeDSecure": "fail"}, "Error! 3-D Secure authentication failed"),
    ("OMARI with the right OTP", "USD", "500",
     {"paymentMethod": "OMARI", "phoneNumber": "263771234567"}, {"otp": "123456"}, "completed"),
    ("OMARI with a wrong OTP", "USD", "500",
     {"paymentMethod": "OMARI", "phoneNumber": "263771234567"}, {"otp": "111111"},
     "Error! Wrong OTP"),
    ("ZIMSWITCH pays", "ZWG", "2500", {"paymentMethod": "ZIMSWITCH", "account": "12345678"},
     None, "completed"),
    ("ZIMSWITCH declined", "ZWG", "2500", {"paymentMethod": "ZIMSWITCH", "account": "12340001"},
     None, "Error! Account declined"),
    ("INNBUCKS pays", "USD", "700", {"paymentMethod": "INNBUCKS", "account": "55512345"}, None,
     "completed"),
    ("INNBUCKS declined", "USD", "700", {"paymentMethod": "INNBUCKS", "account": "55510001"},
     None, "Error! Account declined"),
]


@pytest.mark.parametrize("name,currency,amount,confirm,action,expected", CASES,
                         ids=[c[0] for c in CASES])
async def test_payment_method_paths(stack, merchant, name, currency, amount, confirm, action,
                                    expected):
    pid, body = await _pay(stack, merchant, currency=currency, amount=amount, confirm=confirm,
                           action=action)
    if expected.startswith("Error!"):
        assert body["status"] == "0" and body["message"] == expected, body
        assert await _status(stack, merchant, pid) == "failed"
    else:
        assert body["result"]["status"] == expected, body


@pytest.mark.parametrize("phone,expected", [("263771234567", "completed"),
                                            ("263770000001", "failed")])
async def test_ecocash_settles_through_its_callback(stack, merchant, phone, expected):
    pid, body = await _pay(stack, merchant, currency="USD", amount="900",
                           confirm={"paymentMethod": "ECOCASH", "phoneNumber": phone})
    assert body["result"]["status"] == "processing"

    async def settled():
        return await _status(stack, merchant, pid) == expected
    await poll_until(settled, timeout=15, what=f"ECOCASH {expected}")


async def test_a_create_chooses_its_session_length_within_the_bounds(stack, merchant):
    """expiresAt (Unix seconds) from 5 minutes to 24 hours ahead; else a 400 naming it."""
    ten_minutes = int(time.time()) + 600
    async with aiohttp.ClientSession(headers={"X-API-Key": merchant.key}) as http:
        async with http.post(stack.gateway + "/api/v2/payments/create", json={
                "amount": "1050", "currency": "USD", "expiresAt": str(ten_minutes)}) as resp:
            assert resp.status == 201, await resp.text()
            assert (await resp.json())["result"]["expiresAt"] == str(ten_minutes)
        async with http.post(stack.gateway + "/api/v2/payments/create", json={
                "amount": "1050", "currency": "USD",
                "expiresAt": str(int(time.time()) + 60)}) as resp:
            body = await resp.json()
    assert resp.status == 400 and body["result"] is None
    assert body["message"].startswith("Error! expiresAt: must be between 5 minutes and 24 hours")


async def test_a_retried_create_with_an_idempotency_key_makes_one_payment(stack, merchant):
    headers = {"X-API-Key": merchant.key, "Idempotency-Key": "order-4711"}
    body = {"amount": "1234", "currency": "USD", "description": "Order 4711"}
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.post(stack.gateway + "/api/v2/payments/create", json=body) as first:
            one = await first.json()
        async with http.post(stack.gateway + "/api/v2/payments/create", json=body) as second:
            two = await second.json()
            assert second.headers["Idempotent-Replayed"] == "true"
    assert one == two


async def test_norah_token_and_confirmation_through_the_gateway(stack, merchant):
    headers = {"X-API-Key": merchant.key}
    gw = stack.gateway
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.post(gw + "/api/v1/transaction/m/generate",
                             json={"amount": 100.00, "currency": "USD"}) as resp:
            data = (await resp.json())["data"]
            assert resp.status == 200 and "check-out?token=" in data["url"]
        async with aiohttp.ClientSession() as anonymous:
            async with anonymous.post(gw + "/api/v1/transaction/verify",
                                      json={"token": data["token"], "type": "m"}) as resp:
                assert resp.status == 200, await resp.text()
        async with http.post(gw + "/api/v1/transactions/confirmation", json={
                "user": "buyer@example.com", "amount": 100.00, "charge": 0, "currency": "USD",
                "paymentMethod": "ZIMSWITCH", "phoneNumber": "263771234567",
                "merchantUid": merchant.uid}) as resp:
            confirmed = (await resp.json())["data"]
            assert resp.status == 200, confirmed
        async with http.post(gw + "/api/v1/transactions/status",
                             json={"trace": confirmed["trace"]}) as resp:
            assert (await resp.json())["data"]["status"] == "COMPLETED"
        async with http.post(gw + "/api/v1/transactions/receipt",
                             json={"transactionId": confirmed["trace"]}) as resp:
            receipt = (await resp.json())["data"]
            assert resp.status == 200, receipt
    async with aiohttp.ClientSession() as anonymous:  # the signed link needs no credentials
        async with anonymous.get(receipt["downloadUrl"]) as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"] == "application/pdf"
            assert (await resp.read()).startswith(b"%PDF")
