"""Billing's NorPay routes (plans, subscriptions, invoices) against the real auth,
fees, checkout and billing services."""

from __future__ import annotations

import asyncio
import base64
import shutil
import subprocess
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import pytest

from services.auth.app import build_spec as auth_spec
from services.billing.app import build_spec as billing_spec
from services.billing.context import ManualClock
from services.checkout.app import build_spec as checkout_spec
from services.fees.app import build_spec as fees_spec
from shared.events import Topology
from shared.http.app import create_app
from tests.conftest import serve
from tests.support.auth import make_company_admin, make_merchant
from tests.support.broker import EventTap

NOR = 10**18
WALLET = "0x742d35cc6634c0532925a3b844bc454e4438f44e"


@asynccontextmanager
async def billing_stack(settings, *, clock=None, others: dict | None = None):
    """auth, fees, checkout and billing in-process; yields (billing client, checkout
    client, billing app), and puts the auth and fees clients in `others` when given.
    The billing scheduler does not run by itself: tests tick."""
    async with serve(create_app(settings, auth_spec(settings))) as auth:
        s = settings.model_copy(update={"auth_url": f"http://127.0.0.1:{auth.server.port}"})
        async with serve(create_app(s, fees_spec(s))) as fees:
            if others is not None:
                others.update(auth=auth, fees=fees)
            s = s.model_copy(update={"fees_url": f"http://127.0.0.1:{fees.server.port}"})
            async with serve(create_app(s, checkout_spec(s))) as checkout:
                s = s.model_copy(update={
                    "checkout_url": f"http://127.0.0.1:{checkout.server.port}"})
                app = create_app(s, billing_spec(s, clock=clock, run_scheduler=False))
                async with serve(app) as billing:
                    yield billing, checkout, app


@pytest.fixture
async def shop(settings):
    async with billing_stack(settings) as (billing, checkout, app):
        admin = await make_company_admin(settings)
        merchant = await make_merchant(settings, admin, status="ACTIVE")
        yield billing, merchant.headers(settings), merchant, checkout, admin


async def _ok(resp, status=200) -> dict:
    body = await resp.json()
    assert resp.status == status, body
    assert body["status"] == "1"
    return body["result"]


async def make_plan(client, headers, **extra) -> dict:
    return await _ok(await client.post("/api/v2/plans/create", headers=headers, json={
        "name": "NorPay Pro", "amount": str(50 * NOR), "currency": "NOR", "interval": "month",
        "features": ["Custom Branding", "API Webhooks", "Priority Support"], **extra}), 201)


SEED_INVOICE = {
    "customer": {"name": "Acme Corporation", "email": "billing@acme.com",
                 "address": "123 Business St"},
    "items": [{"description": "NorLedger Pro - Monthly", "quantity": 1,
               "unitPrice": "50000000000000000000", "amount": "50000000000000000000"}],
    "currency": "NOR", "dueDate": "1641600000", "notes": "Payment due within 30 days",
}


async def test_plan_create_get_and_list(shop):
    client, headers, *_ = shop
    plan = await make_plan(client, headers)
    assert plan["planId"].startswith("plan_") and plan["amount"] == str(50 * NOR)
    assert (plan["interval"], plan["intervalCount"]) == ("month", 1)
    got = await _ok(await client.get(f"/api/v2/plans/{plan['planId']}", headers=headers))
    assert got == plan
    listed = await _ok(await client.get("/api/v2/plans", headers=headers))
    assert [p["planId"] for p in listed["plans"]] == [plan["planId"]]


async def test_plan_rejects_a_zero_amount_and_a_bad_interval(shop):
    client, headers, *_ = shop
    resp = await client.post("/api/v2/plans/create", headers=headers, json={
        "name": "Free", "amount": "0", "currency": "NOR", "interval": "month"})
    assert (resp.status, (await resp.json())["message"]) == (
        400, "Error! Amount must be greater than 0")
    resp = await client.post("/api/v2/plans/create", headers=headers, json={
        "name": "X", "amount": "1", "currency": "NOR", "interval": "fortnight"})
    assert resp.status == 400 and "interval" in (await resp.json())["message"]


async def test_subscription_with_trial_answers_the_seeds_fields(shop):
    client, headers, *_ = shop
    plan = await make_plan(client, headers)
    sub = await _ok(await client.post("/api/v2/subscriptions/create", headers=headers, json={
        "planId": plan["planId"], "customerId": "cust_456", "trialDays": 14,
        "metadata": {"company": "Acme Corp"}}), 201)
    for field in ("subscriptionId", "planId", "customerId", "status", "currentPeriodStart",
                  "currentPeriodEnd", "trialEnd", "amount", "interval"):
        assert field in sub
    assert sub["subscriptionId"].startswith("sub_") and sub["status"] == "trialing"
    assert int(sub["trialEnd"]) - int(sub["currentPeriodStart"]) == 14 * 86400
    assert sub["currentPeriodEnd"] == sub["trialEnd"]
    assert (sub["amount"], sub["interval"]) == (str(50 * NOR), "month")
    got = await _ok(await client.get(f"/api/v2/subscriptions/{sub['subscriptionId']}",
                                     headers=headers))
    assert got["metadata"] == {"company": "Acme Corp"}


async def test_cancel_at_period_end_answers_canceled_at_and_ends_at(shop):
    client, headers, *_ = shop
    plan = await make_plan(client, headers)
    sub = await _ok(await client.post("/api/v2/subscriptions/create", headers=headers, json={
        "planId": plan["planId"], "customerId": "cust_1"}), 201)
    assert sub["status"] == "active" and sub["trialEnd"] is None
    sid = sub["subscriptionId"]
    result = await _ok(await client.post(f"/api/v2/subscriptions/{sid}/cancel", headers=headers,
                                         json={"cancelAtPeriodEnd": True,
                                               "reason": "Customer requested cancellation"}))
    assert result["status"] == "canceled" and result["endsAt"] == sub["currentPeriodEnd"]
    assert result["canceledAt"] and result["subscriptionStatus"] == "active"
    again = await client.post(f"/api/v2/subscriptions/{sid}/cancel", headers=headers, json={})
    assert again.status == 200  # canceling now what ends later
    assert (await _ok(again))["subscriptionStatus"] == "canceled"
    third = await client.post(f"/api/v2/subscriptions/{sid}/cancel", headers=headers, json={})
    assert third.status == 409


async def test_another_merchants_subscription_and_plan_are_not_found(settings, shop):
    client, headers, merchant, _, admin = shop
    plan = await make_plan(client, headers)
    other = await make_merchant(settings, admin, status="ACTIVE")
    resp = await client.get(f"/api/v2/plans/{plan['planId']}", headers=other.headers(settings))
    assert resp.status == 404
    resp = await client.post("/api/v2/subscriptions/create", headers=other.headers(settings),
                             json={"planId": plan["planId"], "customerId": "c"})
    assert resp.status == 404
    # the company's ADMIN sees it
    resp = await client.get(f"/api/v2/plans/{plan['planId']}", headers=admin.headers(settings))
    assert resp.status == 200


async def test_invoice_create_answers_the_seeds_fields(settings, shop):
    client, headers, *_ = shop
    inv = await _ok(await client.post("/api/v2/invoices/create", headers=headers,
                                      json=SEED_INVOICE), 201)
    year = datetime.now(UTC).year
    assert inv["invoiceNumber"] == f"INV-{year}-001" and inv["status"] == "draft"
    assert (inv["subtotal"], inv["tax"], inv["total"]) == (
        "50000000000000000000", "0", "50000000000000000000")
    assert (inv["currency"], inv["dueDate"]) == ("NOR", "1641600000")
    assert inv["pdfUrl"] == f"{settings.public_url}/api/v2/invoices/{inv['invoiceId']}/pdf"
    assert inv["paymentUrl"].startswith(f"{settings.public_url}/checkout/pay_")
    second = await _ok(await client.post("/api/v2/invoices/create", headers=headers,
                                         json=SEED_INVOICE), 201)
    assert second["invoiceNumber"] == f"INV-{year}-002"


async def test_voiding_a_draft_answers_the_void_invoice_and_keeps_it_so(shop):
    client, headers, *_ = shop
    inv = await _ok(await client.post("/api/v2/invoices/create", headers=headers,
                                      json=SEED_INVOICE), 201)
    voided = await _ok(await client.post(f"/api/v2/invoices/{inv['invoiceId']}/void",
                                         headers=headers))
    assert (voided["invoiceId"], voided["status"]) == (inv["invoiceId"], "void")
    assert voided["voidedAt"] is not None
    got = await _ok(await client.get(f"/api/v2/invoices/{inv['invoiceId']}", headers=headers))
    assert got["status"] == "void"
    again = await client.post(f"/api/v2/invoices/{inv['invoiceId']}/void", headers=headers)
    assert again.status == 409


async def test_tax_rates_the_merchant_sets_apply_per_line(shop):
    client, headers, *_ = shop
    vat = await _ok(await client.post("/api/v2/invoices/tax-rates", headers=headers,
                                      json={"name": "VAT", "percentage": "15"}), 201)
    reduced = await _ok(await client.post("/api/v2/invoices/tax-rates", headers=headers,
                                          json={"name": "Reduced", "percentage": "7.5"}), 201)
    inv = await _ok(await client.post("/api/v2/invoices/create", headers=headers, json={
        **SEED_INVOICE, "currency": "USD", "taxRateId": vat["taxRateId"],
        "items": [{"description": "Consulting", "quantity": 3, "unitPrice": "10000"},
                  {"description": "Books", "quantity": 1, "unitPrice": "999",
                   "taxRateId": reduced["taxRateId"]}]}), 201)
    # 30000 x 15% = 4500; 999 x 7.5% = 74.925 -> 75 (half up)
    assert (inv["subtotal"], inv["tax"], inv["total"]) == ("30999", "4575", "35574")
    bad = await client.post("/api/v2/invoices/create", headers=headers, json={
        **SEED_INVOICE, "taxRateId": "txr_nope"})
    assert bad.status == 400 and "taxRateId" in (await bad.json())["message"]
    wrong = await client.post("/api/v2/invoices/create", headers=headers, json={
        **SEED_INVOICE, "items": [{"description": "x", "quantity": 2, "unitPrice": "5",
                                   "amount": "11"}]})
    assert wrong.status == 400 and "items[0].amount" in (await wrong.json())["message"]


async def test_fifty_concurrent_invoices_get_fifty_consecutive_numbers(shop):
    client, headers, *_ = shop
    responses = await asyncio.gather(*[
        client.post("/api/v2/invoices/create", headers=headers, json=SEED_INVOICE)
        for _ in range(50)])
    numbers = [(await _ok(r, 201))["invoiceNumber"] for r in responses]
    year = datetime.now(UTC).year
    assert sorted(numbers) == [f"INV-{year}-{n:03d}" for n in range(1, 51)]


def _pdftotext(data: bytes) -> str:
    return subprocess.run(["pdftotext", "-layout", "-", "-"], input=data, check=True,
                          capture_output=True).stdout.decode()


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="needs poppler-utils")
async def test_send_opens_the_invoice_and_mails_the_pdf_with_the_payment_link(settings, shop):
    client, headers, *_ = shop
    inv = await _ok(await client.post("/api/v2/invoices/create", headers=headers,
                                      json=SEED_INVOICE), 201)
    iid = inv["invoiceId"]
    resp = await client.get(f"/api/v2/invoices/{iid}/pdf", headers=headers)
    assert resp.status == 200 and resp.content_type == "application/pdf"
    text = _pdftotext(await resp.read())
    assert inv["invoiceNumber"] in text and "NorLedger Pro - Monthly" in text
    assert "50.00 NOR" in text and "Acme Corporation" in text
    async with EventTap(settings.amqp_url, Topology(settings.events_namespace),
                        ["email.requested"]) as tap:
        sent = await client.post(f"/api/v2/invoices/{iid}/send", headers=headers)
        body = await sent.json()
        assert sent.status == 200 and body["message"] == "Invoice sent successfully"
        assert body["result"]["recipient"] == "billing@acme.com" and body["result"]["sentAt"]
        from tests.support.poll import poll_until
        mails = await poll_until(lambda: [e for e in tap.events
                                          if e.data["to"] == ["billing@acme.com"]
                                          and inv["invoiceNumber"] in e.data["subject"]],
                                 what="the invoice e-mail")
    mail = mails[0].data
    assert inv["paymentUrl"] in mail["text"]
    attachment = mail["attachments"][0]
    assert attachment["content_type"] == "application/pdf"
    assert inv["invoiceNumber"] in _pdftotext(base64.b64decode(attachment["content_base64"]))
    got = await _ok(await client.get(f"/api/v2/invoices/{iid}", headers=headers))
    assert got["status"] == "open"


async def test_paying_the_invoice_link_marks_it_paid(settings, shop):
    client, headers, _, checkout, _ = shop
    inv = await _ok(await client.post("/api/v2/invoices/create", headers=headers,
                                      json=SEED_INVOICE), 201)
    pid = inv["paymentUrl"].rsplit("/", 1)[1]
    async with EventTap(settings.amqp_url, Topology(settings.events_namespace),
                        ["invoice.paid"]) as tap:
        resp = await checkout.post(f"/api/v2/payments/{pid}/confirm", headers=headers,
                                   json={"paymentMethod": "NOR_WALLET", "payer": WALLET})
        assert resp.status == 200, await resp.text()
        from tests.support.poll import poll_until
        await poll_until(lambda: any(e.data["invoiceId"] == inv["invoiceId"]
                                     for e in tap.events), what="invoice.paid")
    got = await _ok(await client.get(f"/api/v2/invoices/{inv['invoiceId']}", headers=headers))
    assert got["status"] == "paid" and got["paymentId"] == pid
    void = await client.post(f"/api/v2/invoices/{inv['invoiceId']}/void", headers=headers)
    assert void.status == 409


async def test_a_manual_clock_numbers_invoices_in_its_year(settings):
    clock = ManualClock(datetime(2031, 3, 1, tzinfo=UTC))
    async with billing_stack(settings, clock=clock) as (client, _, _app):
        admin = await make_company_admin(settings)
        merchant = await make_merchant(settings, admin, status="ACTIVE")
        inv = await _ok(await client.post("/api/v2/invoices/create",
                                          headers=merchant.headers(settings),
                                          json=SEED_INVOICE), 201)
    assert inv["invoiceNumber"] == "INV-2031-001"


async def test_subscriptions_and_invoices_are_listed_with_filters(settings, shop):
    client, headers, _, _, admin = shop
    plan = await make_plan(client, headers)
    subs = [await _ok(await client.post("/api/v2/subscriptions/create", headers=headers, json={
        "planId": plan["planId"], "customerId": customer, "trialDays": trial}), 201)
        for customer, trial in (("cust_a", 14), ("cust_b", 0), ("cust_a", 0))]
    listed = await _ok(await client.get("/api/v2/subscriptions?per_page=2", headers=headers))
    assert [s["subscriptionId"] for s in listed["subscriptions"]] == \
        [subs[2]["subscriptionId"], subs[1]["subscriptionId"]]
    assert listed["pagination"]["total"] == 3
    trialing = await _ok(await client.get("/api/v2/subscriptions?status=trialing",
                                          headers=headers))
    assert [s["subscriptionId"] for s in trialing["subscriptions"]] == \
        [subs[0]["subscriptionId"]]
    mine = await _ok(await client.get("/api/v2/subscriptions?customerId=cust_a",
                                      headers=headers))
    assert mine["pagination"]["total"] == 2
    bad = await client.get("/api/v2/subscriptions?status=paused", headers=headers)
    assert bad.status == 400 and "status" in (await bad.json())["message"]

    inv = await _ok(await client.post("/api/v2/invoices/create", headers=headers,
                                      json=SEED_INVOICE), 201)
    drafts = await _ok(await client.get(
        "/api/v2/invoices?status=draft&customerEmail=BILLING@acme.com", headers=headers))
    assert [i["invoiceId"] for i in drafts["invoices"]] == [inv["invoiceId"]]
    assert (await _ok(await client.get("/api/v2/invoices?status=paid",
                                       headers=headers)))["invoices"] == []
    other = await make_merchant(settings, admin, status="ACTIVE")
    theirs = await _ok(await client.get("/api/v2/invoices", headers=other.headers(settings)))
    assert theirs["invoices"] == [] and theirs["pagination"]["total"] == 0


async def test_only_the_invoices_own_payment_pays_it(settings, shop):
    client, headers, merchant, checkout, _ = shop
    inv = await _ok(await client.post("/api/v2/invoices/create", headers=headers,
                                      json=SEED_INVOICE), 201)
    # A merchant's (or a browser's) payment may not claim to be the invoice's.
    resp = await checkout.post("/api/v2/payments/create", headers=headers, json={
        "amount": "1", "currency": "NOR", "metadata": {"invoiceId": inv["invoiceId"]}})
    assert resp.status == 400
    assert "metadata.invoiceId is set by norgate itself" in (await resp.json())["message"]
    # A completed payment that billing did not make, or for less than the total, is
    # not the invoice's: it stays unpaid; the invoice's own payment then pays it.
    async with EventTap(settings.amqp_url, Topology(settings.events_namespace),
                        ["invoice.paid"]) as tap:
        from tests.support.broker import publish_event
        for origin, amount in (("norpay", SEED_INVOICE["items"][0]["amount"]),
                               ("billing", "1")):
            await publish_event(settings, "payment.completed", {
                "paymentId": f"pay_forged_{origin}", "amount": amount, "currency": "NOR",
                "status": "completed", "origin": origin,
                "metadata": {"invoiceId": inv["invoiceId"]}}, merchant)
        pid = inv["paymentUrl"].rsplit("/", 1)[1]
        resp = await checkout.post(f"/api/v2/payments/{pid}/confirm", headers=headers,
                                   json={"paymentMethod": "NOR_WALLET", "payer": WALLET})
        assert resp.status == 200, await resp.text()
        from tests.support.poll import poll_until
        paid = await poll_until(lambda: [e for e in tap.events
                                         if e.data["invoiceId"] == inv["invoiceId"]],
                                what="invoice.paid")
    assert len(paid) == 1 and paid[0].data["paymentId"] == pid
