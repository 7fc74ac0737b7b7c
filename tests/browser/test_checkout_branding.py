"""The merchant's brand on its checkout pages (issue 23 item 4) in headless Chromium,
through the gateway of a `make run` stack: a merchant with a logo and an accent colour
sees both on the hosted checkout, the NORAH page and the price page, at 1280 and 320
pixels wide; a merchant without a brand gets the default look; a live payment's page has
no TEST MODE banner, a test one's has."""

from __future__ import annotations

import re

import aiohttp
import pytest
from aiohttp import web
from playwright.async_api import Page, expect

from services.checkout.branding import contrast
from tests.browser.conftest import NARROW_VIEWPORT, create_payment, sideways_scroll
from tests.conftest import serve
from tests.e2e.conftest import wait_stack_ready
from tests.support.onboarding import onboard

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

ACCENT = "#ff8800"  # orange: white text fails on it, and as a link it is too light
VIEWPORTS = [pytest.param({"width": 1280, "height": 800}, id="1280"),
             pytest.param(NARROW_VIEWPORT, id="320")]
LOGO_SVG = ('<svg xmlns="http://www.w3.org/2000/svg" width="180" height="48" '
            'viewBox="0 0 180 48"><rect width="48" height="48" rx="10" fill="#ff8800"/>'
            '<text x="58" y="32" font-family="sans-serif" font-size="22" font-weight="700" '
            'fill="#3a2000">Roasters</text></svg>')
# A page that loads something its policy does not allow shows it here.
WATCH = """window.__violations = [];
document.addEventListener('securitypolicyviolation', function (e) {
  window.__violations.push(e.violatedDirective + ' ' + e.blockedURI);
});"""
# The colours a person sees: the first submit button's, a link's, the footer's.
COLOURS = """() => {
  const button = document.querySelector('main button, main .button');
  const link = document.querySelector('footer a');
  const css = el => el ? getComputedStyle(el) : null;
  return {button: css(button) && css(button).backgroundColor,
          buttonText: css(button) && css(button).color,
          link: css(link) && css(link).color,
          bar: getComputedStyle(document.querySelector('.brand-bar')).backgroundColor};
}"""


def rgb(hex_colour: str) -> str:
    r, g, b = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgb({r}, {g}, {b})"


def hex_of(css_rgb: str) -> str:
    r, g, b = (int(n) for n in re.findall(r"\d+", css_rgb)[:3])
    return f"#{r:02x}{g:02x}{b:02x}"


@pytest.fixture(scope="module")
async def logo_site():
    """The merchant's CDN: one SVG logo on 127.0.0.1 (plain http is allowed there)."""
    hits: list[str] = []

    async def logo(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.Response(text=LOGO_SVG, content_type="image/svg+xml")

    app = web.Application()
    app.router.add_get("/brand/logo.svg", logo)
    async with serve(app) as client:
        yield f"http://127.0.0.1:{client.server.port}/brand/logo.svg", hits


@pytest.fixture(scope="module")
async def branded(stack, logo_site):
    """An active merchant with a logo and an accent, set before any of its payments (the
    checkout caches a merchant's account for a short while)."""
    await wait_stack_ready(stack)
    shop = await onboard(stack, "brand", name="Harare Coffee Roasters")
    async with aiohttp.ClientSession(headers=shop.admin_headers) as http:
        async with http.patch(stack.gateway + f"/api/v1/admin/merchants/{shop.id}",
                              json={"logoUrl": logo_site[0], "accentColor": ACCENT.upper()}
                              ) as resp:
            body = await resp.json()
            assert resp.status == 200, body
            assert (body["data"]["logoUrl"], body["data"]["accentColor"]) == \
                (logo_site[0], ACCENT)
    return shop


async def _norah_link(stack, shop) -> str:
    async with aiohttp.ClientSession(headers=shop.headers) as http:
        async with http.post(stack.gateway + "/api/v1/transaction/m/generate",
                             json={"amount": "25.00", "currency": "USD"}) as resp:
            body = await resp.json()
            assert resp.status == 200, body
    return body["data"]["url"]


async def _price_link(stack, shop) -> str:
    async with aiohttp.ClientSession() as http:
        async with http.post(stack.gateway + "/api/v1/apps", headers=shop.admin_headers,
                             json={"name": "Beans", "type": "individual", "app_fee": 0,
                                   "kyc_return_url": "https://shop.example/kyc"}) as resp:
            assert resp.status == 201, await resp.text()
            app = (await resp.json())["data"]
        async with http.post(stack.gateway + f"/prices/{app['id']}",
                             headers={"Authorization": f"Bearer {shop.key}"},
                             json={"currency": "usd", "amount": 12,
                                   "name": "Espresso beans 1 kg"}) as resp:
            assert resp.status == 201, await resp.text()
            price_id = (await resp.json())["data"]["id"]
    return stack.gateway + f"/checkout/prices/{price_id}"


async def _live_key(stack, shop) -> dict:
    async with aiohttp.ClientSession(headers=shop.admin_headers) as http:
        async with http.post(stack.gateway + "/api/v1/api-keys",
                             json={"merchantId": shop.id, "mode": "live"}) as resp:
            body = await resp.json()
            assert resp.status == 201, body
    return {"X-API-Key": body["data"]["key"]}


async def _open(page: Page, url: str, name: str) -> None:
    resp = await page.goto(url)
    assert resp is not None and resp.status == 200, resp and await resp.text()
    await expect(page.get_by_role("heading", name=f"Pay {name}")).to_be_visible()


async def _looks_right(page: Page, axe, shot, state: str) -> None:
    """What every page state must be: shot, no axe violation, no sideways scroll,
    nothing its policy blocked."""
    await shot(page, state)
    assert await axe(page) == [], state
    assert await sideways_scroll(page) == {}, state
    assert await page.evaluate("window.__violations") == [], state


async def _branded_look(page: Page, shop, logo_url: str) -> None:
    banner = page.get_by_role("banner")
    logo = banner.get_by_role("img", name=shop.name)
    await expect(logo).to_be_visible()
    assert await logo.get_attribute("src") == logo_url
    assert await logo.evaluate("img => img.complete && img.naturalWidth > 0"), "logo loaded"
    box = await logo.bounding_box()
    assert box is not None and 24 <= box["height"] <= 64, box  # a header logo, not a poster
    colours = await page.evaluate(COLOURS)
    assert colours["button"] == rgb(ACCENT) and colours["bar"] == rgb(ACCENT)
    # Black on the orange, and the links a darker orange that still reads on the page.
    assert colours["buttonText"] == "rgb(0, 0, 0)"
    link = hex_of(colours["link"])
    assert link != ACCENT and contrast(link, "#f4f5f7") >= 4.5, link
    await _footer(page, "brand.shop@example.com")


async def _footer(page: Page, support: str) -> None:
    footer = page.get_by_role("contentinfo")
    mail = footer.get_by_role("link", name=support)
    await expect(mail).to_have_attribute("href", f"mailto:{support}")
    await expect(footer).to_contain_text(f"Questions? {support}")
    await expect(footer).to_contain_text("Secured by norgate")


@pytest.mark.parametrize("viewport", VIEWPORTS)
async def test_the_merchants_logo_and_accent_on_its_three_pages(
        stack, branded, logo_site, page, axe, shot, viewport):
    logo_url = logo_site[0]
    await page.add_init_script(WATCH)
    order = await create_payment(stack, branded, amount="1800", currency="USD",
                                 description="Espresso beans 1 kg")
    await _open(page, order["checkoutUrl"], branded.name)
    await _branded_look(page, branded, logo_url)
    await expect(page.get_by_role("note", name="Test mode")).to_contain_text("TEST MODE")
    # The focus outline is the link shade, not the old fixed orange.
    await page.get_by_role("button").first.focus()
    outline = await page.evaluate("""() => { const s = getComputedStyle(
        document.activeElement); return [s.outlineStyle, s.outlineWidth, s.outlineColor]; }""")
    colours = await page.evaluate(COLOURS)
    assert outline == ["solid", "3px", colours["link"]], outline
    await _looks_right(page, axe, shot, "hosted-checkout")

    await _open(page, await _norah_link(stack, branded), branded.name)
    await _branded_look(page, branded, logo_url)
    await _looks_right(page, axe, shot, "norah")

    await _open(page, await _price_link(stack, branded), branded.name)
    await _branded_look(page, branded, logo_url)
    await expect(page.get_by_role("note", name="Test mode")).to_be_visible()
    await _looks_right(page, axe, shot, "price")
    assert logo_site[1], "the logo was fetched from the merchant's own origin"


@pytest.mark.parametrize("viewport", VIEWPORTS)
async def test_a_merchant_without_a_brand_gets_the_default_look(
        stack, merchant, page, axe, shot, viewport):
    await page.add_init_script(WATCH)
    order = await create_payment(stack, merchant, amount="1050", currency="USD")
    await _open(page, order["checkoutUrl"], merchant.name)
    banner = page.get_by_role("banner")
    await expect(banner).to_have_text(merchant.name)  # its name, no picture
    await expect(banner.get_by_role("img")).to_have_count(0)
    colours = await page.evaluate(COLOURS)
    assert (colours["button"], colours["buttonText"], colours["bar"]) == \
        ("rgb(11, 95, 204)", "rgb(255, 255, 255)", "rgb(11, 95, 204)")
    await _footer(page, "browser.shop@example.com")
    await _looks_right(page, axe, shot, "default")
    policy = (await page.request.get(order["checkoutUrl"])).headers["content-security-policy"]
    assert "img-src" not in policy  # no logo, so no image may load


async def test_a_live_payment_has_no_test_mode_banner_and_a_test_one_has(
        stack, branded, page, axe, shot):
    await page.add_init_script(WATCH)
    test = await create_payment(stack, branded, amount="500", currency="USD")
    await _open(page, test["checkoutUrl"], branded.name)
    banner = page.get_by_role("note", name="Test mode")
    await expect(banner).to_be_visible()
    await expect(banner).to_contain_text("no money moves")
    await _looks_right(page, axe, shot, "test-mode")

    async with aiohttp.ClientSession(headers=await _live_key(stack, branded)) as http:
        async with http.post(stack.gateway + "/api/v2/payments/create",
                             json={"amount": "500", "currency": "USD"}) as resp:
            body = await resp.json()
            assert resp.status == 201, body
    live = body["result"]
    assert live["livemode"] is True
    await _open(page, live["checkoutUrl"], branded.name)
    await expect(page.get_by_text("TEST MODE")).to_have_count(0)
    await expect(page.get_by_role("banner").get_by_role("img", name=branded.name)
                 ).to_be_visible()
    await _looks_right(page, axe, shot, "live-mode")


async def test_the_console_sets_and_clears_a_merchants_checkout_brand(
        stack, logo_site, page, axe, shot):
    await wait_stack_ready(stack)
    shop = await onboard(stack, "brandconsole", name="Mutare Tea House")
    await page.goto(stack.gateway + "/console/")
    await page.get_by_label("E-mail").fill(shop.admin_email)
    await page.get_by_label("Password").fill(shop.admin_password)
    await page.get_by_role("button", name="Sign in").click()
    await page.get_by_role("button", name="Sign out").wait_for()
    await page.get_by_role("navigation", name="Console").get_by_role(
        "link", name="Merchants", exact=True).click()
    row = page.get_by_role("row").filter(has_text=shop.name)
    await row.get_by_role("button", name=f"Checkout brand of {shop.name}").click()
    form = page.get_by_role("form", name=f"Checkout brand: {shop.name}")
    await expect(form.get_by_role("heading")).to_be_focused()
    await expect(form.get_by_label("Logo URL")).to_have_value("")
    await expect(form.get_by_label("Accent colour")).to_have_value("")

    await form.get_by_label("Logo URL").fill(logo_site[0])
    await form.get_by_label("Accent colour").fill("orange")
    await form.get_by_role("button", name="Save brand").click()
    accent = form.get_by_label("Accent colour")
    await expect(accent).to_have_attribute("aria-invalid", "true")
    await expect(accent).to_be_focused()
    await expect(form).to_contain_text("#rrggbb")
    await shot(page, "console-bad-accent")
    assert await axe(page) == []

    await accent.fill("#1A7F37")
    await form.get_by_role("button", name="Save brand").click()
    await expect(form.get_by_role("status")).to_have_text(
        f"The checkout brand of {shop.name} is saved.")
    await shot(page, "console-saved")
    assert await axe(page) == []
    async with aiohttp.ClientSession(headers=shop.admin_headers) as http:
        async with http.get(stack.gateway + f"/api/v1/admin/merchants/{shop.id}") as resp:
            data = (await resp.json())["data"]
    assert (data["logoUrl"], data["accentColor"]) == (logo_site[0], "#1a7f37")

    await form.get_by_label("Logo URL").fill("")
    await form.get_by_role("button", name="Save brand").click()
    await expect(form.get_by_role("status")).to_be_visible()
    async with aiohttp.ClientSession(headers=shop.admin_headers) as http:
        async with http.get(stack.gateway + f"/api/v1/admin/merchants/{shop.id}") as resp:
            data = (await resp.json())["data"]
    assert (data["logoUrl"], data["accentColor"]) == (None, "#1a7f37")  # emptied: cleared
