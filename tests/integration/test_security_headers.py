"""Security headers through the public gateway, with the real auth, fees and checkout
services in-process: a Content-Security-Policy on every page (checkout pages, /docs,
the console) and a strict one on everything else, `X-Content-Type-Options: nosniff`
everywhere, `Cache-Control: no-store` on answers carrying tokens and secrets (and on
every answer that does not say otherwise), HSTS only behind an https public URL, each
header exactly once (the proxy copies the service's), and the gateway's /metrics only
on its internal metrics port."""

from __future__ import annotations

import base64
import hashlib
import re
from contextlib import asynccontextmanager

import aiohttp

from services.auth.app import build_spec as auth_spec
from services.checkout.app import build_spec as checkout_spec
from services.fees.app import build_spec as fees_spec
from services.gateway.app import build_spec as gateway_spec
from shared.http.app import create_app
from tests.conftest import serve
from tests.support.auth import PASSWORD, make_company_admin, make_merchant
from tests.support.net import free_port
from tests.support.poll import poll_until

STRICT = "default-src 'none'"
HSTS = "max-age=31536000; includeSubDomains"
ONCE = ("Content-Security-Policy", "X-Content-Type-Options", "Cache-Control",
        "Strict-Transport-Security")


@asynccontextmanager
async def stack(settings, **gateway_overrides):
    """auth, fees and checkout behind the gateway; yields (gateway client, settings)."""
    async with serve(create_app(settings, auth_spec(settings))) as auth:
        s = settings.model_copy(update={"auth_url": f"http://127.0.0.1:{auth.server.port}"})
        async with serve(create_app(s, fees_spec(s))) as fees:
            s = s.model_copy(update={"fees_url": f"http://127.0.0.1:{fees.server.port}"})
            async with serve(create_app(s, checkout_spec(s))) as checkout:
                down = f"http://127.0.0.1:{free_port()}"
                g = s.model_copy(update={
                    "checkout_url": f"http://127.0.0.1:{checkout.server.port}",
                    "billing_url": down, "notifier_url": down, **gateway_overrides})
                async with serve(create_app(g, gateway_spec(g))) as gateway:
                    yield gateway, g


async def _token(gateway, email: str) -> dict[str, str]:
    resp = await gateway.post("/api/v1/auth/sign-in", json={"email": email,
                                                           "password": PASSWORD})
    assert resp.status == 200, await resp.text()
    return {"Authorization": f"Bearer {(await resp.json())['token']}"}


def _once(resp) -> None:
    for name in ONCE:
        assert len(resp.headers.getall(name, [])) <= 1, (name, resp.headers.getall(name))


def _common(resp, *, cache: str | None = "no-store") -> None:
    _once(resp)
    assert resp.headers["X-Content-Type-Options"] == "nosniff", resp.url
    if cache is not None:
        assert resp.headers.get("Cache-Control") == cache, (resp.url, resp.headers)
    assert "Strict-Transport-Security" not in resp.headers  # an http public URL


def _directives(csp: str) -> dict[str, list[str]]:
    out = {}
    for part in csp.split(";"):
        name, *values = part.split()
        assert name not in out, f"{name} twice in {csp}"
        out[name] = values
    return out


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


async def _page(resp, status: int) -> dict[str, list[str]]:
    """The checks every server-rendered checkout page passes; its CSP directives."""
    html = await resp.text()
    assert resp.status == status, html
    _common(resp)
    csp = _directives(resp.headers["Content-Security-Policy"])
    assert csp["default-src"] == ["'none'"] and csp["base-uri"] == ["'none'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert "'unsafe-inline'" not in resp.headers["Content-Security-Policy"]
    assert "'unsafe-eval'" not in resp.headers["Content-Security-Policy"]
    styles = re.findall(r"<style>(.*?)</style>", html, re.S)
    assert styles, "the layout's stylesheet is inline"
    assert sorted(csp["style-src"]) == sorted({_sha256(s) for s in styles})
    # Nothing else inline: no script element without src, no handlers, no style attributes.
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)
    assert not re.search(r"\son[a-z]+\s*=", html, re.I)
    assert not re.search(r"\sstyle\s*=", html, re.I)
    # Scripts only from here, and only the page's own (the card entry, the phone wait):
    # each <script> has a src on this origin, and script-src names nothing else.
    scripts = re.findall(r'<script src="([^"]+)"', html)
    assert all(re.fullmatch(r"/v1/checkout-[a-z]+\.js", src) for src in scripts), scripts
    assert csp.get("script-src", ["'self'"]) == ["'self'"]
    assert ("script-src" in csp) == bool(scripts)
    return csp


async def test_checkout_pages_carry_a_policy_hashing_their_inline_style(settings):
    async with stack(settings) as (gateway, _):
        admin = await make_company_admin(settings)
        merchant = await make_merchant(settings, admin, status="ACTIVE")
        auth = await _token(gateway, merchant.email)
        resp = await gateway.post("/api/v2/payments/create", headers=auth, json={
            "amount": "1050", "currency": "USD", "description": "Blue widget",
            "successUrl": "https://shop.example.com/ok?x=1",
            "cancelUrl": "http://other.example.org:8443/back"})
        assert resp.status == 201, await resp.text()
        _common(resp)
        pid = (await resp.json())["result"]["paymentId"]
        csp = await _page(await gateway.get(f"/checkout/{pid}"), 200)
        assert csp["script-src"] == ["'self'"]  # the card form's entry script
        assert "connect-src" not in csp  # only the phone step's wait reads the page again
        # The forms post here, then the payer is sent (303) to the merchant's pages.
        assert sorted(csp["form-action"]) == sorted(
            ["'self'", "https://shop.example.com", "http://other.example.org:8443"])
        await _page(await gateway.get("/checkout/pay_doesnotexist"), 404)
        await _page(await gateway.get("/checkout/prices/price_nope"), 404)
        await _page(await gateway.get("/check-out"), 400)  # NORAH, without a token


async def test_docs_console_and_api_answers_carry_their_headers(settings):
    async with stack(settings) as (gateway, _):
        admin = await make_company_admin(settings)
        resp = await gateway.get("/docs")
        assert resp.status == 200
        _common(resp)
        docs = _directives(resp.headers["Content-Security-Policy"])
        assert docs["default-src"] == ["'none'"] and docs["script-src"] == ["'self'"]
        assert docs["connect-src"] == ["'self'"] and docs["frame-ancestors"] == ["'none'"]
        assert "'unsafe-inline'" not in " ".join(docs["script-src"])
        html = await resp.text()
        assert not re.search(r"<script(?![^>]*\bsrc=)", html) and "<style" not in html
        for path in ("/docs/init.js", "/docs/static/swagger-ui-bundle.js",
                     "/docs/static/swagger-ui.css"):
            asset = await gateway.get(path)
            assert asset.status == 200, path
            # Revalidated, not re-downloaded: the swagger files carry no version in the URL.
            _common(asset, cache="no-cache")
        resp = await gateway.get("/openapi.json")
        assert resp.status == 200
        _common(resp)
        assert "/metrics" not in (await resp.json())["paths"]

        resp = await gateway.get("/console/")
        assert resp.status == 200
        _common(resp, cache="no-cache")
        assert "script-src 'self'" in resp.headers["Content-Security-Policy"]

        # Tokens, secrets and errors: never stored by a browser or a proxy cache.
        resp = await gateway.post("/api/v1/auth/sign-in", json={"email": admin.email,
                                                                 "password": PASSWORD})
        assert resp.status == 200
        _common(resp)
        assert resp.headers["Content-Security-Policy"].startswith(STRICT)
        assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
        refresh = (await resp.json())["refreshToken"]
        auth = {"Authorization": f"Bearer {(await resp.json())['token']}"}
        resp = await gateway.post("/api/v1/auth/refresh", json={"refreshToken": refresh})
        assert resp.status == 200, await resp.text()
        _common(resp)
        merchant = await make_merchant(settings, admin)
        resp = await gateway.post("/api/v1/api-keys", headers=auth, json={
            "name": "server", "merchantId": merchant.merchant_id})
        assert resp.status == 201, await resp.text()
        _common(resp)
        assert resp.headers["Content-Security-Policy"].startswith(STRICT)
        for path in ("/api/v2/payments/pay_nothing", "/nowhere", "/api/v1/nowhere"):
            resp = await gateway.get(path, headers=auth)
            assert resp.status == 404, path
            _common(resp)
            assert resp.headers["Content-Security-Policy"].startswith(STRICT)
        resp = await gateway.get("/api/v2/payments/x")  # a 401 too
        assert resp.status == 401
        _common(resp)


async def test_every_service_answers_nosniff_and_no_store(settings):
    async with serve(create_app(settings, auth_spec(settings))) as auth:
        for path in ("/healthz", "/readyz", "/metrics", "/nothing"):
            resp = await auth.get(path)
            assert resp.status in (200, 404), path
            _common(resp)


async def test_metrics_are_not_on_the_public_port_but_on_the_metrics_port(settings):
    port = free_port()
    async with stack(settings, gateway_metrics_port=port) as (gateway, _):
        for spelling in ("/metrics", "/%6detrics", "/metrics?x=1"):
            resp = await gateway.get(spelling)
            assert resp.status == 404, spelling
            assert resp.headers["X-Error-Code"] == "route_not_found", spelling
            assert "norgate_http_requests_total" not in await resp.text()
        for spelling in ("/metrics/", "/metrics/.", "/api/v2/../metrics"):
            resp = await gateway.get(spelling)  # not a public route: 401 before 404
            assert resp.status in (401, 404), spelling
            assert "norgate_http_requests_total" not in await resp.text()
        await gateway.get("/healthz")
        async with aiohttp.ClientSession() as http:
            async def scraped():
                try:
                    async with http.get(f"http://127.0.0.1:{port}/metrics") as resp:
                        return resp.status == 200 and (resp, await resp.text())
                except aiohttp.ClientConnectionError:
                    return False
            resp, text = await poll_until(scraped, what="the metrics port")
            assert resp.headers["Content-Type"].startswith("text/plain")
            assert resp.headers["X-Content-Type-Options"] == "nosniff"
            assert 'service="gateway"' in text and "norgate_http_requests_total" in text
            async with http.get(f"http://127.0.0.1:{port}/healthz") as other:
                assert other.status == 404  # the metrics port serves metrics only


async def test_hsts_only_behind_an_https_public_url(settings):
    async with stack(settings) as (gateway, _):
        for path in ("/healthz", "/docs", "/checkout/pay_x", "/nowhere"):
            assert "Strict-Transport-Security" not in (await gateway.get(path)).headers
    secure = settings.model_copy(update={"public_url": "https://pay.example.com"})
    async with stack(secure) as (gateway, _):  # every service with the https URL
        for path in ("/healthz", "/docs", "/checkout/pay_x", "/nowhere", "/console/"):
            resp = await gateway.get(path)
            _once(resp)
            assert resp.headers["Strict-Transport-Security"] == HSTS, path
        resp = await gateway.post("/api/v1/auth/sign-in", json={"email": "x@example.com",
                                                                 "password": "nope-nope-1"})
        assert resp.status in (400, 401)
        _once(resp)
        assert resp.headers["Strict-Transport-Security"] == HSTS
