"""`/openapi.json` merged from every service, and the `/docs` page rendering it.

Swagger UI's files come from the swagger-ui-bundle package and are served
locally: the page works with no network. Its Content-Security-Policy allows only
them (scripts and styles from this origin, no inline script; the spec and "Try it
out" calls to this origin; images from here and data: URIs), and the Swagger files
are revalidated (`no-cache`, they carry no version in their URL).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from aiohttp import web
from swagger_ui_bundle import swagger_ui_path

from services.gateway.routing import UPSTREAMS
from shared.http import answers, envelopes
from shared.http.client import InternalClient, ServiceUnavailable
from shared.http.middleware import SETTINGS
from shared.http.openapi import PUBLIC, build_spec, merge_specs
from shared.http.routes import Routes, documented, get, static

CACHE_SECONDS = 30.0
# {"at": monotonic seconds, "spec": the merged document}, empty until the first build.
_CACHE: web.AppKey[dict[str, Any]] = web.AppKey("openapi_cache", dict)

# Swagger UI sets element styles from script (allowed: CSSOM, not inline markup).
DOCS_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; "
            "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
            "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
DOCS_HEADERS = {"Content-Security-Policy": DOCS_CSP, "Referrer-Policy": "no-referrer",
                "X-Frame-Options": "DENY"}

DOCS_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>norgate API</title>
<link rel="stylesheet" href="/docs/static/swagger-ui.css"></head>
<body><main id="swagger-ui" aria-label="norgate API reference"></main>
<script src="/docs/static/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script></body></html>"""

# validatorUrl null: no badge image from validator.swagger.io (and no spec URL sent there).
INIT_JS = """window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui",
  deepLinking: true, validatorUrl: null});"""


async def merged_openapi(request: web.Request) -> web.Response:
    cache = request.app[_CACHE]
    if cache and time.monotonic() - cache["at"] < CACHE_SECONDS:
        return envelopes.json_response(cache["spec"])
    settings = request.app[SETTINGS]
    async with InternalClient(settings, caller="gateway", timeout=3, retries=1) as client:
        async def fetch(service: str):
            try:
                status, body = await client.request(service, "GET", "/openapi.json")
                return service, body if status == 200 else None
            except ServiceUnavailable:
                return service, None
        results = await asyncio.gather(*(fetch(s) for s in UPSTREAMS))
    specs = [build_spec("gateway", ROUTES.docs)] + [s for _, s in results if s]
    # The document's own origin first (what Swagger UI's "Try it out" calls, whatever
    # address the gateway was reached at), then the configured public address.
    merged = merge_specs("norgate", specs, servers=[
        {"url": "/", "description": "This gateway"},
        {"url": settings.public_url, "description": "NORGATE_PUBLIC_URL"}])
    missing = sorted(name for name, spec in results if spec is None)
    if missing:
        merged["info"]["x-unavailable-services"] = missing
    else:
        cache.update(at=time.monotonic(), spec=merged)
    return envelopes.json_response(merged)


async def docs_page(_request: web.Request) -> web.Response:
    return web.Response(text=DOCS_HTML, content_type="text/html", headers=DOCS_HEADERS)


async def docs_init(_request: web.Request) -> web.Response:
    return web.Response(text=INIT_JS, content_type="application/javascript",
                        headers={"Cache-Control": "no-cache"})


async def _revalidate_swagger_files(request: web.Request,
                                    response: web.StreamResponse) -> None:
    if request.path.startswith("/docs/static/"):
        response.headers.setdefault("Cache-Control", "no-cache")


def _setup(app: web.Application) -> None:
    app[_CACHE] = {}
    app.on_response_prepare.append(_revalidate_swagger_files)


ROUTES = Routes(
    # create_app routes /healthz and /readyz in every service: the gateway's are documented.
    documented("GET", "/healthz", "Liveness of the gateway", ("operations",), auth=PUBLIC,
               response=answers.Health),
    documented("GET", "/readyz",
               "Readiness: database and broker up, and (since start-up) every service "
               "behind the gateway answered its own /readyz 200; wait for this before the "
               "first request", ("operations",), auth=PUBLIC, response=answers.Readiness),
    # /metrics is not on the public port: NORGATE_GATEWAY_METRICS_PORT.
    # The reference pages themselves are not part of the API they describe.
    get("/docs", docs_page, None),
    get("/docs/init.js", docs_init, None),
    static("/docs/static", Path(swagger_ui_path)),
    setup=_setup,
)
