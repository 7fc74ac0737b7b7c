"""NorPay payments against the real auth, fees and checkout services."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager

import asyncpg
import pytest

from services.auth.app import build_spec as auth_spec
from services.checkout.app import build_spec as checkout_spec
from services.fees.app import build_spec as fees_spec
from shared.events import Topology
from shared.http.app import create_app
from tests.conftest import serve
from tests.support.auth import make_company_admin, make_merchant
from tests.support.broker import EventTap
from tests.support.poll import poll_until

WALLET = "0x742d35cc6634c0532925a3b844bc454e4438f44e"
ONE_NOR = "1000000000000000000"


@asynccontextmanager
async def services(settings):
    async with serve(create_app(settings, auth_spec(settings))) as auth:
        s = settings.model_copy(update={"auth_url": f"http://127.0.0.1:{auth.server.port}"})
        async with serve(create_app(s, fees_spec(s))) as fees:
            s = s.model_copy(update={"fees_url": f"http://127.0.0.1:{fees.server.port}"})
            async with serve(create_app(s, checkout_spec(s))) as checkout:
                yield checkout


@pytest.fixture
async def shop(settings):
    async with services(settings) as checkout:
        admin = await make_company_admin(settings)
        merchant = await make_merchant(settings, admin, status="ACTIVE")
        yield checkout, merchant.headers(settings), merchant


async def _create(client, headers, amount=ONE_NOR, currency="NOR", **extra):
    return await client.post("/api/v2/payments/create", headers=headers, json={
        "amount": amount, "currency": currency, "description": "Product purchase",
        "metadata": {"orderId": "order_123"}, "successUrl": "https://yoursite.com/success",
        "cancelUrl": "https://yoursite.com/cancel", **extra})


async def _new(client, headers, **kw) -> str:
    resp = await _create(client, headers, **kw)
    assert resp.status == 201, await resp.text()
    return (await resp.json())["result"]["paymentId"]


async def test_create_answers_the_seeds_fields(settings, shop):
    client, headers, _ = shop
    resp = await _create(client, headers)
    assert resp.status == 201
    body = await resp.json()
    assert (body["status"], body["message"]) == ("1", "OK")
    result = body["result"]
    assert set(result) == {"paymentId", "amount", "currency", "status", "checkoutUrl",
                           "expiresAt", "createdAt", "livemode"}
    assert result["paymentId"].startswith("pay_") and result["status"] == "pending"
    assert result["amount"] == ONE_NOR and result["currency"] == "NOR"
    assert result["checkoutUrl"] == f"{settings.public_url}/checkout/{result['paymentId']}"
    assert int(result["expiresAt"]) - int(result["createdAt"]) == 3600


async def test_nor_wallet_payment_completes_with_a_transaction_hash(shop):
    client, headers, _ = shop
    pid = await _new(client, headers)
    resp = await client.post(f"/api/v2/payments/{pid}/confirm", headers=headers,
                             json={"paymentMethod": "NOR_WALLET", "payer": WALLET})
    assert resp.status == 200, await resp.text()
    got = (await (await client.get(f"/api/v2/payments/{pid}", headers=headers)).json())["result"]
    assert got["status"] == "completed" and got["payer"] == WALLET
    assert got["transactionHash"].startswith("0x") and got["completedAt"]
    assert got["metadata"] == {"orderId": "order_123"}


async def test_the_seeds_three_error_messages_word_for_word(settings, shop):
    client, headers, _ = shop
    zero = await _create(client, headers, amount="0")
    assert (await zero.json()) == {"status": "0",
                                   "message": "Error! Amount must be greater than 0",
                                   "result": None}
    broke = await _new(client, headers)
    resp = await client.post(f"/api/v2/payments/{broke}/confirm", headers=headers,
                             json={"paymentMethod": "NOR_WALLET",
                                   "payer": "0x" + "1" * 36 + "dead"})
    assert (await resp.json())["message"] == "Error! Insufficient balance"
    late = await _new(client, headers)
    conn = await asyncpg.connect(settings.dsn_of("checkout"))
    try:
        await conn.execute("UPDATE payments SET expires_at = now() - interval '1 second' "
                           "WHERE payment_id = $1", late)
    finally:
        await conn.close()
    resp = await client.post(f"/api/v2/payments/{late}/confirm", headers=headers,
                             json={"paymentMethod": "NOR_WALLET", "payer": WALLET})
    assert (await resp.json())["message"] == "Error! Payment session expired"


@pytest.mark.parametrize("number,expected", [
    ("4242 4242 4242 4242", "completed"),
    ("5555555555554444", "completed"),
    ("4000000000000002", "Error! Card declined"),
    ("4000000000009995", "Error! Insufficient balance"),
    ("4000002500003155", "processing"),
])
async def test_card_sandbox(shop, number, expected):
    client, headers, _ = shop
    pid = await _new(client, headers, amount="1050", currency="USD")
    resp = await client.post(f"/api/v2/payments/{pid}/confirm", headers=headers, json={
        "paymentMethod": "VISA_MASTER",
        "card": {"number": number, "expMonth": 12, "expYear": 2099, "cvc": "123"}})
    body = await resp.json()
    if expected.startswith("Error!"):
        assert resp.status == 402 and body["message"] == expected
    else:
        assert body["result"]["status"] == expected
        assert "4242424242424242" not in str(body)


async def test_a_card_missing_fields_names_all_of_them_in_one_answer(shop):
    client, headers, _ = shop
    pid = await _new(client, headers, amount="1050", currency="USD")
    for card, message in (
            ({"number": "4242424242424242"},
             "card.expMonth, card.expYear, card.cvc: Field required"),
            ({}, "card.number, card.expMonth, card.expYear, card.cvc: Field required"),
            (None, "card: required for VISA_MASTER: number, expMonth, expYear, cvc")):
        body = {"paymentMethod": "VISA_MASTER"} | ({} if card is None else {"card": card})
        resp = await client.post(f"/api/v2/payments/{pid}/confirm", headers=headers,
                                 json=body)
        assert resp.status == 400
        assert (await resp.json())["message"] == f"Error! {message}"  # NorPay's prefix
    # Nothing was charged or half-written: the payment confirms with the whole card.
    resp = await client.post(f"/api/v2/payments/{pid}/confirm", headers=headers, json={
        "paymentMethod": "VISA_MASTER",
        "card": {"number": "4242424242424242", "expMonth": 12, "expYear": 2099, "cvc": "123"}})
    assert (await resp.json())["result"]["status"] == "completed"


async def test_three_d_secure_then_pass_completes(shop):
    client, headers, _ = shop
    pid = await _new(client, headers, amount="1050", currency="USD")
    first = await client.post(f"/api/v2/payments/{pid}/confirm", headers=headers, json={
        "paymentMethod": "VISA_MASTER",
        "card": {"number": "4000002500003155", "expMonth": 1, "expYear": 2099, "cvc": "999"}})
    assert (await first.json())["result"]["nextAction"] == "3ds"
    done = await client.post(f"/api/v2/payments/{pid}/action", headers=headers,
                             json={"threeDSecure": "pass"})
    assert (await done.json())["result"]["status"] == "completed"


async def test_omari_otp_right_completes_wrong_fails(shop):
    client, headers, _ = shop
    for otp, status in (("123456", 200), ("000000", 402)):
        pid = await _new(client, headers, amount="500", currency="USD")
        await client.post(f"/api/v2/payments/{pid}/confirm", headers=headers,
                          json={"paymentMethod": "OMARI", "phoneNumber": "263771234567"})
        resp = await client.post(f"/api/v2/payments/{pid}/action", headers=headers,
                                 json={"otp": otp})
        assert resp.status == status


async def test_ecocash_completes_through_the_rails_callback(shop):
    client, headers, _ = shop
    pid = await _new(client, headers, amount="500", currency="USD")
    resp = await client.post(f"/api/v2/payments/{pid}/confirm", headers=headers,
                             json={"paymentMethod": "ECOCASH", "phoneNumber": "263771234567"})
    assert (await resp.json())["result"]["status"] == "processing"

    async def completed():
        got = await (await client.get(f"/api/v2/payments/{pid}", headers=headers)).json()
        return got["result"]["status"] == "completed"
    await poll_until(completed, timeout=10, what="ECOCASH callback")


async def test_cancel_then_confirm_is_refused(shop):
    client, headers, _ = shop
    pid = await _new(client, headers)
    assert (await client.post(f"/api/v2/payments/{pid}/cancel", headers=headers)).status == 200
    resp = await client.post(f"/api/v2/payments/{pid}/confirm", headers=headers,
                             json={"paymentMethod": "NOR_WALLET", "payer": WALLET})
    assert resp.status == 409


async def test_partial_then_full_refund(shop):
    client, headers, _ = shop
    pid = await _new(client, headers, amount="1000", currency="USD")
    await client.post(f"/api/v2/payments/{pid}/confirm", headers=headers, json={
        "paymentMethod": "VISA_MASTER",
        "card": {"number": "4242424242424242", "expMonth": 12, "expYear": 2099, "cvc": "123"}})
    part = await client.post(f"/api/v2/payments/{pid}/refund", headers=headers,
                             json={"amount": "400"})
    assert (await part.json())["result"]["status"] == "completed"
    too_much = await client.post(f"/api/v2/payments/{pid}/refund", headers=headers,
                                 json={"amount": "601"})
    assert too_much.status == 400
    rest = await client.post(f"/api/v2/payments/{pid}/refund", headers=headers, json={})
    result = (await rest.json())["result"]
    assert (result["status"], result["refundedAmount"]) == ("refunded", "1000")


async def test_another_merchants_payment_is_not_found(settings, shop):
    client, headers, merchant = shop
    pid = await _new(client, headers)
    other = await make_merchant(settings, await make_company_admin(settings), status="ACTIVE")
    resp = await client.get(f"/api/v2/payments/{pid}", headers=other.headers(settings))
    assert resp.status == 404
    resp = await client.post(f"/api/v2/payments/{pid}/confirm", headers=other.headers(settings),
                             json={"paymentMethod": "VISA_MASTER", "card": {
                                 "number": "4242424242424242", "expMonth": 12,
                                 "expYear": 2099, "cvc": "123"}})
    assert resp.status == 404
    mine = await client.get(f"/api/v2/payments/{pid}", headers=headers)
    assert (await mine.json())["result"]["status"] == "pending"


async def test_an_inactive_merchant_cannot_create_payments(settings):
    async with services(settings) as client:
        shop = await make_merchant(settings, await make_company_admin(settings),
                                   status="INACTIVE")
        resp = await _create(client, shop.headers(settings))
        body = await resp.json()
    assert resp.status == 403
    assert body["message"] == "Error! This merchant is inactive and cannot take new payments"


@pytest.mark.parametrize("method", ["NOR_WALLET", "VISA_MASTER"])
async def test_twenty_parallel_confirms_charge_once(settings, shop, method):
    """The wallet's confirm locks the payment; the card's is one conditional statement
    (payments.PaymentConfirms): either way one charge, one event, nineteen 409s."""
    client, headers, _ = shop
    pid = await _new(client, headers, **({} if method == "NOR_WALLET" else
                                         {"amount": "1050", "currency": "USD"}))
    confirm = {"paymentMethod": "NOR_WALLET", "payer": WALLET} if method == "NOR_WALLET" \
        else {"paymentMethod": "VISA_MASTER", "card": {
            "number": "4242424242424242", "expMonth": 12, "expYear": 2099, "cvc": "123"}}
    async with EventTap(settings.amqp_url, Topology(settings.events_namespace),
                        ["payment.completed"]) as tap:
        answers = await asyncio.gather(*(
            client.post(f"/api/v2/payments/{pid}/confirm", headers=headers, json=confirm)
            for _ in range(20)))
        statuses = sorted(r.status for r in answers)
        await poll_until(lambda: _ours(tap, pid), timeout=10, what="payment.completed")
        await asyncio.sleep(0.5)  # a window for a second (wrong) event to show up
    assert statuses == [200] + [409] * 19
    assert len([e for e in tap.events if e.data["paymentId"] == pid]) == 1


async def _ours(tap, pid) -> bool:
    return any(e.data["paymentId"] == pid for e in tap.events)


async def test_an_unanswered_phone_prompt_fails_when_checked_after_the_timeout(settings, shop):
    client, headers, _ = shop
    pid = await _new(client, headers, amount="500", currency="USD")
    resp = await client.post(f"/api/v2/payments/{pid}/confirm", headers=headers,
                             json={"paymentMethod": "ECOCASH", "phoneNumber": "263770000002"})
    assert (await resp.json())["result"]["status"] == "processing"
    still = await (await client.get(f"/api/v2/payments/{pid}", headers=headers)).json()
    assert still["result"]["status"] == "processing"  # the rail never answers this number
    conn = await asyncpg.connect(settings.dsn_of("checkout"))
    try:
        await conn.execute("UPDATE payments SET updated_at = now() - interval '3 minutes' "
                           "WHERE payment_id = $1", pid)
    finally:
        await conn.close()
    got = (await (await client.get(f"/api/v2/payments/{pid}", headers=headers)).json())["result"]
    assert got["status"] == "failed" and "did not answer" in got["failureReason"]


async def test_the_rail_callback_path_is_for_the_rail_only(settings, shop):
    client, headers, _ = shop
    pid = await _new(client, headers, amount="500", currency="USD")
    resp = await client.post("/internal/rails/ecocash/callback", headers=headers,
                             json={"paymentId": pid})
    assert resp.status == 403


async def test_only_the_merchants_enabled_methods_are_offered(settings, shop):
    client, headers, merchant = shop
    conn = await asyncpg.connect(settings.dsn_of("auth"))
    try:  # as PATCH /api/v1/admin/merchants/{id} {"paymentMethods": [...]} sets it
        await conn.execute("UPDATE merchants SET payment_methods = $1 WHERE id = $2",
                           ["VISA_MASTER", "NOR_WALLET"], merchant.merchant_id)
    finally:
        await conn.close()
    pid = await _new(client, headers)
    page = await (await client.get(f"/checkout/{pid}")).text()
    assert 'value="VISA_MASTER"' in page and 'value="NOR_WALLET"' in page
    assert 'value="OMARI"' not in page and 'value="ZIMSWITCH"' not in page
    resp = await client.post(f"/api/v2/payments/{pid}/confirm", headers=headers,
                             json={"paymentMethod": "OMARI", "phoneNumber": "263771234567"})
    assert resp.status == 400
    assert (await resp.json())["message"] == \
        "Error! Payment method OMARI is not enabled for this merchant"
    resp = await client.post(f"/api/v2/payments/{pid}/confirm", headers=headers,
                             json={"paymentMethod": "NOR_WALLET", "payer": WALLET})
    assert resp.status == 200, await resp.text()


async def test_the_timeline_names_each_event_the_payment_emitted(settings, shop):
    client, headers, _ = shop
    types = ["payment.created", "payment.completed", "payment.refunded"]
    async with EventTap(settings.amqp_url, Topology(settings.events_namespace), types) as tap:
        pid = await _new(client, headers)
        resp = await client.post(f"/api/v2/payments/{pid}/confirm", headers=headers,
                                 json={"paymentMethod": "NOR_WALLET", "payer": WALLET})
        assert resp.status == 200
        resp = await client.post(f"/api/v2/payments/{pid}/refund", headers=headers,
                                 json={"amount": "1000"})
        assert resp.status == 200, await resp.text()
        mine = await poll_until(lambda: len(
            [e for e in tap.events if e.data["paymentId"] == pid]) == 3 and [
            e for e in tap.events if e.data["paymentId"] == pid], what="three events")
    resp = await client.get(f"/api/v2/payments/{pid}/timeline", headers=headers)
    assert resp.status == 200
    timeline = (await resp.json())["result"]
    assert [(e["status"], e["event"]) for e in timeline["events"]] == [
        ("pending", "payment.created"), ("completed", "payment.completed"),
        ("partially_refunded", "payment.refunded")]
    assert [e["eventId"] for e in timeline["events"]] == [str(e.id) for e in mine]


async def test_forty_concurrent_card_confirms_each_get_their_own_outcome(settings, shop):
    """Confirms that arrive together share their read and their write
    (payments.PaymentConfirms): each payment still gets its own outcome, status, history
    row and event, and one confirmed twice at once is charged once."""
    client, headers, _ = shop
    cards = {"4242424242424242": (200, "completed"), "4000000000000002": (402, "failed"),
             "4000000000009995": (402, "failed"), "4000002500003155": (200, "processing")}
    numbers = list(cards) * 10
    pids = [await _new(client, headers, amount=str(1000 + i), currency="USD")
            for i in range(len(numbers))]

    def confirm(pid: str, number: str):
        return client.post(f"/api/v2/payments/{pid}/confirm", headers=headers, json={
            "paymentMethod": "VISA_MASTER",
            "card": {"number": number, "expMonth": 12, "expYear": 2099, "cvc": "123"}})

    async with EventTap(settings.amqp_url, Topology(settings.events_namespace),
                        ["payment.completed", "payment.failed", "payment.processing"]) as tap:
        # The first payment twice in the same burst: one charge, one 409.
        answers = await asyncio.gather(*(confirm(p, n) for p, n in zip(
            pids + pids[:1], numbers + numbers[:1], strict=True)))
        await poll_until(lambda: _all_seen(tap, pids), timeout=10, what="every event")
        await asyncio.sleep(0.3)  # a window for a second (wrong) event to show up
    statuses = [a.status for a in answers]
    assert sorted([statuses[0], statuses[-1]]) == [200, 409]
    assert statuses[1:-1] == [cards[n][0] for n in numbers[1:]]
    conn = await asyncpg.connect(settings.dsn_of("checkout"))
    try:
        rows = {r["payment_id"]: r for r in await conn.fetch(
            """SELECT p.payment_id, p.status, p.card_last4,
                      (SELECT count(*) FROM payment_history h
                        WHERE h.payment_pk = p.id AND h.status <> 'pending') AS changes
                 FROM payments p WHERE p.payment_id = ANY($1)""", pids)}
    finally:
        await conn.close()
    assert [rows[p]["status"] for p in pids] == [cards[n][1] for n in numbers]
    assert [(rows[p]["changes"], rows[p]["card_last4"]) for p in pids] == \
        [(1, n[-4:]) for n in numbers]
    events = [e for e in tap.events if e.data["paymentId"] in set(pids)]
    assert sorted(e.data["paymentId"] for e in events) == sorted(pids)  # one each
    assert all(e.type == "payment." + rows[e.data["paymentId"]]["status"] for e in events)


async def _all_seen(tap, pids) -> bool:
    return {e.data["paymentId"] for e in tap.events} >= set(pids)


async def test_the_list_is_a_merchants_own_newest_first_by_page_cursor_and_status(
        settings):
    async with services(settings) as client:
        admin = await make_company_admin(settings)
        merchant = await make_merchant(settings, admin, status="ACTIVE")
        neighbour = await make_merchant(settings, admin, status="ACTIVE")
        headers = merchant.headers(settings)
        made = [await _new(client, headers) for _ in range(5)]
        other = await _new(client, neighbour.headers(settings))
        await client.post(f"/api/v2/payments/{made[1]}/cancel", headers=headers)

        resp = await client.get("/api/v2/payments", headers=headers, params={"per_page": 2})
        assert resp.status == 200, await resp.text()
        body = (await resp.json())["result"]
        assert [p["paymentId"] for p in body["payments"]] == made[::-1][:2]
        assert body["payments"][0]["checkoutUrl"].endswith(made[-1])
        assert (body["pagination"]["total"], body["pagination"]["per_page"]) == (5, 2)
        seen = [p["paymentId"] for p in body["payments"]]
        cursor = body["pagination"]["nextCursor"]
        while cursor:
            page = (await (await client.get("/api/v2/payments", headers=headers,
                                            params={"per_page": 2, "cursor": cursor})
                           ).json())["result"]
            seen += [p["paymentId"] for p in page["payments"]]
            cursor = page["pagination"]["nextCursor"]
        assert seen == made[::-1]  # every one once, in order; never the neighbour's

        canceled = (await (await client.get("/api/v2/payments", headers=headers,
                                            params={"status": "canceled"})).json())["result"]
        assert [p["paymentId"] for p in canceled["payments"]] == [made[1]]
        # The company's ADMIN sees both merchants', or one by merchantId.
        mine = admin.headers(settings)
        every = (await (await client.get("/api/v2/payments", headers=mine, params={
            "per_page": 100})).json())["result"]
        assert {made[0], other} <= {p["paymentId"] for p in every["payments"]}
        one = (await (await client.get("/api/v2/payments", headers=mine, params={
            "merchantId": str(neighbour.merchant_id)})).json())["result"]
        assert [p["paymentId"] for p in one["payments"]] == [other]
        # A merchant naming another merchant sees nothing of it.
        theirs = (await (await client.get("/api/v2/payments", headers=headers, params={
            "merchantId": str(neighbour.merchant_id)})).json())["result"]
        assert theirs["payments"] == [] and theirs["pagination"]["total"] == 0
        for params, field in (({"merchantId": "x1"}, "merchantId"),
                              ({"merchantId": "9" * 19}, "merchantId"),  # past a bigint
                              ({"status": "done"}, "status"),
                              ({"cursor": "nonsense"}, "cursor")):
            bad = await client.get("/api/v2/payments", headers=headers, params=params)
            assert bad.status == 400, params
            body = await bad.json()
            assert body["status"] == "0" and field in body["message"], body
