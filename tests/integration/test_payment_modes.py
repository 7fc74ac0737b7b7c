"""Test mode and live mode for NorPay payments (docs/modes.md): each payment lives in the
mode of the principal that made it, the other mode never sees it, and the sandbox rails
complete test payments only."""

from __future__ import annotations

import asyncio
import secrets

import asyncpg
import pytest

from services.checkout import connectors
from services.checkout.pages import csrf_token, embed_query
from shared.events import Topology
from shared.principal import HEADER, Principal, sign
from tests.integration.test_payments import WALLET, services
from tests.support.auth import Account, make_company_admin, make_merchant, service_headers
from tests.support.broker import EventTap
from tests.support.poll import poll_until

CARD = {"number": "4242 4242 4242 4242", "expMonth": 12, "expYear": 2099, "cvc": "123"}
FUTURE = {"exp_month": "12", "exp_year": "2099", "cvc": "123"}
SHOP = "https://shop.example.com"
LIVE_REFUSAL = "Payment method {} is not available in live mode"


def in_mode(settings, account: Account, mode: str) -> dict[str, str]:
    """What the gateway forwards for `account` acting in `mode`."""
    principal = account.principal().model_copy(update={"mode": mode})
    return {HEADER: sign(principal, settings)}


def key_in_mode(settings, account: Account, mode: str) -> dict[str, str]:
    """The principal of one of the merchant's keys (publishable or secret) in `mode`."""
    who = Principal(kind="api_key", subject=f"key_{mode}", role="MERCHANT", mode=mode,
                    company_id=str(account.company_id), merchant_id=str(account.merchant_id))
    return {HEADER: sign(who, settings)}


@pytest.fixture
async def modes(settings):
    """checkout (with auth and fees), a merchant, and its test- and live-mode headers."""
    async with services(settings) as checkout:
        merchant = await make_merchant(settings, await make_company_admin(settings),
                                       status="ACTIVE")
        yield checkout, merchant, in_mode(settings, merchant, "test"), \
            in_mode(settings, merchant, "live")


async def _new(client, headers, amount="1050", currency="USD") -> str:
    resp = await client.post("/api/v2/payments/create", headers=headers, json={
        "amount": amount, "currency": currency, "description": "Blue widget",
        "successUrl": "https://shop.example.com/ok",
        "cancelUrl": "https://shop.example.com/cancel"})
    assert resp.status == 201, await resp.text()
    return (await resp.json())["result"]["paymentId"]


async def _get(client, headers, pid) -> dict:
    resp = await client.get(f"/api/v2/payments/{pid}", headers=headers)
    assert resp.status == 200, await resp.text()
    return (await resp.json())["result"]


def _card_confirm(client, headers, pid):
    return client.post(f"/api/v2/payments/{pid}/confirm", headers=headers,
                       json={"paymentMethod": "VISA_MASTER", "card": CARD})


async def _row(settings, pid) -> asyncpg.Record:
    conn = await asyncpg.connect(settings.dsn_of("checkout"))
    try:
        return await conn.fetchrow("SELECT * FROM payments WHERE payment_id = $1", pid)
    finally:
        await conn.close()


async def _refused_in(client, headers, pid) -> list[int]:
    """What every NorPay route answers for `pid` in another mode (cancel last)."""
    return [
        (await client.get(f"/api/v2/payments/{pid}", headers=headers)).status,
        (await client.get(f"/api/v2/payments/{pid}/timeline", headers=headers)).status,
        (await _card_confirm(client, headers, pid)).status,
        (await client.post(f"/api/v2/payments/{pid}/confirm", headers=headers,
                           json={"paymentMethod": "NOR_WALLET", "payer": WALLET})).status,
        (await client.post(f"/api/v2/payments/{pid}/action", headers=headers,
                           json={"otp": "123456"})).status,
        (await client.post(f"/api/v2/payments/{pid}/refund", headers=headers,
                           json={})).status,
        (await client.post(f"/api/v2/payments/{pid}/cancel", headers=headers)).status,
    ]


async def test_each_mode_answers_its_own_payments_only(settings, modes):
    client, _, test, live = modes
    live_pid, test_pid = await _new(client, live), await _new(client, test)
    assert (await _get(client, live, live_pid))["livemode"] is True
    assert (await _get(client, test, test_pid))["livemode"] is False
    paid = await _card_confirm(client, test, test_pid)
    assert paid.status == 200, await paid.text()
    assert (await paid.json())["result"]["livemode"] is False

    assert await _refused_in(client, test, live_pid) == [404] * 7
    assert await _refused_in(client, live, test_pid) == [404] * 7
    # Nothing the other mode tried changed either payment.
    assert (await _get(client, live, live_pid))["status"] == "pending"
    assert (await _get(client, test, test_pid))["status"] == "completed"
    assert (await _row(settings, test_pid))["refunded_amount"] == 0


async def test_a_live_payment_refuses_the_sandbox_rails_and_stays_pending(settings, modes):
    client, _, _, live = modes
    keys = ["payment.*"]
    async with EventTap(settings.amqp_url, Topology(settings.events_namespace), keys) as tap:
        pid = await _new(client, live)
        nor = await _new(client, live, amount="1000000000000000000", currency="NOR")
        answers = await asyncio.gather(*(_card_confirm(client, live, pid) for _ in range(5)))
        payer = "0x" + secrets.token_hex(20)
        wallet = await client.post(f"/api/v2/payments/{nor}/confirm", headers=live,
                                   json={"paymentMethod": "NOR_WALLET", "payer": payer})
        phone = await client.post(f"/api/v2/payments/{pid}/confirm", headers=live, json={
            "paymentMethod": "ECOCASH", "phoneNumber": "263771234567"})
        created = await poll_until(lambda: [e for e in tap.events
                                            if e.type == "payment.created"
                                            and e.data["paymentId"] in (pid, nor)],
                                   what="payment.created")
        await poll_until(lambda: len([e for e in tap.events
                                      if e.data["paymentId"] in (pid, nor)]) >= 2,
                         what="both payment.created")
        await asyncio.sleep(0.5)  # a window for a (wrong) payment.completed to show up
    for resp, method in [*[(a, "VISA_MASTER") for a in answers], (wallet, "NOR_WALLET"),
                         (phone, "ECOCASH")]:
        assert resp.status == 400, await resp.text()
        assert resp.headers["X-Error-Code"] == "payment_method_live_unavailable"
        assert (await resp.json())["message"] == "Error! " + LIVE_REFUSAL.format(method)
    for payment_id in (pid, nor):
        row = await _row(settings, payment_id)
        assert (row["status"], row["livemode"], row["payment_method"]) == \
            ("pending", True, None)
    mine = [e for e in tap.events if e.data["paymentId"] in (pid, nor)]
    assert sorted(e.type for e in mine) == ["payment.created"] * 2
    assert all(e.data["livemode"] is True for e in created)
    conn = await asyncpg.connect(settings.dsn_of("checkout"))
    try:  # the sandbox wallet was never opened, let alone debited
        assert await conn.fetchval("SELECT count(*) FROM sandbox_wallets WHERE address = $1",
                                   payer) == 0
        history = await conn.fetchval(
            "SELECT count(*) FROM payment_history h JOIN payments p ON p.id = h.payment_pk "
            "WHERE p.payment_id = $1", pid)
    finally:
        await conn.close()
    assert history == 1  # created, nothing after


async def test_a_test_payment_completes_and_its_events_say_so(settings, modes):
    client, _, test, _ = modes
    keys = ["payment.created", "payment.completed"]
    async with EventTap(settings.amqp_url, Topology(settings.events_namespace), keys) as tap:
        pid = await _new(client, test)
        resp = await _card_confirm(client, test, pid)
        assert resp.status == 200, await resp.text()
        mine = await poll_until(lambda: len(
            [e for e in tap.events if e.data["paymentId"] == pid]) == 2 and [
            e for e in tap.events if e.data["paymentId"] == pid], what="two events")
    assert [e.type for e in mine] == ["payment.created", "payment.completed"]
    assert [e.data["livemode"] for e in mine] == [False, False]
    got = await _get(client, test, pid)
    assert (got["status"], got["livemode"]) == ("completed", False)


async def test_a_principal_without_a_mode_is_in_test_mode(settings, modes):
    client, merchant, test, live = modes
    pid = await _new(client, merchant.headers(settings))  # no mode claim at all
    assert (await _get(client, test, pid))["livemode"] is False
    assert (await client.get(f"/api/v2/payments/{pid}", headers=live)).status == 404


# The hosted pages -------------------------------------------------------------------

async def test_a_test_payments_page_says_test_mode_and_a_live_ones_does_not(settings, modes):
    client, _, test, live = modes
    test_pid, live_pid = await _new(client, test), await _new(client, live)
    page = await client.get(f"/checkout/{test_pid}")
    html = await page.text()
    assert page.status == 200
    assert "TEST MODE" in html and "4242 4242 4242 4242" in html
    assert "checkout-frame.js" not in html  # the banner adds no script
    embedded = await client.get(
        f"/checkout/{test_pid}" + embed_query(settings, test_pid, SHOP))
    assert "TEST MODE" in await embedded.text()
    live_page = await client.get(f"/checkout/{live_pid}")
    live_html = await live_page.text()
    assert live_page.status == 200 and "Pay Shop" in live_html
    assert "TEST MODE" not in live_html and "4242" not in live_html
    # The sandbox card cannot pay a live payment through the page either.
    resp = await client.post(f"/checkout/{live_pid}/pay", allow_redirects=False, data={
        "csrf": csrf_token(settings, live_pid), "method": "VISA_MASTER",
        "card_number": "4242 4242 4242 4242", **FUTURE})
    assert resp.status == 400, await resp.text()
    assert LIVE_REFUSAL.format("VISA_MASTER") in await resp.text()
    assert (await _get(client, live, live_pid))["status"] == "pending"


# The widget and the internal collect route ------------------------------------------

async def test_the_widget_makes_payments_in_its_keys_mode(settings, modes):
    client, merchant, _, _ = modes
    live_key, test_key = key_in_mode(settings, merchant, "live"), \
        key_in_mode(settings, merchant, "test")
    resp = await client.post("/v1/widget/payments", headers={**live_key, "Origin": SHOP},
                             json={"amount": "1050", "currency": "USD"})
    assert resp.status == 201, await resp.text()
    made = await resp.json()
    assert made["livemode"] is True
    pid = made["paymentId"]
    assert (await client.get(f"/v1/widget/payments/{pid}", headers=live_key)).status == 200
    assert (await client.get(f"/v1/widget/payments/{pid}", headers=test_key)).status == 404
    assert "TEST MODE" not in await (await client.get(made["embedPath"])).text()
    row = await _row(settings, pid)
    assert row["livemode"] is True


async def test_the_internal_collect_route_takes_the_mode_it_is_told(settings, modes):
    client, merchant, test, live = modes
    made = {}
    for body in ({}, {"livemode": False}, {"livemode": True}):
        resp = await client.post("/internal/payments", headers=service_headers(settings,
                                                                               "billing"),
                                 json={"merchantId": merchant.merchant_id, "amount": "700",
                                       "currency": "USD", **body})
        assert resp.status == 201, await resp.text()
        made[str(body.get("livemode"))] = (await resp.json())["paymentId"]
    assert (await _get(client, test, made["None"]))["livemode"] is False
    assert (await _get(client, test, made["False"]))["livemode"] is False
    assert (await _get(client, live, made["True"]))["livemode"] is True
    assert (await client.get(f"/api/v2/payments/{made['True']}", headers=test)).status == 404
    bad = await client.post("/internal/payments", headers=service_headers(settings, "billing"),
                            json={"merchantId": merchant.merchant_id, "amount": "700",
                                  "currency": "USD", "livemode": "yes"})
    assert bad.status == 400 and "livemode" in await bad.text()
    # A live invoice's off-session charge meets the same refusal as a confirm.
    charged = await client.post("/internal/payments", headers=service_headers(settings,
                                                                              "billing"),
                                json={"merchantId": merchant.merchant_id, "amount": "700",
                                      "currency": "USD", "livemode": True, "charge": {
                                          "paymentMethod": "ZIMSWITCH",
                                          "account": "12345678"}})
    assert charged.status == 400
    assert charged.headers["X-Error-Code"] == "payment_method_live_unavailable"


def test_the_sandbox_serves_test_mode_only():
    assert connectors.for_mode(False) == connectors.SANDBOX
    assert set(connectors.SANDBOX) == {"VISA_MASTER", "ZIMSWITCH", "OMARI", "INNBUCKS",
                                       "ECOCASH", "NOR_WALLET"}
    assert not connectors.for_mode(True)
