"""The pages' Content-Security-Policies in a real browser: Swagger UI at /docs and the
checkout pages work under them, and nothing on them is blocked (a policy that broke
the page, or a page that loads something its policy does not allow, shows up as a
`securitypolicyviolation`). In-process services behind the gateway, no `make run`."""

from __future__ import annotations

import re

from aiohttp import web

from tests.browser.checkout_forms import fill_card, pay_button
from tests.conftest import serve
from tests.integration.test_security_headers import stack
from tests.support.auth import PASSWORD, make_company_admin, make_merchant

WATCH = """window.__violations = [];
document.addEventListener('securitypolicyviolation', function (e) {
  window.__violations.push(e.violatedDirective + ' ' + e.blockedURI);
});"""


async def _violations(page) -> list[str]:
    return await page.evaluate("window.__violations")


async def _as_openapi_30(route) -> None:
    """The bundled Swagger UI (4.x) renders OpenAPI 3.0 only, and /openapi.json says
    3.1: relabelled here, so the whole UI (operations, "Try it out") runs under the
    policy."""
    upstream = await route.fetch()
    spec = await upstream.json()
    spec["openapi"] = "3.0.3"
    await route.fulfill(response=upstream, json=spec)


async def test_swagger_ui_runs_under_its_policy(settings, page):
    async with stack(settings) as (gateway, _):
        base = str(gateway.make_url(""))
        await page.add_init_script(WATCH)
        await page.route("**/openapi.json", _as_openapi_30)
        messages: list[str] = []
        page.on("console", lambda m: messages.append(m.text))
        page.on("pageerror", lambda e: messages.append(f"page error: {e}"))
        resp = await page.goto(base + "/docs")
        assert "script-src 'self'" in resp.headers["content-security-policy"]
        await page.wait_for_selector(".opblock", timeout=20_000)  # operations listed
        assert await page.locator(".opblock").count() > 10
        health = page.locator(".opblock-get", has_text="/healthz").first
        await health.locator(".opblock-summary").click()  # expands (React state)
        await health.locator(".try-out__btn").click()
        await health.locator(".execute").click()  # a fetch to this origin: connect-src
        await health.locator(".live-responses-table .response-col_status",
                             has_text="200").wait_for()
        assert await _violations(page) == []
        assert not [m for m in messages if "Content Security Policy" in m
                    or m.startswith("page error")], messages


async def test_checkout_page_is_styled_and_nothing_is_blocked(settings, page):
    async with stack(settings) as (gateway, _):
        admin = await make_company_admin(settings)
        merchant = await make_merchant(settings, admin, status="ACTIVE")
        resp = await gateway.post("/api/v1/auth/sign-in", json={"email": merchant.email,
                                                                 "password": PASSWORD})
        token = (await resp.json())["token"]
        resp = await gateway.post(
            "/api/v2/payments/create", headers={"Authorization": f"Bearer {token}"},
            json={"amount": "1050", "currency": "USD", "successUrl": "https://shop.example/ok",
                  "cancelUrl": "https://shop.example/back"})
        pid = (await resp.json())["result"]["paymentId"]
        base = str(gateway.make_url(""))
        await page.add_init_script(WATCH)
        for path in (f"/checkout/{pid}", "/checkout/pay_nothing", "/check-out"):
            await page.goto(base + path)
            # The layout's inline stylesheet applied: its hash is in the policy.
            background = await page.evaluate(
                "getComputedStyle(document.body).backgroundColor")
            assert background == "rgb(244, 245, 247)", path
            assert await _violations(page) == [], path


async def test_paying_returns_to_the_shop_under_form_action(settings, page):
    """A form's answer is a 303 to the merchant's success page, another origin:
    form-action names it, or the browser would stop the payer there."""
    async def back(request: web.Request) -> web.Response:
        return web.Response(text=f"<h1>Back at the shop: {request.path}</h1>",
                            content_type="text/html")

    shop_app = web.Application()
    shop_app.router.add_get("/{tail:.*}", back)
    async with serve(shop_app) as shop, stack(settings) as (gateway, _):
        admin = await make_company_admin(settings)
        merchant = await make_merchant(settings, admin, status="ACTIVE")
        resp = await gateway.post("/api/v1/auth/sign-in", json={"email": merchant.email,
                                                                 "password": PASSWORD})
        auth = {"Authorization": f"Bearer {(await resp.json())['token']}"}
        shop_url = str(shop.make_url("")).replace("127.0.0.1", "localhost")  # another origin
        for action in ("pay", "cancel"):
            resp = await gateway.post("/api/v2/payments/create", headers=auth, json={
                "amount": "1050", "currency": "USD", "successUrl": shop_url + "/success",
                "cancelUrl": shop_url + "/cancel"})
            pid = (await resp.json())["result"]["paymentId"]
            await page.add_init_script(WATCH)
            await page.goto(str(gateway.make_url(f"/checkout/{pid}")))
            if action == "pay":
                card = await fill_card(page, "4242 4242 4242 4242")
                await pay_button(card).click()
                await page.wait_for_url(f"{shop_url}/success?paymentId={pid}")
            else:
                await page.get_by_role("button", name=re.compile("^Cancel and return")).click()
                await page.wait_for_url(f"{shop_url}/cancel?paymentId={pid}")
            assert (await page.text_content("h1")).startswith("Back at the shop")
