"""The hosted NORAH checkout page (/check-out?token=...&type=u|m): token checks, fee,
CSRF, paying once."""

from __future__ import annotations

import re
import time
import uuid

import asyncpg
import jwt

from services.checkout.norah_page import csrf_token
from tests.integration.test_norah_transactions import (  # noqa: F401 (the fixture, reused)
    _auth_secret,
    _charge_for,
    _uid,
    norah,
)
from tests.support.auth import make_company_admin, make_merchant


async def _token(client, headers, amount="100.00", kind="m", **extra) -> str:
    resp = await client.post(f"/api/v1/transaction/{kind}/generate", headers=headers,
                             json={"amount": amount, "currency": "USD", **extra})
    assert resp.status == 200, await resp.text()
    return (await resp.json())["data"]["token"]


def _jti(token: str) -> str:
    return jwt.decode(token, options={"verify_signature": False})["jti"]


async def _pay(client, settings, token, *, csrf=None, kind="m", **fields):
    data = {"token": token, "type": kind,
            "csrf": csrf if csrf is not None else csrf_token(settings, _jti(token)), **fields}
    return await client.post("/check-out", data=data, allow_redirects=False)


async def test_page_shows_amount_fee_and_method_forms(settings, norah):  # noqa: F811
    client, _, merchant = norah
    headers = merchant.headers(settings)
    charge = await _charge_for(client, headers, await _uid(settings, merchant.merchant_id))
    token = await _token(client, headers)
    resp = await client.get("/check-out", params={"token": token, "type": "m"})
    html = await resp.text()
    assert resp.status == 200, html
    assert resp.content_type == "text/html"
    assert "100.00 USD" in html and f"{charge} USD" in html and "Corner Shop" in html
    for method in ("ZIMSWITCH", "OMARI", "INNBUCKS", "ECOCASH", "VISA_MASTER"):
        assert f'value="{method}"' in html
    assert f'name="token" value="{token}"' in html
    assert f'name="csrf" value="{csrf_token(settings, _jti(token))}"' in html
    # one script, the card entry's (the forms work without it)
    assert re.findall(r"<script[^>]*>", html) == [
        '<script src="/v1/checkout-card.js" defer>']
    ids = set(re.findall(r'<input id="([^"]+)"', html))
    labels = set(re.findall(r'<label for="([^"]+)"', html))
    assert ids and ids <= labels


async def test_zimswitch_pays_once_and_shows_the_trace(settings, norah):  # noqa: F811
    client, _, merchant = norah
    headers = merchant.headers(settings)
    token = await _token(client, headers)
    resp = await _pay(client, settings, token, method="ZIMSWITCH", account="263771234567")
    html = await resp.text()
    assert resp.status == 200, html
    assert "Paid" in html
    trace = re.search(r"<code>([0-9a-f-]{36})</code>", html).group(1)
    status = await client.post("/api/v1/transactions/status", headers=headers,
                               json={"trace": trace})
    got = (await status.json())["data"]
    assert (got["status"], got["paymentMethod"]) == ("COMPLETED", "ZIMSWITCH")

    again = await _pay(client, settings, token, method="ZIMSWITCH", account="263771234567")
    assert again.status == 409
    assert "This payment link was already used" in await again.text()


async def test_a_declined_first_attempt_goes_on_at_the_payment_page(settings, norah):  # noqa: F811
    """The token pays once, so the next attempt is made at the payment's own page."""
    from services.checkout.pages import csrf_token as payment_csrf

    client, _, merchant = norah
    headers = merchant.headers(settings)
    token = await _token(client, headers)
    resp = await _pay(client, settings, token, method="ZIMSWITCH", account="263770001")
    assert resp.status == 303, await resp.text()
    page = resp.headers["Location"]
    pid = re.fullmatch(r"/checkout/(pay_[0-9A-Za-z]{24})", page).group(1)
    html = await (await client.get(page)).text()
    assert "Account declined" in html and "4 tries left" in html
    paid = await client.post(f"/checkout/{pid}/pay", allow_redirects=False, data={
        "csrf": payment_csrf(settings, pid), "method": "VISA_MASTER",
        "card_number": "4242424242424242", "card_exp": "12/99", "cvc": "123"})
    assert paid.status in (200, 303), await paid.text()
    trace = (await (await client.get(f"/api/v2/payments/{pid}/timeline",
                                     headers=headers)).json())["result"]["trace"]
    status = await client.post("/api/v1/transactions/status", headers=headers,
                               json={"trace": trace})
    got = (await status.json())["data"]
    assert (got["status"], got["paymentMethod"]) == ("COMPLETED", "VISA_MASTER")


async def test_omari_shows_the_otp_step(settings, norah):  # noqa: F811
    client, _, merchant = norah
    token = await _token(client, merchant.headers(settings))
    resp = await _pay(client, settings, token, method="OMARI", phone="263771234567")
    html = await resp.text()
    assert resp.status == 200, html
    assert re.search(r'action="/checkout/pay_[^"]+/action"', html) and 'id="otp"' in html


async def _expired_token(settings, client, merchant, seconds_ago: int) -> str:
    async with _auth_secret(settings, client, "merchant", merchant.merchant_id) as secret:
        iat = int(time.time()) - 60 - seconds_ago
        return jwt.encode({"amount": "10.00", "currency": "USD", "type": "m",
                           "sub": str(merchant.merchant_id), "mid": str(merchant.merchant_id),
                           "iat": iat, "exp": iat + 60, "jti": uuid.uuid4().hex},
                          secret, algorithm="HS256")


async def test_expired_token_is_a_410_page(settings, norah):  # noqa: F811
    client, _, merchant = norah
    token = await _expired_token(settings, client, merchant, seconds_ago=60)
    resp = await client.get("/check-out", params={"token": token, "type": "m"})
    assert resp.status == 410
    assert "This payment link has expired; ask the merchant for a new one" in \
        await resp.text()
    # A form opened in time still pays for a while (the payer was typing)...
    resp = await _pay(client, settings, token, method="ZIMSWITCH", account="263771234567")
    assert resp.status == 200 and "Paid" in await resp.text()
    # ...but not forever.
    stale = await _expired_token(settings, client, merchant, seconds_ago=16 * 60)
    resp = await _pay(client, settings, stale, method="ZIMSWITCH", account="263771234567")
    assert resp.status == 410


async def test_a_used_link_says_so_when_opened_again(settings, norah):  # noqa: F811
    client, _, merchant = norah
    token = await _token(client, merchant.headers(settings))
    resp = await _pay(client, settings, token, method="ZIMSWITCH", account="263771234567")
    assert resp.status == 200
    again = await client.get("/check-out", params={"token": token, "type": "m"})
    assert again.status == 409
    html = await again.text()
    assert "This payment link was already used" in html and 'name="method"' not in html


async def test_tampered_token_is_a_400_page(settings, norah):  # noqa: F811
    client, _, merchant = norah
    token = await _token(client, merchant.headers(settings))
    header, payload, signature = token.split(".")
    forged = f"{header}.{payload}.{signature[:-4]}AAAA"
    for bad in (forged, "not.a.token"):
        resp = await client.get("/check-out", params={"token": bad, "type": "m"})
        assert resp.status == 400
        assert "This payment link is not valid" in await resp.text()


async def test_wrong_csrf_is_forbidden(settings, norah):  # noqa: F811
    client, _, merchant = norah
    headers = merchant.headers(settings)
    token, other = await _token(client, headers), await _token(client, headers)
    for csrf in ("", "nope", csrf_token(settings, _jti(other))):
        resp = await _pay(client, settings, token, csrf=csrf, method="ZIMSWITCH",
                          account="263771234567")
        assert resp.status == 403
    # Nothing was charged: the token still pays.
    resp = await _pay(client, settings, token, method="ZIMSWITCH", account="263771234567")
    assert resp.status == 200


async def test_an_admins_token_pays_the_companys_default_merchant(settings, norah):  # noqa: F811
    client, admin, _ = norah
    token = await _token(client, admin.headers(settings), kind="u")
    resp = await client.get("/check-out", params={"token": token, "type": "u"})
    assert resp.status == 200, await resp.text()
    assert "100.00 USD" in await resp.text() and "Corner Shop" in await resp.text()


async def test_a_company_without_merchants_gets_a_page_that_says_so(settings, norah):  # noqa: F811
    client, _, _ = norah
    alone = await make_company_admin(settings)
    token = await _token(client, alone.headers(settings), kind="u")
    resp = await client.get("/check-out", params={"token": token, "type": "u"})
    assert resp.status == 409
    assert "its company has no active merchant" in " ".join((await resp.text()).split())


async def test_user_token_naming_a_merchant_pays_that_merchant(settings, norah):  # noqa: F811
    client, admin, merchant = norah
    uid = await _uid(settings, merchant.merchant_id)
    token = await _token(client, admin.headers(settings), kind="u", merchantUid=uid)
    resp = await client.get("/check-out", params={"token": token, "type": "u"})
    html = await resp.text()
    assert resp.status == 200, html
    assert "100.00 USD" in html and "Corner Shop" in html
    resp = await _pay(client, settings, token, kind="u", method="ZIMSWITCH",
                      account="263771234567")
    html = await resp.text()
    assert resp.status == 200, html
    trace = re.search(r"<code>([0-9a-f-]{36})</code>", html).group(1)
    status = await client.post("/api/v1/transactions/status",
                               headers=merchant.headers(settings), json={"trace": trace})
    assert (await status.json())["data"]["status"] == "COMPLETED"


async def test_merchant_users_token_pays_its_merchant(settings, norah):  # noqa: F811
    client, _, merchant = norah
    token = await _token(client, merchant.headers(settings), kind="u")
    resp = await client.get("/check-out", params={"token": token, "type": "u"})
    assert resp.status == 200
    assert "Corner Shop" in await resp.text()


async def test_user_token_merchant_must_be_in_scope(settings, norah):  # noqa: F811
    client, admin, merchant = norah
    other_admin = await make_company_admin(settings)
    other = await make_merchant(settings, other_admin, name="Elsewhere", status="ACTIVE")
    resp = await client.post("/api/v1/transaction/u/generate", headers=admin.headers(settings),
                             json={"amount": "5.00", "currency": "USD",
                                   "merchantUid": await _uid(settings, other.merchant_id)})
    assert resp.status == 404
    resp = await client.post("/api/v1/transaction/m/generate",
                             headers=merchant.headers(settings),
                             json={"amount": "5.00", "currency": "USD",
                                   "merchantUid": await _uid(settings, merchant.merchant_id)})
    assert resp.status == 400
    assert "merchantUid" in (await resp.json())["message"]


async def test_a_paid_link_returns_to_the_merchants_return_url(settings, norah):  # noqa: F811
    client, _, merchant = norah
    conn = await asyncpg.connect(settings.dsn_of("auth"))
    try:  # the merchant's returnUrl, as PATCH /api/v1/admin/merchants/{id} sets it
        await conn.execute("UPDATE merchants SET return_url = $1 WHERE id = $2",
                           "https://shop.example/back?order=7", merchant.merchant_id)
    finally:
        await conn.close()
    token = await _token(client, merchant.headers(settings))
    page = await client.get("/check-out", params={"token": token, "type": "m"})
    # Before paying, the shopper may go back: nothing was made yet.
    assert 'href="https://shop.example/back?order=7">Cancel and return to' in await page.text()
    resp = await _pay(client, settings, token, method="ZIMSWITCH", account="263771234567")
    assert resp.status == 303, await resp.text()
    location = resp.headers["Location"]
    back = re.fullmatch(r"https://shop\.example/back\?order=7"
                        r"&paymentId=(pay_[0-9A-Za-z]{24})&trace=([0-9a-f-]{36})", location)
    assert back is not None, location
    trace = back[2]
    status = await client.post("/api/v1/transactions/status",
                               headers=merchant.headers(settings), json={"trace": trace})
    assert (await status.json())["data"]["status"] == "COMPLETED"
