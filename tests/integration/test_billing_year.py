"""A simulated year of one subscription, the clock moved a day at a time: a monthly
plan of 50 NOR with a 14-day trial, renewals, one failed collection recovered by
dunning, one cancel at period end. Invoices and ledger are checked against figures
worked out by hand."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from services.billing import scheduler
from services.billing.context import ManualClock
from shared.events import Topology
from tests.integration.test_billing_api import _ok, billing_stack, make_plan
from tests.support.auth import make_company_admin, make_merchant
from tests.support.broker import EventTap
from tests.support.poll import poll_until

NOR = 10**18
START = datetime(2025, 1, 1, tzinfo=UTC)


def _ts(*ymd) -> str:
    return str(int(datetime(*ymd, tzinfo=UTC).timestamp()))


async def test_a_simulated_year_of_renewals_dunning_and_cancel_at_period_end(settings):
    clock = ManualClock(START)
    funded = "0x" + secrets.token_hex(20)           # 1,000 NOR in the sandbox
    empty = "0x" + secrets.token_hex(18) + "dead"   # no funds: the collection fails
    keys = ["subscription.created", "subscription.updated", "subscription.canceled",
            "invoice.created", "invoice.paid", "invoice.overdue"]
    async with billing_stack(settings, clock=clock) as (client, checkout, app), \
            EventTap(settings.amqp_url, Topology(settings.events_namespace), keys) as tap:
        admin = await make_company_admin(settings)
        merchant = await make_merchant(settings, admin, status="ACTIVE")
        headers = merchant.headers(settings)
        plan = await make_plan(client, headers)
        sub = await _ok(await client.post("/api/v2/subscriptions/create", headers=headers, json={
            "planId": plan["planId"], "customerId": "cust_456", "trialDays": 14,
            "paymentMethod": {"paymentMethod": "NOR_WALLET", "payer": funded}}), 201)
        sid = sub["subscriptionId"]
        assert (sub["status"], sub["trialEnd"]) == ("trialing", _ts(2025, 1, 15))

        async def method(payer: str) -> None:
            await _ok(await client.post(f"/api/v2/subscriptions/{sid}/payment-method",
                                        headers=headers,
                                        json={"paymentMethod": "NOR_WALLET", "payer": payer}))

        async def status() -> str:
            got = await _ok(await client.get(f"/api/v2/subscriptions/{sid}", headers=headers))
            return got["status"]

        day = START
        while day < datetime(2026, 1, 1, tzinfo=UTC):
            clock.set(day)
            if day == datetime(2025, 4, 10, tzinfo=UTC):
                await method(empty)
            if day == datetime(2025, 4, 17, tzinfo=UTC):
                assert await status() == "past_due"
                await method(funded)
            if day == datetime(2025, 10, 20, tzinfo=UTC):
                cancel = await _ok(await client.post(
                    f"/api/v2/subscriptions/{sid}/cancel", headers=headers,
                    json={"cancelAtPeriodEnd": True, "reason": "Customer requested"}))
                assert cancel["endsAt"] == _ts(2025, 11, 15)
            assert await scheduler.tick(app) is True
            if day == datetime(2025, 1, 15, tzinfo=UTC):
                assert await status() == "active"
            if day == datetime(2025, 4, 15, tzinfo=UTC):
                assert await status() == "past_due"
            if day == datetime(2025, 4, 18, tzinfo=UTC):
                assert await status() == "active"
            day += timedelta(days=1)

        final = await _ok(await client.get(f"/api/v2/subscriptions/{sid}", headers=headers))
        assert (final["status"], final["endsAt"]) == ("canceled", _ts(2025, 11, 15))
        assert (final["currentPeriodStart"], final["currentPeriodEnd"]) == (
            _ts(2025, 10, 15), _ts(2025, 11, 15))

        # Ten paid periods, 15 Jan to 15 Nov, numbered without gaps.
        invoices = await _ok(await client.get(f"/api/v2/subscriptions/{sid}/invoices",
                                              headers=headers))
        assert [i["invoiceNumber"] for i in invoices] == [
            f"INV-2025-{n:03d}" for n in range(1, 11)]
        assert [(i["periodStart"], i["periodEnd"]) for i in invoices] == [
            (_ts(2025, m, 15), _ts(2025, m + 1, 15)) for m in range(1, 11)]
        assert {(i["status"], i["total"], i["tax"]) for i in invoices} == {
            ("paid", str(50 * NOR), "0")}
        april = invoices[3]
        assert (april["attempts"], april["paidAt"]) == (1, _ts(2025, 4, 18))
        assert [i["attempts"] for i in invoices].count(0) == 9

        # The ledger, once the ten payment events are posted: 500 NOR of revenue.
        payment_ids = [i["paymentId"] for i in invoices]
        charges = 0
        for pid in payment_ids:
            got = (await (await checkout.get(f"/api/v2/payments/{pid}",
                                             headers=headers)).json())["result"]
            assert got["status"] == "completed" and got["metadata"]["subscriptionId"] == sid
            charges += int(got["charges"])

        async def accounts():
            rows = await _ok(await client.get("/api/v2/ledger/accounts", headers=headers))
            got = {a["account"]: a for a in rows}
            revenue = got.get("revenue:norpay_pro", {}).get("balance")
            return got if revenue == str(500 * NOR) else None
        books = await poll_until(accounts, timeout=15, what="500 NOR of subscription revenue")
        assert books["revenue:norpay_pro"]["name"] == "Revenue - NorPay Pro"
        assert books["customer_wallet"]["debits"] == str(500 * NOR)
        assert books["customer_wallet"]["balance"] == str(500 * NOR - charges)
        assert books.get("fees", {"balance": "0"})["balance"] == str(charges)
        trial = await _ok(await client.get("/api/v2/ledger/trial-balance", headers=headers))
        assert trial["balanced"] is True
        for pid in payment_ids:
            rows = (await _ok(await client.get("/api/v2/ledger/entries", headers=headers,
                                               params={"referenceType": "payment",
                                                       "referenceId": pid})))["entries"]
            assert [r["display"] for r in rows] == [
                "Dr Customer NOR Wallet 50.00 NOR", "Cr Revenue - NorPay Pro 50.00 NOR"]

        # Events: created once, canceled once, invoice.overdue only for April's.
        def of(kind):
            return [e for e in tap.events if e.type == kind and (
                e.data.get("subscriptionId") == sid or
                e.data.get("invoiceId") in {i["invoiceId"] for i in invoices})]
        await poll_until(lambda: len(of("invoice.paid")) == 10, what="ten invoice.paid")
        assert len(of("subscription.created")) == 1
        assert len(of("subscription.canceled")) == 1
        assert [e.data["invoiceId"] for e in of("invoice.overdue")] == [april["invoiceId"]]
        statuses = [e.data["status"] for e in of("subscription.updated")]
        changes = [s for i, s in enumerate(statuses) if i == 0 or statuses[i - 1] != s]
        assert changes == ["active", "past_due", "active"]  # trial over; failed; recovered
        assert all(e.merchant_id == str(merchant.merchant_id) for e in tap.events
                   if e in of("subscription.updated"))
