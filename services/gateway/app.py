"""Gateway: the only public port. Routes each family to its service."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from aiohttp import web

from services.gateway.authn import authenticate, authn_ctx
from services.gateway.console import setup_console
from services.gateway.cors import setup_cors
from services.gateway.docs import merged_openapi, setup_docs
from services.gateway.idempotency import idempotency, idempotency_ctx
from services.gateway.proxy import proxy, upstream_session_ctx
from services.gateway.readiness import readiness_ctx, upstream_checks
from shared.http.app import ServiceSpec
from shared.settings import Settings


def setup_routes(app: web.Application) -> None:
    setup_docs(app)
    setup_cors(app)
    setup_console(app)
    app.router.add_route("*", "/{tail:.*}", proxy)


@web.middleware
async def identify(request: web.Request, handler):
    """Authentication and rate limits, then Idempotency-Key: a key is scoped by the
    authenticated caller, and a request refused with 401 or 429 never claims one."""
    return await authenticate(request, partial(idempotency, handler=handler))


def build_spec(settings: Settings) -> ServiceSpec:
    return ServiceSpec(
        name="gateway",
        setup_routes=setup_routes,
        migrations=Path(__file__).parent / "migrations",
        openapi=merged_openapi,
        cleanup_ctx=[upstream_session_ctx, readiness_ctx, authn_ctx, idempotency_ctx],
        identity_middleware=identify,
        readiness=[upstream_checks],
    )
