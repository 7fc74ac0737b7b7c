"""The merchant console (/console/) in headless Chromium against a `make run` stack.

A merchant's user (invited by the company ADMIN, password set through the invitation
mail) signs in, finds a payment by its trace, opens its timeline and webhook deliveries,
registers an endpoint on a local receiver, sends it a test event and redelivers a
payment event, creates and revokes an API key, reads the dashboard chart, plans and
subscriptions, and charges; the ADMIN inactivates and activates the merchant. Every page
is screenshotted (test-artifacts/screenshots/) and checked at phone width.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp import web
from yarl import URL

from tests.browser.conftest import (
    OVERFLOW,
    PHONE_VIEWPORT,
    UNLABELLED,
    _json,
    create_payment,
)
from tests.conftest import serve
from tests.support.onboarding import mail_text
from tests.support.poll import poll_until

pytestmark = pytest.mark.e2e

ADMIN_EMAIL, ADMIN_PASSWORD = "browser.owner@example.com", "Browser-Owner-2025"  # conftest
SHOP_EMAIL, SHOP_PASSWORD = "browser.shop@example.com", "Console-Merchant-2025"  # conftest
CARD = {"number": "4242424242424242", "expMonth": 12, "expYear": 2030, "cvc": "123"}


# --- fixtures ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
async def shop_user(stack, merchant):
    """The merchant's own MERCHANT login: the invitation mail's code, then a password."""
    text = await mail_text(stack, SHOP_EMAIL)
    code = re.search(r"Invitation code: (\S+)", text).group(1)
    async with aiohttp.ClientSession() as http:
        async with http.post(stack.gateway + "/api/v1/auth/accept-invitation",
                             json={"token": code, "password": SHOP_PASSWORD}) as resp:
            await _json(resp)
    return SHOP_EMAIL, SHOP_PASSWORD


@dataclass
class Receiver:
    url: str
    hits: list[dict] = field(default_factory=list)

    def of(self, event: str) -> list[dict]:
        return [h for h in self.hits if h["event"] == event]


@pytest.fixture(scope="module")
async def receiver():
    """The merchant's webhook receiver: records every delivery, answers 200."""
    found = Receiver(url="")

    async def hook(request: web.Request) -> web.Response:
        body = json.loads(await request.read())
        found.hits.append({"id": request.headers.get("webhook-id"), "event": body["event"],
                           "data": body.get("data", {})})
        return web.json_response({"received": True})

    app = web.Application()
    app.router.add_post("/hooks", hook)
    async with serve(app) as client:
        found.url = f"http://127.0.0.1:{client.server.port}/hooks"
        yield found


# --- helpers ----------------------------------------------------------------------------

async def api(stack, method: str, path: str, *, headers: dict, expected: int = 200, **kw):
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.request(method, stack.gateway + path, **kw) as resp:
            return await _json(resp, expected)


async def paid_payment(stack, merchant, *, amount: str, currency: str) -> dict:
    """A payment paid with the sandbox card; its trace from the NORAH details."""
    made = await create_payment(stack, merchant, amount=amount, currency=currency,
                                description="Console test order")
    pid = made["paymentId"]
    await api(stack, "POST", f"/api/v2/payments/{pid}/confirm", headers=merchant.headers,
              json={"paymentMethod": "VISA_MASTER", "card": CARD})
    details = await api(stack, "GET", f"/api/v1/transactions/details/{pid}",
                        headers=merchant.headers)
    assert details["data"]["status"] == "COMPLETED", details
    return details["data"]


async def sign_in(page, stack, email: str, password: str, path: str = "/console/"):
    await page.goto(stack.gateway + path)
    await page.get_by_label("E-mail").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()
    await page.get_by_role("button", name="Sign out").wait_for()


async def open_page(page, name: str):
    """Follow a navigation link; the new page's heading takes the focus."""
    nav = page.get_by_role("navigation", name="Console")
    if not await nav.is_visible():  # phone: behind the menu button
        await page.get_by_role("button", name="Menu").click()
    await nav.get_by_role("link", name=name, exact=True).click()
    await page.wait_for_function("() => !document.querySelector('main[aria-busy]')")


async def focused_heading(page) -> str:
    return await page.evaluate("() => document.activeElement.tagName + ':' + "
                               "document.activeElement.textContent")


# --- the pages themselves ---------------------------------------------------------------

async def test_console_pages_are_static_public_and_locked_down(stack, merchant):
    async with aiohttp.ClientSession() as http:
        for path in ("/console", "/console/", "/console/payments/pay_anything"):
            async with http.get(stack.gateway + path) as resp:
                assert resp.status == 200 and resp.content_type == "text/html"
                csp = resp.headers["Content-Security-Policy"]
                assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
                assert "unsafe-inline" not in csp
                assert '<script type="module" src="/console/static/app.js">' in await resp.text()
        async with http.get(stack.gateway + "/console/static/app.js") as resp:
            assert resp.status == 200 and resp.content_type == "text/javascript"
            etag = resp.headers["ETag"]
            assert resp.headers["Cache-Control"] == "no-cache"
        async with http.get(stack.gateway + "/console/static/app.js",
                            headers={"If-None-Match": etag}) as resp:
            assert resp.status == 304
        async with http.get(stack.gateway + "/console/static/styles.css") as resp:
            assert resp.content_type == "text/css"
        # Only the files of static/console: no way up to the gateway's code.
        async with http.get(URL(stack.gateway + "/console/static/..%2F..%2Fconsole.py",
                                encoded=True)) as resp:
            assert resp.status == 404 and "import" not in await resp.text()
        async with http.get(stack.gateway + "/console/static/nope.js") as resp:
            assert resp.status == 404
    # Public pages, but every API call still needs the token.
    async with aiohttp.ClientSession() as http:
        async with http.get(stack.gateway + "/api/v1/transactions/all") as resp:
            assert resp.status == 401


async def test_sign_in_errors_and_sign_out(stack, merchant, shop_user, page, shot):
    await page.goto(stack.gateway + "/console/webhooks")
    assert page.url.endswith("/console/sign-in")  # no session: to the sign-in page
    assert await page.title() == "Sign in · norgate console"
    await page.get_by_label("E-mail").fill(SHOP_EMAIL)
    await page.get_by_label("Password").fill("wrong-password-1")
    await page.get_by_role("button", name="Sign in").click()
    await page.get_by_role("alert").filter(has_text="Invalid e-mail or password").wait_for()
    assert await page.evaluate(UNLABELLED) == []
    await shot(page, "sign-in-error")
    await sign_in(page, stack, *shop_user)
    assert page.url.endswith("/console/payments")
    assert "(MERCHANT)" in await page.locator("#who").inner_text()
    assert await page.evaluate("() => sessionStorage.length") == 1
    await page.get_by_role("button", name="Sign out").click()
    await page.locator("main").get_by_text("You are signed out.").wait_for()
    assert await page.evaluate("() => sessionStorage.length") == 0
    await page.goto(stack.gateway + "/console/payments")
    assert page.url.endswith("/console/sign-in")


async def test_expired_access_token_is_refreshed(stack, merchant, shop_user, page):
    await sign_in(page, stack, *shop_user)
    before = await page.evaluate("() => JSON.parse(sessionStorage.getItem("
                                 "'norgate.console.session'))")
    await page.evaluate("""() => { const s = JSON.parse(sessionStorage.getItem(
        'norgate.console.session')); s.token = 'eyJhbGciOiJFZERTQSJ9.e30.bad';
        sessionStorage.setItem('norgate.console.session', JSON.stringify(s)); }""")
    await open_page(page, "Charges")
    await page.get_by_role("heading", name="Merchant charges").wait_for()
    after = await page.evaluate("() => JSON.parse(sessionStorage.getItem("
                                "'norgate.console.session'))")
    assert after["refreshToken"] != before["refreshToken"]  # rotated
    assert after["token"] != before["token"] and after["role"] == "MERCHANT"
    assert not await page.get_by_role("alert").count()


async def test_merchant_finds_a_payment_by_trace_and_redelivers_its_webhook(
        stack, merchant, shop_user, receiver, page, shot):
    await sign_in(page, stack, *shop_user)
    assert await page.get_by_role("link", name="Merchants").count() == 0  # not for MERCHANT
    await shot(page, "payments")

    # A webhook endpoint on the local receiver, and a test event to it.
    await open_page(page, "Webhooks")
    assert await focused_heading(page) == "H1:Webhooks"
    await page.get_by_label("URL").fill(receiver.url)
    await page.get_by_role("button", name="Add endpoint").click()
    secret = page.locator("input[data-secret]")
    await secret.wait_for()
    assert (await secret.input_value()).startswith("whsec_")
    row = page.get_by_role("row").filter(has_text=receiver.url)
    await row.wait_for()
    await shot(page, "webhooks-endpoint-added")
    await row.get_by_role("button", name=re.compile("Send test event to")).click()
    await page.locator("main").get_by_text(re.compile(r"Test event queued for")).wait_for()
    await poll_until(lambda: receiver.of("webhook.test"), timeout=20, what="test webhook")

    # Two payments; the search by one's trace finds exactly that one.
    paid = await paid_payment(stack, merchant, amount="1250", currency="USD")
    other = await paid_payment(stack, merchant, amount="990", currency="USD")
    await poll_until(lambda: [h for h in receiver.of("payment.completed")
                              if h["data"]["paymentId"] == paid["transactionId"]],
                     timeout=20, what="payment.completed webhook")
    await open_page(page, "Payments")
    rows = page.locator("table.data tbody tr")
    await rows.nth(1).wait_for()
    await page.get_by_role("searchbox", name="Search").fill(paid["trace"])
    await page.get_by_role("button", name="Apply filters").click()
    await page.locator("p.count").filter(has_text="1 transaction matches the filters").wait_for()
    assert await rows.count() == 1
    assert paid["trace"] in await rows.first.inner_text()
    assert other["trace"] not in await page.locator("main").inner_text()
    assert "12.50 USD" in await rows.first.inner_text()
    await page.wait_for_function(
        "() => document.getElementById('live').textContent === '1 transaction matches the filters'")
    await shot(page, "payments-search-by-trace")

    # Its detail: facts, timeline, deliveries; redeliver payment.completed.
    await page.get_by_role("link", name=paid["trace"]).click()
    await page.get_by_role("heading", name="Webhook deliveries").wait_for()
    assert await focused_heading(page) == f"H1:Payment {paid['transactionId']}"
    main = page.locator("main")
    timeline = (await page.locator("ol.timeline").inner_text()).lower()
    assert "pending" in timeline and "completed" in timeline
    assert "payment.completed" in timeline
    completed_row = page.get_by_role("row").filter(has_text="payment.completed")
    await completed_row.first.wait_for()
    assert "12.50 USD" in await main.inner_text()
    await shot(page, "payment-detail")
    first = receiver.of("payment.completed")
    await completed_row.first.get_by_role("button", name=re.compile("Redeliver")).click()
    await page.locator("main").get_by_text(
        re.compile(r"Redelivery dlv_\S+ of payment.completed queued")).wait_for()

    def twice():
        got = [h for h in receiver.of("payment.completed")
               if h["data"]["paymentId"] == paid["transactionId"]]
        return got if len(got) == 2 else None
    got = await poll_until(twice, timeout=20, what="the redelivered payment.completed")
    assert got[0]["id"] == got[1]["id"] and len(first) >= 1  # same event id: dedupable
    await page.get_by_role("row").filter(has_text="redelivery").first.wait_for(timeout=20_000)
    await shot(page, "payment-detail-redelivered")

    # The webhooks page lists the deliveries with their attempts.
    await open_page(page, "Webhooks")
    await page.get_by_role("row").filter(has_text="webhook.test").first.wait_for()
    await page.get_by_role("row").filter(has_text="webhook.test").first.get_by_role(
        "button", name=re.compile("Attempts of delivery")).click()
    await page.get_by_role("heading", name=re.compile("^Delivery dlv_")).wait_for()
    assert "HTTP 200" in await page.locator(".delivery-detail").inner_text()
    await shot(page, "webhooks-deliveries")

    # An unknown payment id is a clear page, not a crash.
    await page.goto(stack.gateway + "/console/payments/pay_doesnotexist")
    await page.get_by_role("alert").filter(has_text="No such payment").wait_for()


async def test_a_nor_amount_reads_the_same_in_the_list_as_on_its_page(
        stack, merchant, shop_user, page, shot):
    made = await create_payment(stack, merchant, amount="1500000000000000000", currency="NOR",
                                description="Console NOR order")
    pid = made["paymentId"]
    await api(stack, "POST", f"/api/v2/payments/{pid}/confirm", headers=merchant.headers,
              json={"paymentMethod": "NOR_WALLET",
                    "payer": "0x742d35cc6634c0532925a3b844bc454e4438f44e"})
    details = await api(stack, "GET", f"/api/v1/transactions/details/{pid}",
                        headers=merchant.headers)
    await sign_in(page, stack, *shop_user)
    await open_page(page, "Payments")
    await page.get_by_role("searchbox", name="Search").fill(details["data"]["trace"])
    await page.get_by_role("button", name="Apply filters").click()
    rows = page.locator("table.data tbody tr")
    await page.locator("p.count").filter(has_text="1 transaction matches the filters").wait_for()
    listed = await rows.first.inner_text()
    assert "1.5 NOR" in listed and "1.500000" not in listed
    main = await page.locator("main").inner_text()
    assert "null" not in main and "undefined" not in main
    await shot(page, "payments-nor-amount")
    await page.get_by_role("link", name=details["data"]["trace"]).click()
    await page.get_by_role("heading", name="Webhook deliveries").wait_for()
    assert "1.5 NOR" in await page.locator("main").inner_text()


async def test_api_key_is_shown_once_and_revoked(stack, merchant, shop_user, page, shot):
    await sign_in(page, stack, *shop_user)
    await open_page(page, "API keys")
    await page.get_by_label("Name").fill("console key")
    await page.get_by_role("button", name="Create key").click()
    box = page.locator("input[data-secret]")
    await box.wait_for()
    key = await box.input_value()
    assert key.startswith("nk_test_")  # the console starts in test mode
    assert await page.evaluate("() => document.activeElement.value") == key
    await shot(page, "api-key-created")
    await api(stack, "GET", "/api/v1/admin/merchants", headers={"X-API-Key": key})

    # Shown once: after a reload the page has only its prefix.
    await page.reload()
    row = page.get_by_role("row").filter(has_text="console key")
    await row.wait_for()
    assert key not in await page.content()
    assert key[:16] in await row.inner_text()  # nk_test_ and 8 random characters
    await row.get_by_role("button", name="Revoke key console key").click()
    await row.get_by_role("button", name="Yes, revoke").click()
    await page.locator("main").get_by_text("Key console key revoked.").wait_for()
    await page.get_by_role("row").filter(has_text="console key").filter(
        has_text="revoked").wait_for()
    await shot(page, "api-key-revoked")

    async def refused():
        async with aiohttp.ClientSession() as http:
            async with http.get(stack.gateway + "/api/v1/admin/merchants",
                                headers={"X-API-Key": key}) as resp:
                return resp.status == 401
    await poll_until(refused, timeout=15, what="the revoked key refused")


async def test_dashboard_chart_and_billing(stack, merchant, shop_user, page, shot):
    await paid_payment(stack, merchant, amount="20000", currency="ZAR")  # 200.00 ZAR
    plan = (await api(stack, "POST", "/api/v2/plans/create", headers=merchant.headers,
                      expected=201, json={"name": "Console Gold", "amount": "4900",
                                          "currency": "ZAR", "interval": "month"}))["result"]
    sub = (await api(stack, "POST", "/api/v2/subscriptions/create", headers=merchant.headers,
                     expected=201, json={"planId": plan["planId"], "customerId": "cust_console",
                                         "trialDays": 7}))["result"]

    await sign_in(page, stack, *shop_user)
    await page.goto(stack.gateway + "/console/dashboard?period=today&currency=ZAR")

    async def revenue_today():  # billing projects payment events asynchronously
        await page.reload()
        await page.locator("h2#revenue-title").wait_for()
        if await page.locator(".stats").count() == 0:
            return False
        return "200.00 ZAR" in await page.locator(".stats").inner_text()
    await poll_until(revenue_today, timeout=30, interval=1, what="today's revenue on the chart")
    await page.get_by_role("heading", name="Today: revenue and payments (ZAR)").wait_for()
    assert "Revenue per hour in ZAR" in await page.locator("svg.chart title").first.text_content()
    assert "This period 200.00 ZAR" in await page.locator("svg.chart desc").first.text_content()
    await shot(page, "dashboard")

    await open_page(page, "Subscriptions & invoices")
    await page.get_by_role("row").filter(has_text="Console Gold").wait_for()
    assert "49.00 ZAR" in await page.get_by_role("row").filter(has_text="Console Gold").inner_text()
    listed = page.get_by_role("row").filter(has_text=sub["subscriptionId"])  # the list
    await listed.wait_for()
    assert "cust_console" in await listed.inner_text()
    await page.get_by_label("Subscription", exact=True).fill(sub["subscriptionId"])
    await page.locator("#subscription-lookup").get_by_role("button", name="Look up").click()
    await page.get_by_role("heading", name=f"Subscription {sub['subscriptionId']}").wait_for()
    assert "trialing" in (await page.locator("#subscription-lookup").inner_text()).lower()
    await page.get_by_label("Invoice", exact=True).fill("inv_missing")
    await page.locator("#invoice-lookup").get_by_role("button", name="Look up").click()
    await page.get_by_role("alert").filter(has_text="No invoice inv_missing").wait_for()
    await shot(page, "subscriptions-invoices")


async def test_charges_page_lists_the_merchants_rules(stack, merchant, shop_user, page, shot):
    await api(stack, "POST", "/api/v1/merchant/charges/add", expected=201,
              headers={"Authorization": f"Bearer {merchant.admin_token}"}, json={
                  "merchantUserName": SHOP_EMAIL, "chargeType": "PERCENTAGE",
                  "chargeSource": "MERCHANT", "chargeCategory": "PROCESSING", "status": "ACTIVE",
                  "currency": "EUR", "value": 1.5, "statementNarration": "Console test fee"})
    await sign_in(page, stack, *shop_user)
    await open_page(page, "Charges")
    fee = page.get_by_role("row").filter(has_text="Console test fee")
    await fee.wait_for()
    assert "1.5 %" in await fee.inner_text()
    await shot(page, "charges")


async def test_admin_inactivates_and_activates_a_merchant(stack, merchant, page, shot):
    await sign_in(page, stack, ADMIN_EMAIL, ADMIN_PASSWORD)
    await open_page(page, "Merchants")
    row = page.get_by_role("row").filter(has_text=merchant.name)
    await row.get_by_text("ACTIVE", exact=True).wait_for()
    await shot(page, "merchants")
    await row.get_by_role("button", name=f"Inactivate {merchant.name}").click()
    await page.locator("main").get_by_text(f"{merchant.name} is now INACTIVE.").wait_for()
    got = await api(stack, "GET", f"/api/v1/admin/merchants/{merchant.id}",
                    headers={"Authorization": f"Bearer {merchant.admin_token}"})
    assert got["data"]["status"] == "INACTIVE"
    await shot(page, "merchants-inactivated")
    await row.get_by_role("button", name=f"Activate {merchant.name}").click()
    await page.locator("main").get_by_text(f"{merchant.name} is now ACTIVE.").wait_for()
    got = await api(stack, "GET", f"/api/v1/admin/merchants/{merchant.id}",
                    headers={"Authorization": f"Bearer {merchant.admin_token}"})
    assert got["data"]["status"] == "ACTIVE"


async def test_the_test_live_switch_sends_the_mode_and_shows_test_mode(
        stack, merchant, shop_user, page, shot):
    api_calls: list[tuple[str, str | None]] = []  # (path, X-Norgate-Mode) of each call
    page.on("request", lambda r: api_calls.append(
        (URL(r.url).path, r.headers.get("x-norgate-mode")))
        if URL(r.url).path.startswith("/api/") else None)

    def modes_since(mark: int, path: str) -> set[str | None]:
        return {mode for p, mode in api_calls[mark:] if p == path}

    await sign_in(page, stack, *shop_user)
    switch = page.get_by_role("switch", name="Live mode")
    banner = page.locator("#mode-banner")
    assert await switch.get_attribute("aria-checked") == "false"  # test by default
    assert await banner.is_visible() and "TEST MODE" in await banner.inner_text()
    await open_page(page, "API keys")
    await page.get_by_role("heading", name="Your keys").wait_for()
    assert api_calls and {mode for _, mode in api_calls} == {"test"}
    await shot(page, "test-mode")

    # Keyboard: the switch turns live mode on and the page's data is fetched again.
    mark = len(api_calls)
    await switch.focus()
    await page.keyboard.press("Space")
    await poll_until(lambda: modes_since(mark, "/api/v1/api-keys") == {"live"}, timeout=10,
                     what="the keys fetched again in live mode")
    assert await switch.get_attribute("aria-checked") == "true"
    assert not await banner.is_visible()
    assert await page.evaluate("() => document.activeElement.id") == "mode-switch"
    await page.wait_for_function("() => !document.querySelector('main[aria-busy]')")
    await shot(page, "live-mode")

    # A key made in live mode is a live key (the merchant is ACTIVE).
    assert await page.get_by_label("Mode", exact=True).input_value() == "live"
    await page.get_by_label("Name").fill("live console key")
    await page.get_by_role("button", name="Create key").click()
    box = page.locator("input[data-secret]")
    await box.wait_for()
    assert (await box.input_value()).startswith("nk_live_")
    row = page.get_by_role("row").filter(has_text="live console key")
    await row.wait_for()
    assert "live" in (await row.inner_text()).lower()

    # Kept with the session: a reload and other pages stay live.
    mark = len(api_calls)
    await page.reload()
    await page.get_by_role("heading", name="Your keys").wait_for()
    await open_page(page, "Payments")
    assert await switch.get_attribute("aria-checked") == "true"
    assert not await banner.is_visible()
    assert modes_since(mark, "/api/v1/transactions/all") == {"live"}
    assert {mode for _, mode in api_calls[mark:]} == {"live"}

    # And back: test mode again, with its banner.
    mark = len(api_calls)
    await switch.click()
    await poll_until(lambda: modes_since(mark, "/api/v1/transactions/all") == {"test"},
                     timeout=10, what="the payments fetched again in test mode")
    assert await banner.is_visible()
    assert await switch.get_attribute("aria-checked") == "false"


async def test_a_development_merchant_is_refused_a_live_key_in_the_console(
        stack, merchant, page):
    made = await api(stack, "POST", "/api/v1/admin/create-merchant-account", expected=201,
                     headers=merchant.admin_headers,
                     json={"merchantName": "Sprout Studio",
                           "merchantEmail": "sprout.studio@example.com"})
    await sign_in(page, stack, ADMIN_EMAIL, ADMIN_PASSWORD)
    await open_page(page, "API keys")
    await page.get_by_label("Merchant").select_option(str(made["data"]["merchantId"]))
    await page.get_by_label("Mode", exact=True).select_option("live")
    await page.get_by_role("button", name="Create key").click()
    await page.get_by_role("alert").filter(
        has_text="a DEVELOPMENT merchant has test keys only; activate it first").wait_for()
    assert not await page.locator("input[data-secret]").count()


@pytest.mark.parametrize("viewport", [PHONE_VIEWPORT], ids=["phone"])
async def test_every_page_fits_a_phone(stack, merchant, shop_user, page, shot, viewport):
    await paid_payment(stack, merchant, amount="500", currency="USD")
    await sign_in(page, stack, *shop_user)
    assert await page.get_by_role("button", name="Menu").is_visible()
    for name in ("Payments", "Dashboard", "Subscriptions & invoices", "Webhooks", "API keys",
                 "Charges"):
        await open_page(page, name)
        await page.wait_for_timeout(200)  # tables render after their data
        assert await page.evaluate(OVERFLOW) <= 0, name
        assert await page.evaluate(UNLABELLED) == [], name
        assert not await page.get_by_role("navigation", name="Console").is_visible()
        await shot(page, f"phone-{name}")
    link = page.locator("table.data a").first
    await open_page(page, "Payments")
    await link.click()
    await page.get_by_role("heading", name="Webhook deliveries").wait_for()
    await asyncio.sleep(0.2)
    assert await page.evaluate(OVERFLOW) <= 0
    await shot(page, "phone-payment-detail")


# Tables wider than their card (their wrapper scrolls), rows much taller than their
# text needs, and what the page says as text.
CUT_TABLES = """() => [...document.querySelectorAll('.table-wrap')]
  .filter(w => w.scrollWidth > w.clientWidth + 1)
  .map(w => ({label: w.dataset.label, over: w.scrollWidth - w.clientWidth,
              focusable: w.tabIndex === 0, role: w.getAttribute('role')}))"""
TALL_ROWS = """() => [...document.querySelectorAll('table.data tbody tr')]
  .map(tr => {
    const text = Math.max(...[...tr.cells].map(td => {
      const r = document.createRange(); r.selectNodeContents(td);
      return r.getBoundingClientRect().height; }));
    return {row: tr.innerText.slice(0, 60), height: tr.getBoundingClientRect().height, text};
  })
  .filter(r => r.height > r.text + 28)"""


async def test_every_page_at_1280_fits_its_tables_and_passes_axe(
        stack, merchant, shop_user, receiver, page, shot, axe):
    paid = await paid_payment(stack, merchant, amount="4321", currency="USD")
    plan = (await api(stack, "POST", "/api/v2/plans/create", headers=merchant.headers,
                      expected=201, json={"name": "Wide Table Plan", "amount": "1500",
                                          "currency": "USD", "interval": "month"}))["result"]
    await api(stack, "POST", "/api/v2/subscriptions/create", headers=merchant.headers,
              expected=201, json={"planId": plan["planId"], "customerId": "cust_wide_table"})
    await api(stack, "POST", "/api/v2/webhooks/endpoints", headers=merchant.headers,
              expected=201, json={"url": receiver.url, "events": ["payment.completed"]})
    await sign_in(page, stack, *shop_user)
    for name in ("Payments", "Dashboard", "Subscriptions & invoices", "Payouts", "Webhooks",
                 "API keys", "Charges"):
        await open_page(page, name)
        await page.wait_for_timeout(300)  # tables render after their data
        title = page.locator("main h1")
        assert not await title.evaluate(
            "el => getComputedStyle(el).outlineStyle !== 'none' && "
            "parseFloat(getComputedStyle(el).outlineWidth) > 0"), name
        assert await page.evaluate(CUT_TABLES) == [], name
        assert await page.evaluate(TALL_ROWS) == [], name
        text = await page.locator("main").inner_text()
        assert not re.search(r"\b(null|undefined|NaN)\b", text), (name, text)
        assert await axe(page) == [], name
        await shot(page, f"wide-{name}")
    await page.goto(stack.gateway + f"/console/payments/{paid['transactionId']}")
    await page.get_by_role("heading", name="Webhook deliveries").wait_for()
    await page.wait_for_timeout(300)
    # Opened from the address bar: still no ring around the title.
    assert not await page.locator("main h1").evaluate(
        "el => getComputedStyle(el).outlineStyle !== 'none'")
    assert await page.evaluate(CUT_TABLES) == []
    assert await axe(page) == []
    await shot(page, "wide-payment-detail")
