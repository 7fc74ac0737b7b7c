"""A principal one service received does not work at another (issue 19, item 10).

The attack: a compromised service sees every principal sent to it, the gateway's for
the users it serves and other services' for their calls, each valid for a minute.
Replayed to another service, it must be refused (401 invalid_principal). The services
here are the real ones, in-process; a recording middleware on the receiving app is
the compromised service's view of its traffic."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import aiohttp
from aiohttp import web

from services.auth.app import build_spec as auth_spec
from services.billing.app import build_spec as billing_spec
from services.fees.app import build_spec as fees_spec
from services.gateway.app import build_spec as gateway_spec
from shared.http.app import create_app
from shared.http.client import InternalClient
from shared.principal import HEADER, sign
from tests.conftest import serve
from tests.support.auth import PASSWORD, make_company_admin, make_merchant


def recording(app: web.Application, seen: list[str]) -> web.Application:
    """`app` as its attacker sees it: every principal header that reaches it."""
    @web.middleware
    async def record(request: web.Request, handler):
        if token := request.headers.get(HEADER):
            seen.append(token)
        return await handler(request)

    app.middlewares.insert(0, record)
    return app


def url(client) -> str:
    return f"http://127.0.0.1:{client.server.port}"


@asynccontextmanager
async def services(settings, *, record: str) -> AsyncIterator[tuple[dict, list[str], object]]:
    """auth, fees and billing on their own ports (the one named `record` recording), and
    settings that reach them (for the gateway and internal clients)."""
    seen: list[str] = []
    specs = {"auth": auth_spec, "fees": fees_spec,
             "billing": lambda s: billing_spec(s, run_scheduler=False)}
    async with AsyncExitStack() as stack:
        clients = {}
        for name, spec in specs.items():
            app = create_app(settings, spec(settings))
            clients[name] = await stack.enter_async_context(
                serve(recording(app, seen) if name == record else app))
        s = settings.model_copy(update={f"{n}_url": url(c) for n, c in clients.items()})
        yield clients, seen, s


async def test_the_gateways_principal_for_fees_is_refused_by_auth(settings):
    async with services(settings, record="fees") as (clients, seen, s):
        admin = await make_company_admin(settings)
        async with serve(create_app(s, gateway_spec(s))) as gateway:
            resp = await gateway.post("/api/v1/auth/sign-in",
                                      json={"email": admin.email, "password": PASSWORD})
            assert resp.status == 200, await resp.text()
            bearer = {"Authorization": f"Bearer {(await resp.json())['token']}"}
            resp = await gateway.get("/api/v1/merchant/charges", headers=bearer)
            assert resp.status == 200, await resp.text()
            # The same user may list merchants at auth, through the gateway.
            resp = await gateway.get("/api/v1/admin/merchants", headers=bearer)
            assert resp.status == 200, await resp.text()
        [token] = seen  # what fees received for that user
        async with aiohttp.ClientSession() as http:
            async with http.get(url(clients["auth"]) + "/api/v1/admin/merchants",
                                headers={HEADER: token}) as replay:
                assert replay.status == 401, await replay.text()
                assert replay.headers["X-Error-Code"] == "invalid_principal"
            # Sent back where it was meant to go, it still works: only its audience is
            # restricted.
            async with http.get(url(clients["fees"]) + "/api/v1/merchant/charges",
                                headers={HEADER: token}) as again:
                assert again.status == 200, await again.text()


async def test_an_internal_call_to_auth_is_refused_when_replayed_to_billing(settings):
    admin = await make_company_admin(settings)
    shop = await make_merchant(settings, admin)
    async with services(settings, record="auth") as (clients, seen, s):
        # Checkout asking auth about a merchant, on that merchant user's behalf.
        async with InternalClient(s, caller="checkout") as client:
            status, _ = await client.request("auth", "GET",
                                             f"/internal/merchants/{shop.merchant_id}",
                                             principal=shop.principal())
        assert status in (200, 403)  # either way, auth saw the principal
        [token] = seen
        async with aiohttp.ClientSession() as http:
            async with http.get(url(clients["billing"]) + "/api/v2/plans",
                                headers={HEADER: token}) as replay:
                assert replay.status == 401, await replay.text()
                assert replay.headers["X-Error-Code"] == "invalid_principal"
            # The merchant may list plans at billing, with a principal meant for billing:
            # only the replay of another audience's is refused.
            own = sign(shop.principal(), s, audience="billing")
            async with http.get(url(clients["billing"]) + "/api/v2/plans",
                                headers={HEADER: own}) as direct:
                assert direct.status == 200, await direct.text()
