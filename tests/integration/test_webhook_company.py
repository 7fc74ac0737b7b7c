# ruff: noqa: F811 - the shared fixtures are imported from test_webhooks_delivery
"""The company's webServiceUrl (set at the ADMIN's sign-up) is an endpoint of the
company: it receives the events of every merchant of the company, in both modes, each
callback's X-NorPay-Signature keyed with the secret of the event's own merchant."""

from __future__ import annotations

import hashlib
import hmac
import secrets

import asyncpg
import orjson
from standardwebhooks import Webhook

from tests.integration.test_webhook_endpoints import _json
from tests.integration.test_webhooks_delivery import (  # noqa: F401 - fixtures
    emit,
    merchant,
    notifier,
    payment,
    verifier,
)
from tests.support.auth import PASSWORD, Account, make_merchant, service_headers
from tests.support.poll import poll_until
from tests.support.receiver import RawReceiver

BASE = "/api/v2/webhooks"


def _hex_hmac(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def _sign_up(client, settings, web_service_url: str | None) -> Account:
    """An ADMIN signed up through auth's public route (its e-mail confirmed directly)."""
    tag = secrets.token_hex(4)
    email = f"owner.{tag}@example.com"
    body = {"firstName": "Olga", "lastName": "Owner", "email": email, "password": PASSWORD,
            "companyName": f"Callbacks {tag} Ltd"}
    if web_service_url:
        body["webServiceUrl"] = web_service_url
    signed = await _json(await client.auth.post("/api/v1/auth/admin-sign-up", json=body), 201)
    conn = await asyncpg.connect(settings.dsn_of("auth"))
    try:
        company_id = await conn.fetchval("SELECT company_id FROM users WHERE id = $1",
                                         signed["data"]["id"])
        await conn.execute("UPDATE users SET enabled = true WHERE id = $1",
                           signed["data"]["id"])
    finally:
        await conn.close()
    return Account(signed["data"]["id"], email, "ADMIN", company_id)


async def test_the_company_web_service_url_gets_every_merchants_events_signed_with_its_secret(
        settings, tmp_path, emit, merchant):
    receiver = RawReceiver("/company/callbacks")
    await receiver.start()
    try:
        async with notifier(settings, tmp_path) as client:
            admin = await _sign_up(client, settings, receiver.url)
            h = admin.headers(settings)

            async def company_endpoint():
                listed = (await _json(await client.get(f"{BASE}/endpoints", headers=h)))
                return [e for e in listed["result"]["endpoints"]
                        if e["source"] == "companyWebServiceUrl"]
            [endpoint] = await poll_until(company_endpoint, timeout=15,
                                          what="the company's endpoint")
            assert endpoint["url"] == receiver.url and endpoint["merchantId"] is None
            assert endpoint["events"] == ["*"] and endpoint["livemode"] is None
            # Auth answers the company's URL to services only.
            internal = f"/internal/companies/{admin.company_id}"
            assert (await client.auth.get(internal, headers=h)).status == 403
            answer = await _json(await client.auth.get(
                internal, headers=service_headers(settings, "notifier")))
            assert answer == {"companyId": admin.company_id, "webServiceUrl": receiver.url}
            # The URL follows the company, not this API.
            path = f"{BASE}/endpoints/{endpoint['endpointId']}"
            moved = await client.patch(path, headers=h, json={"url": "https://x.example.com"})
            assert moved.status == 400
            whsec = (await _json(await client.post(f"{path}/rotate-secret",
                                                   headers=h)))["result"]["secret"]

            shops = [await make_merchant(settings, admin, status="ACTIVE") for _ in range(2)]
            keys = {}
            for shop in shops:
                keys[shop.merchant_id] = (await _json(await client.auth.get(
                    f"/api/v1/admin/merchant/secret/{shop.merchant_id}",
                    headers=h)))["data"]["secret"]
            assert len(set(keys.values())) == 2
            # Each shop sees only its own endpoints: not the company's.
            mine = (await _json(await client.get(f"{BASE}/endpoints",
                                                 headers=shops[0].headers(settings))))
            assert mine["result"]["endpoints"] == []
            await emit("payment.completed", payment(1), shops[0])
            await emit("payment.completed", {**payment(2), "livemode": True}, shops[1])
            # Another company's merchant: not the company's event.
            await emit("payment.completed", payment(3), merchant)
            got = await poll_until(
                lambda: (lambda seen: seen if {"pay_0001", "pay_0002"} <= set(seen) else None)(
                    receiver.by_payment()), timeout=20, what="both shops' payments")
            # A test event to it names the merchant it is of, one of the company's.
            unnamed = await client.post(f"{path}/test", headers=h)
            assert unnamed.status == 400 and "merchantId" in (await unnamed.json())["message"]
            stranger = await client.post(f"{path}/test", headers=h,
                                         json={"merchantId": merchant.merchant_id})
            assert stranger.status == 404
            await _json(await client.post(f"{path}/test", headers=h,
                                          json={"merchantId": shops[1].merchant_id}), 202)
            [(test_body, test_headers)] = await poll_until(
                lambda: [c for c in receiver.calls
                         if orjson.loads(c[0])["event"] == "webhook.test"],
                timeout=15, what="the test event")
            # The log shows each delivery in its event's mode, to the ADMIN.
            live_log = (await _json(await client.get(
                f"{BASE}/deliveries?endpointId={endpoint['endpointId']}",
                headers=admin.headers(settings, "live"))))["result"]["deliveries"]
    finally:
        await receiver.stop()
    assert "pay_0003" not in got
    for pay, shop, livemode in (("pay_0001", shops[0], False), ("pay_0002", shops[1], True)):
        body, headers = got[pay]
        # X-NorPay-Signature: the event's merchant's secret, as the ADMIN reads it.
        assert headers["X-NorPay-Signature"] == _hex_hmac(keys[shop.merchant_id], body)
        other = next(k for m, k in keys.items() if m != shop.merchant_id)
        assert headers["X-NorPay-Signature"] != _hex_hmac(other, body)
        assert "X-NorPay-Signature-Previous" not in headers
        assert headers["X-NorPay-Merchant"] == str(shop.merchant_id)  # whose secret
        # The Standard Webhooks headers: the endpoint's own whsec_ secret.
        assert Webhook(whsec).verify(body, headers)["livemode"] is livemode
    assert test_headers["X-NorPay-Signature"] == _hex_hmac(keys[shops[1].merchant_id],
                                                          test_body)
    assert orjson.loads(test_body)["livemode"] is False
    assert [d["event"] for d in live_log] == ["payment.completed"]
    assert all(d["livemode"] is True for d in live_log)


async def test_a_company_signed_up_without_a_web_service_url_has_no_endpoint(
        settings, tmp_path, emit):
    async with notifier(settings, tmp_path) as client:
        bare = await _sign_up(client, settings, None)
        hooked = await _sign_up(client, settings, "https://hooks.example.com/company")

        async def listed(admin: Account) -> list[dict]:
            return (await _json(await client.get(f"{BASE}/endpoints",
                                                 headers=admin.headers(settings))))[
                "result"]["endpoints"]
        # Sign-ups are handled in order: once the second's endpoint is there, the
        # first one's company.created was handled too.
        await poll_until(lambda: listed(hooked), timeout=15, what="the second's endpoint")
        assert await listed(bare) == []
