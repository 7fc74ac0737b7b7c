"""Signed webhooks through a `make run` stack: a merchant onboarded through the
gateway registers an endpoint with its API key, takes payments, and its receiver
(the seed's verifyWebhook under node, and standardwebhooks) gets every event
exactly once although it fails the first three attempts of each. The callbacks to a
merchant's webServiceUrl verify with its merchant secret, across a regenerate, and so
do those to the company's webServiceUrl given at the ADMIN's sign-up."""

from __future__ import annotations

import hashlib
import hmac
import re

import aiohttp
import orjson
import pytest
from standardwebhooks import Webhook

from tests.conftest import TEST_ENV
from tests.e2e.conftest import wait_stack_ready
from tests.integration.test_webhooks_delivery import Receiver, SeedVerifier
from tests.support.onboarding import mail_text, onboard
from tests.support.poll import poll_until
from tests.support.receiver import RawReceiver

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


def _hex_hmac(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def test_web_service_url_callbacks_verify_with_the_merchant_secret_across_a_regenerate(
        hooked, tmp_path):
    shop = await onboard(hooked, "wsurl", name="Callback Shop")
    gw, receiver = hooked.gateway, RawReceiver("/norah/callbacks")
    await receiver.start()
    try:
        async with aiohttp.ClientSession() as http, SeedVerifier(tmp_path) as seed:
            async def call(method: str, path: str, headers: dict, **kw) -> dict:
                async with http.request(method, gw + path, headers=headers, **kw) as resp:
                    body = await resp.json()
                    assert resp.status < 300, (path, resp.status, body)
                    return body

            async def merchant_secret() -> str:
                return (await call("GET", f"/api/v1/admin/merchant/secret/{shop.id}",
                                   shop.admin_headers))["data"]["secret"]

            await call("PATCH", f"/api/v1/admin/merchants/{shop.id}", shop.admin_headers,
                       json={"webServiceUrl": receiver.url})

            async def implicit():
                listed = await call("GET", "/api/v2/webhooks/endpoints", shop.headers)
                return [e for e in listed["result"]["endpoints"]
                        if e["source"] == "webServiceUrl" and e["url"] == receiver.url]
            [endpoint] = await poll_until(implicit, timeout=20,
                                          what="the webServiceUrl endpoint")
            # Its own whsec_ secret (shown by a rotation) keeps signing webhook-signature.
            whsec = (await call("POST", "/api/v2/webhooks/endpoints/"
                                f"{endpoint['endpointId']}/rotate-secret",
                                shop.headers))["result"]["secret"]

            async def paid_and_called_back() -> tuple[bytes, dict[str, str]]:
                created = await call("POST", "/api/v2/payments/create", shop.headers, json={
                    "amount": "1000000000000000000", "currency": "NOR"})
                pid = created["result"]["paymentId"]
                return await poll_until(lambda: receiver.created(pid), timeout=30,
                                        what=f"the payment.created callback of {pid}")

            old = await merchant_secret()
            body, headers = await paid_and_called_back()
            assert headers["X-NorPay-Signature"] == _hex_hmac(old, body)
            assert await seed.verify(body.decode(), headers["X-NorPay-Signature"], old)
            assert Webhook(whsec).verify(body, headers)["event"] == "payment.created"

            fresh = (await call("POST", f"/api/v1/admin/merchant/secret/{shop.id}/regenerate",
                                shop.admin_headers))["data"]["secret"]
            assert fresh != old and await merchant_secret() == fresh
            body, headers = await paid_and_called_back()
            assert headers["X-NorPay-Signature"] == _hex_hmac(fresh, body)
            assert headers["X-NorPay-Signature"] != _hex_hmac(old, body)
            assert await seed.verify(body.decode(), headers["X-NorPay-Signature"], fresh)
            assert not await seed.verify(body.decode(), headers["X-NorPay-Signature"], old)
            assert Webhook(whsec).verify(body, headers)["event"] == "payment.created"
    finally:
        await receiver.stop()
    output = hooked.output()
    assert old not in output and fresh not in output  # no secret in any service's log


async def test_an_admins_web_service_url_gets_its_merchants_payments_in_both_modes(
        hooked, tmp_path):
    """The company's webServiceUrl, given at the ADMIN's sign-up, is a callback URL
    too: a payment of a merchant the ADMIN then creates and activates reaches it, in
    test and in live mode, signed with that merchant's secret."""
    gw, receiver = hooked.gateway, RawReceiver("/norah/callbacks")
    email, password = "callbacks.owner@example.com", "Callbacks-Owner-2025"
    await receiver.start()
    try:
        async with aiohttp.ClientSession() as http, SeedVerifier(tmp_path) as seed:
            async def call(method: str, path: str, headers: dict | None = None,
                           **kw) -> dict:
                async with http.request(method, gw + path, headers=headers, **kw) as resp:
                    body = await resp.json()
                    assert resp.status < 300, (path, resp.status, body)
                    return body

            await call("POST", "/api/v1/auth/admin-sign-up", json={
                "firstName": "Cal", "lastName": "Backs", "email": email,
                "password": password, "companyName": "Callbacks Ltd",
                "webServiceUrl": receiver.url})
            # The mail links the console page; the API takes its code.
            code = re.search(r"confirmation code: (\S+)", await mail_text(hooked, email))
            async with http.post(hooked.gateway + "/api/v1/auth/confirm-email",
                                 json={"token": code.group(1)}) as resp:
                assert resp.status < 400
            token = (await call("POST", "/api/v1/auth/sign-in", json={
                "email": email, "password": password}))["token"]
            admin = {"Authorization": f"Bearer {token}"}
            shop = (await call("POST", "/api/v1/admin/create-merchant-account", admin, json={
                "merchantName": "Callbacks Shop",
                "merchantEmail": "callbacks.shop@example.com"}))["data"]
            mid = shop["merchantId"]
            await call("POST", f"/api/v1/admin/merchants/{mid}/activate", admin)
            keys = {mode: (await call("POST", "/api/v1/api-keys", admin, json={
                "merchantId": mid, "mode": mode}))["data"]["key"] for mode in ("test", "live")}
            secret = (await call("GET", f"/api/v1/admin/merchant/secret/{mid}",
                                 admin))["data"]["secret"]

            async def company_endpoint():
                listed = await call("GET", "/api/v2/webhooks/endpoints", admin)
                return [e for e in listed["result"]["endpoints"]
                        if e["source"] == "companyWebServiceUrl"]
            [endpoint] = await poll_until(company_endpoint, timeout=20,
                                          what="the company's endpoint")
            assert endpoint["url"] == receiver.url and endpoint["merchantId"] is None

            for mode, key in keys.items():
                created = await call("POST", "/api/v2/payments/create", {"X-API-Key": key},
                                     json={"amount": "1000000000000000000", "currency": "NOR"})
                pid = created["result"]["paymentId"]
                body, headers = await poll_until(lambda pid=pid: receiver.created(pid),
                                                 timeout=30, what=f"the {mode} payment")
                assert headers["X-NorPay-Signature"] == _hex_hmac(secret, body)
                assert await seed.verify(body.decode(), headers["X-NorPay-Signature"], secret)
                assert orjson.loads(body)["livemode"] is (mode == "live")
    finally:
        await receiver.stop()
    assert secret not in hooked.output()
