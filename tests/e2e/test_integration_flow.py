"""The NORAH seed's Integration Flow, through the gateway of a `make run` stack.

Sign up, read the confirmation mail from the sink, confirm, sign in, create a
merchant and accept its invitation, activate it, create an API key, call with
each of the three key forms and with the JWT, refresh, and reuse an old
refresh token to see the family revoked.
"""

from __future__ import annotations

import base64
import re
from email import policy
from email.parser import BytesParser
from pathlib import Path

import aiohttp
import pytest

from tests.e2e.conftest import wait_stack_ready
from tests.support.poll import poll_until

pytestmark = pytest.mark.e2e


def _mail_to(mail_dir: Path, address: str):
    for path in sorted(mail_dir.glob("*.eml")):
        message = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
        if message["To"] == address:
            return message.get_body(("plain",)).get_content()
    return None


async def _mail(stack, address: str) -> str:
    async def probe():
        return _mail_to(Path(stack.env["NORGATE_MAIL_DIR"]), address)
    return await poll_until(probe, timeout=20, what=f"e-mail to {address}")


async def test_integration_flow_from_sign_up_to_api_keys(stack):
    await wait_stack_ready(stack)
    gw = stack.gateway
    admin_email, merchant_email = "owner.flow@example.com", "shop.flow@example.com"
    async with aiohttp.ClientSession(raise_for_status=False) as http:
        async def call(method, path, *, token=None, headers=None, **kw):
            h = dict(headers or {})
            if token:
                h["Authorization"] = f"Bearer {token}"
            async with http.request(method, gw + path, headers=h, **kw) as resp:
                return resp.status, await resp.json(), resp.headers

        # 1. Sign up; sign-in is refused until the e-mail is confirmed.
        status, body, _ = await call("POST", "/api/v1/auth/admin-sign-up", json={
            "firstName": "John", "lastName": "Doe", "email": admin_email,
            "password": "SecurePass123!", "companyName": "Tech Solutions Ltd",
            "returnUrl": "https://company.com/return",
            "webServiceUrl": "https://api.company.com/webhook"})
        assert status == 201 and body["data"]["enabled"] is False
        creds = {"email": admin_email, "password": "SecurePass123!"}
        status, body, _ = await call("POST", "/api/v1/auth/sign-in", json=creds)
        assert status == 403 and "Confirm your e-mail" in body["message"]

        # 2. Confirm with the link from the mail sink.
        text = await _mail(stack, admin_email)
        # The link opens the console's page, which posts the token to the API.
        token = re.search(r"http://\S+/console/confirm-email#token=(\S+)", text).group(1)
        status, _, _ = await call("POST", "/api/v1/auth/confirm-email", json={"token": token})
        assert status == 200

        # 3. Sign in.
        status, session, _ = await call("POST", "/api/v1/auth/sign-in", json=creds)
        assert status == 200 and session["role"] == "ADMIN"
        token = session["token"]

        # 4. Create a merchant; its user accepts the invitation and can sign in.
        status, body, _ = await call("POST", "/api/v1/admin/create-merchant-account",
                                     token=token, json={
                                         "merchantName": "ABC Store",
                                         "merchantEmail": merchant_email,
                                         "merchantCountry": "Zimbabwe",
                                         "merchantCity": "Harare",
                                         "returnUrl": "https://abcstore.com/payment/return",
                                         "webServiceUrl": "https://api.abcstore.com/webhook"})
        assert status == 201, body
        merchant = body["data"]
        assert merchant["merchantUid"] and merchant["merchantEmail"] == merchant_email
        invitation = await _mail(stack, merchant_email)
        code = re.search(r"Invitation code: (\S+)", invitation).group(1)
        status, _, _ = await call("POST", "/api/v1/auth/accept-invitation",
                                  json={"token": code, "password": "Merchant-Pass-2025"})
        assert status == 200
        status, merchant_session, _ = await call(
            "POST", "/api/v1/auth/sign-in",
            json={"email": merchant_email, "password": "Merchant-Pass-2025"})
        assert status == 200 and merchant_session["role"] == "MERCHANT"

        # 5. Activate it.
        status, body, _ = await call(
            "POST", f"/api/v1/admin/merchants/{merchant['merchantId']}/activate", token=token)
        assert status == 200 and body["data"]["status"] == "ACTIVE"

        # 6. Create an API key: shown once.
        status, body, _ = await call("POST", "/api/v1/api-keys", token=token,
                                     json={"merchantId": merchant["merchantId"],
                                           "name": "server"})
        assert status == 201
        key = body["data"]["key"]
        assert key.startswith("nk_test_") and body["data"]["mode"] == "test"  # the default
        status, body, _ = await call("GET", "/api/v1/api-keys", token=token)
        assert key not in str(body) and body["data"][0]["prefix"] == key[:16]

        # 7. The key in its three forms, and the JWT, reach an authenticated route.
        basic = base64.b64encode(f"{key}:".encode()).decode()
        for headers in ({"X-API-Key": key}, {"Authorization": f"Bearer {key}"},
                        {"Authorization": f"Basic {basic}"}):
            status, body, h = await call("GET", "/api/v1/admin/merchants", headers=headers)
            assert status == 200, (headers, body)
            assert [m["merchantName"] for m in body["data"]] == ["ABC Store"]
            assert int(h["X-RateLimit-Limit"]) == 100  # STARTER per minute
        status, body, _ = await call("GET", "/api/v1/admin/merchants", token=token)
        assert status == 200 and len(body["data"]) == 1
        status, _, _ = await call("GET", "/api/v1/admin/merchants",
                                  headers={"X-API-Key": key[:-1] + "x"})
        assert status == 401

        # 8. Refresh, then reuse the old refresh token: the family is revoked.
        status, rotated, _ = await call("POST", "/api/v1/auth/refresh",
                                        json={"refreshToken": session["refreshToken"]})
        assert status == 200 and rotated["refreshToken"] != session["refreshToken"]
        status, body, _ = await call("POST", "/api/v1/auth/refresh",
                                     json={"refreshToken": session["refreshToken"]})
        assert status == 401 and body["error"]["code"] == "refresh_token_reused"
        status, _, _ = await call("POST", "/api/v1/auth/refresh",
                                  json={"refreshToken": rotated["refreshToken"]})
        assert status == 401

        async def session_refused():  # its access tokens die too, within seconds
            s, _, _ = await call("GET", "/api/v1/admin/merchants", token=token)
            return s == 401
        await poll_until(session_refused, timeout=10, interval=0.5,
                         what="the revoked session's access token refused")
        status, session, _ = await call("POST", "/api/v1/auth/sign-in", json=creds)
        assert status == 200
        token = session["token"]

        # 9. A revoked key stops working (within the cache time, 5 s by default).
        status, body, _ = await call("GET", "/api/v1/api-keys", token=token)
        key_id = body["data"][0]["keyId"]
        status, _, _ = await call("DELETE", f"/api/v1/api-keys/{key_id}", token=token)
        assert status == 200

        async def refused():
            s, _, _ = await call("GET", "/api/v1/admin/merchants", headers={"X-API-Key": key})
            return s == 401
        await poll_until(refused, timeout=10, interval=0.5, what="revoked key refused")
