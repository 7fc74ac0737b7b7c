# ruff: noqa: F811 - the shared fixtures are imported from test_webhooks_delivery
"""The SSRF guard through the public gateway, as in production (NORGATE_ENV=prod): a
webhook endpoint may not point at any non-global address, in any IPv6 spelling that
embeds or tunnels to one, nor at a port other than 80/443."""

from __future__ import annotations

from contextlib import asynccontextmanager

from services.gateway.app import build_spec as gateway_spec
from shared.http.app import create_app
from tests.conftest import serve
from tests.integration.test_webhooks_delivery import merchant, notifier  # noqa: F401
from tests.support.auth import PASSWORD
from tests.support.net import free_port

ENDPOINTS = "/api/v2/webhooks/endpoints"
REFUSED = [
    "https://[64:ff9b::a9fe:a9fe]/latest/meta-data",  # NAT64 of 169.254.169.254
    "https://[64:ff9b::7f00:1]/h",                    # NAT64 of 127.0.0.1
    "https://[64:ff9b:1::a00:7]/h",                   # local-use NAT64
    "https://[::127.0.0.1]/h",                        # IPv4-compatible
    "https://[::10.0.0.7]/h",
    "https://[::ffff:0:10.0.0.7]/h",                  # IPv4-translated
    "https://[::ffff:169.254.169.254]/h",             # IPv4-mapped
    "https://[2002:a00:7::1]/h",                      # 6to4 of 10.0.0.7
    "https://[2002:a9fe:a9fe::1]/h",                  # 6to4 of 169.254.169.254
    "https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/h",  # Teredo
    "https://[fec0::1]/h",                            # site-local
    "https://[fd00:ec2::254]/latest",                 # the IPv6 metadata address (ULA)
    "http://93.184.215.14:8080/h",                    # a public host, another port
    "https://93.184.215.14:8443/h",
    "https://93.184.215.14:22/h",
]


@asynccontextmanager
async def prod_gateway(settings, tmp_path):
    """auth, the notifier and the gateway in-process, the notifier and the gateway with
    NORGATE_ENV=prod."""
    async with notifier(settings, tmp_path, env="prod") as hooks:
        down = f"http://127.0.0.1:{free_port()}"
        s = settings.model_copy(update={
            "env": "prod", "auth_url": f"http://127.0.0.1:{hooks.auth.server.port}",
            "notifier_url": f"http://127.0.0.1:{hooks.server.port}",
            "checkout_url": down, "billing_url": down, "fees_url": down})
        async with serve(create_app(s, gateway_spec(s))) as gateway:
            yield gateway


async def test_every_embedded_or_private_form_and_other_ports_are_refused(
        settings, tmp_path, merchant):
    async with prod_gateway(settings, tmp_path) as gateway:
        resp = await gateway.post("/api/v1/auth/sign-in",
                                  json={"email": merchant.email, "password": PASSWORD})
        assert resp.status == 200, await resp.text()
        auth = {"Authorization": f"Bearer {(await resp.json())['token']}"}
        for url in REFUSED:
            resp = await gateway.post(ENDPOINTS, headers=auth, json={"url": url})
            body = await resp.json()
            assert resp.status == 400, (url, body)
            assert resp.headers["X-Error-Code"] == "webhook_url_not_allowed", (url, body)
            assert "url: " in body["message"], body
        resp = await gateway.post(ENDPOINTS, headers=auth,
                                  json={"url": "http://93.184.215.14:8080/h"})
        assert "port 8080 is not allowed" in (await resp.json())["message"]
        # Public addresses on the default ports still register, NAT64 of one included.
        for url in ("https://93.184.215.14/h", "http://93.184.215.14:80/h",
                    "https://[64:ff9b::5db8:d70e]:443/h", "https://[2606:4700::6810:84e5]/h"):
            resp = await gateway.post(ENDPOINTS, headers=auth, json={"url": url})
            assert resp.status == 201, (url, await resp.text())
            # The answer carries the endpoint's signing secret: never stored.
            assert resp.headers.getall("Cache-Control") == ["no-store"]
            assert resp.headers.getall("X-Content-Type-Options") == ["nosniff"]
