"""Money out through a `make run` stack, as a merchant lives it: card payments are
pending, become available after the settlement delay, the scheduler pays them out to
the merchant's bank account, the sandbox rail calls back and the payout is paid, the
merchant's webhook endpoint gets payout.created and payout.paid (signed), and the books
balance. A payout to an account the sandbox closes fails and gives the funds back.

The stack runs with 2-second settlement days and a fast payouts tick (config, below),
so "two days later" takes seconds; the sandbox rail's callback is a real HTTP call from
billing to itself.
"""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime

import aiohttp
import orjson
import pytest
from standardwebhooks import Webhook

from tests.conftest import TEST_ENV
from tests.e2e.conftest import wait_stack_ready
from tests.support.onboarding import onboard
from tests.support.poll import poll_until
from tests.support.receiver import RawReceiver

pytestmark = pytest.mark.e2e
FAST = {"NORGATE_PAYOUT_DAY_SECONDS": "2", "NORGATE_PAYOUT_TICK_SECONDS": "0.3",
        "NORGATE_PAYOUT_HOLD_SECONDS": "0.5", "NORGATE_SANDBOX_PAYOUT_CALLBACK_SECONDS": "0.5",
        "NORGATE_SANDBOX_PAYOUT_RETURN_SECONDS": "1", "NORGATE_PAYOUT_STATUS_CHECK_SECONDS": "5",
        "NORGATE_WEBHOOK_POLL_SECONDS": "0.2"}
CARD = {"number": "4242424242424242", "expMonth": 12, "expYear": 2099, "cvc": "123"}


@pytest.fixture(scope="module")
def fast_days():
    TEST_ENV.update(FAST)
    yield
    for key in FAST:
        TEST_ENV.pop(key, None)


@pytest.fixture(scope="module")
async def running(fast_days, stack):
    await wait_stack_ready(stack)
    return stack


class Api:
    def __init__(self, http: aiohttp.ClientSession, gateway: str):
        self.http, self.gw = http, gateway

    async def call(self, method: str, path: str, headers: dict, status: int | None = None,
                   **kw) -> dict:
        async with self.http.request(method, self.gw + path, headers=headers, **kw) as resp:
            body = await resp.json(content_type=None)
            if status is None:
                assert resp.status < 300, (method, path, resp.status, body)
            else:
                assert resp.status == status, (method, path, resp.status, body)
            return body


async def _pay(api: Api, key_headers: dict, amount: int) -> dict:
    created = (await api.call("POST", "/api/v2/payments/create", key_headers, json={
        "amount": str(amount), "currency": "USD", "description": "Order"}))["result"]
    return (await api.call("POST", f"/api/v2/payments/{created['paymentId']}/confirm",
                           key_headers, json={"paymentMethod": "VISA_MASTER",
                                              "card": CARD}))["result"]


async def test_payments_become_available_are_paid_out_by_the_schedule_and_the_rail(running):
    shop = await onboard(running, "payouts", name="Payout Shop")
    receiver = RawReceiver("/hooks")
    await receiver.start()
    try:
        async with aiohttp.ClientSession() as http:
            api = Api(http, running.gateway)
            key, admin = shop.headers, shop.admin_headers
            endpoint = (await api.call("POST", "/api/v2/webhooks/endpoints", key, json={
                "url": receiver.url,
                "events": ["payout.created", "payout.paid", "payout.failed"]}))["result"]
            base = f"/api/v1/admin/merchants/{shop.id}"
            account = (await api.call("POST", f"{base}/settlement-accounts", admin, json={
                "type": "BANK", "currency": "USD", "bankName": "CBZ Bank",
                "branchCode": "6101", "accountName": "Payout Shop Ltd",
                "accountNumber": "620012345678"}))["data"]
            assert account["accountNumber"] == "****5678"
            await api.call("PUT", f"{base}/payout-schedule", admin,
                           json={"interval": "daily", "delayDays": 1})

            paid = [await _pay(api, key, amount) for amount in (25_00, 14_50)]
            net = sum(int(p["amount"]) - int(p["charges"] or 0) for p in paid)

            async def balance() -> dict:
                found = (await api.call("GET", "/api/v2/balance", key))["result"]["balances"]
                usd = [b for b in found if b["currency"] == "USD"]
                return {k: int(usd[0][k]) for k in ("pending", "available", "inTransit")} \
                    if usd else {}
            # pending first, then (a settlement day later) paid out by the daily run
            await poll_until(lambda: _paid_out(api, key, net), timeout=30, interval=0.2,
                             what="the scheduled payout, paid")
            [payout] = [p for p in (await api.call("GET", "/api/v2/payouts?status=paid",
                                                   key))["result"]["payouts"]]
            assert payout["automatic"] is True and int(payout["amount"]) == net
            assert [t["status"] for t in payout["timeline"]] == [
                "pending", "in_transit", "paid"]
            assert payout["destination"]["last4"] == "5678"
            assert payout["railReference"].startswith("ZS")
            assert await balance() == {"pending": 0, "available": 0, "inTransit": 0}

            # the webhooks: payout.created then payout.paid, signed with the endpoint secret
            def hooks() -> list[str]:
                return [orjson.loads(body)["event"] for body, _ in receiver.calls
                        if orjson.loads(body)["data"].get("payoutId") == payout["payoutId"]]
            await poll_until(lambda: hooks() == ["payout.created", "payout.paid"], timeout=20,
                             what="payout.created and payout.paid webhooks")
            for body, headers in receiver.calls:
                event = Webhook(endpoint["secret"]).verify(body, headers)
                assert event["data"]["livemode"] is False
                assert "620012345678" not in body.decode()

            # the books: the movements, and a trial balance that balances
            moves = (await api.call("GET", "/api/v2/balance/transactions?per_page=50",
                                    key))["result"]["transactions"]
            assert sum(int(m["amount"]) for m in moves) == 0  # all of it paid out
            assert {m["type"] for m in moves} >= {"payment", "payout"}
            trial = (await api.call("GET", "/api/v2/ledger/trial-balance", key))["result"]
            assert trial["balanced"] is True and trial["currencies"]
            for book in trial["currencies"]:
                assert book["totalDebits"] == book["totalCredits"]
            books = {a["account"]: int(a["balance"]) for a in (await api.call(
                "GET", "/api/v2/ledger/accounts", key))["result"] if a["currency"] == "USD"}
            assert books["settlement_bank"] == net and books["payouts_in_transit"] == 0

            # the NORAH view of the same payout, for the ADMIN
            settlements = await api.call("GET", f"/api/v1/settlements?merchantId={shop.id}",
                                         admin)
            assert [s["settlementId"] for s in settlements["data"]] == [payout["payoutId"]]
            assert settlements["data"][0]["status"] == "PAID"

            await _reconcile(api, key, payout)
    finally:
        await receiver.stop()


async def _upload(api: Api, key: dict, data: bytes, status: int = 201, **fields) -> dict:
    form = aiohttp.FormData()
    for name, value in fields.items():
        form.add_field(name, value)
    form.add_field("file", io.BytesIO(data), filename="statement", content_type="text/plain")
    return (await api.call("POST", "/api/v2/reconciliation/imports", key, status=status,
                           data=form))["result"]


async def _reconcile(api: Api, key: dict, payout: dict) -> None:
    """The loop the sandbox closes: the card rail's settlement file of today imports 100 %
    matched; the same file edited shows exactly its edit; the sandbox bank's camt.053
    statement matches the payout; a file of more than a megabyte goes through."""
    day = datetime.now(UTC).date().isoformat()
    async with api.http.get(api.gw + "/api/v2/reconciliation/sandbox-files", headers=key,
                            params={"rail": "VISA_MASTER", "date": day}) as resp:
        assert resp.status == 200, await resp.text()
        text = await resp.text()
    rows = text.splitlines()
    assert len(rows) >= 3  # the header and the two payments (and their fees, if any)
    clean = await _upload(api, key, text.encode(), source="processor", format="sandbox",
                          rail="VISA_MASTER")
    assert clean["summary"]["matched"] == clean["lineCount"] == len(rows) - 1
    assert clean["summary"]["exceptions"] == 0
    again = await _upload(api, key, text.encode(), status=200, source="processor",
                          format="sandbox", rail="VISA_MASTER")
    assert again["importId"] == clean["importId"]  # the same file is the same import

    cells = rows[1].split(",")
    cells[6] = "1.23"  # the first payment's amount, edited
    edited = "\n".join([rows[0], ",".join(cells), *rows[2:]]) + "\n"
    bad = await _upload(api, key, edited.encode(), source="processor", format="sandbox",
                        rail="VISA_MASTER")
    assert bad["summary"]["exceptions"] == 1 and bad["summary"]["amountMismatch"] == 1
    detail = (await api.call("GET", f"/api/v2/reconciliation/imports/{bad['importId']}",
                             key))["result"]
    [exception] = detail["exceptions"]
    assert (exception["kind"], exception["line"], exception["fileAmount"]) == (
        "amount_mismatch", 2, "123")
    resolved = (await api.call(
        "POST", f"/api/v2/reconciliation/imports/{bad['importId']}/exceptions/"
        f"{exception['exceptionId']}/resolve", key,
        json={"note": "Typo in the bank's copy"}))["result"]
    assert resolved["resolution"]["note"] == "Typo in the bank's copy"

    async with api.http.get(api.gw + "/api/v2/reconciliation/sandbox-files", headers=key,
                            params={"kind": "bank_statement", "date": day}) as resp:
        assert resp.status == 200, await resp.text()
        statement = await resp.read()
    assert payout["payoutId"].encode() in statement
    bank = await _upload(api, key, statement, source="bank", format="camt053")
    assert bank["summary"]["matched"] == 1 and bank["summary"]["exceptions"] == 0

    # More than NORGATE_MAX_BODY_BYTES: an upload route streams up to 32 MiB
    big = "date,amount,currency,reference\n" + "".join(
        f"{day},1.00,USD,ext-{n:07d}\n" for n in range(40_000))
    assert len(big) > 1_048_576
    large = await _upload(api, {**key, "Idempotency-Key": str(uuid.uuid4())}, big.encode(),
                          source="processor", format="csv", rail="VISA_MASTER")
    assert large["lineCount"] == 40_000
    assert large["summary"]["missingFromLedger"] == 40_000


async def _paid_out(api: Api, key: dict, net: int) -> bool:
    payouts = (await api.call("GET", "/api/v2/payouts?status=paid", key))["result"]["payouts"]
    return sum(int(p["amount"]) for p in payouts) == net


async def test_a_payout_to_a_closed_account_fails_and_the_funds_come_back(running):
    shop = await onboard(running, "closed", name="Closed Shop")
    async with aiohttp.ClientSession() as http:
        api = Api(http, running.gateway)
        key, admin = shop.headers, shop.admin_headers
        base = f"/api/v1/admin/merchants/{shop.id}"
        await api.call("POST", f"{base}/settlement-accounts", admin, json={
            "type": "BANK", "currency": "USD", "bankName": "CBZ Bank", "branchCode": "6101",
            "accountName": "Closed Ltd", "accountNumber": "620000000001"})
        await api.call("PUT", f"{base}/payout-schedule", admin,
                       json={"interval": "manual", "delayDays": 0})
        done = await _pay(api, key, 9_00)
        net = int(done["amount"]) - int(done["charges"] or 0)

        async def available() -> int:
            found = (await api.call("GET", "/api/v2/balance", key))["result"]["balances"]
            return sum(int(b["available"]) for b in found if b["currency"] == "USD")
        await poll_until(lambda: _equals(available(), net), timeout=20, what="available")
        too_much = await api.call("POST", "/api/v2/payouts/create", key, status=400, json={
            "amount": str(net + 1), "currency": "USD"})
        assert too_much == {"status": "0", "message": "Error! Insufficient balance",
                            "result": None}
        once = {**key, "Idempotency-Key": str(uuid.uuid4())}
        created = (await api.call("POST", "/api/v2/payouts/create", once,
                                  json={"amount": str(net), "currency": "USD"}))["result"]
        # the same request again (a client retrying) is the same payout, not a second one
        again = (await api.call("POST", "/api/v2/payouts/create", once,
                                json={"amount": str(net), "currency": "USD"}))["result"]
        assert again["payoutId"] == created["payoutId"]

        async def failed() -> dict | None:
            got = (await api.call("GET", f"/api/v2/payouts/{created['payoutId']}",
                                  key))["result"]
            return got if got["status"] == "failed" else None
        result = await poll_until(failed, timeout=30, interval=0.2, what="the payout failed")
        assert (result["failureCode"], result["failureReason"]) == ("account_closed",
                                                                     "Account closed")
        assert await available() == net
        listed = (await api.call("GET", "/api/v2/payouts", key))["result"]["payouts"]
        assert [p["payoutId"] for p in listed] == [created["payoutId"]]


async def _equals(value, expected) -> bool:
    return await value == expected
