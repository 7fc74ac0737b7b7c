"""Browser tests: Debian's headless Chromium driven by Playwright (async API).

`make test` installs the browser with deploy/scripts/ensure-chromium.sh (Debian's
chromium + chromium-driver); Playwright only drives it through `executable_path`, and
`playwright install` is never run. Every test here is marked `browser` (and `e2e`
when it uses the stack).

Fixtures (use them from any module under tests/browser):

- `browser`   session-scoped Playwright `Browser` on /usr/bin/chromium (NORGATE_CHROMIUM
              overrides), headless, with the flags this closed network needs.
- `viewport`  the viewport `page` opens with, {"width": 1280, "height": 800}; override it
              per test with `@pytest.mark.parametrize("viewport", [{"width": 375,
              "height": 667}], ids=["phone"])` or per module by redefining the fixture;
              `await page.set_viewport_size(...)` changes it mid-test.
- `page`      a fresh browser context + page per test (no cookies shared between tests).
              When the test fails, its last screen is saved as `<test>-failure.png`.
- `shot`      `await shot(page, "step-name")` saves a full-page PNG to
              test-artifacts/screenshots/<test name>-<step-name>.png (repo root) and
              returns the path.
- `stack`     the e2e `make run` stack (module-scoped, from tests/e2e/conftest.py);
              `stack.gateway` is the gateway's base URL.
- `merchant`  module-scoped: a company admin signed up through the gateway, an active
              merchant ("Blue Widget Store") and its API key: a `Merchant` with `.key`,
              `.uid`, `.id`, `.name`, `.admin_token` and `.headers` ({"X-API-Key": key}).
- `shop_site` module-scoped tiny aiohttp server playing the merchant's own site:
              `shop_site.url("/success")` gives a URL to use as successUrl/cancelUrl; its
              pages answer "Back at the shop: <path>" and `shop_site.hits` lists the
              paths (with query) it was asked for.
- `axe`       `violations = await axe(page)` runs axe-core (tests/browser/axe, pinned
              in its package-lock.json; `make test` installs it with
              deploy/scripts/ensure-axe.sh) in the page and in each of its frames, with
              the WCAG 2.0/2.1/2.2 A and AA rules plus best-practice, and returns the
              violations as compact dicts: {"id", "impact", "help", "targets": [CSS
              selector of each node]} (a frame's node: "iframe <frame URL> >> selector").
              Assert it is `[]`. It works despite the pages' Content-Security-Policy
              (the script goes in through DevTools' Runtime.evaluate, which CSP does not
              govern), and changes nothing on the page but adding `window.axe`.

Helpers (plain functions, import them from tests.browser.conftest):
`create_payment(stack, merchant, **body)` -> the API's `result` (paymentId, checkoutUrl, ...),
`payment_status(stack, merchant, payment_id)` -> status string,
`expire_payment(stack, payment_id)` moves the payment's expires_at into the past in the
stack's database.
Page checks for `page.evaluate` (constants): UNLABELLED (visible inputs without a label ->
list of outerHTML), FOCUSED (the focused element's tag, label, text and whether it shows a
focus outline), OVERFLOW (> 0 when the page scrolls sideways); PHONE_VIEWPORT (375x667),
NARROW_VIEWPORT (320x640, the narrowest phone the pages must fit).
`await sideways_scroll(page)` -> {frame URL: pixels} of the page and each frame that
scrolls sideways (OVERFLOW > 0); `{}` when everything fits the viewport's width.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from aiohttp import web

from tests.conftest import serve
from tests.e2e.conftest import stack, wait_stack_ready  # noqa: F401 (the fixture, reused)
from tests.support.onboarding import Onboarded, onboard

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
CHROMIUM = os.environ.get("NORGATE_CHROMIUM", "/usr/bin/chromium")
# Without the background-networking flags Chromium keeps dialling Google on a closed
# network; a fresh profile per launch comes from Playwright itself (a temp user-data-dir).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-dev-shm-usage"]
DEFAULT_VIEWPORT = {"width": 1280, "height": 800}


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")


@pytest.fixture(scope="session")
async def browser():
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(f"{CHROMIUM} is missing: run `bash deploy/scripts/ensure-chromium.sh` "
                    "(as `make test` does) to install Debian's chromium", pytrace=False)
    from playwright.async_api import async_playwright

    pw = await async_playwright().start()
    try:
        chromium = await pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                            args=CHROMIUM_ARGS, timeout=60_000)
        try:
            yield chromium
        finally:
            await chromium.close()
    finally:
        await pw.stop()


@pytest.fixture
def viewport() -> dict:
    return dict(DEFAULT_VIEWPORT)


@pytest.fixture
async def page(browser, viewport, request):
    context = await browser.new_context(viewport=viewport, locale="en-GB",
                                        java_script_enabled=True)
    context.set_default_timeout(15_000)
    context.set_default_navigation_timeout(20_000)
    tab = await context.new_page()
    try:
        yield tab
    finally:
        report = getattr(request.node, "report_call", None)
        if report is not None and report.failed and not tab.is_closed():
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            try:
                await tab.screenshot(path=str(SCREENSHOTS / f"{_safe(request.node.name)}"
                                                            "-failure.png"), full_page=True)
            except Exception:  # noqa: BLE001 - a failure shot must not hide the failure
                pass
        await context.close()


@pytest.fixture
def shot(request):
    """`await shot(page, name)`: a full-page PNG kept as a test artefact."""
    test = _safe(request.node.name)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for old in SCREENSHOTS.glob(f"{test}-*.png"):  # this test's shots from an earlier run
        old.unlink()

    async def take(page, name: str) -> Path:
        path = SCREENSHOTS / f"{test}-{_safe(name)}.png"
        await page.screenshot(path=str(path), full_page=True)
        return path
    return take


# --- the merchant, onboarded through the gateway -----------------------------------------

Merchant = Onboarded


async def _json(resp: aiohttp.ClientResponse, expected: int = 200) -> dict:
    body = await resp.json(content_type=None)
    assert resp.status == expected, (resp.method, str(resp.url), resp.status, body)
    return body


# --- axe-core: the accessibility rules, run in the page ----------------------------------

AXE_JS = REPO / "tests" / "browser" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
# WCAG 2.x A and AA (2.0, 2.1, 2.2) and axe's best practices; AAA and experimental
# rules are not the bar the issue sets.
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa",
            "best-practice"]
# Each frame is checked on its own (iframes: false): axe's frame messaging refuses
# cross-origin frames by default, and the embedded checkout is one.
AXE_RUN = """async (tags) => {
  const result = await window.axe.run(document, {
    runOnly: {type: 'tag', values: tags}, resultTypes: ['violations'], iframes: false});
  return result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    targets: v.nodes.map(n => n.target.map(String).join(' >> '))}));
}"""


@pytest.fixture(scope="session")
def axe_source() -> str:
    if not AXE_JS.is_file():
        pytest.fail(f"{AXE_JS} is missing: run `bash deploy/scripts/ensure-axe.sh` "
                    "(as `make test` does) to install axe-core", pytrace=False)
    # Wrapped in a function so that Playwright calls it in the frame; DevTools'
    # evaluation is not subject to the page's script-src.
    return "() => {\n" + AXE_JS.read_text(encoding="utf-8") + "\n}"


@pytest.fixture
def axe(axe_source):
    """`await axe(page)`: axe-core's violations in the page and its frames (see above)."""
    async def run(page) -> list[dict]:
        found: list[dict] = []
        for frame in page.frames:
            if frame.is_detached() or frame.url in ("", "about:blank"):
                continue
            if not await frame.evaluate("() => typeof window.axe === 'object'"):
                await frame.evaluate(axe_source)
            got = await frame.evaluate(AXE_RUN, AXE_TAGS)
            if frame is not page.main_frame:
                for violation in got:
                    violation["targets"] = [f"iframe {frame.url} >> {t}"
                                            for t in violation["targets"]]
            found += got
        return found
    return run


@pytest.fixture(scope="module")
async def merchant(stack):  # noqa: F811
    """Sign-up, confirm, sign in, create and activate a merchant, issue an API key."""
    await wait_stack_ready(stack)
    return await onboard(stack, "browser", name="Blue Widget Store")


async def create_payment(stack, merchant: Merchant, **body) -> dict:  # noqa: F811
    """POST /api/v2/payments/create through the gateway; the envelope's `result`."""
    async with aiohttp.ClientSession(headers=merchant.headers) as http:
        async with http.post(stack.gateway + "/api/v2/payments/create", json=body) as resp:
            return (await _json(resp, 201))["result"]


async def payment_status(stack, merchant: Merchant, payment_id: str) -> str:  # noqa: F811
    async with aiohttp.ClientSession(headers=merchant.headers) as http:
        async with http.get(stack.gateway + f"/api/v2/payments/{payment_id}") as resp:
            return (await _json(resp))["result"]["status"]


async def expire_payment(stack, payment_id: str) -> None:  # noqa: F811
    """The session TTL is an hour: move this payment's expiry into the past instead."""
    conn = await asyncpg.connect(stack.env["NORGATE_DATABASE_URL"])
    try:
        done = await conn.execute("UPDATE checkout.payments SET expires_at = now() - "
                                  "interval '1 second' WHERE payment_id = $1", payment_id)
    finally:
        await conn.close()
    assert done == "UPDATE 1", done


# --- the merchant's own site (successUrl / cancelUrl) -------------------------------------

@dataclass
class ShopSite:
    base: str
    hits: list[str] = field(default_factory=list)

    def url(self, path: str) -> str:
        return self.base + path


@pytest.fixture(scope="module")
async def shop_site():
    site = ShopSite(base="")

    async def landing(request: web.Request) -> web.Response:
        site.hits.append(request.path_qs)
        return web.Response(
            content_type="text/html",
            text=f'<!doctype html><html lang="en"><title>Shop</title><main><h1>Back at the '
                 f'shop: {request.path}</h1></main></html>')

    app = web.Application()
    app.router.add_get("/{tail:.*}", landing)
    async with serve(app) as client:
        site.base = f"http://127.0.0.1:{client.server.port}"
        yield site


# --- what a page looks like to a person: JavaScript for page.evaluate ------------------

PHONE_VIEWPORT = {"width": 375, "height": 667}
NARROW_VIEWPORT = {"width": 320, "height": 640}
# Visible inputs with no label, aria-label or aria-labelledby (their outerHTML).
UNLABELLED = """() => [...document.querySelectorAll('input, select, textarea')]
  .filter(el => el.type !== 'hidden')
  .filter(el => !(el.labels && [...el.labels].some(l => l.textContent.trim()))
                && !el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby'))
  .map(el => el.outerHTML)"""
# The focused element: tag, label text, own text, and whether it shows a focus outline.
FOCUSED = """() => { const el = document.activeElement;
  const label = el.labels && el.labels.length ? el.labels[0].textContent.trim() : null;
  const style = getComputedStyle(el);
  return {tag: el.tagName, label, text: el.textContent.trim(),
          outline: style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0}; }"""
# > 0 when the page scrolls sideways.
OVERFLOW = "() => document.documentElement.scrollWidth - window.innerWidth"


async def sideways_scroll(page) -> dict[str, int]:
    """{frame URL: pixels} for the page and each frame wider than its viewport."""
    wide: dict[str, int] = {}
    for frame in page.frames:
        if frame.is_detached() or frame.url in ("", "about:blank"):
            continue
        pixels = await frame.evaluate(OVERFLOW)
        if pixels > 0:
            wide[frame.url] = pixels
    return wide
