"""The merchant's first hour in the console (issue 23 item 7), in headless Chromium
against a `make run` stack.

A new ADMIN signs up, opens the confirmation e-mail's link (a console page, the token
after `#`), reads "confirmed", signs in and finds the first-steps list on the dashboard
at 0 of 5; creates and activates a merchant in the console, makes the key, a test
payment and a webhook endpoint through the API, and watches the ticks appear until the
list goes. A merchant's invited login opens the invitation e-mail's link, sets a
password (the page's own errors first) and signs in. Every state is screenshotted
(test-artifacts/screenshots/), checked with axe-core and, at 320 px, for sideways scroll.
"""

from __future__ import annotations

import re
import secrets

import aiohttp
import pytest
from aiohttp import web

from tests.browser.conftest import OVERFLOW
from tests.conftest import serve
from tests.e2e.conftest import wait_stack_ready
from tests.support.onboarding import mail_text
from tests.support.poll import poll_until

pytestmark = pytest.mark.e2e

NARROW = {"width": 320, "height": 640}
WIDE = {"width": 1280, "height": 800}
CARD = {"number": "4242424242424242", "expMonth": 12, "expYear": 2030, "cvc": "123"}


async def api(stack, method: str, path: str, *, headers: dict | None = None, **kw) -> dict:
    async with aiohttp.ClientSession(headers=headers or {}) as http:
        async with http.request(method, stack.gateway + path, **kw) as resp:
            body = await resp.json(content_type=None)
            assert 200 <= resp.status < 300, (method, path, resp.status, body)
            return body


async def settled(page) -> None:
    await page.wait_for_function("() => !document.querySelector('main[aria-busy]')")


async def check(page, shot, axe, name: str) -> None:
    """A screenshot of this state, no axe-core violation, and the same at 320 px."""
    await shot(page, name)
    assert await axe(page) == [], name
    await page.set_viewport_size(NARROW)
    assert await page.evaluate(OVERFLOW) <= 0, f"{name}: sideways scroll at 320 px"
    await shot(page, f"{name}-320")
    assert await axe(page) == [], f"{name} at 320 px"
    await page.set_viewport_size(WIDE)


async def steps_done(page) -> list[str]:
    """The first-steps list's ticked steps, as the list itself says them."""
    section = page.locator("section.first-steps")
    await section.wait_for()
    return await section.locator("li.done a").all_inner_texts()


@pytest.fixture(scope="module")
async def receiver():
    async def hook(request: web.Request) -> web.Response:
        return web.json_response({"received": True})
    app = web.Application()
    app.router.add_post("/hooks", hook)
    async with serve(app) as client:
        yield f"http://127.0.0.1:{client.server.port}/hooks"


async def test_a_new_admin_confirms_by_the_link_and_ticks_off_the_first_steps(
        stack, page, shot, axe, receiver):
    await wait_stack_ready(stack)
    slug = secrets.token_hex(3)
    email, password = f"first.{slug}@example.com", "Analytical-Engine-1843"
    await api(stack, "POST", "/api/v1/auth/admin-sign-up", json={
        "firstName": "Ada", "lastName": "Owner", "email": email, "password": password,
        "companyName": "Engines Ltd"})
    text = await mail_text(stack, email)
    link = re.search(r"(http://\S+/console/confirm-email#token=(\S+))", text)
    assert link and link.group(1).startswith(stack.gateway + "/console/"), text

    main = page.locator("main")  # not the live region, which repeats what is announced
    # The link: the page confirms by itself and says so; the token leaves the address bar.
    answer = await page.goto(link.group(1))
    assert answer.headers["referrer-policy"] == "no-referrer"
    await main.get_by_text("Your e-mail is confirmed — sign in.").wait_for()
    assert await page.get_by_role("heading", level=1).inner_text() == "E-mail confirmed"
    assert "token" not in page.url and link.group(2) not in page.url
    assert await page.get_by_label("E-mail").input_value() == email
    await check(page, shot, axe, "1-confirmed")

    # The same link again: used, and the page says what to do.
    await page.goto(link.group(1))
    await main.get_by_text("invalid, already used or expired").wait_for()
    code = page.get_by_label("Confirmation code")
    assert await code.get_attribute("aria-invalid") == "true"
    await check(page, shot, axe, "2-link-used")
    await page.get_by_role("link", name="Sign in").click()
    await page.get_by_label("E-mail").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()
    await page.get_by_role("button", name="Sign out").wait_for()

    # The dashboard: five steps, none done, each a link to where it is done.
    await page.goto(stack.gateway + "/console/dashboard")
    await settled(page)
    section = page.locator("section.first-steps")
    assert await steps_done(page) == []
    await section.get_by_text("0 of 5 done").wait_for()
    links = {name: await section.get_by_role("link", name=name).get_attribute("href")
             for name in ("Create a merchant", "Activate it", "Make an API key",
                          "Make a test payment", "Add a webhook endpoint")}
    assert links == {"Create a merchant": "/console/merchants/new",
                     "Activate it": "/console/merchants", "Make an API key": "/console/keys",
                     "Make a test payment": "/docs",
                     "Add a webhook endpoint": "/console/webhooks"}
    await check(page, shot, axe, "3-first-steps-none-done")

    # 1 in the console: the new-merchant page, its own errors first.
    await section.get_by_role("link", name="Create a merchant").click()
    await page.get_by_role("heading", name="New merchant").wait_for()
    await page.get_by_role("button", name="Create merchant").click()
    await main.get_by_text("Enter the merchant's name.").wait_for()
    await check(page, shot, axe, "4-new-merchant-errors")
    await page.get_by_label("Merchant name").fill("Engine Shop")
    await page.get_by_label("Merchant e-mail").fill(f"shop.{slug}@example.com")
    await page.get_by_role("button", name="Create merchant").click()
    await main.get_by_text("Engine Shop is created, in DEVELOPMENT.").wait_for()
    await check(page, shot, axe, "5-merchant-created")

    # 2 in the console: Activate on the Merchants page.
    await page.get_by_role("link", name="activate it on the Merchants page").click()
    await page.get_by_role("button", name="Activate Engine Shop").click()
    await main.get_by_text("Engine Shop is now ACTIVE.").wait_for()
    await page.goto(stack.gateway + "/console/dashboard")
    assert await steps_done(page) == ["Create a merchant", "Activate it"]
    await section.get_by_text("2 of 5 done").wait_for()
    await check(page, shot, axe, "6-first-steps-two-done")

    # 3 and 4 through the API: a test key, and a payment paid with the sandbox card.
    token = (await api(stack, "POST", "/api/v1/auth/sign-in",
                       json={"email": email, "password": password}))["token"]
    admin = {"Authorization": f"Bearer {token}"}
    [shop] = (await api(stack, "GET", "/api/v1/admin/merchants", headers=admin))["data"]
    key = (await api(stack, "POST", "/api/v1/api-keys", headers=admin,
                     json={"merchantId": shop["merchantId"]}))["data"]["key"]
    made = (await api(stack, "POST", "/api/v2/payments/create", headers={"X-API-Key": key},
                      json={"amount": "1050", "currency": "USD",
                                          "description": "First payment"}))["result"]
    await api(stack, "POST", f"/api/v2/payments/{made['paymentId']}/confirm",
              headers={"X-API-Key": key}, json={"paymentMethod": "VISA_MASTER", "card": CARD})
    await page.reload()
    assert await steps_done(page) == ["Create a merchant", "Activate it", "Make an API key",
                                      "Make a test payment"]
    await check(page, shot, axe, "7-first-steps-four-done")

    # Hidden by the user: stays hidden in this browser; back when that is forgotten.
    await section.get_by_role("button", name="Hide these steps").click()
    assert await section.count() == 0
    await page.reload()
    await settled(page)
    assert await section.count() == 0
    await page.evaluate("() => localStorage.clear()")
    await page.reload()
    assert len(await steps_done(page)) == 4

    # 5 through the API; with all five done the list is gone.
    await api(stack, "POST", "/api/v2/webhooks/endpoints", headers={"X-API-Key": key},
              json={"url": receiver, "events": ["payment.completed"]})
    await page.reload()
    await settled(page)
    await poll_until(lambda: _gone(section), timeout=5, what="the first steps gone")
    await check(page, shot, axe, "8-all-done")


async def _gone(section) -> bool:
    return await section.count() == 0


async def test_an_invited_merchant_sets_a_password_by_the_link_and_signs_in(
        stack, merchant, page, shot, axe):
    slug = secrets.token_hex(3)
    shop_email = f"invited.{slug}@example.com"
    await api(stack, "POST", "/api/v1/admin/create-merchant-account",
              headers=merchant.admin_headers,
              json={"merchantName": "Corner Shop", "merchantEmail": shop_email})
    text = await mail_text(stack, shop_email)
    link = re.search(r"(http://\S+/console/accept-invitation#token=(\S+))", text)
    assert link and link.group(1).startswith(stack.gateway + "/console/"), text

    main = page.locator("main")  # not the live region, which repeats what is announced
    await page.goto(link.group(1))
    await page.get_by_role("heading", name="Set your password").wait_for()
    assert "token" not in page.url
    assert await page.get_by_label("Invitation code").input_value() == link.group(2)
    await main.get_by_text("At least 10 characters").wait_for()  # the rules, up front
    await check(page, shot, axe, "1-invitation")

    new_password, confirm = page.get_by_label("New password"), page.get_by_label("Confirm password")
    # The page's own checks: too short; then two different passwords.
    await new_password.fill("short")
    await page.get_by_role("button", name="Set password").click()
    await main.get_by_text("The password must be at least 10 characters.").wait_for()
    assert await new_password.get_attribute("aria-invalid") == "true"
    await check(page, shot, axe, "2-too-short")
    await new_password.fill("Corner-Shop-Owner-2025")
    await confirm.fill("Corner-Shop-Owner-2024")
    await page.get_by_role("button", name="Set password").click()
    await main.get_by_text("The two passwords are not the same.").wait_for()
    assert await new_password.get_attribute("aria-invalid") is None
    # The API's refusal, next to the field it names.
    await new_password.fill(f"invited.{slug}-2025")
    await confirm.fill(f"invited.{slug}-2025")
    await page.get_by_role("button", name="Set password").click()
    await main.get_by_text("The password must not contain your e-mail address.").wait_for()
    await check(page, shot, axe, "3-api-refusal")

    await new_password.fill("Corner-Shop-Owner-2025")
    await confirm.fill("Corner-Shop-Owner-2025")
    await page.get_by_role("button", name="Set password").click()
    await main.get_by_text("Password set — sign in.").wait_for()
    assert await page.get_by_label("E-mail").input_value() == shop_email
    await check(page, shot, axe, "4-password-set")
    await page.get_by_label("Password").fill("Corner-Shop-Owner-2025")
    await page.get_by_role("button", name="Sign in").click()
    await page.get_by_role("button", name="Sign out").wait_for()
    assert await page.locator(".who-role").inner_text() == " (MERCHANT)"
    await page.wait_for_url(re.compile(r"/console/payments$"))
    await settled(page)
    await check(page, shot, axe, "5-signed-in")

    # The link once more: used, and it says so next to the code.
    await page.goto(link.group(1))
    await page.get_by_role("button", name="Set password").wait_for()
    await new_password.fill("Corner-Shop-Owner-2026")
    await confirm.fill("Corner-Shop-Owner-2026")
    await page.get_by_role("button", name="Set password").click()
    await main.get_by_text("invalid, already used or expired").wait_for()
    assert await page.get_by_label("Invitation code").get_attribute("aria-invalid") == "true"
    await check(page, shot, axe, "6-link-used")
