"""The hosted NorPay checkout page in headless Chromium, through the gateway of a
`make run` stack: a customer pays with every sandbox method, cancels, meets an expired
session, and does it all with the keyboard on a phone-sized screen."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import aiohttp
import pytest
from playwright.async_api import Page, expect

from shared.money import Money, format_display, get_currency
from tests.browser.checkout_forms import CARD, STEP_3DS, choose, fill_card, method, pay_button
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
    for title in (CARD, "EcoCash", "OMARI", "ZimSwitch", "InnBucks"):
        await expect(method(page, title)).to_be_visible()
    await expect(method(page, "NOR wallet")).to_have_count(0)  # wallets pay NOR only
    await shot(page, "1-checkout")

    card = await fill_card(page, CARD_3DS)
    await shot(page, "2-card-filled")
    await pay_button(card).click()

    await expect(page.get_by_role("heading", name=STEP_3DS)).to_be_visible()
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
    card = await fill_card(page, CARD_3DS)
    await pay_button(card).click()
    await page.get_by_role("button", name="Fail authentication").click()
    alert = page.get_by_role("alert")
    await expect(alert).to_contain_text("3-D Secure authentication failed")
    await expect(alert).to_contain_text("Nothing was charged")
    await expect(alert).to_contain_text("4 tries left")
    await shot(page, "3ds-failed")
    # the shopper may try again: the card panel is open again, the payment still pending
    assert await payment_status(stack, merchant, order["paymentId"]) == "pending"
    await expect(method(page, CARD)).to_have_attribute("open", "")


async def test_omari_payment_with_one_time_code(stack, merchant, shop_site, order, page, shot):
    await _open(page, order, merchant)
    omari = await choose(page, "OMARI")
    await omari.get_by_label("Phone number").fill(PHONE)
    await shot(page, "1-phone-filled")
    await pay_button(omari).click()

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
    omari = await choose(page, "OMARI")
    await omari.get_by_label("Phone number").fill(PHONE)
    await pay_button(omari).click()
    await page.get_by_role("textbox", name="One-time code").fill("000000")
    await page.get_by_role("button", name="Confirm").click()
    await expect(page.get_by_role("alert")).to_contain_text("Wrong OTP")
    await shot(page, "wrong-otp")
    assert await payment_status(stack, merchant, order["paymentId"]) == "pending"


async def test_ecocash_phone_prompt_then_paid(stack, merchant, shop_site, order, page, shot):
    await _open(page, order, merchant)
    ecocash = await choose(page, "EcoCash")
    await ecocash.get_by_label("Phone number").fill(PHONE)
    await pay_button(ecocash).click()

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
    wallet = await choose(page, "NOR wallet")
    await wallet.get_by_label("Wallet address").fill(WALLET)
    await shot(page, "1-wallet-filled")
    await pay_button(wallet).click()
    await expect(page).to_have_url(_returned(shop_site, order, "success"))
    assert await payment_status(stack, merchant, order["paymentId"]) == "completed"


async def test_pays_with_javascript_switched_off(stack, merchant, shop_site, order, browser,
                                                 shot):
    context = await browser.new_context(java_script_enabled=False)
    try:
        page = await context.new_page()
        await _open(page, order, merchant)
        card = await fill_card(page, "4242 4242 4242 4242")
        await pay_button(card).click()
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
    await fill_card(page, "4242 4242 4242 4242")
    await pay_button(method(page, CARD)).click()
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
    omari = await choose(page, "OMARI")
    await omari.get_by_label("Phone number").fill(PHONE)
    await pay_button(omari).click()
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
    for label, value in (("Expiry date", "1299"), ("Security code", "123")):
        await page.keyboard.press("Tab")
        assert (await page.evaluate(FOCUSED))["label"] == label
        await page.keyboard.type(value)
    await page.keyboard.press("Tab")
    focused = await page.evaluate(FOCUSED)
    assert focused["tag"] == "BUTTON" and focused["text"].startswith("Pay "), focused
    assert focused["outline"], "the focused button shows no focus outline"
    await shot(page, "1-pay-button-focused")
    await page.keyboard.press("Enter")

    await expect(page.get_by_role("heading", name=STEP_3DS)).to_be_visible()
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
    card = method(page, CARD)
    box = await card.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 375
    await shot(page, "1-checkout")

    await fill_card(page, CARD_3DS)
    await pay_button(card).click()
    await expect(page.get_by_role("heading", name=STEP_3DS)).to_be_visible()
    assert await page.evaluate(OVERFLOW) <= 0
    await shot(page, "2-3ds-challenge")
    await page.get_by_role("button", name="Authenticate (pass)").click()
    await expect(page).to_have_url(_returned(shop_site, order, "success"))


# --- trying again, one method at a time, card entry -----------------------------------------

async def test_a_declined_card_then_another_method_pays(stack, merchant, shop_site, order,
                                                        page, shot):
    await _open(page, order, merchant)
    card = await fill_card(page, "4000 0000 0000 0002")  # the sandbox declines it
    await pay_button(card).click()
    alert = page.get_by_role("alert")
    await expect(alert).to_contain_text("Card declined")
    await expect(alert).to_contain_text("Nothing was charged")
    await expect(alert).to_contain_text("4 tries left")
    await expect(page.get_by_role("heading", name="Choose how to pay")).to_be_visible()
    await expect(page.locator("body")).not_to_contain_text("0002")  # not the number either
    await shot(page, "1-declined-try-again")
    assert await payment_status(stack, merchant, order["paymentId"]) == "pending"

    zimswitch = await choose(page, "ZimSwitch")  # another way to pay, this time
    await expect(method(page, CARD)).not_to_have_attribute("open", "")
    await zimswitch.get_by_label("Account number").fill("12345678")
    await shot(page, "2-another-method")
    await pay_button(zimswitch).click()
    await expect(page).to_have_url(_returned(shop_site, order, "success"))
    assert await payment_status(stack, merchant, order["paymentId"]) == "completed"

    async with aiohttp.ClientSession() as http:  # the attempt is on record
        async with http.get(f"{stack.gateway}/api/v2/payments/{order['paymentId']}/timeline",
                            headers=merchant.headers) as resp:
            events = (await resp.json())["result"]["events"]
    assert [e["status"] for e in events] == ["pending", "attempt_failed", "completed"]
    assert events[1]["detail"]["reason"] == "Card declined"


async def test_one_method_is_open_at_a_time_and_the_keyboard_opens_another(
        stack, merchant, order, page, shot):
    await _open(page, order, merchant)
    opened = page.locator("details.method[open]")
    await expect(opened).to_have_count(1)
    await expect(method(page, CARD)).to_have_attribute("open", "")  # cards first
    # Tab to OMARI's summary and open it with the keyboard: the card panel closes
    for _ in range(40):
        await page.keyboard.press("Tab")
        if await page.evaluate("() => document.activeElement.tagName") == "SUMMARY" and \
                "OMARI" in await page.evaluate("() => document.activeElement.textContent"):
            break
    else:
        raise AssertionError("Tab never reached OMARI's summary")
    assert (await page.evaluate(FOCUSED))["outline"], "the summary shows no focus outline"
    await page.keyboard.press("Enter")
    await expect(method(page, "OMARI")).to_have_attribute("open", "")
    await expect(opened).to_have_count(1)
    await expect(method(page, "OMARI").get_by_label("Phone number")).to_be_visible()
    await expect(method(page, CARD).get_by_label("Card number")).to_be_hidden()
    await shot(page, "omari-open")


async def test_card_entry_groups_names_and_checks_before_sending(stack, merchant, order,
                                                                 page, shot):
    await _open(page, order, merchant)
    card = await choose(page, CARD)
    number = card.get_by_label("Card number")
    for name, value in (("inputmode", "numeric"), ("autocomplete", "cc-number")):
        await expect(number).to_have_attribute(name, value)
    await expect(card.get_by_label("Expiry date")).to_have_attribute("autocomplete", "cc-exp")
    await expect(card.get_by_label("Security code")).to_have_attribute("autocomplete",
                                                                       "cc-csc")
    await number.press_sequentially("4242424242424242")
    await expect(number).to_have_value("4242 4242 4242 4242")  # grouped as typed
    await expect(card.locator("[data-card-brand]")).to_have_text("Visa")
    await number.fill("")
    await number.press_sequentially("5555555555554444")
    await expect(card.locator("[data-card-brand]")).to_have_text("Mastercard")
    expiry = card.get_by_label("Expiry date")
    await expiry.press_sequentially("1299")
    await expect(expiry).to_have_value("12 / 99")
    await expiry.fill("")
    await expiry.press_sequentially("4")  # April: the month gets its zero
    await expect(expiry).to_have_value("04 / ")

    # a mistyped number, an expired card, a short code: said at the field, nothing sent
    await number.fill("4242 4242 4242 4241")
    await expiry.fill("01 / 20")
    await card.get_by_label("Security code").fill("12")
    await pay_button(card).click()
    await expect(card.get_by_text("This card number is not valid")).to_be_visible()
    await expect(card.get_by_text("This card has expired")).to_be_visible()
    await expect(card.get_by_text("The security code has 3 digits")).to_be_visible()
    assert await page.evaluate("() => document.activeElement.id") == "card-number"
    await expect(number).to_have_attribute("aria-invalid", "true")
    await expect(number).to_have_attribute("aria-describedby", "card-number-error")
    await shot(page, "1-checked-before-sending")
    assert await payment_status(stack, merchant, order["paymentId"]) == "pending"

    await number.fill("3714 496353 98431")  # American Express: not a method here
    await number.blur()
    await expect(card.get_by_text("American Express cards are not accepted here"))\
        .to_be_visible()
    # fixed: the messages go as the shopper corrects each field
    await number.fill("")
    await number.press_sequentially("4242424242424242")
    await expect(card.get_by_text("This card number is not valid")).to_have_count(0)
    await shot(page, "2-brand-and-fixes")


async def test_the_otp_step_says_which_code_works_in_test_mode(stack, merchant, order, page,
                                                               shot):
    await _open(page, order, merchant)
    omari = await choose(page, "OMARI")
    await omari.get_by_label("Phone number").fill(PHONE)
    await pay_button(omari).click()
    await expect(page.get_by_role("heading", name="Enter your one-time code")).to_be_visible()
    await expect(page.get_by_text("We sent a one-time code to your phone")).to_be_visible()
    await expect(page.get_by_text(re.compile("the code 123456 approves it"))).to_be_visible()
    await shot(page, "otp-step")


async def test_the_phone_step_shows_the_result_by_itself(stack, merchant, shop_site, order,
                                                         page, shot):
    """No reload every 3 s (it moves the page under a reader): a quiet look, then the
    result once the phone has answered."""
    await _open(page, order, merchant)
    ecocash = await choose(page, "EcoCash")
    await ecocash.get_by_label("Phone number").fill(PHONE)
    await pay_button(ecocash).click()
    waiting = page.get_by_role("status")
    await expect(waiting).to_contain_text("looks again every few seconds")
    assert await page.locator('meta[http-equiv="refresh"]').count() == 0
    loads: list[str] = []
    page.on("load", lambda: loads.append(page.url))
    await expect(page.get_by_role("heading", name="Paid")).to_be_visible(timeout=30_000)
    assert len(loads) == 1, loads  # one page load: when there was something to show
    await shot(page, "paid-by-itself")
    assert await payment_status(stack, merchant, order["paymentId"]) == "completed"
