"""Who the gateway counts (issue 19 item 11 a, b): a signed-in user spends a budget as
an API key does (a MERCHANT user its merchant's plan, ADMIN and SUPER one of their
own), and a client's own X-Forwarded-For is never taken for its address unless the TCP
peer is a configured proxy.

The real auth service behind the gateway; checkout is an echo app standing in for "a
service behind the gateway", so the principal the gateway signs can be read.
"""

from __future__ import annotations

import asyncio
import secrets
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import pytest
from aiohttp import web

from services.auth.app import build_spec as auth_spec
from services.gateway.app import build_spec as gateway_spec
from shared import principal
from shared.http.app import create_app
from tests.conftest import serve
from tests.support.auth import PASSWORD, make_company_admin, make_merchant
from tests.support.net import free_port
from tests.support.poll import poll_until


def echo_app() -> web.Application:
    async def echo(request: web.Request) -> web.Response:
        return web.json_response({"headers": dict(request.headers.items())})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", echo)
    return app


@asynccontextmanager
async def stack(settings, **overrides):
    """auth, the echo app as checkout, and a gateway, all with `overrides`."""
    s = settings.model_copy(update=overrides)
    async with serve(create_app(s, auth_spec(s))) as auth, serve(echo_app()) as echo:
        down = f"http://127.0.0.1:{free_port()}"
        g = s.model_copy(update={
            "auth_url": f"http://127.0.0.1:{auth.server.port}",
            "checkout_url": f"http://127.0.0.1:{echo.server.port}", "billing_url": down,
            "fees_url": down, "notifier_url": down})
        async with serve(create_app(g, gateway_spec(g))) as gateway:
            yield gateway, auth, g


async def sign_in(gateway, email: str, password: str = PASSWORD, **headers):
    return await gateway.post("/api/v1/auth/sign-in", json={"email": email,
                                                            "password": password},
                              headers=headers)


async def bearer(gateway, email: str) -> dict[str, str]:
    resp = await sign_in(gateway, email)
    assert resp.status == 200, await resp.text()
    return {"Authorization": f"Bearer {(await resp.json())['token']}"}


async def inside_one_minute() -> None:
    """Fixed UTC minute windows: start well inside one, so a burst is one window."""
    await poll_until(lambda: datetime.now(UTC).second < 40, timeout=25, interval=0.2,
                     what="the start of a minute window")


# --- a: sessions spend budgets -------------------------------------------------------

async def test_a_starter_merchants_session_is_limited_as_its_api_key_is_and_shares_it(
        settings):
    async with stack(settings) as (gateway, auth, _):
        admin = await make_company_admin(settings)
        shop = await make_merchant(settings, admin, status="ACTIVE")  # STARTER
        created = await auth.post("/api/v1/api-keys", json={"merchantId": shop.merchant_id},
                                  headers=admin.headers(settings))
        key = {"X-API-Key": (await created.json())["data"]["key"]}
        session = await bearer(gateway, shop.email)
        path = f"/api/v1/admin/merchants/{shop.merchant_id}"

        async def call(headers):
            resp = await gateway.get(path, headers=headers)
            return resp.status, resp.headers

        await inside_one_minute()
        first = await asyncio.gather(*(call(session) for _ in range(60)),
                                     *(call(key) for _ in range(40)))
        assert [s for s, _ in first] == [200] * 100
        for headers in (session, key):  # one budget: both are refused now
            status, answer = await call(headers)
            assert status == 429
            assert answer["X-Error-Code"] == "rate_limited"
            assert (answer["X-RateLimit-Limit"], answer["X-RateLimit-Remaining"]) == ("100", "0")
            assert 1 <= int(answer["Retry-After"]) <= 60


async def test_an_admin_session_has_a_budget_of_its_own(settings):
    async with stack(settings, staff_rate_plan="STARTER") as (gateway, _, _):
        admin = await make_company_admin(settings)
        colleague = await make_company_admin(settings)
        session = await bearer(gateway, admin.email)

        async def status(headers) -> int:
            return (await gateway.get("/api/v1/admin/users", headers=headers)).status

        await inside_one_minute()
        codes = await asyncio.gather(*(status(session) for _ in range(101)))
        assert codes.count(200) == 100 and codes.count(429) == 1, codes
        # Another user's budget is untouched.
        assert await status(await bearer(gateway, colleague.email)) == 200


async def test_a_sessions_answers_carry_its_budget(settings):
    async with stack(settings) as (gateway, _, s):
        admin = await make_company_admin(settings)
        resp = await gateway.get("/api/v1/admin/users",
                                 headers=await bearer(gateway, admin.email))
        assert resp.status == 200
        assert resp.headers["X-RateLimit-Limit"] == "1000"  # PROFESSIONAL's, the default
        assert s.staff_rate_plan == "PROFESSIONAL"


# --- b: X-Forwarded-For only from a trusted proxy ----------------------------------------

UNTRUSTED = [
    pytest.param({"trusted_proxy_hops": 1}, id="one-hop-as-deploy-k8s-set-it"),
    pytest.param({"trusted_proxies": ("10.0.0.0/8",)}, id="proxies-listed-peer-not-one"),
]


@pytest.mark.parametrize("config", UNTRUSTED)
async def test_a_clients_own_forwarded_for_is_not_its_address(settings, config):
    async with stack(settings, sign_in_max_failures=2, sign_ups_per_client_per_hour=2,
                     **config) as (gateway, _, g):
        resp = await gateway.get("/check-out", headers={"X-Forwarded-For": "1.2.3.4"})
        assert resp.status == 200, await resp.text()
        seen = (await resp.json())["headers"]
        who = principal.verify(seen[principal.HEADER], g, audience="checkout")
        assert who.ip == "127.0.0.1"
        assert seen["X-Forwarded-For"] == "127.0.0.1"  # the client's claim is not sent on

        # Throttled as 127.0.0.1, whatever address each attempt claims.
        admin = await make_company_admin(settings)
        codes = [(await sign_in(gateway, admin.email, "Wrong-Password-1",
                                **{"X-Forwarded-For": f"1.2.3.{i}"})).status
                 for i in range(3)]
        assert codes == [401, 401, 429]

        # Rate-limited as 127.0.0.1: its sign-up budget (2 an hour, maybe spent already
        # by other tests of this run signing up from here) does not grow with claims.
        async def sign_up(i: int) -> int:
            tag = secrets.token_hex(5)
            return (await gateway.post("/api/v1/auth/admin-sign-up", json={
                "firstName": "Eve", "lastName": "Forger", "email": f"eve.{tag}@example.com",
                "password": "Long-enough-pass-1", "companyName": f"Forged {tag}"},
                headers={"X-Forwarded-For": f"5.6.7.{i}"})).status

        codes = [await sign_up(i) for i in range(6)]
        assert codes.count(201) <= 2 and codes.count(429) >= 4, codes


async def test_behind_a_trusted_proxy_the_first_untrusted_hop_is_the_client(settings):
    async with stack(settings, trusted_proxies=("127.0.0.1", "10.0.0.0/8")) as (gw, _, g):
        async def ip(forwarded: str) -> str | None:
            resp = await gw.get("/check-out", headers={"X-Forwarded-For": forwarded})
            seen = (await resp.json())["headers"]
            return principal.verify(seen[principal.HEADER], g, audience="checkout").ip

        assert await ip("9.9.9.9, 1.2.3.4, 10.1.1.1") == "1.2.3.4"
        assert await ip("1.2.3.4") == "1.2.3.4"
        assert await ip("2001:db8::7, 10.0.0.2") == "2001:db8::7"
        # Garbage a client wrote left of the proxies: the last proxy's hop stands.
        assert await ip("not-an-address, 10.9.9.9") == "10.9.9.9"
