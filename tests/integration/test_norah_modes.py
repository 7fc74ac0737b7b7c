"""Test mode and live mode for NORAH transactions (docs/modes.md): status, details,
cancel, lists, receipts, confirmation and the hosted /check-out page each answer only the
caller's mode."""

from __future__ import annotations

import time
import uuid

import asyncpg
import jwt

from services.checkout.norah_page import csrf_token
from shared.events import Topology
from tests.integration.test_norah_transactions import (  # noqa: F401 (the fixture, reused)
    CARD,
    _auth_secret,
    _charge_for,
    _confirm,
    _uid,
    norah,
)
from tests.integration.test_payment_modes import LIVE_REFUSAL, in_mode, key_in_mode
from tests.support.broker import EventTap
from tests.support.poll import poll_until

LISTS = ("/api/v1/transactions/user", "/api/v1/transactions/all",
         "/api/v1/transactions/merchant/{merchant_id}",
         "/api/v1/dashboard/recent-transactions")


async def _live_pending(settings, client, merchant) -> dict:
    """A live payment (a NorPay create with a live key), as NORAH sees it: its id and
    trace. Pending, since no live connector ships."""
    resp = await client.post("/api/v2/payments/create",
                             headers=key_in_mode(settings, merchant, "live"),
                             json={"amount": "10000", "currency": "USD"})
    assert resp.status == 201, await resp.text()
    pid = (await resp.json())["result"]["paymentId"]
    conn = await asyncpg.connect(settings.dsn_of("checkout"))
    try:
        trace = await conn.fetchval("SELECT trace FROM payments WHERE payment_id = $1", pid)
    finally:
        await conn.close()
    return {"transactionId": pid, "trace": str(trace)}


async def _test_completed(settings, client, merchant, headers) -> dict:
    uid = await _uid(settings, merchant.merchant_id)
    charge = await _charge_for(client, headers, uid)
    resp = await _confirm(client, headers, uid, charge=charge, method="VISA_MASTER", card=CARD)
    data = (await resp.json())["data"]
    assert resp.status == 200 and data["status"] == "COMPLETED", data
    return data


async def _listed(client, headers, path) -> dict[str, dict]:
    resp = await client.get(path, headers=headers, params={"per_page": 100})
    body = await resp.json()
    assert resp.status == 200, body
    return {item["trace"]: item for item in body["data"]}


async def _statuses_in(client, headers, txn) -> list[int]:
    return [
        (await client.post("/api/v1/transactions/status", headers=headers,
                           json={"trace": txn["trace"]})).status,
        (await client.get(f"/api/v1/transactions/details/{txn['transactionId']}",
                          headers=headers)).status,
        (await client.post("/api/v1/transactions/receipt", headers=headers,
                           json={"transactionId": txn["transactionId"]})).status,
        (await client.post("/api/v1/transactions/receipt", headers=headers,
                           json={"transactionId": txn["trace"]})).status,
        (await client.post("/api/v1/transactions/cancel", headers=headers,
                           json={"trace": txn["trace"]})).status,
    ]


async def test_each_mode_sees_only_its_own_transactions(settings, norah):  # noqa: F811
    client, admin, merchant = norah
    test, live = in_mode(settings, merchant, "test"), in_mode(settings, merchant, "live")
    live_txn = await _live_pending(settings, client, merchant)
    test_txn = await _test_completed(settings, client, merchant, test)
    assert test_txn["livemode"] is False

    assert await _statuses_in(client, test, live_txn) == [404] * 5
    assert await _statuses_in(client, live, test_txn) == [404] * 5

    own = await client.get(f"/api/v1/transactions/details/{live_txn['transactionId']}",
                           headers=live)
    assert own.status == 200 and (await own.json())["data"]["livemode"] is True
    for path in LISTS:
        path = path.format(merchant_id=merchant.merchant_id)
        for headers, mine, theirs, livemode in ((test, test_txn, live_txn, False),
                                                (live, live_txn, test_txn, True)):
            items = await _listed(client, headers, path)
            assert mine["trace"] in items and theirs["trace"] not in items, path
            assert {i["livemode"] for i in items.values()} == {livemode}, path
    # The company's ADMIN, in each mode, likewise.
    admin_live = await _listed(client, in_mode(settings, admin, "live"), LISTS[1])
    assert set(admin_live) == {live_txn["trace"]}
    assert test_txn["trace"] in await _listed(client, admin.headers(settings), LISTS[1])


async def test_a_receipt_is_not_found_in_the_other_mode(settings, norah):  # noqa: F811
    client, _, merchant = norah
    test, live = in_mode(settings, merchant, "test"), in_mode(settings, merchant, "live")
    paid = await _test_completed(settings, client, merchant, test)
    made = await client.post("/api/v1/transactions/receipt", headers=test,
                             json={"transactionId": paid["transactionId"]})
    assert made.status == 200, await made.text()
    rid = (await made.json())["data"]["receiptId"]
    for path in (f"/api/v1/receipts/{rid}.pdf", f"/api/v1/receipts/download/{rid}"):
        assert (await client.get(path, headers=test)).status == 200, path
        assert (await client.get(path, headers=live)).status == 404, path


async def test_a_live_confirmation_with_the_sandbox_card_makes_nothing(settings,
                                                                      norah):  # noqa: F811
    client, _, merchant = norah
    live = key_in_mode(settings, merchant, "live")
    uid = await _uid(settings, merchant.merchant_id)
    charge = await _charge_for(client, live, uid)
    async with EventTap(settings.amqp_url, Topology(settings.events_namespace),
                        ["payment.*"]) as tap:
        resp = await _confirm(client, live, uid, charge=charge, method="VISA_MASTER",
                              card=CARD)
        body = await resp.json()
        # A test confirmation right after: its events arriving say the tap is live.
        done = await _test_completed(settings, client, merchant,
                                     key_in_mode(settings, merchant, "test"))
        await poll_until(lambda: any(e.data["trace"] == done["trace"]
                                     and e.type == "payment.completed" for e in tap.events),
                         what="the test payment's payment.completed")
    assert resp.status == 400, body
    assert body["error"]["code"] == "payment_method_live_unavailable"
    assert body["message"] == LIVE_REFUSAL.format("VISA_MASTER")
    assert {e.data["trace"] for e in tap.events} == {done["trace"]}
    assert all(e.data["livemode"] is False for e in tap.events)
    conn = await asyncpg.connect(settings.dsn_of("checkout"))
    try:
        assert await conn.fetchval(
            "SELECT count(*) FROM payments WHERE merchant_id = $1 AND livemode",
            merchant.merchant_id) == 0
    finally:
        await conn.close()


# The hosted /check-out page ------------------------------------------------------------

async def _token(client, headers, kind="m") -> str:
    resp = await client.post(f"/api/v1/transaction/{kind}/generate", headers=headers,
                             json={"amount": "100.00", "currency": "USD"})
    assert resp.status == 200, await resp.text()
    return (await resp.json())["data"]["token"]


def _claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


async def _pay(client, settings, token, kind="m", **fields):
    return await client.post("/check-out", allow_redirects=False, data={
        "token": token, "type": kind, "csrf": csrf_token(settings, _claims(token)["jti"]),
        **fields})


CARD_FORM = {"method": "VISA_MASTER", "card_number": "4242 4242 4242 4242",
             "exp_month": "12", "exp_year": "2099", "cvc": "123"}


async def test_a_test_token_opens_a_test_page_that_says_so(settings, norah):  # noqa: F811
    client, _, merchant = norah
    token = await _token(client, key_in_mode(settings, merchant, "test"))
    assert _claims(token)["livemode"] is False
    verified = await client.post("/api/v1/transaction/verify", json={"token": token,
                                                                     "type": "m"})
    assert (await verified.json())["data"]["livemode"] is False
    page = await client.get("/check-out", params={"token": token, "type": "m"})
    html = await page.text()
    assert page.status == 200 and "TEST MODE" in html and "4242 4242 4242 4242" in html
    assert "checkout-frame.js" not in html  # the banner adds no script
    paid = await _pay(client, settings, token, **CARD_FORM)
    assert paid.status == 200 and "TEST MODE" in await paid.text()
    conn = await asyncpg.connect(settings.dsn_of("checkout"))
    try:
        livemode = await conn.fetchval(
            "SELECT livemode FROM payments WHERE metadata->>'tokenJti' = $1",
            _claims(token)["jti"])
    finally:
        await conn.close()
    assert livemode is False


async def test_a_live_token_opens_a_live_page_the_sandbox_cannot_pay(settings,
                                                                    norah):  # noqa: F811
    client, admin, merchant = norah
    for kind, headers in (("m", key_in_mode(settings, merchant, "live")),
                          ("u", in_mode(settings, admin, "live"))):
        token = await _token(client, headers, kind)
        assert _claims(token)["livemode"] is True
        verified = await client.post("/api/v1/transaction/verify",
                                     json={"token": token, "type": kind})
        assert (await verified.json())["data"]["livemode"] is True
        page = await client.get("/check-out", params={"token": token, "type": kind})
        html = await page.text()
        assert page.status == 200 and "TEST MODE" not in html and "4242" not in html
        assert 'name="method"' not in html  # no connector can take it: no forms
        paid = await _pay(client, settings, token, kind, **CARD_FORM)
        text = await paid.text()
        assert paid.status == 400, text
        assert LIVE_REFUSAL.format("VISA_MASTER") in text and "TEST MODE" not in text
        conn = await asyncpg.connect(settings.dsn_of("checkout"))
        try:
            assert await conn.fetchval(
                "SELECT count(*) FROM payments WHERE metadata->>'tokenJti' = $1",
                _claims(token)["jti"]) == 0
        finally:
            await conn.close()


async def test_a_token_without_a_mode_claim_is_a_test_token(settings, norah):  # noqa: F811
    client, _, merchant = norah
    async with _auth_secret(settings, client, "merchant", merchant.merchant_id) as secret:
        now = int(time.time())
        claims = {"amount": "10.00", "currency": "USD", "type": "m",
                  "sub": str(merchant.merchant_id), "mid": str(merchant.merchant_id),
                  "iat": now, "exp": now + 60, "jti": uuid.uuid4().hex}
        old = jwt.encode(claims, secret, algorithm="HS256")
        odd = jwt.encode({**claims, "jti": uuid.uuid4().hex, "livemode": "yes"}, secret,
                         algorithm="HS256")
    page = await client.get("/check-out", params={"token": old, "type": "m"})
    assert page.status == 200 and "TEST MODE" in await page.text()
    bad = await client.get("/check-out", params={"token": odd, "type": "m"})
    assert bad.status == 400 and "TEST MODE" not in await bad.text()
    refused = await client.post("/api/v1/transaction/verify", json={"token": odd, "type": "m"})
    assert refused.status == 400
    assert (await refused.json())["error"]["code"] == "payment_token_invalid"
