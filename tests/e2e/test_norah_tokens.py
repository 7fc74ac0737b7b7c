"""NORAH payment tokens as the seed writes them, through the gateway of a `make run`
stack: `/transaction/u/generate` with the seed's body gives a URL that opens the
checkout page; the merchant it pays is the signer's own, the company's default or the
`merchantUid` named; and a token signed offline can never pay another tenant."""

from __future__ import annotations

import re
import time
import uuid

import aiohttp
import jwt
import pytest

from tests.e2e.conftest import wait_stack_ready
from tests.support.onboarding import Onboarded, onboard, sign_up

pytestmark = pytest.mark.e2e
SEED_BODY = b'{"amount": 100.00, "currency": "USD"}'  # exactly as the seed writes it


@pytest.fixture(scope="module")
async def shop(stack) -> Onboarded:
    await wait_stack_ready(stack)
    return await onboard(stack, "tokens", name="Alpha Shop")


async def _json(resp: aiohttp.ClientResponse) -> dict:
    body = await resp.json(content_type=None)
    assert resp.status < 300, (resp.status, body)
    return body


async def _generate(stack, token: str, body: bytes = SEED_BODY) -> dict:
    async with aiohttp.ClientSession() as http:
        async with http.post(stack.gateway + "/api/v1/transaction/u/generate", data=body,
                             headers={"Authorization": f"Bearer {token}",
                                      "Content-Type": "application/json"}) as resp:
            answer = await _json(resp)
    assert answer["message"] == "Successfully created a user payment token"
    return answer["data"]


async def _open(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http:
        async with http.get(url) as resp:
            return resp.status, " ".join((await resp.text()).split())


async def _merchant(stack, shop: Onboarded, name: str) -> dict:
    """Another ACTIVE merchant of `shop`'s company."""
    auth = shop.admin_headers
    async with aiohttp.ClientSession(headers=auth) as http:
        slug = name.lower().replace(" ", ".")
        made = (await _json(await http.post(
            stack.gateway + "/api/v1/admin/create-merchant-account",
            json={"merchantName": name, "merchantEmail": f"{slug}@example.com"})))["data"]
        await _json(await http.post(
            stack.gateway + f"/api/v1/admin/merchants/{made['merchantId']}/activate"))
    return made


async def test_the_seeds_user_token_opens_the_checkout_page_of_the_default_merchant(
        stack, shop):
    data = await _generate(stack, shop.admin_token)
    assert data["url"].startswith(stack.env["NORGATE_PUBLIC_URL"] + "/check-out?token=")
    assert data["url"].endswith("&type=u")
    status, page = await _open(data["url"])
    assert status == 200, page
    assert "100.00 USD" in page and "Alpha Shop" in page


async def test_an_admin_chooses_the_default_merchant_and_merchant_uid_overrides_it(
        stack, shop):
    beta = await _merchant(stack, shop, "Beta Shop")
    async with aiohttp.ClientSession(headers=shop.admin_headers) as http:
        made = (await _json(await http.post(
            stack.gateway + f"/api/v1/admin/merchants/{beta['merchantId']}/default")))["data"]
        assert made["isDefault"] is True
        listed = (await _json(await http.get(stack.gateway + "/api/v1/admin/merchants")))
    defaults = {m["merchantName"]: m["isDefault"] for m in listed["data"]}
    assert defaults == {"Alpha Shop": False, "Beta Shop": True}

    status, page = await _open((await _generate(stack, shop.admin_token))["url"])
    assert status == 200 and "Beta Shop" in page and "Alpha Shop" not in page
    named = b'{"amount": 100.00, "currency": "USD", "merchantUid": "%s"}' % shop.uid.encode()
    status, page = await _open((await _generate(stack, shop.admin_token, named))["url"])
    assert status == 200 and "Alpha Shop" in page

    async with aiohttp.ClientSession(headers=shop.admin_headers) as http:  # back as it was
        await _json(await http.post(stack.gateway + f"/api/v1/admin/merchants/{shop.id}/default"))


async def test_a_company_without_a_merchant_gets_a_page_that_says_so(stack, shop):
    _, _, token = await sign_up(stack, "tokens-empty")
    status, page = await _open((await _generate(stack, token))["url"])
    assert status == 409
    assert "its company has no active merchant" in page


async def _own_user_secret(stack, token: str, email: str) -> tuple[int, str]:
    """What any signed-up user may read: its own id and transaction-signing secret."""
    auth = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(headers=auth) as http:
        users = (await _json(await http.get(stack.gateway + "/api/v1/admin/users")))["data"]
        [me] = [u for u in users if u["email"] == email]
        secret = (await _json(await http.get(
            stack.gateway + f"/api/v1/admin/user/secret/{me['id']}")))["data"]["secret"]
    return me["id"], secret


def _forged(secret: str, *, sub: int, mid: str | None, kind: str = "u") -> str:
    now = int(time.time())
    claims = {"amount": "10.00", "currency": "USD", "type": kind, "sub": str(sub),
              "iat": now, "exp": now + 60, "jti": uuid.uuid4().hex}
    if mid is not None:
        claims["mid"] = mid
    return jwt.encode(claims, secret, algorithm="HS256")


async def _victims_payments(stack, victim: Onboarded) -> int:
    async with aiohttp.ClientSession(headers=victim.headers) as http:
        body = await _json(await http.get(
            stack.gateway + f"/api/v1/transactions/merchant/{victim.id}"))
    return body["pagination"]["total"]


async def test_a_token_signed_offline_cannot_pay_another_companys_merchant(stack, shop):
    """The attack: a self-registered user reads its own secret, signs a token naming the
    victim's merchant id (ids are sequential) and pays through the hosted page."""
    email, _, token = await sign_up(stack, "tokens-attacker")
    attacker_id, secret = await _own_user_secret(stack, token, email)
    before = await _victims_payments(stack, shop)
    for mid in (str(shop.id), f"{shop.id} ", "0x1", str(shop.id) + "0" * 30):
        forged = _forged(secret, sub=attacker_id, mid=mid)
        url = f"{stack.gateway}/check-out?token={forged}&type=u"
        status, page = await _open(url)
        assert status == 400, (mid, status, page)
        assert "Alpha Shop" not in page
        async with aiohttp.ClientSession() as http:  # and straight to the form's POST
            async with http.post(stack.gateway + "/check-out", allow_redirects=False, data={
                    "token": forged, "type": "u", "csrf": "x", "method": "ZIMSWITCH",
                    "account": "263771234567"}) as resp:
                assert resp.status == 400, (mid, await resp.text())
            async with http.post(stack.gateway + "/api/v1/transaction/verify",
                                 json={"token": forged, "type": "u"}) as resp:
                assert resp.status == 400, (mid, await resp.text())
    assert await _victims_payments(stack, shop) == before


async def test_a_merchants_token_pays_only_that_merchant(stack, shop):
    """A merchant's secret signs tokens for that merchant alone, whatever `mid` says."""
    attacker = await onboard(stack, "tokens-rival", name="Rival Shop")
    async with aiohttp.ClientSession(headers=attacker.admin_headers) as http:
        secret = (await _json(await http.get(
            stack.gateway + f"/api/v1/admin/merchant/secret/{attacker.id}")))["data"]["secret"]
    forged = _forged(secret, sub=attacker.id, mid=str(shop.id), kind="m")
    status, page = await _open(f"{stack.gateway}/check-out?token={forged}&type=m")
    assert status == 400 and "Alpha Shop" not in page
    honest = _forged(secret, sub=attacker.id, mid=str(attacker.id), kind="m")
    status, page = await _open(f"{stack.gateway}/check-out?token={honest}&type=m")
    assert status == 200 and "Rival Shop" in page
    assert re.search(r"10\.00 USD", page)
