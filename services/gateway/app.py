"""Gateway: the only public port. Routes each family to its service."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from services.gateway.docs import merged_openapi, setup_docs
from services.gateway.proxy import proxy, upstream_session_ctx
from shared import principal
from shared.http.app import ServiceSpec
from shared.http.middleware import PRINCIPAL_KEY
from shared.settings import Settings


@web.middleware
async def public_identity(request: web.Request, handler):
    """Public callers are anonymous until they authenticate; a principal header
    sent from outside is never trusted (the proxy drops it)."""
    request[PRINCIPAL_KEY] = principal.ANONYMOUS
    return await handler(request)


def setup_routes(app: web.Application) -> None:
    setup_docs(app)
    app.router.add_route("*", "/{tail:.*}", proxy)


def build_spec(settings: Settings) -> ServiceSpec:
    return ServiceSpec(
        name="gateway",
        setup_routes=setup_routes,
        migrations=Path(__file__).parent / "migrations",
        openapi=merged_openapi,
        cleanup_ctx=[upstream_session_ctx],
        identity_middleware=public_identity,
    )
