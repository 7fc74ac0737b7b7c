"""Gateway: the only public port. Routes each family to its service.

Its Prometheus metrics are not on the public port (that answers /metrics with a 404
like any unknown route): NORGATE_GATEWAY_METRICS_PORT serves them on a port of their
own, which the Kubernetes Service and the Ingress do not expose.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path

from aiohttp import web

from services.gateway import console, docs, housekeeping
from services.gateway.authn import authenticate, authn_ctx
from services.gateway.cors import setup_cors
from services.gateway.docs import merged_openapi
from services.gateway.idempotency import idempotency, idempotency_ctx
from services.gateway.proxy import proxy, upstream_session_ctx
from services.gateway.readiness import readiness_ctx, upstream_checks
from shared.http.app import ServiceSpec, add_security_headers, metrics_handler
from shared.http.errors import ApiError, Errors
from shared.http.middleware import SETTINGS
from shared.http.routes import Routes, route
from shared.settings import Settings

# Last, the proxy: every path the gateway does not answer itself goes to its service.
ROUTES = Routes(docs.ROUTES, console.ROUTES, route("*", "/{tail:.*}", proxy, None))


def setup_routes(app: web.Application) -> None:
    setup_cors(app)  # not a route: the CORS headers of every answer
    ROUTES.install(app)


@web.middleware
async def identify(request: web.Request, handler):
    """Authentication and rate limits, then Idempotency-Key: a key is scoped by the
    authenticated caller, and a request refused with 401 or 429 never claims one."""
    # create_app gives every service /metrics; on the public port it is not there.
    if request.match_info.handler is metrics_handler:
        raise ApiError(Errors.ROUTE_NOT_FOUND, method=request.method, path=request.path)
    return await authenticate(request, partial(idempotency, handler=handler))


async def metrics_port_ctx(app: web.Application) -> AsyncIterator[None]:
    """GET /metrics, and nothing else, on NORGATE_GATEWAY_METRICS_PORT (when set)."""
    settings: Settings = app[SETTINGS]
    if settings.gateway_metrics_port is None:
        yield
        return
    internal = web.Application()
    internal.router.add_get("/metrics", metrics_handler)
    add_security_headers(internal, settings)
    runner = web.AppRunner(internal, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        # Every worker (NORGATE_WORKERS) serves it, as each serves the public port.
        await web.TCPSite(runner, settings.bind_host, settings.gateway_metrics_port,
                          reuse_port=settings.workers > 1).start()
        yield
    finally:
        await runner.cleanup()


def build_spec(settings: Settings) -> ServiceSpec:
    return ServiceSpec(
        name="gateway",
        setup_routes=setup_routes,
        migrations=Path(__file__).parent / "migrations",
        openapi=merged_openapi,
        cleanup_ctx=[upstream_session_ctx, readiness_ctx, authn_ctx, idempotency_ctx,
                     metrics_port_ctx, housekeeping.ctx],
        identity_middleware=identify,
        readiness=[upstream_checks],
    )
