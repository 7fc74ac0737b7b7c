"""The hosted NORAH check-out page (check-out?token=...&type=m) in headless Chromium,
through the gateway of a `make run` stack: a customer pays a merchant's payment link."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from playwright.async_api import Page, expect

from shared.money import format_display, parse_major
from tests.browser.checkout_forms import STEP_3DS, choose, fill_card, method, pay_button
from tests.browser.conftest import OVERFLOW, PHONE_VIEWPORT, UNLABELLED

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

PHONE = "263771234567"
METHODS = ("Card", "EcoCash", "OMARI", "ZimSwitch", "InnBucks")


async def _link(stack, merchant, amount: str = "100.00", currency: str = "USD") -> dict:
    """The merchant's payment link, from NORAH's token endpoint with its API key."""
    async with aiohttp.ClientSession(headers=merchant.headers) as http:
        async with http.post(stack.gateway + "/api/v1/transaction/m/generate",
                             json={"amount": amount, "currency": currency}) as resp:
            body = await resp.json()
            assert resp.status == 200, body
    data = body["data"]
    url = urlsplit(data["url"])
    assert url.netloc == urlsplit(stack.gateway).netloc and url.path == "/check-out"
    assert parse_qs(url.query) == {"token": [data["token"]], "type": ["m"]}
    return {**data, "amount": amount, "currency": currency}


async def _status(stack, merchant, trace: str) -> str:
    async with aiohttp.ClientSession(headers=merchant.headers) as http:
        async with http.post(stack.gateway + "/api/v1/transactions/status",
                             json={"trace": trace}) as resp:
            body = await resp.json()
            assert resp.status == 200, body
            return body["data"]["status"]


async def _open(page: Page, link: dict, merchant) -> None:
    resp = await page.goto(link["url"])
    assert resp is not None and resp.status == 200, resp and await resp.text()
    await expect(page).to_have_title(re.compile(re.escape(merchant.name)))
    summary = page.get_by_role("region", name=f"Pay {merchant.name}")
    await expect(summary).to_contain_text(
        format_display(parse_major(link["amount"], link["currency"])))
    await expect(summary).to_contain_text(re.compile(rf"Fee: [\d,.]+ {link['currency']}"))


def _method(page: Page, title: str):
    return method(page, title)


async def _trace(page: Page) -> str:
    code = page.locator("code").filter(has_text=re.compile(r"^[0-9a-f-]{36}$"))
    await expect(code).to_have_count(1)
    return (await code.inner_text()).strip()


async def test_zimswitch_pays_the_link_once(stack, merchant, page, shot):
    link = await _link(stack, merchant)
    await _open(page, link, merchant)
    for title in METHODS:
        await expect(_method(page, title)).to_be_visible()
    await shot(page, "1-check-out")

    zimswitch = await choose(page, "ZimSwitch")
    await zimswitch.get_by_label("Account number").fill("12345678")
    await pay_button(zimswitch).click()
    await expect(page.get_by_role("heading", name="Paid")).to_be_visible()
    await expect(page.get_by_text(f"your payment to {merchant.name} is complete")).to_be_visible()
    trace = await _trace(page)
    await shot(page, "2-paid")
    assert await _status(stack, merchant, trace) == "COMPLETED"

    await page.goto(link["url"])  # the same link, opened again: no forms to pay twice
    await expect(page.get_by_role("heading", name="This payment link was already used"))\
        .to_be_visible()
    await expect(page.get_by_role("button", name=re.compile("with ZimSwitch$"))).to_have_count(0)
    await shot(page, "3-already-used")


async def test_card_with_3d_secure_pays_the_link(stack, merchant, page, shot):
    link = await _link(stack, merchant, amount="42.50")
    await _open(page, link, merchant)
    card = await fill_card(page, "4000 0025 0000 3155")
    await pay_button(card).click()

    await expect(page.get_by_role("heading", name=STEP_3DS)).to_be_visible()
    trace = await _trace(page)
    await shot(page, "1-3ds-challenge")
    assert await _status(stack, merchant, trace) == "PROCESSING"
    await page.get_by_role("button", name="Authenticate (pass)").click()

    await expect(page.get_by_role("heading", name="Paid")).to_be_visible()
    await expect(page.get_by_role("heading", level=1)).to_have_text(f"Pay {merchant.name}")
    await shot(page, "2-paid")
    assert await _status(stack, merchant, trace) == "COMPLETED"


async def test_omari_with_one_time_code_pays_the_link(stack, merchant, page, shot):
    link = await _link(stack, merchant, amount="7.00")
    await _open(page, link, merchant)
    omari = await choose(page, "OMARI")
    await omari.get_by_label("Phone number").fill(PHONE)
    await pay_button(omari).click()

    code = page.get_by_role("textbox", name="One-time code")
    await expect(code).to_be_visible()
    trace = await _trace(page)
    await shot(page, "1-otp-step")
    await code.fill("123456")
    await page.get_by_role("button", name="Confirm").click()
    await expect(page.get_by_role("heading", name="Paid")).to_be_visible()
    await shot(page, "2-paid")
    assert await _status(stack, merchant, trace) == "COMPLETED"


@pytest.mark.parametrize("viewport", [PHONE_VIEWPORT], ids=["375x667"])
async def test_check_out_page_is_labelled_and_fits_a_phone(stack, merchant, page, shot):
    link = await _link(stack, merchant)
    await _open(page, link, merchant)
    # the card's number, expiry and code, two phones, two accounts
    assert await page.locator("input:not([type=hidden])").count() >= 7
    assert await page.evaluate(UNLABELLED) == []
    assert await page.evaluate(OVERFLOW) <= 0
    await shot(page, "check-out")
