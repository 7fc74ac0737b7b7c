"""The merchant's brand on the hosted checkout page against the real auth, fees and
checkout services: the logo, colours and support e-mail set through auth's merchant API
reach the page and its policy; with auth unreachable the page still renders (200), in
the default look."""

from __future__ import annotations

import re

from services.auth.app import build_spec as auth_spec
from services.checkout.app import build_spec as checkout_spec
from services.fees.app import build_spec as fees_spec
from shared.http.app import create_app
from tests.conftest import serve
from tests.support.auth import make_company_admin, make_merchant
from tests.support.net import free_port

LOGO = "https://cdn.shop.example/brand/logo.png"


async def _payment(checkout, headers) -> str:
    resp = await checkout.post("/api/v2/payments/create", headers=headers,
                               json={"amount": "1050", "currency": "USD"})
    assert resp.status == 201, await resp.text()
    return (await resp.json())["result"]["paymentId"]


async def test_the_brand_set_in_auth_is_on_the_page_and_survives_auth_going_away(settings):
    async with serve(create_app(settings, auth_spec(settings))) as auth:
        admin = await make_company_admin(settings)
        merchant = await make_merchant(settings, admin, status="ACTIVE")
        resp = await auth.patch(f"/api/v1/admin/merchants/{merchant.merchant_id}",
                                json={"logoUrl": LOGO, "accentColor": "#1A7F37"},
                                headers=admin.headers(settings))
        assert resp.status == 200, await resp.text()
        s = settings.model_copy(update={"auth_url": f"http://127.0.0.1:{auth.server.port}"})
        async with serve(create_app(s, fees_spec(s))) as fees:
            s = s.model_copy(update={"fees_url": f"http://127.0.0.1:{fees.server.port}"})
            async with serve(create_app(s, checkout_spec(s))) as checkout:
                pid = await _payment(checkout, merchant.headers(settings))
                resp = await checkout.get(f"/checkout/{pid}")
                assert resp.status == 200
                page = await resp.text()
                policy = resp.headers["Content-Security-Policy"]
    assert re.search(rf'<img src="{re.escape(LOGO)}" alt="Shop [0-9a-f]{{8}}">', page)
    assert "--accent: #1a7f37;" in page and "--accent-text: #ffffff;" in page
    assert f'href="mailto:{merchant.email}"' in page and "Secured by norgate" in page
    assert "img-src https://cdn.shop.example;" in policy
    assert len(re.findall(r"'sha256-", policy.split("style-src", 1)[1].split(";")[0])) == 2

    # auth unreachable, nothing cached (a fresh checkout): the page, in the default look
    s = settings.model_copy(update={"auth_url": f"http://127.0.0.1:{free_port()}"})
    async with serve(create_app(s, checkout_spec(s))) as checkout:
        resp = await checkout.get(f"/checkout/{pid}")
        assert resp.status == 200, await resp.text()
        page = await resp.text()
        assert "img-src" not in resp.headers["Content-Security-Policy"]
    assert "<img" not in page and "--accent: #0b5fcc;" in page
    assert re.search(r'<p class="brand-name">Shop [0-9a-f]{8}</p>', page)  # from the payment
    assert "Questions?" not in page and "Secured by norgate" in page
