"""Test mode and live mode in billing (docs/modes.md): plans, subscriptions, invoices,
the ledger's books, the dashboard and the settlement report each belong to one mode,
and a caller sees only the objects of the mode its principal is signed for."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

import pytest

from services.auth.app import build_spec as auth_spec
from services.billing import scheduler
from services.billing.app import build_spec as billing_spec
from services.billing.context import ManualClock
from services.gateway.app import build_spec as gateway_spec
from shared.events import Topology
from shared.http.app import create_app
from tests.conftest import serve
from tests.integration.test_billing_api import SEED_INVOICE, _ok, billing_stack, make_plan
from tests.support.auth import PASSWORD, Account, make_company_admin, make_merchant
from tests.support.broker import EventTap, publish_event
from tests.support.poll import poll_until

NOR = 10**18


@pytest.fixture
async def shop(settings):
    async with billing_stack(settings) as (billing, checkout, app):
        admin = await make_company_admin(settings)
        merchant = await make_merchant(settings, admin, status="ACTIVE")
        yield billing, merchant, admin


async def test_a_plan_is_seen_only_in_the_mode_it_was_made_in(settings, shop):
    client, merchant, admin = shop
    test, live = merchant.headers(settings), merchant.headers(settings, "live")
    live_plan = await make_plan(client, live, name="Live Pro")
    test_plan = await make_plan(client, test, name="Test Pro")
    assert (live_plan["livemode"], test_plan["livemode"]) == (True, False)
    for plan, other in ((live_plan, test), (test_plan, live)):
        resp = await client.get(f"/api/v2/plans/{plan['planId']}", headers=other)
        assert resp.status == 404, await resp.text()  # as another tenant's would be
    assert await _ok(await client.get(f"/api/v2/plans/{live_plan['planId']}",
                                      headers=live)) == live_plan
    for headers, plan in ((live, live_plan), (test, test_plan)):
        listed = await _ok(await client.get("/api/v2/plans", headers=headers))
        assert [p["planId"] for p in listed["plans"]] == [plan["planId"]]
        assert listed["pagination"]["total"] == 1
    # The company's ADMIN too reads the mode its session is in.
    resp = await client.get(f"/api/v2/plans/{live_plan['planId']}",
                            headers=admin.headers(settings))
    assert resp.status == 404
    resp = await client.get(f"/api/v2/plans/{live_plan['planId']}",
                            headers=admin.headers(settings, "live"))
    assert resp.status == 200


async def test_through_the_gateway_a_session_sees_the_plans_of_the_mode_it_asks_for(settings):
    async with serve(create_app(settings, auth_spec(settings))) as auth:
        s = settings.model_copy(update={"auth_url": f"http://127.0.0.1:{auth.server.port}"})
        async with serve(create_app(s, billing_spec(s, run_scheduler=False))) as billing:
            s = s.model_copy(update={"billing_url": f"http://127.0.0.1:{billing.server.port}"})
            async with serve(create_app(s, gateway_spec(s))) as gateway:
                admin = await make_company_admin(settings)
                merchant = await make_merchant(settings, admin, status="ACTIVE")
                resp = await gateway.post("/api/v1/auth/sign-in", json={
                    "email": merchant.email, "password": PASSWORD})
                assert resp.status == 200, await resp.text()
                session = {"Authorization": f"Bearer {(await resp.json())['token']}"}
                live = {**session, "X-Norgate-Mode": "live"}
                plan = await make_plan(gateway, live)
                assert plan["livemode"] is True
                for headers, plans in ((session, []), (live, [plan["planId"]])):
                    listed = await _ok(await gateway.get("/api/v2/plans", headers=headers))
                    assert [p["planId"] for p in listed["plans"]] == plans
                resp = await gateway.get(f"/api/v2/plans/{plan['planId']}", headers=session)
                assert resp.status == 404


async def test_a_subscription_uses_only_a_plan_of_its_own_mode(settings, shop):
    client, merchant, _ = shop
    test, live = merchant.headers(settings), merchant.headers(settings, "live")
    live_plan = await make_plan(client, live)
    test_plan = await make_plan(client, test)
    for headers, plan in ((test, live_plan), (live, test_plan)):
        resp = await client.post("/api/v2/subscriptions/create", headers=headers, json={
            "planId": plan["planId"], "customerId": "cust_x"})
        body = await resp.json()
        assert resp.status == 404 and "Plan" in body["message"], body
    sub = await _ok(await client.post("/api/v2/subscriptions/create", headers=live, json={
        "planId": live_plan["planId"], "customerId": "cust_live"}), 201)
    assert sub["livemode"] is True and sub["status"] == "active"
    trial = await _ok(await client.post("/api/v2/subscriptions/create", headers=test, json={
        "planId": test_plan["planId"], "customerId": "cust_test", "trialDays": 7}), 201)
    assert trial["livemode"] is False
    sid = sub["subscriptionId"]
    for method, path, body in (
            ("GET", f"/api/v2/subscriptions/{sid}", None),
            ("GET", f"/api/v2/subscriptions/{sid}/invoices", None),
            ("POST", f"/api/v2/subscriptions/{sid}/cancel", {}),
            ("POST", f"/api/v2/subscriptions/{sid}/payment-method",
             {"paymentMethod": "NOR_WALLET", "payer": "0x" + "ab" * 20})):
        resp = await client.request(method, path, headers=test, json=body)
        assert resp.status == 404, (path, await resp.text())
    for headers, expected in ((live, sub), (test, trial)):
        listed = await _ok(await client.get("/api/v2/subscriptions", headers=headers))
        assert [s["subscriptionId"] for s in listed["subscriptions"]] == [
            expected["subscriptionId"]]
    # The dashboard counts the subscriptions and customers of the caller's mode.
    for headers, active, trialing in ((live, 1, 0), (test, 0, 1)):
        dash = await _ok(await client.get("/api/v2/merchants/dashboard", headers=headers,
                                          params={"period": "today"}))
        assert dash["livemode"] is (headers is live)
        assert (dash["subscriptions"]["active"], dash["subscriptions"]["trialing"]) == (
            active, trialing)
        assert dash["customers"]["total"] == 1
    canceled = await _ok(await client.post(f"/api/v2/subscriptions/{sid}/cancel",
                                           headers=live, json={}))
    assert canceled["subscriptionStatus"] == "canceled" and canceled["livemode"] is True


async def test_the_scheduler_keeps_each_subscriptions_invoices_in_its_mode(settings):
    clock = ManualClock(datetime(2032, 6, 1, tzinfo=UTC))
    async with billing_stack(settings, clock=clock) as (client, _, app), \
            EventTap(settings.amqp_url, Topology(settings.events_namespace),
                     ["invoice.created", "subscription.created"]) as tap:
        admin = await make_company_admin(settings)
        merchant = await make_merchant(settings, admin, status="ACTIVE")
        test, live = merchant.headers(settings), merchant.headers(settings, "live")
        manual = await _ok(await client.post("/api/v2/invoices/create", headers=test,
                                             json=SEED_INVOICE), 201)
        assert (manual["livemode"], manual["invoiceNumber"]) == (False, "INV-2032-001")
        subs = {}
        for mode, headers in (("live", live), ("test", test)):
            plan = await make_plan(client, headers)
            subs[mode] = (await _ok(await client.post(
                "/api/v2/subscriptions/create", headers=headers,
                json={"planId": plan["planId"], "customerId": f"cust_{mode}"}), 201))[
                "subscriptionId"]
        assert await scheduler.tick(app) is True
        [live_inv] = await _ok(await client.get(
            f"/api/v2/subscriptions/{subs['live']}/invoices", headers=live))
        [test_inv] = await _ok(await client.get(
            f"/api/v2/subscriptions/{subs['test']}/invoices", headers=test))
        # Each mode numbers its own invoices: live numbers have no gaps left by test ones.
        assert (live_inv["livemode"], live_inv["invoiceNumber"]) == (True, "INV-2032-001")
        assert (test_inv["livemode"], test_inv["invoiceNumber"]) == (False, "INV-2032-002")
        for headers, ids in ((live, [live_inv["invoiceId"]]),
                             (test, [test_inv["invoiceId"], manual["invoiceId"]])):
            listed = await _ok(await client.get("/api/v2/invoices", headers=headers))
            assert [i["invoiceId"] for i in listed["invoices"]] == ids
        iid = live_inv["invoiceId"]
        for method, path in (("GET", f"/api/v2/invoices/{iid}"),
                             ("GET", f"/api/v2/invoices/{iid}/pdf"),
                             ("POST", f"/api/v2/invoices/{iid}/send"),
                             ("POST", f"/api/v2/invoices/{iid}/void")):
            resp = await client.request(method, path, headers=test)
            assert resp.status == 404, (path, await resp.text())
        got = await _ok(await client.get(f"/api/v2/invoices/{iid}", headers=live))
        assert got["livemode"] is True

        invoice_ids = {iid, test_inv["invoiceId"], manual["invoiceId"]}

        def told():  # (the other tests' events may reach the tap too)
            made = {e.data["invoiceId"]: e.data.get("livemode") for e in tap.events
                    if e.type == "invoice.created" and e.data["invoiceId"] in invoice_ids}
            subs_told = {e.data["subscriptionId"]: e.data.get("livemode") for e in tap.events
                         if e.type == "subscription.created"
                         and e.data["subscriptionId"] in subs.values()}
            return (made, subs_told) if len(made) == 3 and len(subs_told) == 2 else None
        made, subs_told = await poll_until(told, what="the invoice and subscription events")
        assert made == {iid: True, test_inv["invoiceId"]: False, manual["invoiceId"]: False}
        assert subs_told == {subs["live"]: True, subs["test"]: False}


async def test_an_invoices_payment_is_made_in_the_invoices_mode(settings):
    async with billing_stack(settings) as (client, checkout, _):
        admin = await make_company_admin(settings)
        merchant = await make_merchant(settings, admin, status="ACTIVE")
        test, live = merchant.headers(settings), merchant.headers(settings, "live")
        made = {}
        for mode, headers in (("test", test), ("live", live)):
            made[mode] = await _ok(await client.post("/api/v2/invoices/create",
                                                     headers=headers, json=SEED_INVOICE), 201)
        year = datetime.now(UTC).year
        # one series per mode: both are the first of their year
        assert {m: (i["livemode"], i["invoiceNumber"]) for m, i in made.items()} == {
            "test": (False, f"INV-{year}-001"), "live": (True, f"INV-{year}-001")}
        for mode, headers, other in (("test", test, live), ("live", live, test)):
            pid = made[mode]["paymentId"]
            got = await checkout.get(f"/api/v2/payments/{pid}", headers=headers)
            assert got.status == 200, await got.text()
            assert (await got.json())["result"]["livemode"] is (mode == "live")
            assert (await checkout.get(f"/api/v2/payments/{pid}", headers=other)).status == 404


async def test_a_payment_pays_only_an_invoice_of_its_own_mode(settings, shop):
    client, merchant, _ = shop
    test = merchant.headers(settings)
    inv = await _ok(await client.post("/api/v2/invoices/create", headers=test,
                                      json=SEED_INVOICE), 201)
    base = {"amount": inv["total"], "currency": "NOR", "status": "completed",
            "origin": "billing", "metadata": {"invoiceId": inv["invoiceId"]}}
    await publish_event(settings, "payment.completed",
                        {**base, "paymentId": "pay_live_" + secrets.token_hex(6),
                         "livemode": True}, merchant)
    live_headers = merchant.headers(settings, "live")
    await poll_until(lambda: _entries(client, live_headers), what="the live posting")
    got = await _ok(await client.get(f"/api/v2/invoices/{inv['invoiceId']}", headers=test))
    assert got["status"] == "draft"  # a live payment does not pay a test invoice
    pid = "pay_test_" + secrets.token_hex(6)
    await publish_event(settings, "payment.completed", {**base, "paymentId": pid}, merchant)

    async def paid():
        row = await _ok(await client.get(f"/api/v2/invoices/{inv['invoiceId']}", headers=test))
        return row if row["status"] == "paid" else None
    assert (await poll_until(paid, what="the test invoice paid"))["paymentId"] == pid


# The ledger's books -----------------------------------------------------------------

async def _entries(client, headers, **params) -> list[dict]:
    return (await _ok(await client.get("/api/v2/ledger/entries", headers=headers,
                                       params=params)))["entries"]


@pytest.fixture
async def books(settings):
    """Billing alone (its ledger reads ask no other service) and a merchant that exists
    only in the events and principals."""
    async with serve(create_app(settings, billing_spec(settings,
                                                       run_scheduler=False))) as client:
        company, merchant = secrets.randbelow(10**12) + 1, secrets.randbelow(10**12) + 1
        yield client, Account(1, "shop@example.com", "MERCHANT", company, merchant), \
            Account(2, "admin@example.com", "ADMIN", company)


async def test_test_and_live_payments_of_one_merchant_land_in_separate_books(settings, books):
    client, shop, admin = books
    test, live = shop.headers(settings), shop.headers(settings, "live")
    amounts = {False: (3 * NOR, 3 * NOR // 100, "c_test"), True: (5 * NOR, 5 * NOR // 50, "c_live")}
    ids = {}
    for livemode, (amount, charges, customer) in amounts.items():
        ids[livemode] = pid = f"pay_{'live' if livemode else 'test'}_" + secrets.token_hex(6)
        data = {"paymentId": pid, "amount": str(amount), "currency": "NOR",
                "charges": str(charges), "status": "completed", "refundedAmount": "0",
                "metadata": {"customerId": customer}}
        if livemode:
            data["livemode"] = True  # absent means test (checkout before modes)
        await publish_event(settings, "payment.completed", data, shop)
    await publish_event(settings, "payment.refunded", {
        "paymentId": ids[True], "amount": str(5 * NOR), "currency": "NOR",
        "charges": str(5 * NOR // 50), "status": "completed", "refundedAmount": str(NOR),
        "livemode": True, "metadata": {"customerId": "c_live"}}, shop)

    async def posted():
        rows = await _entries(client, live)
        return rows if len(rows) == 6 and await _entries(client, test) else None
    live_rows = await poll_until(posted, what="both payments and the live refund posted")
    test_rows = await _entries(client, test)
    assert {r["referenceId"] for r in live_rows} == {ids[True]}
    assert {r["referenceId"] for r in test_rows} == {ids[False]}
    assert {r["livemode"] for r in live_rows} == {True}
    assert {r["livemode"] for r in test_rows} == {False}

    for headers, livemode in ((live, True), (test, False)):
        amount, charges, _ = amounts[livemode]
        refunded = NOR if livemode else 0
        accounts = {a["account"]: a for a in await _ok(
            await client.get("/api/v2/ledger/accounts", headers=headers))}
        assert {a["livemode"] for a in accounts.values()} == {livemode}
        assert accounts["customer_wallet"]["balance"] == str(amount - charges - refunded)
        assert accounts["revenue:product_sales"]["balance"] == str(amount)
        trial = await _ok(await client.get("/api/v2/ledger/trial-balance", headers=headers))
        assert trial["balanced"] is True and trial["livemode"] is livemode

        dash = await _ok(await client.get("/api/v2/merchants/dashboard", headers=headers,
                                          params={"period": "today"}))
        assert dash["livemode"] is livemode
        assert dash["revenue"]["total"] == str(amount - refunded)
        assert (dash["payments"]["total"], dash["customers"]["total"]) == (1, 1)
        assert [p["revenue"] for p in dash["topProducts"]] == [str(amount - refunded)]

        report = await _ok(await client.get("/api/v2/ledger/settlement", headers=headers,
                                            params={"period": "today"}))
        assert report["livemode"] is livemode
        [row] = report["currencies"]
        assert (row["gross"], row["charges"], row["refunds"], row["payments"]) == (
            str(amount), str(charges), str(refunded), 1)
        csv = await client.get("/api/v2/ledger/settlement", headers=headers,
                               params={"period": "today", "format": "csv"})
        assert f",{amount},{charges},{refunded}," in await csv.text()

    # A correction happens in the book of the transaction: another mode's is a 404.
    [tx] = {r["transactionId"] for r in live_rows if r["referenceType"] == "payment"}
    path = f"/api/v2/ledger/transactions/{tx}/reverse"
    assert (await client.post(path, headers=admin.headers(settings))).status == 404
    await _ok(await client.post(path, headers=admin.headers(settings, "live")), 201)
    report = await _ok(await client.get("/api/v2/ledger/settlement", headers=live,
                                        params={"period": "today"}))
    assert report["currencies"][0]["gross"] == "0"
    report = await _ok(await client.get("/api/v2/ledger/settlement", headers=test,
                                        params={"period": "today"}))
    assert report["currencies"][0]["gross"] == str(3 * NOR)


async def test_a_payment_event_with_a_livemode_that_is_no_boolean_posts_nothing(settings,
                                                                               books):
    client, shop, _ = books
    for livemode, pid in (("yes", "pay_bad_mode"), (False, "pay_good_mode")):
        await publish_event(settings, "payment.completed", {
            "paymentId": pid, "amount": "100", "currency": "USD", "status": "completed",
            "livemode": livemode, "metadata": {}}, shop)
    rows = await poll_until(lambda: _entries(client, shop.headers(settings)),
                            what="the good event posted")
    assert {r["referenceId"] for r in rows} == {"pay_good_mode"}
    assert await _entries(client, shop.headers(settings, "live")) == []
