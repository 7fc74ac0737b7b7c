"""The embedded checkout (checkout.js) in headless Chromium: the merchant's page, on its
own origin, is the seed's HTML example word for word (only the script's host and the
key differ), and a customer pays inside the iframe, cancels, or the page's origin is
not one the publishable key allows."""

from __future__ import annotations

import re

import aiohttp
import pytest
from aiohttp import web
from playwright.async_api import Page, expect

from tests.browser.checkout_forms import STEP_3DS, fill_card, pay_button
from tests.browser.conftest import payment_status
from tests.support.net import free_port
from tests.support.poll import poll_until

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

CARD_3DS = "4000 0025 0000 3155"  # the sandbox asks for a 3-D Secure challenge
ONE_NOR = "1000000000000000000"

# The NorPay seed's "Embedded Checkout" example, verbatim.
SEED_HTML = """<!DOCTYPE html>
<html>
<head>
  <script src="https://checkout.norpay.com/v1/checkout.js"></script>
</head>
<body>
  <div id="norpay-checkout"></div>

  <script>
    const checkout = NorPay.Checkout({
      apiKey: 'nk_your_merchant_key',
      amount: '1000000000000000000',
      currency: 'NOR',
      description: 'Product purchase',
      onSuccess: (payment) => {
        console.log('Payment successful:', payment);
        window.location.href = '/success';
      },
      onCancel: () => {
        console.log('Payment canceled');
      }
    });

    checkout.mount('#norpay-checkout');
  </script>
</body>
</html>
"""


class MerchantSite:
    """The merchant's own web site: the seed's page at /, and /success."""

    def __init__(self, html: str):
        self.html = html
        self.port = free_port()
        self.origin = f"http://127.0.0.1:{self.port}"
        self.runner: web.AppRunner | None = None

    async def start(self) -> None:
        async def home(_request):
            return web.Response(text=self.html, content_type="text/html")

        async def success(_request):
            return web.Response(text='<!doctype html><html lang="en"><title>Thanks</title>'
                                     '<h1>Thank you for your order</h1></html>',
                                content_type="text/html")
        app = web.Application()
        app.router.add_get("/", home)
        app.router.add_get("/success", success)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()


@pytest.fixture(scope="module")
async def widget_shop(stack, merchant):
    """The seed's page, served by the merchant's site, with a publishable key made
    through the gateway for that site's origin."""
    site = MerchantSite("")
    async with aiohttp.ClientSession() as http:
        async with http.post(stack.gateway + "/api/v1/api-keys", headers={
                "Authorization": f"Bearer {merchant.admin_token}"}, json={
                "merchantId": int(merchant.id), "type": "publishable", "name": "web shop",
                "allowedOrigins": [site.origin]}) as resp:
            body = await resp.json()
            assert resp.status == 201, body
    key = body["data"]["key"]
    assert key.startswith("nk_pub_")
    site.html = SEED_HTML.replace("https://checkout.norpay.com", stack.gateway)\
        .replace("nk_your_merchant_key", key)
    await site.start()
    try:
        yield site
    finally:
        await site.runner.cleanup()


# The page's console.log arguments, as JSON, kept in sessionStorage so that they outlive
# the seed's own `window.location.href = '/success'` (same origin, same tab).
KEEP_LOGS = """(() => {
  const log = console.log.bind(console);
  console.log = (...args) => {
    const kept = JSON.parse(sessionStorage.getItem('logs') || '[]');
    kept.push(args);
    sessionStorage.setItem('logs', JSON.stringify(kept));
    log(...args);
  };
})();"""


async def _console(page: Page) -> list:
    messages: list = []
    page.on("console", lambda message: messages.append(message))
    await page.add_init_script(KEEP_LOGS)
    return messages


def _logged(messages: list, text: str):
    return next((m for m in messages if m.text.startswith(text)), None)


async def _kept_logs(page: Page) -> list[list]:
    return await page.evaluate("() => JSON.parse(sessionStorage.getItem('logs') || '[]')")


async def test_the_seed_page_pays_by_card_with_3d_secure_and_calls_on_success(
        stack, merchant, widget_shop, page, shot):
    messages = await _console(page)
    await page.goto(widget_shop.origin + "/")
    frame = page.frame_locator("#norpay-checkout iframe")
    await expect(frame.get_by_role("heading", level=1)).to_have_text(re.compile("^Pay "))
    await expect(frame.locator("body")).to_contain_text("1.00 NOR")
    await expect(frame.locator("body")).to_contain_text("Product purchase")
    await shot(page, "1-widget-in-the-shop")

    card = await fill_card(frame, CARD_3DS)
    await pay_button(card).click()
    await expect(frame.get_by_role("heading", name=STEP_3DS)).to_be_visible()
    await shot(page, "2-3ds-in-the-frame")
    await frame.get_by_role("button", name="Authenticate (pass)").click()

    # onSuccess logs the payment, then the seed's page goes to /success.
    await expect(page).to_have_url(widget_shop.origin + "/success")
    await expect(page.get_by_role("heading")).to_have_text("Thank you for your order")
    await shot(page, "3-success-page")
    assert _logged(messages, "Payment successful:") is not None
    [(text, payment)] = [line for line in await _kept_logs(page)
                         if line[0] == "Payment successful:"]
    assert payment["status"] == "completed" and payment["paymentMethod"] == "VISA_MASTER"
    assert (payment["amount"], payment["currency"]) == (ONE_NOR, "NOR")
    assert payment["description"] == "Product purchase"
    assert await payment_status(stack, merchant, payment["paymentId"]) == "completed"


async def test_cancelling_in_the_frame_calls_on_cancel(stack, merchant, widget_shop, page,
                                                      shot):
    messages = await _console(page)
    await page.goto(widget_shop.origin + "/")
    frame = page.frame_locator("#norpay-checkout iframe")
    await frame.get_by_role("button", name=re.compile("^Cancel and return to ")).click()
    await expect(frame.get_by_role("heading", name="Payment canceled")).to_be_visible()
    await poll_until(lambda: _logged(messages, "Payment canceled"), timeout=10,
                     what="onCancel's console line")
    await shot(page, "canceled")
    assert page.url == widget_shop.origin + "/"  # the shop stays; no redirect
    assert _logged(messages, "Payment successful:") is None


async def test_a_page_on_an_origin_the_key_does_not_allow_gets_no_checkout(
        stack, widget_shop, page, shot):
    messages = await _console(page)
    other = widget_shop.origin.replace("127.0.0.1", "localhost")  # same site, other origin
    await page.goto(other + "/")
    holder = page.locator("#norpay-checkout")
    await expect(holder.get_by_role("alert")).to_contain_text("allowed origins")
    await expect(holder.locator("iframe")).to_have_count(0)
    await shot(page, "refused-origin")
    assert any("CORS" in m.text or "Access-Control-Allow-Origin" in m.text for m in messages)
