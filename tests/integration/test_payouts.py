"""Money out through the billing service, with real auth, fees, checkout and billing
apps on the real database and broker: payments become pending, then available after
the merchant's delay; payouts (manual and scheduled) leave available, travel on the
sandbox rails and are paid, fail or are returned; the books stay balanced.

Time is a ManualClock the tests move and the payouts tick is called by hand, so a
settlement delay of two days takes no time. The sandbox rail's callback is made by the
test itself as the rail would (the route a rail calls), or left to the tick's check of
payouts with no answer.
"""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from services.billing import payouts_scheduler
from services.billing.app import build_spec as billing_spec
from services.billing.context import ManualClock
from shared.events import Topology
from shared.http.app import create_app
from shared.http.middleware import SETTINGS
from tests.conftest import serve
from tests.integration.test_billing_api import billing_stack
from tests.integration.test_fees_charges import merchant_charge
from tests.support.auth import make_company_admin, make_merchant, service_headers
from tests.support.broker import EventTap
from tests.support.poll import poll_until

DAY = timedelta(days=1)
CARD = {"number": "4242 4242 4242 4242", "expMonth": 12, "expYear": 2099, "cvc": "123"}


@asynccontextmanager
async def payout_stack(settings, clock):
    """billing_stack, and its fees client: (billing, checkout, fees, billing app)."""
    others: dict = {}
    async with billing_stack(settings, clock=clock, others=others) as (billing, checkout, app):
        yield billing, checkout, others["fees"], app


async def ok(resp, status: int = 200):
    body = await resp.json()
    assert resp.status == status, body
    return body.get("result", body.get("data"))


class Shop:
    """A merchant with a USD bank settlement account, and the stack around it."""

    def __init__(self, settings, billing, checkout, fees, app, clock, admin, merchant, tap):
        self.tap = tap
        self.settings, self.billing, self.checkout, self.fees = settings, billing, checkout, fees
        self.app, self.clock, self.admin, self.merchant = app, clock, admin, merchant
        self.headers = merchant.headers(settings)

    async def account(self, number: str = "620012345678", **extra) -> dict:
        """The merchant's first account also gives it the default (daily) schedule;
        the tests of manual payouts set it to manual, those of the schedule set theirs."""
        account = await ok(await self.billing.post(
            f"/api/v1/admin/merchants/{self.merchant.merchant_id}/settlement-accounts",
            headers=self.headers, json={
                "type": "BANK", "currency": "USD", "bankName": "CBZ Bank",
                "branchCode": "6101", "accountName": "Shop Ltd", "accountNumber": number,
                "isDefault": True, **extra}), 201)
        await self.schedule(interval="manual")
        return account

    async def schedule(self, **body) -> dict:
        return await ok(await self.billing.put(
            f"/api/v1/admin/merchants/{self.merchant.merchant_id}/payout-schedule",
            headers=self.headers, json=body))

    async def pay(self, amount: int) -> dict:
        created = await ok(await self.checkout.post("/api/v2/payments/create",
                                                    headers=self.headers, json={
            "amount": str(amount), "currency": "USD", "description": "Sale"}), 201)
        done = await ok(await self.checkout.post(
            f"/api/v2/payments/{created['paymentId']}/confirm", headers=self.headers,
            json={"paymentMethod": "VISA_MASTER", "card": CARD}))
        assert done["status"] == "completed"
        # the payment's events carry real time: the clock is never behind them
        self.clock.set(max(self.clock.now(), datetime.now(UTC) + timedelta(seconds=1)))
        return done

    async def balance(self) -> dict:
        found = (await ok(await self.billing.get("/api/v2/balance", headers=self.headers,
                                                 params={"currency": "USD"})))["balances"]
        got = found[0] if found else {"pending": "0", "available": "0", "inTransit": "0"}
        return {k: int(got[k]) for k in ("pending", "available", "inTransit")}

    async def wait_balance(self, **expected) -> dict:
        async def probe():
            now = await self.balance()
            return now if all(now[k] == v for k, v in expected.items()) else None
        return await poll_until(probe, what=f"balance {expected}")

    async def tick(self, at: datetime | None = None) -> dict:
        if at is not None:
            self.clock.set(at)
        report = await payouts_scheduler.tick(self.app)
        assert report is not None
        return report

    async def payout(self, payout_id: str) -> dict:
        return await ok(await self.billing.get(f"/api/v2/payouts/{payout_id}",
                                               headers=self.headers))

    async def call_back(self, payout_id: str) -> dict:
        """What the sandbox rail does once the payout has travelled."""
        resp = await self.billing.post("/internal/rails/payouts/callback",
                                       headers=service_headers(self.settings, "rails"),
                                       json={"payoutId": payout_id})
        assert resp.status == 200, await resp.text()
        return await resp.json()

    async def books(self) -> dict[str, int]:
        rows = await ok(await self.billing.get("/api/v2/ledger/accounts", headers=self.headers))
        return {r["account"]: int(r["balance"]) for r in rows if r["currency"] == "USD"}

    async def trial_balance_is_even(self) -> None:
        trial = await ok(await self.billing.get("/api/v2/ledger/trial-balance",
                                                headers=self.headers))
        assert trial["balanced"] is True and trial["currencies"], trial
        for book in trial["currencies"]:
            assert book["totalDebits"] == book["totalCredits"], book


@pytest.fixture
async def shop(settings):
    clock = ManualClock(datetime.now(UTC))
    async with payout_stack(settings, clock) as (billing, checkout, fees, app):
        admin = await make_company_admin(settings)
        merchant = await make_merchant(settings, admin, status="ACTIVE")
        async with EventTap(settings.amqp_url, Topology(settings.events_namespace),
                            ["payout.*"]) as tap:
            yield Shop(settings, billing, checkout, fees, app, clock, admin, merchant, tap)


async def test_a_payment_is_pending_until_the_delay_then_available(shop):
    done = await shop.pay(10_00)
    net = 10_00 - int(done["charges"] or 0)
    assert await shop.wait_balance(pending=net) == {"pending": net, "available": 0,
                                                    "inTransit": 0}
    start = shop.clock.now()
    assert (await shop.tick(start + DAY))["released"] == 0  # one day of two
    assert await shop.balance() == {"pending": net, "available": 0, "inTransit": 0}
    report = await shop.tick(start + 2 * DAY + timedelta(seconds=5))
    # (the session's other merchants' movements may fall due in the same tick)
    assert report["released"] >= (2 if int(done["charges"] or 0) else 1)
    assert await shop.balance() == {"pending": 0, "available": net, "inTransit": 0}
    moves = (await ok(await shop.billing.get("/api/v2/balance/transactions",
                                             headers=shop.headers)))["transactions"]
    payment = [m for m in moves if m["type"] == "payment"]
    assert [(m["sourceId"], m["amount"], m["status"]) for m in payment] == [
        (done["paymentId"], "1000", "available")]
    assert int(payment[0]["availableOn"]) - int(payment[0]["createdAt"]) == 2 * 86400
    books = await shop.books()
    assert books["customer_wallet"] == 0 and books["available_balance"] == net
    await shop.trial_balance_is_even()


async def _available(shop, amount: int) -> int:
    done = await shop.pay(amount)
    net = amount - int(done["charges"] or 0)
    await shop.wait_balance(pending=net)
    await shop.tick(shop.clock.now() + 2 * DAY + timedelta(seconds=1))
    await shop.wait_balance(available=net)
    return net


async def test_a_payout_of_more_than_is_available_is_the_seeds_400(shop):
    await shop.account()
    net = await _available(shop, 20_00)
    resp = await shop.billing.post("/api/v2/payouts/create", headers=shop.headers,
                                   json={"amount": str(net + 1), "currency": "USD"})
    body = await resp.json()
    assert (resp.status, body) == (400, {"status": "0", "message": "Error! Insufficient balance",
                                         "result": None})
    assert await shop.balance() == {"pending": 0, "available": net, "inTransit": 0}


async def test_a_payout_travels_to_the_bank_and_is_paid_by_the_rails_callback(shop):
    account = await shop.account()
    net = await _available(shop, 50_00)
    created = await ok(await shop.billing.post("/api/v2/payouts/create", headers=shop.headers,
                                               json={"amount": str(net - 1_00),
                                                     "currency": "USD",
                                                     "description": "Weekly takings",
                                                     "metadata": {"batch": "7"}}), 201)
    pid = created["payoutId"]
    assert pid.startswith("po_") and created["status"] == "pending"
    assert created["destination"]["last4"] == "5678"
    assert created["settlementAccountId"] == account["settlementAccountId"]
    assert "620012345678" not in str(created)
    assert await shop.balance() == {"pending": 0, "available": 1_00, "inTransit": net - 1_00}
    # the hold passes: the tick sends it to ZIMSWITCH
    report = await shop.tick(shop.clock.now() + timedelta(
        seconds=shop.settings.payout_hold_seconds + 1))
    assert report["submitted"] == 1
    sent = await shop.payout(pid)
    assert sent["status"] == "in_transit" and sent["railReference"].startswith("ZS")
    shop.clock.advance(seconds=shop.settings.sandbox_payout_callback_seconds + 1)
    assert (await shop.call_back(pid))["status"] == "paid"
    paid = await shop.payout(pid)
    assert [t["status"] for t in paid["timeline"]] == ["pending", "in_transit", "paid"]
    assert paid["paidAt"] is not None
    assert await shop.balance() == {"pending": 0, "available": 1_00, "inTransit": 0}
    books = await shop.books()
    assert books["settlement_bank"] == net - 1_00 and books["payouts_in_transit"] == 0
    assert (await shop.call_back(pid))["status"] == "paid"  # a repeated callback: nothing
    assert (await shop.books())["settlement_bank"] == net - 1_00
    await shop.trial_balance_is_even()
    assert await _events(shop, pid, 2) == ["payout.created", "payout.paid"]


async def _events(shop, payout_id: str, count: int) -> list[str]:
    """The payout.* events published for the payout, once `count` of them arrived."""
    def seen() -> list[str]:
        return [e.type for e in shop.tap.events if e.data.get("payoutId") == payout_id]
    await poll_until(lambda: len(seen()) >= count, what=f"{count} events of {payout_id}")
    return seen()


async def test_a_closed_account_fails_at_the_callback_and_the_funds_come_back(shop):
    await shop.account(number="620000000001")
    net = await _available(shop, 30_00)
    pid = (await ok(await shop.billing.post("/api/v2/payouts/create", headers=shop.headers,
                                            json={"amount": str(net), "currency": "USD"}),
                    201))["payoutId"]
    await shop.tick(shop.clock.now() + timedelta(seconds=shop.settings.payout_hold_seconds + 1))
    assert await shop.balance() == {"pending": 0, "available": 0, "inTransit": net}
    shop.clock.advance(seconds=shop.settings.sandbox_payout_callback_seconds + 1)
    assert (await shop.call_back(pid))["status"] == "failed"
    failed = await shop.payout(pid)
    assert (failed["failureCode"], failed["failureReason"]) == ("account_closed",
                                                                 "Account closed")
    assert await shop.balance() == {"pending": 0, "available": net, "inTransit": 0}
    await shop.trial_balance_is_even()
    assert await _events(shop, pid, 2) == ["payout.created", "payout.failed"]


async def test_a_lost_callback_is_made_good_by_the_tick_asking_the_rail(shop):
    await shop.account()
    net = await _available(shop, 12_00)
    pid = (await ok(await shop.billing.post("/api/v2/payouts/create", headers=shop.headers,
                                            json={"amount": str(net), "currency": "USD"}),
                    201))["payoutId"]
    await shop.tick(shop.clock.now() + timedelta(seconds=shop.settings.payout_hold_seconds + 1))
    due = shop.settings.sandbox_payout_callback_seconds + \
        shop.settings.payout_status_check_seconds
    assert (await shop.tick(shop.clock.now() + timedelta(seconds=due - 1)))["asked"] == 0
    report = await shop.tick(shop.clock.now() + timedelta(seconds=2))
    assert report["asked"] == 1
    assert (await shop.payout(pid))["status"] == "paid"
    assert (await shop.tick(shop.clock.now() + timedelta(seconds=due * 2)))["asked"] == 0


async def test_a_lost_return_is_made_good_by_the_tick_too(shop):
    await shop.account(number="620000000002")
    net = await _available(shop, 11_00)
    pid = (await ok(await shop.billing.post("/api/v2/payouts/create", headers=shop.headers,
                                            json={"amount": str(net), "currency": "USD"}),
                    201))["payoutId"]
    await shop.tick(shop.clock.now() + timedelta(seconds=shop.settings.payout_hold_seconds + 1))
    shop.clock.advance(seconds=shop.settings.sandbox_payout_callback_seconds + 1)
    assert (await shop.call_back(pid))["status"] == "paid"
    # the bank's return callback never comes (billing was down): the tick asks for it
    report = await shop.tick(shop.clock.now() + timedelta(
        seconds=shop.settings.sandbox_payout_return_seconds
        + shop.settings.payout_status_check_seconds + 1))
    assert report["asked"] == 1
    returned = await shop.payout(pid)
    assert (returned["status"], returned["failureCode"]) == ("failed", "returned")
    assert await shop.balance() == {"pending": 0, "available": net, "inTransit": 0}


async def test_a_returned_payout_fails_after_being_paid(shop):
    await shop.account(number="620000000002")
    net = await _available(shop, 40_00)
    pid = (await ok(await shop.billing.post("/api/v2/payouts/create", headers=shop.headers,
                                            json={"amount": str(net), "currency": "USD"}),
                    201))["payoutId"]
    await shop.tick(shop.clock.now() + timedelta(seconds=shop.settings.payout_hold_seconds + 1))
    shop.clock.advance(seconds=shop.settings.sandbox_payout_callback_seconds + 1)
    assert (await shop.call_back(pid))["status"] == "paid"
    assert (await shop.books())["settlement_bank"] == net
    shop.clock.advance(seconds=shop.settings.sandbox_payout_return_seconds + 1)
    assert (await shop.call_back(pid))["status"] == "failed"
    returned = await shop.payout(pid)
    assert returned["failureCode"] == "returned"
    assert [t["status"] for t in returned["timeline"]] == [
        "pending", "in_transit", "paid", "failed"]
    assert await shop.balance() == {"pending": 0, "available": net, "inTransit": 0}
    assert (await shop.books())["settlement_bank"] == 0
    assert await _events(shop, pid, 3) == ["payout.created", "payout.paid", "payout.failed"]


async def test_a_pending_payout_can_be_canceled_and_a_sent_one_cannot(shop):
    await shop.account()
    net = await _available(shop, 25_00)
    first = (await ok(await shop.billing.post("/api/v2/payouts/create", headers=shop.headers,
                                              json={"amount": "500",
                                                    "currency": "USD"}), 201))["payoutId"]
    canceled = await ok(await shop.billing.post(f"/api/v2/payouts/{first}/cancel",
                                                headers=shop.headers))
    assert canceled["status"] == "canceled" and canceled["canceledAt"] is not None
    assert await shop.balance() == {"pending": 0, "available": net, "inTransit": 0}
    again = await shop.billing.post(f"/api/v2/payouts/{first}/cancel", headers=shop.headers)
    assert again.status == 409
    assert (await again.json())["message"] == "Error! A canceled payout cannot be canceled"
    second = (await ok(await shop.billing.post("/api/v2/payouts/create", headers=shop.headers,
                                               json={"amount": "500", "currency": "USD"}),
                       201))["payoutId"]
    await shop.tick(shop.clock.now() + timedelta(seconds=shop.settings.payout_hold_seconds + 1))
    late = await shop.billing.post(f"/api/v2/payouts/{second}/cancel", headers=shop.headers)
    assert (late.status, (await late.json())["message"]) == (
        409, "Error! A in transit payout cannot be canceled")
    assert await _events(shop, first, 2) == ["payout.created", "payout.canceled"]


async def test_payout_fees_come_from_the_fee_engine_and_are_posted(shop):
    await merchant_charge(shop.fees, shop.settings, shop.admin, shop.merchant, "PAYOUT",
                          chargeType="FLAT", currency="USD", value=Decimal("1.50"),
                          maxThreshold=None)
    await shop.account()
    net = await _available(shop, 100_00)
    created = await ok(await shop.billing.post("/api/v2/payouts/create", headers=shop.headers,
                                               json={"amount": "9000", "currency": "USD"}), 201)
    assert created["fee"] == "150"
    assert await shop.balance() == {"pending": 0, "available": net - 9000 - 150,
                                    "inTransit": 9000}
    assert (await shop.books())["payout_fees"] == 150
    too_much = await shop.billing.post("/api/v2/payouts/create", headers=shop.headers,
                                       json={"amount": str(net - 9000 - 149),
                                             "currency": "USD"})
    assert too_much.status == 400  # the fee does not fit
    canceled = await ok(await shop.billing.post(
        f"/api/v2/payouts/{created['payoutId']}/cancel", headers=shop.headers))
    assert canceled["status"] == "canceled"
    assert await shop.balance() == {"pending": 0, "available": net, "inTransit": 0}
    assert (await shop.books())["payout_fees"] == 0
    await shop.trial_balance_is_even()


async def test_the_schedule_pays_out_what_is_available_once_per_run(shop, settings):
    await shop.account()
    await shop.schedule(interval="daily", delayDays=2)
    done = await shop.pay(60_00)
    net = 60_00 - int(done["charges"] or 0)
    await shop.wait_balance(pending=net)
    # two days on: the funds are released and the day's run pays all of them out
    report = await shop.tick(shop.clock.now() + 2 * DAY + timedelta(seconds=1))
    assert (report["scheduled"], report["submitted"]) == (1, 1)
    auto = await _automatic(shop)
    assert [(p["amount"], p["status"]) for p in auto] == [(str(net), "in_transit")]
    assert await shop.balance() == {"pending": 0, "available": 0, "inTransit": net}
    # two replicas ticking at the next run together: one payout for that run
    replica = create_app(shop.app[SETTINGS],
                         billing_spec(settings, clock=shop.clock, run_scheduler=False))
    async with serve(replica):
        again = await shop.pay(7_00)
        net2 = 7_00 - int(again["charges"] or 0)
        await shop.wait_balance(pending=net2)
        shop.clock.advance(days=3)
        await asyncio.gather(payouts_scheduler.tick(shop.app), payouts_scheduler.tick(replica))
        await payouts_scheduler.tick(replica)  # and once more after: still nothing new
    assert sorted(int(p["amount"]) for p in await _automatic(shop)) == sorted([net, net2])
    assert (await shop.balance())["available"] == 0
    await shop.trial_balance_is_even()


async def _automatic(shop) -> list[dict]:
    listed = await ok(await shop.billing.get("/api/v2/payouts", headers=shop.headers))
    return [p for p in listed["payouts"] if p["automatic"]]


async def test_a_refund_after_a_payout_makes_the_balance_negative_until_payments_net_it(
        shop):
    await shop.account()
    await shop.schedule(interval="daily", delayDays=2)
    done = await shop.pay(30_00)
    net = 30_00 - int(done["charges"] or 0)
    await shop.wait_balance(pending=net)
    await shop.tick(shop.clock.now() + 2 * DAY + timedelta(seconds=1))
    assert [int(p["amount"]) for p in await _automatic(shop)] == [net]
    refund = await shop.checkout.post(f"/api/v2/payments/{done['paymentId']}/refund",
                                      headers=shop.headers, json={"amount": "1000"})
    assert refund.status == 200, await refund.text()
    await poll_until(lambda: _refund_moved(shop), what="the refund's movement")
    await shop.tick(shop.clock.now() + DAY)  # released, and the day's run finds nothing
    assert (await shop.balance())["available"] == -10_00
    assert len(await _automatic(shop)) == 1  # no payout while the balance is negative
    again = await shop.pay(15_00)
    net2 = 15_00 - int(again["charges"] or 0)
    await shop.wait_balance(pending=net2)
    await shop.tick(shop.clock.now() + 2 * DAY + timedelta(seconds=1))
    assert sorted(int(p["amount"]) for p in await _automatic(shop)) == sorted(
        [net, net2 - 10_00])
    assert (await shop.balance())["available"] == 0
    await shop.trial_balance_is_even()


async def _refund_moved(shop) -> bool:
    moves = (await ok(await shop.billing.get("/api/v2/balance/transactions",
                                             headers=shop.headers,
                                             params={"type": "refund"})))["transactions"]
    return bool(moves)


async def test_another_tenants_payout_is_not_found_and_each_role_sees_its_own(shop, settings):
    await shop.account()
    net = await _available(shop, 20_00)
    pid = (await ok(await shop.billing.post("/api/v2/payouts/create", headers=shop.headers,
                                            json={"amount": str(net), "currency": "USD"}),
                    201))["payoutId"]
    other_admin = await make_company_admin(settings)
    stranger = await make_merchant(settings, other_admin, status="ACTIVE")
    for who in (stranger, other_admin):
        resp = await shop.billing.get(f"/api/v2/payouts/{pid}", headers=who.headers(settings))
        assert resp.status == 404
        gone = await shop.billing.post(f"/api/v2/payouts/{pid}/cancel",
                                       headers=who.headers(settings))
        assert gone.status == 404
    sibling = await make_merchant(settings, shop.admin, status="ACTIVE")
    resp = await shop.billing.get(f"/api/v2/payouts/{pid}", headers=sibling.headers(settings))
    assert resp.status == 404
    # NORAH: the ADMIN sees its company's settlements, the MERCHANT its own, others none
    own = await shop.billing.get("/api/v1/settlements", headers=shop.headers)
    body = await own.json()
    assert [s["settlementId"] for s in body["data"]] == [pid]
    assert body["data"][0]["status"] == "PENDING"
    assert Decimal(str(body["data"][0]["amount"])) == Decimal(net) / 100  # major units
    admin = await (await shop.billing.get("/api/v1/settlements",
                                          headers=shop.admin.headers(settings))).json()
    assert pid in [s["settlementId"] for s in admin["data"]]
    assert admin["pagination"]["total"] >= 1
    other = await (await shop.billing.get("/api/v1/settlements",
                                          headers=other_admin.headers(settings))).json()
    assert other["data"] == []
    by_status = await (await shop.billing.get("/api/v1/settlements", headers=shop.headers,
                                              params={"status": "PAID"})).json()
    assert by_status["data"] == []
    bad = await shop.billing.get("/api/v1/settlements", headers=shop.headers,
                                 params={"status": "LOST"})
    assert bad.status == 400


async def test_live_mode_payouts_are_refused_before_any_money_moves(shop):
    await shop.account()
    live = shop.merchant.headers(shop.settings, mode="live")
    resp = await shop.billing.post("/api/v2/payouts/create", headers=live,
                                   json={"amount": "100", "currency": "USD"})
    body = await resp.json()
    assert resp.status == 400
    assert body["message"].startswith("Error! Payouts to BANK are not available in live mode")
    balance = await ok(await shop.billing.get("/api/v2/balance", headers=live))
    assert balance["livemode"] is True and balance["balances"] == []


async def test_bad_payout_requests_are_400s_naming_the_field(shop):
    await shop.account()
    for body, field in (({"amount": "-5", "currency": "USD"}, "amount"),
                        ({"amount": "1.5", "currency": "USD"}, "amount"),
                        ({"amount": "100", "currency": "XYZ"}, "currency"),
                        ({"amount": "100"}, "currency"),
                        ({"amount": "100", "currency": "USD", "extra": 1}, "extra")):
        resp = await shop.billing.post("/api/v2/payouts/create", headers=shop.headers,
                                       json=body)
        text = await resp.text()
        assert resp.status == 400, (body, text)
        assert field in text.lower()
    no_account = await shop.billing.post("/api/v2/payouts/create", headers=shop.headers,
                                         json={"amount": "100", "currency": "ZWG"})
    assert no_account.status == 400
    assert "no default ZWG settlement account" in (await no_account.json())["message"]


async def test_a_manual_reversal_moves_the_balance_and_payout_postings_cannot_be_reversed(
        shop):
    await shop.account()
    done = await shop.pay(20_00)
    pid = done["paymentId"]
    net = 20_00 - int(done["charges"] or 0)
    await shop.wait_balance(pending=net)
    admin = shop.admin.headers(shop.settings)
    entries = (await ok(await shop.billing.get("/api/v2/ledger/entries", headers=admin, params={
        "referenceType": "payment", "referenceId": pid})))["entries"]
    reversed_ = await ok(await shop.billing.post(
        f"/api/v2/ledger/transactions/{entries[0]['transactionId']}/reverse", headers=admin),
        201)
    assert reversed_["reverses"] == entries[0]["transactionId"]
    moves = (await ok(await shop.billing.get("/api/v2/balance/transactions",
                                             headers=shop.headers,
                                             params={"type": "adjustment"})))["transactions"]
    assert [(m["sourceId"], m["amount"]) for m in moves] == [(pid, "-2000")]
    assert (await shop.balance())["pending"] == net - 20_00
    await shop.tick(shop.clock.now() + 2 * DAY + timedelta(seconds=1))
    # the payment's movement and its undoing are both available now: they net out
    assert await shop.balance() == {"pending": 0, "available": net - 20_00, "inTransit": 0}
    await shop.trial_balance_is_even()
    # a payout's postings follow the payout: a 409, and nothing posted
    other = await shop.pay(10_00)
    await shop.wait_balance(pending=10_00 - int(other["charges"] or 0))
    await shop.tick(shop.clock.now() + 2 * DAY + timedelta(seconds=1))
    available = (await shop.balance())["available"]
    po = (await ok(await shop.billing.post("/api/v2/payouts/create", headers=shop.headers,
                                           json={"amount": str(available),
                                                 "currency": "USD"}), 201))["payoutId"]
    [entry, *_] = (await ok(await shop.billing.get("/api/v2/ledger/entries", headers=admin,
                                                   params={"referenceType": "payout",
                                                           "referenceId": po})))["entries"]
    refused = await shop.billing.post(
        f"/api/v2/ledger/transactions/{entry['transactionId']}/reverse", headers=admin)
    assert refused.status == 409
    assert await shop.balance() == {"pending": 0, "available": 0, "inTransit": available}


async def test_a_payout_goes_where_it_was_made_for_whatever_happens_to_the_account(shop):
    closed = await shop.account(number="620000000001")
    net = await _available(shop, 18_00)
    pid = (await ok(await shop.billing.post("/api/v2/payouts/create", headers=shop.headers,
                                            json={"amount": str(net), "currency": "USD"}),
                    201))["payoutId"]
    base = f"/api/v1/admin/merchants/{shop.merchant.merchant_id}/settlement-accounts"
    # during the hold the merchant points the account elsewhere, then removes it
    changed = await shop.billing.put(f"{base}/{closed['settlementAccountId']}",
                                     headers=shop.headers, json={
        "type": "BANK", "currency": "USD", "bankName": "CBZ Bank", "branchCode": "6101",
        "accountName": "Shop Ltd", "accountNumber": "620099998888"})
    assert changed.status == 200, await changed.text()
    gone = await shop.billing.delete(f"{base}/{closed['settlementAccountId']}",
                                     headers=shop.headers)
    assert gone.status == 200, await gone.text()
    await shop.tick(shop.clock.now() + timedelta(seconds=shop.settings.payout_hold_seconds + 1))
    shop.clock.advance(seconds=shop.settings.sandbox_payout_callback_seconds + 1)
    # the rail was paid to the account as it was: ...0001, which the sandbox closes
    assert (await shop.call_back(pid))["status"] == "failed"
    failed = await shop.payout(pid)
    assert (failed["failureCode"], failed["destination"]["last4"]) == ("account_closed", "0001")
    assert await shop.balance() == {"pending": 0, "available": net, "inTransit": 0}


async def test_balance_transactions_page_by_cursor_with_nothing_missed_or_repeated(shop):
    """`nextCursor` walks every movement newest first, page by page, exactly once; the
    last page has none; a cursor the list never gave is a 400 naming it."""
    paid = [await shop.pay(amount) for amount in (10_00, 11_00, 12_00, 13_00, 14_00)]
    await poll_until(lambda: _movement_ids(shop, {}), what="the movements")

    async def every() -> list[str]:
        return await _movement_ids(shop, {"per_page": "100"})
    everything = await poll_until(
        lambda: _when(every(), lambda ids: len(ids) >= len(paid)), what="all movements")
    walked, params = [], {"per_page": "2"}
    for _ in range(len(everything)):
        body = await ok(await shop.billing.get("/api/v2/balance/transactions",
                                               headers=shop.headers, params=params))
        walked += [m["balanceTransactionId"] for m in body["transactions"]]
        assert body["pagination"]["total"] == len(everything)
        cursor = body["pagination"]["nextCursor"]
        if cursor is None:
            break
        params = {"per_page": "2", "cursor": cursor}
    assert walked == everything
    assert {p["paymentId"] for p in paid} <= {
        m["sourceId"] for m in (await ok(await shop.billing.get(
            "/api/v2/balance/transactions", headers=shop.headers,
            params={"per_page": "100"})))["transactions"]}
    resp = await shop.billing.get("/api/v2/balance/transactions", headers=shop.headers,
                                  params={"cursor": "not-a-cursor"})
    body = await resp.json()
    assert resp.status == 400 and "cursor" in str(body), body


async def _movement_ids(shop, params: dict) -> list[str]:
    body = await ok(await shop.billing.get("/api/v2/balance/transactions",
                                           headers=shop.headers, params=params))
    return [m["balanceTransactionId"] for m in body["transactions"]]


async def _when(value, test):
    got = await value
    return got if test(got) else None
