"""A merchant onboarded through a running stack's gateway, as the NORAH seed's flow
does it: sign-up, the confirmation link from the mail sink, sign-in, merchant account,
activation, API key. The e2e, browser and fuzz suites share it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import aiohttp

from tests.support.poll import poll_until


def find_mail(stack, address: str) -> EmailMessage | None:
    """The first message the mail sink holds for `address`, if any."""
    for path in sorted(Path(stack.env["NORGATE_MAIL_DIR"]).glob("*.eml")):
        msg = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
        if msg["To"] == address:
            return msg
    return None


async def mail_text(stack, address: str, timeout: float = 20) -> str:
    """The plain-text body of the first mail to `address`, waiting for it."""
    msg = await poll_until(lambda: find_mail(stack, address), timeout=timeout,
                           what=f"mail to {address}")
    return msg.get_body(("plain",)).get_content()


@dataclass
class Onboarded:
    key: str  # the merchant's secret API key
    uid: str  # merchantUid
    id: int  # merchantId
    name: str
    admin_email: str
    admin_password: str
    admin_token: str  # the company ADMIN's access token

    @property
    def headers(self) -> dict:
        return {"X-API-Key": self.key}

    @property
    def admin_headers(self) -> dict:
        return {"Authorization": f"Bearer {self.admin_token}"}


async def _ok(resp: aiohttp.ClientResponse) -> dict:
    body = await resp.json(content_type=None)
    assert resp.status < 300, (resp.method, str(resp.url), resp.status, body)
    return body


async def sign_up(stack, slug: str) -> tuple[str, str, str]:
    """A new company and its ADMIN `<slug>.owner@example.com`, signed up, confirmed and
    signed in through the gateway: (e-mail, password, access token)."""
    gw = stack.gateway
    email, password = f"{slug}.owner@example.com", f"{slug.title()}-Owner-2025"
    async with aiohttp.ClientSession() as http:
        await _ok(await http.post(gw + "/api/v1/auth/admin-sign-up", json={
            "firstName": slug.title(), "lastName": "Owner", "email": email,
            "password": password, "companyName": f"{slug.title()} Ltd"}))
        # The mail links the console's page (token after #); the API takes the code.
        code = re.search(r"confirmation code: (\S+)", await mail_text(stack, email))
        async with http.post(gw + "/api/v1/auth/confirm-email",
                             json={"token": code.group(1)}) as resp:
            assert resp.status < 400, await resp.text()
        token = (await _ok(await http.post(gw + "/api/v1/auth/sign-in", json={
            "email": email, "password": password})))["token"]
    return email, password, token


async def onboard(stack, slug: str, *, name: str | None = None,
                  plan: str = "ENTERPRISE") -> Onboarded:
    """A new company (ADMIN `<slug>.owner@example.com`) with one ACTIVE merchant on `plan`
    and its API key, all through the gateway. Suites make many calls with one key, so
    they take the plan with the largest rate limit unless they test the limit."""
    gw = stack.gateway
    email, password, token = await sign_up(stack, slug)
    name = name or f"{slug.title()} Shop"
    async with aiohttp.ClientSession() as http:
        auth = {"Authorization": f"Bearer {token}"}
        merchant = (await _ok(await http.post(
            gw + "/api/v1/admin/create-merchant-account", headers=auth,
            json={"merchantName": name, "merchantEmail": f"{slug}.shop@example.com"})))["data"]
        await _ok(await http.post(
            gw + f"/api/v1/admin/merchants/{merchant['merchantId']}/activate", headers=auth))
        await _ok(await http.patch(gw + f"/api/v1/admin/merchants/{merchant['merchantId']}",
                                   headers=auth, json={"ratePlan": plan}))
        key = (await _ok(await http.post(gw + "/api/v1/api-keys", headers=auth, json={
            "merchantId": merchant["merchantId"]})))["data"]["key"]
    return Onboarded(key=key, uid=merchant["merchantUid"], id=merchant["merchantId"],
                     name=name, admin_email=email, admin_password=password,
                     admin_token=token)
