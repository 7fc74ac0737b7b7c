"""The hosted checkout page (/checkout/{paymentId}): server-rendered, public, CSRF-guarded."""

from __future__ import annotations

import re

import asyncpg

from services.checkout.pages import csrf_token
from tests.integration.test_payments import shop  # noqa: F401 (the fixture, reused)

# The hosted page sends the shopper back with the payment's id (pages.with_payment).
SUCCESS = "https://yoursite.com/success"
CANCEL = "https://yoursite.com/cancel"
FUTURE = {"card_exp": "12 / 99", "cvc": "123"}


async def _new(client, headers, amount="1050", currency="USD") -> str:
    resp = await client.post("/api/v2/payments/create", headers=headers, json={
        "amount": amount, "currency": currency, "description": "Blue widget x2",
        "successUrl": SUCCESS, "cancelUrl": CANCEL})
    assert resp.status == 201, await resp.text()
    return (await resp.json())["result"]["paymentId"]


async def _status(client, headers, pid) -> str:
    resp = await client.get(f"/api/v2/payments/{pid}", headers=headers)
    return (await resp.json())["result"]["status"]


async def _post(client, pid, path, settings, **fields):
    data = {"csrf": csrf_token(settings, pid), **fields}
    return await client.post(f"/checkout/{pid}/{path}", data=data, allow_redirects=False)


async def test_page_shows_amount_description_and_forms(settings, shop):  # noqa: F811
    client, headers, _ = shop
    pid = await _new(client, headers)
    resp = await client.get(f"/checkout/{pid}")  # no credentials: public
    assert resp.status == 200
    assert resp.content_type == "text/html"
    html = await resp.text()
    assert '<html lang="en">' in html
    assert "10.50 USD" in html and "Blue widget x2" in html
    assert re.search(r"<h1[^>]*>Pay Shop [0-9a-f]{8}</h1>", html), html  # the merchant's name
    assert '<label for="card-number">Card number</label>' in html
    assert 'autocomplete="cc-number"' in html and 'inputmode="numeric"' in html
    assert f'name="csrf" value="{csrf_token(settings, pid)}"' in html
    for method in ("VISA_MASTER", "OMARI", "ECOCASH", "ZIMSWITCH", "INNBUCKS"):
        assert f'value="{method}"' in html
    assert "NOR_WALLET" not in html  # NOR wallets pay NOR only
    # one script, the card entry's, from here (the form works without it)
    assert re.findall(r"<script[^>]*>", html) == [
        '<script src="/v1/checkout-card.js" defer>']
    assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
    # one method open at a time: an exclusive accordion, the card first
    panels = re.findall(r'<details class="method" name="pay-method" id="method-([a-z_]+)"'
                        r'[^>]*?( open)?>', html)
    assert panels[0] == ("visa_master", " open")
    assert [p for p, is_open in panels if is_open] == ["visa_master"]
    assert 'autocomplete="cc-exp"' in html and 'placeholder="MM / YY"' in html
    # every visible input has a label
    ids = set(re.findall(r'<input id="([^"]+)"', html))
    labels = set(re.findall(r'<label for="([^"]+)"', html))
    assert ids and ids <= labels


async def test_nor_payment_offers_the_wallet_and_pays(settings, shop):  # noqa: F811
    client, headers, _ = shop
    pid = await _new(client, headers, amount="1000000000000000000", currency="NOR")
    html = await (await client.get(f"/checkout/{pid}")).text()
    assert "1.00 NOR" in html and 'value="NOR_WALLET"' in html
    resp = await _post(client, pid, "pay", settings, method="NOR_WALLET",
                       payer="0x742d35cc6634c0532925a3b844bc454e4438f44e")
    assert resp.status == 303 and resp.headers["Location"] == f"{SUCCESS}?paymentId={pid}"
    assert await _status(client, headers, pid) == "completed"


async def test_card_pays_and_redirects_to_success(settings, shop):  # noqa: F811
    client, headers, _ = shop
    pid = await _new(client, headers)
    resp = await _post(client, pid, "pay", settings, method="VISA_MASTER",
                       card_number="4242 4242 4242 4242", **FUTURE)
    assert resp.status == 303, await resp.text()
    assert resp.headers["Location"] == f"{SUCCESS}?paymentId={pid}"
    assert await _status(client, headers, pid) == "completed"
    paid = await client.get(f"/checkout/{pid}")
    html = await paid.text()
    assert paid.status == 200 and "Paid" in html and f'href="{SUCCESS}?paymentId={pid}"' in html


async def test_wrong_csrf_is_forbidden(settings, shop):  # noqa: F811
    client, headers, _ = shop
    pid = await _new(client, headers)
    other = await _new(client, headers)
    for token in ("", "nope", csrf_token(settings, other)):
        resp = await client.post(f"/checkout/{pid}/pay", allow_redirects=False, data={
            "csrf": token, "method": "VISA_MASTER", "card_number": "4242424242424242",
            **FUTURE})
        assert resp.status == 403
    resp = await client.post(f"/checkout/{pid}/cancel", data={}, allow_redirects=False)
    assert resp.status == 403
    assert await _status(client, headers, pid) == "pending"


async def test_declined_card_shows_alert_without_the_number(settings, shop):  # noqa: F811
    client, headers, _ = shop
    pid = await _new(client, headers)
    resp = await _post(client, pid, "pay", settings, method="VISA_MASTER",
                       card_number="4000 0000 0000 0002", **FUTURE)
    assert resp.status == 402
    html = await resp.text()
    alert = re.search(r'role="alert">(.*?)</div>', html, re.S)
    assert alert and "Card declined" in alert.group(1) and "4 tries left" in alert.group(1)
    assert "4000 0000 0000 0002" not in html and "4000000000000002" not in html
    assert 'value="123"' not in html  # nor the cvc
    assert 'value="VISA_MASTER"' in html and 'value="OMARI"' in html  # every way, again
    assert await _status(client, headers, pid) == "pending"


async def test_after_a_decline_another_card_pays(settings, shop):  # noqa: F811
    client, headers, _ = shop
    pid = await _new(client, headers)
    declined = await _post(client, pid, "pay", settings, method="VISA_MASTER",
                           card_number="4000 0000 0000 9995", **FUTURE)
    assert declined.status == 402 and "Insufficient" in await declined.text()
    again = await client.get(f"/checkout/{pid}")  # a reload says what happened, too
    assert again.status == 200 and "Insufficient" in await again.text()
    paid = await _post(client, pid, "pay", settings, method="VISA_MASTER",
                       card_number="4242 4242 4242 4242", **FUTURE)
    assert paid.status == 303 and paid.headers["Location"] == f"{SUCCESS}?paymentId={pid}"
    body = (await (await client.get(f"/api/v2/payments/{pid}", headers=headers)).json())
    assert body["result"]["status"] == "completed"
    assert body["result"]["failedAttempts"] == 1
    assert body["result"]["failureReason"] is None  # the decline is behind it
    timeline = (await (await client.get(f"/api/v2/payments/{pid}/timeline",
                                        headers=headers)).json())["result"]["events"]
    assert [(e["status"], e["event"]) for e in timeline] == [
        ("pending", "payment.created"), ("attempt_failed", "payment.attempt_failed"),
        ("completed", "payment.completed")]
    attempt = timeline[1]["detail"]
    assert attempt["attempt"] == 1 and attempt["method"] == "VISA_MASTER"
    assert attempt["reason"] == "Insufficient balance" and attempt["card"] == "VISA 9995"


async def test_a_decline_then_another_method_pays(settings, shop):  # noqa: F811
    client, headers, _ = shop
    pid = await _new(client, headers)
    await _post(client, pid, "pay", settings, method="ZIMSWITCH", account="12340001")
    assert await _status(client, headers, pid) == "pending"
    resp = await _post(client, pid, "pay", settings, method="VISA_MASTER",
                       card_number="4242424242424242", **FUTURE)
    assert resp.status == 303
    body = (await (await client.get(f"/api/v2/payments/{pid}", headers=headers)).json())
    assert body["result"]["paymentMethod"] == "VISA_MASTER"


async def test_five_declines_end_the_checkout(settings, shop):  # noqa: F811
    """Card testing: a checkout takes MAX_FAILED_ATTEMPTS declines, then it fails."""
    from services.checkout.domain import MAX_FAILED_ATTEMPTS

    client, headers, _ = shop
    pid = await _new(client, headers)
    for n in range(1, MAX_FAILED_ATTEMPTS):
        resp = await _post(client, pid, "pay", settings, method="VISA_MASTER",
                           card_number="4000000000000002", **FUTURE)
        assert resp.status == 402
        left = MAX_FAILED_ATTEMPTS - n
        assert f"{left} {'try' if left == 1 else 'tries'} left" in await resp.text()
        assert await _status(client, headers, pid) == "pending"
    last = await _post(client, pid, "pay", settings, method="VISA_MASTER",
                       card_number="4000000000000002", **FUTURE)
    assert last.status == 402
    html = await last.text()
    assert "could not be completed" in html and f"declined {MAX_FAILED_ATTEMPTS} times" in html
    assert await _status(client, headers, pid) == "failed"
    timeline = (await (await client.get(f"/api/v2/payments/{pid}/timeline",
                                        headers=headers)).json())["result"]["events"]
    assert [e["status"] for e in timeline] == (
        ["pending"] + ["attempt_failed"] * (MAX_FAILED_ATTEMPTS - 1) + ["failed"])


async def test_the_api_confirm_still_fails_at_the_first_decline(settings, shop):  # noqa: F811
    """The merchant's own confirm is not a shopper's page: the specs' `failed` at once."""
    client, headers, _ = shop
    pid = await _new(client, headers)
    resp = await client.post(f"/api/v2/payments/{pid}/confirm", headers=headers, json={
        "paymentMethod": "VISA_MASTER", "card": {"number": "4000000000000002",
                                                 "expMonth": 12, "expYear": 2099,
                                                 "cvc": "123"}})
    assert resp.status == 402, await resp.text()
    assert (await resp.json())["message"] == "Error! Card declined"
    assert await _status(client, headers, pid) == "failed"


async def test_expiry_is_one_field_read_as_shoppers_write_it(settings, shop):  # noqa: F811
    client, headers, _ = shop
    for written in ("12/99", "12 / 2099", "1/99"):
        pid = await _new(client, headers)
        resp = await _post(client, pid, "pay", settings, method="VISA_MASTER",
                           card_number="4242424242424242", card_exp=written, cvc="123")
        assert resp.status == 303, (written, await resp.text())
    pid = await _new(client, headers)
    resp = await _post(client, pid, "pay", settings, method="VISA_MASTER",
                       card_number="4242424242424242", card_exp="December", cvc="123")
    assert resp.status == 400
    html = await resp.text()
    assert 'id="card-exp-error"' in html and "MM / YY" in html
    assert 'value="December"' in html  # echoed to fix, unlike the number
    assert await _status(client, headers, pid) == "pending"
    # a page opened before the expiry was one field still pays
    resp = await _post(client, pid, "pay", settings, method="VISA_MASTER",
                       card_number="4242424242424242", exp_month="12", exp_year="2099",
                       cvc="123")
    assert resp.status == 303


async def test_bad_card_number_is_flagged_next_to_the_field(settings, shop):  # noqa: F811
    client, headers, _ = shop
    pid = await _new(client, headers)
    resp = await _post(client, pid, "pay", settings, method="VISA_MASTER",
                       card_number="4242 4242 4242 4241", **FUTURE)
    assert resp.status == 400
    html = await resp.text()
    assert 'id="card-number-error"' in html and "not a valid card number" in html
    assert 'aria-describedby="card-number-error"' in html
    assert "4242 4242 4242 4241" not in html and "4242424242424241" not in html
    assert await _status(client, headers, pid) == "pending"


async def test_three_d_secure_step_then_pass(settings, shop):  # noqa: F811
    client, headers, _ = shop
    pid = await _new(client, headers)
    resp = await _post(client, pid, "pay", settings, method="VISA_MASTER",
                       card_number="4000002500003155", **FUTURE)
    assert resp.status == 200
    html = await resp.text()
    assert "3-D Secure" in html and f'action="/checkout/{pid}/action"' in html
    assert 'name="three_d_secure" value="pass"' in html
    assert await _status(client, headers, pid) == "processing"
    resp = await _post(client, pid, "action", settings, three_d_secure="pass")
    assert resp.status == 303 and resp.headers["Location"] == f"{SUCCESS}?paymentId={pid}"
    assert await _status(client, headers, pid) == "completed"


async def test_omari_otp_flow(settings, shop):  # noqa: F811
    client, headers, _ = shop
    pid = await _new(client, headers)
    resp = await _post(client, pid, "pay", settings, method="OMARI", phone="263771234567")
    assert resp.status == 200
    html = await resp.text()
    assert '<label for="otp">One-time code</label>' in html
    assert 'autocomplete="one-time-code"' in html
    reload = await client.get(f"/checkout/{pid}")  # the step survives a reload
    assert 'id="otp"' in await reload.text()
    resp = await _post(client, pid, "action", settings, otp="123456")
    assert resp.status == 303 and resp.headers["Location"] == f"{SUCCESS}?paymentId={pid}"
    assert await _status(client, headers, pid) == "completed"


async def test_omari_wrong_otp_fails_with_alert(settings, shop):  # noqa: F811
    client, headers, _ = shop
    pid = await _new(client, headers)
    await _post(client, pid, "pay", settings, method="OMARI", phone="263771234567")
    resp = await _post(client, pid, "action", settings, otp="000000")
    assert resp.status == 402
    assert "Wrong OTP" in await resp.text()
    assert await _status(client, headers, pid) == "pending"  # the shopper may try again


async def test_ecocash_asks_to_approve_on_the_phone(settings, shop):  # noqa: F811
    client, headers, _ = shop
    pid = await _new(client, headers)
    resp = await _post(client, pid, "pay", settings, method="ECOCASH", phone="263770000002")
    assert resp.status == 200
    html = await resp.text()
    assert "Approve the payment on your phone" in html
    assert f'<a href="/checkout/{pid}">reload this page</a>' in html


async def test_expired_session(settings, shop):  # noqa: F811
    client, headers, _ = shop
    pid = await _new(client, headers)
    conn = await asyncpg.connect(settings.dsn_of("checkout"))
    try:
        await conn.execute("UPDATE payments SET expires_at = now() - interval '1 second' "
                           "WHERE payment_id = $1", pid)
    finally:
        await conn.close()
    resp = await client.get(f"/checkout/{pid}")
    assert resp.status == 410
    assert "This payment session has expired" in await resp.text()
    resp = await _post(client, pid, "pay", settings, method="VISA_MASTER",
                       card_number="4242424242424242", **FUTURE)
    assert resp.status == 410
    assert await _status(client, headers, pid) == "pending"


async def test_cancel_redirects_to_cancel_url(settings, shop):  # noqa: F811
    client, headers, _ = shop
    pid = await _new(client, headers)
    resp = await _post(client, pid, "cancel", settings)
    assert resp.status == 303 and resp.headers["Location"] == f"{CANCEL}?paymentId={pid}"
    assert await _status(client, headers, pid) == "canceled"
    page = await client.get(f"/checkout/{pid}")
    html = await page.text()
    assert "Payment canceled" in html and f'href="{CANCEL}?paymentId={pid}"' in html


async def test_unknown_payment_is_a_404_page(shop):  # noqa: F811
    client, _, _ = shop
    resp = await client.get("/checkout/pay_doesnotexist")
    assert resp.status == 404 and "Payment not found" in await resp.text()
