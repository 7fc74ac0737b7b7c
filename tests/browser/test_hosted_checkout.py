"""The hosted NorPay checkout page in headless Chromium, through the gateway of a
`make run` stack: a customer pays with every sandbox method, cancels, meets an expired
session, and does it all with the keyboard on a phone-sized screen."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Page, expect

from shared.money import Money, format_display, get_currency
from tests.browser.conftest import (
    FOCUSED,
    OVERFLOW,
    PHONE_VIEWPORT,
    UNLABELLED,
    create_payment,
    expire_payment,
    payment_status,
)
from tests.support.poll import poll_until

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

CARD_3DS = "4000 0025 0000 3155"  # the sandbox asks for a 3-D Secure challenge
PHONE = "263771234567"
WALLET = "0x742d35cc6634c0532925a3b844bc454e4438f44e"


def shown(minor: str, currency: str) -> str:
    """The amount as the page renders it (the currency's own display format)."""
    return format_display(Money(int(minor), get_currency(currency)))


def _returned(shop_site, order, page: str) -> str:
    """Where the hosted page sends the shopper back: the shop's URL with the payment."""
    return shop_site.url(f"/{page}?order={order['order']}&paymentId={order['paymentId']}")


@pytest.fixture
async def order(stack, merchant, shop_site, unique):
    """A fresh USD payment with success and cancel URLs on the merchant's own site."""
    return await _order(stack, merchant, shop_site, unique)


async def _order(stack, merchant, shop_site, unique, amount="1050", currency="USD") -> dict:
    created = await create_payment(
        stack, merchant, amount=amount, currency=currency, description="Blue widget x2",
        successUrl=shop_site.url(f"/success?order={unique}"),
        cancelUrl=shop_site.url(f"/cancel?order={unique}"))
    assert urlsplit(created["checkoutUrl"]).netloc == urlsplit(stack.gateway).netloc
    return {**created, "amount": amount, "currency": currency, "order": unique}


def _method(page: Page, title: str):
    """The payment method's own section (a labelled region) of the page."""
    return page.get_by_role("region", name=title, exact=True)


async def _open(page: Page, order: dict, merchant):
    external: list[str] = []
    local = {urlsplit(order["checkoutUrl"]).netloc}

    def watch(request):  # what the checkout's pages load (scripts, styles, fonts, images)
        if request.is_navigation_request() or request.url.startswith("data:"):
            return
        if urlsplit(request.url).netloc not in local:
            external.append(request.url)
    page.on("request", watch)
    resp = await page.goto(order["checkoutUrl"])
    assert resp is not None and resp.status == 200, resp and await resp.text()
    summary = page.get_by_role("region", name=re.compile("^Pay "))
    await expect(summary.get_by_role("heading", level=1)).to_have_text(re.compile("^Pay "))
    await expect(summary).to_contain_text(shown(order["amount"], order["currency"]))
    await expect(summary).to_contain_text("Blue widget x2")
    return external


async def _fill_card(page: Page, number: str):
    card = _method(page, "Card (Visa / Mastercard)")
    await card.get_by_label("Card number").fill(number)
    await card.get_by_label("Expiry month").fill("12")
    await card.get_by_label("Expiry year").fill("2099")
    await card.get_by_label("CVC").fill("123")
    return card


async def test_page_names_the_merchant(stack, merchant, order, page, shot):
    await _open(page, order, merchant)
    await shot(page, "checkout")
    await expect(page).to_have_title(re.compile(re.escape(merchant.name)))
    await expect(page.get_by_role("heading", level=1)).to_have_text(f"Pay {merchant.name}")
    await expect(page.get_by_role("button", name=f"Cancel and return to {merchant.name}"))\
        .to_be_visible()


async def test_card_payment_with_3d_secure_returns_to_the_shop(stack, merchant, shop_site,
                                                              order, page, shot):
    external = await _open(page, order, merchant)
    for title in ("Card (Visa / Mastercard)", "OMARI", "EcoCash", "ZimSwitch", "InnBucks"):
        await expect(_method(page, title)).to_be_visible()
    await expect(_method(page, "NOR wallet")).to_have_count(0)  # wallets pay NOR only
    await shot(page, "1-checkout")

    card = await _fill_card(page, CARD_3DS)
    await shot(page, "2-card-filled")
    await card.get_by_role("button", name=re.compile(r"by card$")).click()

    await expect(page.get_by_role("heading", name="3-D Secure check")).to_be_visible()
    assert await payment_status(stack, merchant, order["paymentId"]) == "processing"
    await expect(page.locator("body")).not_to_contain_text("4000")  # no card number echoed
    await shot(page, "3-3ds-challenge")
    await page.get_by_role("button", name="Authenticate (pass)").click()

    await expect(page).to_have_url(_returned(shop_site, order, "success"))
    await expect(page.get_by_role("heading")).to_have_text("Back at the shop: /success")
    await shot(page, "4-back-at-shop")
    assert await payment_status(stack, merchant, order["paymentId"]) == "completed"
    assert external == []  # nothing fetched from anywhere but the gateway: no CDN

    await page.goto(order["checkoutUrl"])  # the link again: it says paid, and links back
    await expect(page.get_by_role("heading", name="Paid")).to_be_visible()
    await expect(page.get_by_role("link", name=re.compile("^Return to "))).to_have_attribute(
        "href", _returned(shop_site, order, "success"))
    await shot(page, "5-paid-page")


async def test_failed_3d_secure_says_so_and_charges_nothing(stack, merchant, order, page,
                                                           shot):
    await _open(page, order, merchant)
    card = await _fill_card(page, CARD_3DS)
    await card.get_by_role("button", name=re.compile(r"by card$")).click()
    await page.get_by_role("button", name="Fail authentication").click()
    await expect(page.get_by_role("alert")).to_contain_text("3-D Secure authentication failed")
    await expect(page.get_by_text("Nothing was charged")).to_be_visible()
    await shot(page, "3ds-failed")
    assert await payment_status(stack, merchant, order["paymentId"]) == "failed"


async def test_omari_payment_with_one_time_code(stack, merchant, shop_site, order, page, shot):
    await _open(page, order, merchant)
    omari = _method(page, "OMARI")
    await omari.get_by_label("Phone number").fill(PHONE)
    await shot(page, "1-phone-filled")
    await omari.get_by_role("button", name="Pay with OMARI").click()

    await expect(page.get_by_role("heading", name="Enter your one-time code")).to_be_visible()
    code = page.get_by_role("textbox", name="One-time code")
    await expect(code).to_have_attribute("autocomplete", "one-time-code")
    await shot(page, "2-otp-step")
    await page.reload()  # the step survives a reload
    await code.fill("123456")
    await page.get_by_role("button", name="Confirm").click()

    await expect(page).to_have_url(_returned(shop_site, order, "success"))
    await shot(page, "3-back-at-shop")
    assert await payment_status(stack, merchant, order["paymentId"]) == "completed"


async def test_omari_wrong_code_fails_with_an_alert(stack, merchant, order, page, shot):
    await _open(page, order, merchant)
    omari = _method(page, "OMARI")
    await omari.get_by_label("Phone number").fill(PHONE)
    await omari.get_by_role("button", name="Pay with OMARI").click()
    await page.get_by_role("textbox", name="One-time code").fill("000000")
    await page.get_by_role("button", name="Confirm").click()
    await expect(page.get_by_role("alert")).to_contain_text("Wrong OTP")
    await shot(page, "wrong-otp")
    assert await payment_status(stack, merchant, order["paymentId"]) == "failed"


async def test_ecocash_phone_prompt_then_paid(stack, merchant, shop_site, order, page, shot):
    await _open(page, order, merchant)
    ecocash = _method(page, "EcoCash")
    await ecocash.get_by_label("Phone number").fill(PHONE)
    await ecocash.get_by_role("button", name="Pay with EcoCash").click()

    await expect(page.get_by_role("heading", name="Approve the payment on your phone"))\
        .to_be_visible()
    await shot(page, "1-approve-on-phone")

    async def paid():  # the customer follows the page's own reload link until it is settled
        await page.get_by_role("link", name="reload this page").click()
        return await page.get_by_role("heading", name="Paid").count() == 1
    await poll_until(paid, timeout=20, interval=0.5, what="the page to show Paid")
    await shot(page, "2-paid")
    assert await payment_status(stack, merchant, order["paymentId"]) == "completed"
    await page.get_by_role("link", name=re.compile("^Return to ")).click()
    await expect(page).to_have_url(_returned(shop_site, order, "success"))


async def test_nor_wallet_payment(stack, merchant, shop_site, unique, page, shot):
    order = await _order(stack, merchant, shop_site, unique, amount="1000000000000000000",
                         currency="NOR")
    await _open(page, order, merchant)
    wallet = _method(page, "NOR wallet")
    await wallet.get_by_label("Wallet address").fill(WALLET)
    await shot(page, "1-wallet-filled")
    await wallet.get_by_role("button", name="Pay from wallet").click()
    await expect(page).to_have_url(_returned(shop_site, order, "success"))
    assert await payment_status(stack, merchant, order["paymentId"]) == "completed"


async def test_pays_with_javascript_switched_off(stack, merchant, shop_site, order, browser,
                                                 shot):
    context = await browser.new_context(java_script_enabled=False)
    try:
        page = await context.new_page()
        await _open(page, order, merchant)
        card = await _fill_card(page, "4242 4242 4242 4242")
        await card.get_by_role("button", name=re.compile(r"by card$")).click()
        await expect(page).to_have_url(_returned(shop_site, order, "success"))
        await shot(page, "back-at-shop")
    finally:
        await context.close()
    assert await payment_status(stack, merchant, order["paymentId"]) == "completed"

async def test_cancel_returns_to_the_cancel_url(stack, merchant, shop_site, order, page, shot):
    await _open(page, order, merchant)
    await page.get_by_role("button", name=re.compile("^Cancel and return to ")).click()
    await expect(page).to_have_url(_returned(shop_site, order, "cancel"))
    await expect(page.get_by_role("heading")).to_have_text("Back at the shop: /cancel")
    await shot(page, "1-back-at-shop")
    assert await payment_status(stack, merchant, order["paymentId"]) == "canceled"

    await page.goto(order["checkoutUrl"])
    await expect(page.get_by_role("heading", name="Payment canceled")).to_be_visible()
    await expect(page.get_by_role("button", name=re.compile("^Pay"))).to_have_count(0)
    await shot(page, "2-canceled-page")


async def test_expired_session_says_so(stack, merchant, order, page, shot):
    await _open(page, order, merchant)
    await expire_payment(stack, order["paymentId"])  # the customer left the page for an hour
    await _fill_card(page, "4242 4242 4242 4242")
    await _method(page, "Card (Visa / Mastercard)").get_by_role(
        "button", name=re.compile(r"by card$")).click()
    expired = page.get_by_role("heading", name="This payment session has expired")
    await expect(expired).to_be_visible()
    await shot(page, "1-pay-after-expiry")
    assert await payment_status(stack, merchant, order["paymentId"]) != "completed"

    resp = await page.goto(order["checkoutUrl"])
    assert resp is not None and resp.status == 410
    await expect(expired).to_be_visible()
    await expect(page.get_by_role("textbox")).to_have_count(0)  # no form left to fill
    await shot(page, "2-reopened")


# --- accessibility -----------------------------------------------------------------------

async def test_every_input_has_a_label(stack, merchant, shop_site, unique, page, shot):
    order = await _order(stack, merchant, shop_site, unique, amount="2500000000000000000",
                         currency="NOR")  # NOR: the wallet form shows too
    await _open(page, order, merchant)
    assert await page.locator("input:not([type=hidden])").count() >= 7
    assert await page.evaluate(UNLABELLED) == []
    assert await page.get_attribute("html", "lang") == "en"
    omari = _method(page, "OMARI")
    await omari.get_by_label("Phone number").fill(PHONE)
    await omari.get_by_role("button", name="Pay with OMARI").click()
    await expect(page.get_by_role("textbox", name="One-time code")).to_be_visible()
    assert await page.evaluate(UNLABELLED) == []


async def _tab_to(page: Page, want, limit: int = 40) -> dict:
    """Press Tab until the focused element matches `want`; the element's description."""
    for _ in range(limit):
        await page.keyboard.press("Tab")
        focused = await page.evaluate(FOCUSED)
        if want(focused):
            return focused
    raise AssertionError(f"Tab never reached the wanted element (last: {focused})")


async def test_card_payment_with_the_keyboard_only(stack, merchant, shop_site, order, page,
                                                   shot):
    await _open(page, order, merchant)
    focused = await _tab_to(page, lambda f: f["label"] == "Card number")
    assert focused["outline"], "the focused field shows no focus outline"
    await page.keyboard.type(CARD_3DS)
    for label, value in (("Expiry month (MM)", "12"), ("Expiry year (YYYY)", "2099"),
                         ("CVC", "123")):
        await page.keyboard.press("Tab")
        assert (await page.evaluate(FOCUSED))["label"] == label
        await page.keyboard.type(value)
    await page.keyboard.press("Tab")
    focused = await page.evaluate(FOCUSED)
    assert focused["tag"] == "BUTTON" and focused["text"].endswith("by card"), focused
    assert focused["outline"], "the focused button shows no focus outline"
    await shot(page, "1-pay-button-focused")
    await page.keyboard.press("Enter")

    await expect(page.get_by_role("heading", name="3-D Secure check")).to_be_visible()
    await _tab_to(page, lambda f: f["text"] == "Authenticate (pass)")
    await shot(page, "2-authenticate-focused")
    await page.keyboard.press("Enter")
    await expect(page).to_have_url(_returned(shop_site, order, "success"))
    assert await payment_status(stack, merchant, order["paymentId"]) == "completed"


@pytest.mark.parametrize("viewport", [PHONE_VIEWPORT], ids=["375x667"])
async def test_phone_sized_screen_has_no_horizontal_scroll(stack, merchant, shop_site,
                                                           order, page, shot):
    await _open(page, order, merchant)
    assert await page.evaluate("() => window.innerWidth") == 375
    assert await page.evaluate(OVERFLOW) <= 0
    card = _method(page, "Card (Visa / Mastercard)")
    box = await card.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 375
    await shot(page, "1-checkout")

    await _fill_card(page, CARD_3DS)
    await card.get_by_role("button", name=re.compile(r"by card$")).click()
    await expect(page.get_by_role("heading", name="3-D Secure check")).to_be_visible()
    assert await page.evaluate(OVERFLOW) <= 0
    await shot(page, "2-3ds-challenge")
    await page.get_by_role("button", name="Authenticate (pass)").click()
    await expect(page).to_have_url(_returned(shop_site, order, "success"))
