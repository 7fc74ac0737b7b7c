"""Every page, at every step, passes axe-core (WCAG 2.x A/AA and best practice) with no
violation and fits a 320 px screen with no sideways scroll (issue 23, item 6): the
hosted checkout in each of its states, the NORAH page, a price's checkout, the embedded
widget and the merchant console's pages, each at 1280x800 and at 320x640.

A case that fails today is marked `xfail(strict=True)` with the rule ids and selectors
axe names: the mark must go when the page is fixed (a strict xfail that passes fails).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from playwright.async_api import FrameLocator, Locator, Page, expect

from tests.browser.conftest import (
    NARROW_VIEWPORT,
    Merchant,
    create_payment,
    expire_payment,
    sideways_scroll,
)
from tests.browser.test_console import (  # noqa: F401 (shop_user, receiver: fixtures)
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    api,
    open_page,
    paid_payment,
    receiver,
    shop_user,
    sign_in,
)
from tests.browser.test_console_payouts import open_area
from tests.browser.test_widget import MerchantSite
from tests.conftest import serve
from tests.e2e.conftest import RunningStack
from tests.support.poll import poll_until

pytestmark = [pytest.mark.browser]

Axe = Callable[[Page], Awaitable[list[dict]]]  # the `axe` fixture
Shot = Callable[[Page, str], Awaitable[Path]]  # the `shot` fixture
VIEWPORTS = {"1280x800": {"width": 1280, "height": 800}, "320x640": NARROW_VIEWPORT}


# The innermost elements whose right edge passes the viewport's: what makes a page
# scroll sideways, named for the failure message.
STICKING_OUT = """() => {
  const W = window.innerWidth + 0.5;
  const right = node => { const r = document.createRange(); r.selectNodeContents(node);
                          return r.getBoundingClientRect().right; };
  // The element's box, or its own text (a long unbroken word), past the right edge.
  const out = el => el.getBoundingClientRect().right > W || [...el.childNodes].some(
    n => n.nodeType === 3 && n.textContent.trim() && right(n) > W);
  const clipped = el => { for (let a = el.parentElement; a && a !== document.body;
                               a = a.parentElement) {
      if (/(auto|scroll|hidden|clip)/.test(getComputedStyle(a).overflowX)
          && a.getBoundingClientRect().right <= W) return true; }
    return false; };
  const name = el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')
    + [...el.classList].map(c => '.' + c).join('');
  const path = el => [el.parentElement?.parentElement, el.parentElement, el]
    .filter(e => e && e !== document.body).map(name).join(' > ');
  const found = [...document.body.querySelectorAll('*')].filter(el => out(el) && !clipped(el));
  return found.filter(el => !found.some(o => o !== el && el.contains(o))).slice(0, 3).map(path);
}"""


async def check(page: Page, axe: Axe, shot: Shot, name: str) -> None:
    """The page as it is now: a screenshot, no axe violation, nothing wider than it."""
    await shot(page, name)
    violations = await axe(page)
    wide = await sideways_scroll(page)
    culprits = await page.evaluate(STICKING_OUT) if wide else []
    assert (violations, wide) == ([], {}), \
        f"{name}: axe {violations}; sideways {wide} {culprits}"


# --- the checker itself -------------------------------------------------------------------

# A page as strict as the checkout's (no script may load or run) with one input that
# has no label: axe must still run in it, and name that input.
STRICT_CSP = "default-src 'none'; base-uri 'none'; frame-ancestors 'none'"
UNLABELLED_PAGE = ('<!doctype html><html lang="en"><head><title>Strict</title></head><body>'
                   '<main><h1>Strict page</h1><form><input id="nameless" type="text">'
                   '</form></main><script>document.title = "ran"</script></body></html>')


@pytest.fixture
async def strict_site():
    async def page_(request: web.Request) -> web.Response:
        body = UNLABELLED_PAGE if request.path == "/unlabelled" else \
            UNLABELLED_PAGE.replace('<input id="nameless" type="text">',
                                    '<label>Name <input id="named" type="text"></label>')
        return web.Response(text=body, content_type="text/html",
                            headers={"Content-Security-Policy": STRICT_CSP})
    app = web.Application()
    app.router.add_get("/{tail:.*}", page_)
    async with serve(app) as client:
        yield f"http://127.0.0.1:{client.server.port}"


async def test_axe_runs_under_a_strict_csp_and_names_what_is_wrong(strict_site, page, axe):
    await page.goto(strict_site + "/unlabelled")
    found = await axe(page)
    assert [v["id"] for v in found] == ["label"], found
    assert found[0]["targets"] == ["#nameless"] and found[0]["impact"] == "critical"
    assert found[0]["help"]
    assert await page.title() == "Strict"  # the CSP still held: the page's script never ran

    await page.goto(strict_site + "/labelled")
    assert await axe(page) == []
    # Nothing scripted may run on the page itself, so `window.axe` came through DevTools.
    assert await page.evaluate("() => typeof window.axe") == "object"


# --- the hosted checkout: /checkout/{id} in each of its states ---------------------------

CARD_OK = "4242 4242 4242 4242"
CARD_3DS = "4000 0025 0000 3155"  # the sandbox asks for a 3-D Secure challenge
CARD_DECLINED = "4000 0000 0000 0002"
CARD_NOT_LUHN = "4242 4242 4242 4241"  # fails the Luhn check: a field error on the form
PHONE = "263771234567"
PHONE_SILENT = "263771230002"  # EcoCash never answers: the page stays on its phone step


# The checkout's pages are being reworked while this is written (issue 23): the helpers
# find a method's form by what a shopper reads (its labels, its button's words), so both
# the older one-section-per-method layout and the accordion of <details> work.

async def _method(page: Page | FrameLocator, title: str, field: str) -> Locator:
    """The form of payment method `title` (its panel opened first), by its `field`."""
    panel = page.locator("details").filter(has=page.locator("summary", has_text=title))
    if await panel.count() and await panel.first.get_attribute("open") is None:
        await panel.first.locator("summary").click()
    form = page.locator("form").filter(has=page.get_by_label(field, exact=True))
    if title != "Card":  # the phone and account methods share their fields' labels
        form = form.filter(has=page.get_by_role("button", name=re.compile(f"with {title}$")))
    await expect(form.first).to_be_visible()
    return form.first


async def _card(page: Page | FrameLocator, number: str) -> None:
    form = await _method(page, "Card", "Card number")
    await form.get_by_label("Card number").fill(number)
    if await form.get_by_label("Expiry date").count():
        await form.get_by_label("Expiry date").fill("12 / 99")
    else:
        await form.get_by_label("Expiry month").fill("12")
        await form.get_by_label("Expiry year").fill("2099")
    await form.get_by_label(re.compile("^(CVC|Security code)")).fill("123")
    await form.get_by_role("button").click()


async def _phone(page: Page, method: str, number: str) -> None:
    form = await _method(page, method, "Phone number")
    await form.get_by_label("Phone number").fill(number)
    await form.get_by_role("button").click()


async def _heading(page: Page | FrameLocator, name: str | re.Pattern) -> None:
    await expect(page.get_by_role("heading", name=name)).to_be_visible()


async def pay_form(page: Page, order: dict, stack: RunningStack) -> None:
    await _heading(page, "Choose how to pay")


async def card_field_error(page: Page, order: dict, stack: RunningStack) -> None:
    await _card(page, CARD_NOT_LUHN)
    field = page.get_by_role("textbox", name="Card number")
    await expect(field).to_have_attribute("aria-invalid", "true")
    await expect(page.locator(".field-error").first).to_be_visible()


async def omari_otp(page: Page, order: dict, stack: RunningStack) -> None:
    await _phone(page, "OMARI", PHONE)
    await expect(page.get_by_role("textbox", name="One-time code")).to_be_visible()


async def three_d_secure(page: Page, order: dict, stack: RunningStack) -> None:
    await _card(page, CARD_3DS)
    await _heading(page, re.compile("3-D Secure"))


async def omari_wrong_code(page: Page, order: dict, stack: RunningStack) -> None:
    await omari_otp(page, order, stack)
    await page.get_by_role("textbox", name="One-time code").fill("000000")
    await page.get_by_role("button", name="Confirm").click()
    await expect(page.get_by_role("alert").first).to_be_visible()


async def three_d_secure_failed(page: Page, order: dict, stack: RunningStack) -> None:
    await three_d_secure(page, order, stack)
    await page.get_by_role("button", name="Fail authentication").click()
    await expect(page.get_by_role("alert").first).to_contain_text("3-D Secure")


async def ecocash_phone(page: Page, order: dict, stack: RunningStack) -> None:
    await _phone(page, "EcoCash", PHONE_SILENT)
    await _heading(page, "Approve the payment on your phone")


async def paid(page: Page, order: dict, stack: RunningStack) -> None:
    await _card(page, CARD_OK)
    await expect(page).to_have_url(re.compile(r"/success\?"))  # back at the shop
    await page.goto(order["checkoutUrl"])  # the link again
    await _heading(page, "Paid")


async def canceled(page: Page, order: dict, stack: RunningStack) -> None:
    await page.get_by_role("button", name=re.compile("^Cancel and return to ")).click()
    await expect(page).to_have_url(re.compile(r"/cancel\?"))
    await page.goto(order["checkoutUrl"])
    await _heading(page, "Payment canceled")


async def card_declined(page: Page, order: dict, stack: RunningStack) -> None:
    """A declined card: the page says so (and may offer another try)."""
    await _card(page, CARD_DECLINED)
    await expect(page.get_by_role("alert").first).to_contain_text(re.compile("declined", re.I))


async def failed_declined(page: Page, order: dict, stack: RunningStack) -> None:
    """Declined until the checkout takes no more tries: the payment failed."""
    final = page.get_by_role("heading", name="This payment could not be completed")
    for _ in range(6):
        await card_declined(page, order, stack)
        if await final.count():
            break
    await expect(final).to_be_visible()


async def expired(page: Page, order: dict, stack: RunningStack) -> None:
    await expire_payment(stack, order["paymentId"])
    resp = await page.goto(order["checkoutUrl"])
    assert resp is not None and resp.status == 410
    await _heading(page, "This payment session has expired")


CHECKOUT_STATES = {f.__name__.replace("_", "-"): f for f in (
    pay_form, card_field_error, card_declined, omari_otp, omari_wrong_code, three_d_secure,
    three_d_secure_failed, ecocash_phone, paid, canceled, failed_declined, expired)}

# (page, viewport) -> what axe or the width check finds there today. Each entry is a
# strict xfail: fix the page, and the test says so by failing until the entry goes.
# None today (the phone step's meta refresh and the delivery heading at 320 px were fixed).
KNOWN: dict[tuple[str, str], str] = {}


def cases(names: Iterable[str]) -> list:
    """One test id per page and viewport, `<page>-<viewport>`, with its known failure."""
    return [pytest.param(name, size, id=f"{name}-{vid}", marks=[pytest.mark.xfail(
                strict=True, reason=KNOWN[(name, vid)])] if (name, vid) in KNOWN else [])
            for name in names for vid, size in VIEWPORTS.items()]


@pytest.mark.e2e
@pytest.mark.parametrize(("state", "viewport"), cases(CHECKOUT_STATES))
async def test_hosted_checkout(stack, merchant, shop_site, unique, page, axe, shot, state):
    order = await create_payment(
        stack, merchant, amount="1050", currency="USD", description="Blue widget x2",
        successUrl=shop_site.url(f"/success?order={unique}"),
        cancelUrl=shop_site.url(f"/cancel?order={unique}"))
    resp = await page.goto(order["checkoutUrl"])
    assert resp is not None and resp.status == 200
    await CHECKOUT_STATES[state](page, order, stack)
    await check(page, axe, shot, state)


# --- the NORAH page, a price's checkout ------------------------------------------------

async def _norah_link(stack: RunningStack, merchant: Merchant) -> str:
    async with aiohttp.ClientSession(headers=merchant.headers) as http:
        async with http.post(stack.gateway + "/api/v1/transaction/m/generate",
                             json={"amount": "100.00", "currency": "USD"}) as resp:
            body = await resp.json()
            assert resp.status == 200, body
    return body["data"]["url"]


async def norah_form(page: Page, stack: RunningStack, merchant: Merchant) -> None:
    await page.goto(await _norah_link(stack, merchant))
    await expect(page.get_by_role("region", name=f"Pay {merchant.name}")).to_be_visible()


async def norah_paid(page: Page, stack: RunningStack, merchant: Merchant) -> None:
    await norah_form(page, stack, merchant)
    form = await _method(page, "ZimSwitch", "Account number")
    await form.get_by_label("Account number").fill("12345678")
    await form.get_by_role("button").click()
    await _heading(page, "Paid")


async def norah_otp(page: Page, stack: RunningStack, merchant: Merchant) -> None:
    await norah_form(page, stack, merchant)
    await _phone(page, "OMARI", PHONE)
    await expect(page.get_by_role("textbox", name="One-time code")).to_be_visible()


async def norah_used(page: Page, stack: RunningStack, merchant: Merchant) -> None:
    await norah_paid(page, stack, merchant)
    await page.go_back()  # the same link again
    await page.reload()
    await _heading(page, "This payment link was already used")


async def checkout_missing(page: Page, stack: RunningStack, merchant: Merchant) -> None:
    await page.goto(stack.gateway + "/checkout/pay_doesnotexist")
    await _heading(page, "Payment not found")


async def _price(stack: RunningStack, merchant: Merchant) -> str:
    """A price's id: a company app (as the Prices seed makes it), then a price in it made
    with the merchant's key."""
    async with aiohttp.ClientSession() as http:
        async with http.post(stack.gateway + "/api/v1/apps", headers=merchant.admin_headers,
                             json={"name": "Tickets", "type": "individual", "app_fee": 0,
                                   "kyc_return_url": "https://shop.example/kyc"}) as resp:
            assert resp.status == 201, await resp.text()
            app = (await resp.json())["data"]
        async with http.post(stack.gateway + f"/prices/{app['id']}",
                             headers={"Authorization": f"Bearer {merchant.key}"},
                             json={"currency": "usd", "amount": 50,
                                   "name": "Concert ticket"}) as resp:
            assert resp.status == 201, await resp.text()
            return (await resp.json())["data"]["id"]


async def price_offer(page: Page, stack: RunningStack, merchant: Merchant) -> None:
    resp = await page.goto(stack.gateway + f"/checkout/prices/{await _price(stack, merchant)}")
    assert resp is not None and resp.status == 200
    await expect(page.get_by_role("button", name="Continue to payment")).to_be_visible()


async def price_missing(page: Page, stack: RunningStack, merchant: Merchant) -> None:
    await page.goto(stack.gateway + "/checkout/prices/price_doesnotexist")
    await _heading(page, "This price does not exist")


OTHER_PAGES = {f.__name__.replace("_", "-"): f for f in (
    norah_form, norah_otp, norah_paid, norah_used, checkout_missing, price_offer,
    price_missing)}


@pytest.mark.e2e
@pytest.mark.parametrize(("state", "viewport"), cases(OTHER_PAGES))
async def test_norah_and_price_pages(stack, merchant, page, axe, shot, state):
    await OTHER_PAGES[state](page, stack, merchant)
    await check(page, axe, shot, state)


# --- the embedded widget (checkout.js) on a merchant's page --------------------------------

# The seed's embedding, on a host page that is itself accessible (language, title, a
# main landmark and heading): what axe finds is then the widget's, not the shop's.
SHOP_HTML = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Blue Widget Store: checkout</title>
  <script src="GATEWAY/v1/checkout.js"></script>
</head>
<body>
  <main>
    <h1>Checkout</h1>
    <div id="norpay-checkout"></div>
  </main>
  <script>
    NorPay.Checkout({apiKey: 'KEY', amount: '1000000000000000000', currency: 'NOR',
                     description: 'Product purchase'}).mount('#norpay-checkout');
  </script>
</body>
</html>
"""


@pytest.fixture(scope="module")
async def widget_site(stack, merchant):
    site = MerchantSite("")
    async with aiohttp.ClientSession(headers=merchant.admin_headers) as http:
        async with http.post(stack.gateway + "/api/v1/api-keys", json={
                "merchantId": int(merchant.id), "type": "publishable", "name": "a11y shop",
                "allowedOrigins": [site.origin]}) as resp:
            body = await resp.json()
            assert resp.status == 201, body
    site.html = SHOP_HTML.replace("GATEWAY", stack.gateway).replace("KEY", body["data"]["key"])
    await site.start()
    try:
        yield site
    finally:
        assert site.runner is not None
        await site.runner.cleanup()


async def widget_form(page: Page, frame: FrameLocator) -> None:
    await expect(frame.get_by_role("heading", level=1)).to_have_text(re.compile("^Pay "))


async def widget_3ds(page: Page, frame: FrameLocator) -> None:
    await _card(frame, CARD_3DS)
    await _heading(frame, re.compile("3-D Secure"))


async def widget_canceled(page: Page, frame: FrameLocator) -> None:
    await frame.get_by_role("button", name=re.compile("^Cancel and return to ")).click()
    await _heading(frame, "Payment canceled")


WIDGET_STATES = {f.__name__.replace("_", "-"): f for f in (
    widget_form, widget_3ds, widget_canceled)}


@pytest.mark.e2e
@pytest.mark.parametrize(("state", "viewport"), cases(WIDGET_STATES))
async def test_embedded_widget(stack, widget_site, page, axe, shot, state):
    await page.goto(widget_site.origin + "/")
    frame = page.frame_locator("#norpay-checkout iframe")
    await WIDGET_STATES[state](page, frame)
    # The checkout's own frame is among those `axe` and `sideways_scroll` go through.
    assert [f for f in page.frames if f.url.startswith(stack.gateway + "/checkout/")]
    await check(page, axe, shot, state)


# --- the merchant console -------------------------------------------------------------

@pytest.fixture(scope="module")
async def console_data(stack, merchant, receiver):  # noqa: F811
    """What the console's pages list: a webhook endpoint (so a paid payment has
    deliveries), a paid payment, a plan with a subscription, a settlement account."""
    await api(stack, "POST", "/api/v2/webhooks/endpoints", headers=merchant.headers,
              expected=201, json={"url": receiver.url, "events": ["*"]})
    paid = await paid_payment(stack, merchant, amount="1250", currency="USD")
    plan = (await api(stack, "POST", "/api/v2/plans/create", headers=merchant.headers,
                      expected=201, json={"name": "Console Gold", "amount": "4900",
                                          "currency": "USD", "interval": "month"}))["result"]
    await api(stack, "POST", "/api/v2/subscriptions/create", headers=merchant.headers,
              expected=201, json={"planId": plan["planId"], "customerId": "cust_a11y"})
    await api(stack, "POST", f"/api/v1/admin/merchants/{merchant.id}/settlement-accounts",
              headers=merchant.admin_headers, expected=201, json={
                  "type": "BANK", "currency": "USD", "bankName": "Console Bank",
                  "branchCode": "01234", "accountName": "Blue Widget Store",
                  "accountNumber": "0123456789", "isDefault": True})
    await poll_until(lambda: receiver.of("payment.completed"), timeout=20,
                     what="the payment's webhook delivered")
    return paid


async def _listed(page: Page, text: str) -> None:
    """The page's data is in: a row naming `text`."""
    await expect(page.get_by_role("row").filter(has_text=text).first).to_be_visible()


async def sign_in_page(page: Page, stack: RunningStack, user: tuple[str, str]) -> None:
    await page.goto(stack.gateway + "/console/sign-in")
    await expect(page.get_by_label("E-mail")).to_be_visible()


async def sign_in_error(page: Page, stack: RunningStack, user: tuple[str, str]) -> None:
    await sign_in_page(page, stack, user)
    await page.get_by_label("E-mail").fill(user[0])
    await page.get_by_label("Password").fill("wrong-password-1")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert").filter(has_text="Invalid e-mail or password"))\
        .to_be_visible()


async def payments(page: Page, stack: RunningStack, user: tuple[str, str]) -> None:
    await sign_in(page, stack, *user)
    await expect(page.locator("table.data tbody tr").first).to_be_visible()


async def payment_detail(page: Page, stack: RunningStack, user: tuple[str, str]) -> None:
    await payments(page, stack, user)
    await page.locator("table.data tbody a").first.click()
    await _listed(page, "payment.completed")


async def payment_missing(page: Page, stack: RunningStack, user: tuple[str, str]) -> None:
    await sign_in(page, stack, *user)
    await page.goto(stack.gateway + "/console/payments/pay_doesnotexist")
    await expect(page.get_by_role("alert").filter(has_text="No such payment")).to_be_visible()


async def dashboard(page: Page, stack: RunningStack, user: tuple[str, str]) -> None:
    await sign_in(page, stack, *user)
    await open_page(page, "Dashboard")
    await expect(page.locator("svg.chart").first).to_be_visible()


async def webhooks(page: Page, stack: RunningStack, user: tuple[str, str]) -> None:
    await sign_in(page, stack, *user)
    await open_page(page, "Webhooks")
    await _listed(page, "payment.completed")


async def webhook_attempts(page: Page, stack: RunningStack, user: tuple[str, str]) -> None:
    await webhooks(page, stack, user)
    await page.get_by_role("button", name=re.compile("^Attempts of delivery")).first.click()
    await _heading(page, re.compile("^Delivery dlv_"))


async def billing(page: Page, stack: RunningStack, user: tuple[str, str]) -> None:
    await sign_in(page, stack, *user)
    await open_page(page, "Subscriptions & invoices")
    await _listed(page, "cust_a11y")


async def keys(page: Page, stack: RunningStack, user: tuple[str, str]) -> None:
    await sign_in(page, stack, *user)
    await open_page(page, "API keys")
    await _heading(page, "Your keys")


async def key_created(page: Page, stack: RunningStack, user: tuple[str, str]) -> None:
    await keys(page, stack, user)
    await page.get_by_label("Name").fill("a11y key")
    await page.get_by_role("button", name="Create key").click()
    await expect(page.locator("input[data-secret]")).to_be_visible()


async def charges(page: Page, stack: RunningStack, user: tuple[str, str]) -> None:
    await sign_in(page, stack, *user)
    await open_page(page, "Charges")
    await _heading(page, "Merchant charges")


async def merchants(page: Page, stack: RunningStack, user: tuple[str, str]) -> None:
    await sign_in(page, stack, ADMIN_EMAIL, ADMIN_PASSWORD)  # the company ADMIN's page
    await open_page(page, "Merchants")
    await _listed(page, "Blue Widget Store")


async def _area(page: Page, stack: RunningStack, user: tuple[str, str], name: str) -> None:
    await sign_in(page, stack, *user)
    await open_area(page, name)


async def balance(page: Page, stack: RunningStack, user: tuple[str, str]) -> None:
    await _area(page, stack, user, "Balance")
    await _heading(page, "Balances")


async def payouts(page: Page, stack: RunningStack, user: tuple[str, str]) -> None:
    await _area(page, stack, user, "Payouts")
    await _heading(page, "New payout")


async def settlement(page: Page, stack: RunningStack, user: tuple[str, str]) -> None:
    await _area(page, stack, user, "Settlement accounts")
    await _listed(page, "Console Bank")


async def payout_schedule(page: Page, stack: RunningStack, user: tuple[str, str]) -> None:
    await _area(page, stack, user, "Payout schedule")


async def reconciliation(page: Page, stack: RunningStack, user: tuple[str, str]) -> None:
    await _area(page, stack, user, "Reconciliation")
    await _heading(page, "Import a file")


CONSOLE_PAGES = {f.__name__.replace("_", "-"): f for f in (
    sign_in_page, sign_in_error, payments, payment_detail, payment_missing, dashboard, webhooks,
    webhook_attempts, billing, keys, key_created, charges, merchants, balance, payouts,
    settlement, payout_schedule, reconciliation)}


@pytest.mark.e2e
@pytest.mark.parametrize(("state", "viewport"), cases(CONSOLE_PAGES))
async def test_console(stack, shop_user, console_data, page, axe, shot, state):  # noqa: F811
    await CONSOLE_PAGES[state](page, stack, shop_user)
    await page.wait_for_function("() => !document.querySelector('main[aria-busy]')")
    await check(page, axe, shot, state)
