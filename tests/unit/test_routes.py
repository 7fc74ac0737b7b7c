"""Each route is declared once (shared/http/routes.py): the router each service builds and
the OpenAPI document are both derived from its declarations, so a route served without
documentation, or documented without being served, fails here."""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterable

import pytest
from aiohttp import web

from services.gateway.authn import is_public
from shared.http.app import create_app
from shared.http.openapi import RouteDoc
from shared.http.routes import Route, Routes, get, post
from shared.settings import Settings

SERVICES = ("gateway", "auth", "checkout", "billing", "fees", "notifier")
# What create_app routes in every service itself (shared/http/app.py), outside the tables.
FACTORY = {("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics"),
           ("GET", "/openapi.json")}
# What may be served undocumented: other services' calls, the payer's pages and the
# widget's scripts, the gateway's reference pages, console and proxy. An /api/... route
# declared with no summary fails.
UNDOCUMENTED = re.compile(
    r"^(/internal/|/checkout/|/check-out(/|$)|/v1/[^/]+\.js$|/docs(/|$)|/console(/|$)"
    r"|/\{tail\}$)")
# Documented as needing credentials though the gateway lets them through without:
# the hosted page checks a payment token with it (its handler says "Public"). Kept as
# documented so that sdk/js/openapi.json is unchanged; fixing it is auth=PUBLIC.
NOT_YET_AGREED = {("POST", "/api/v1/transaction/verify")}

_REGEX = re.compile(r"\{([^}:]+):[^}]*\}")  # {file:.+} -> {file}, as aiohttp's canonical
_PARAM = re.compile(r"\{[^}]*\}")


def _settings() -> Settings:
    return Settings.model_validate({"smtp_url": "smtp://127.0.0.1:1", "secret_key": "0" * 64})


def _template(path: str) -> str:
    return _PARAM.sub("{}", path)


def _served(app: web.Application) -> dict[tuple[str, str], object]:
    """The app's routes by (method, canonical path), but the HEAD that add_get adds."""
    out: dict[tuple[str, str], object] = {}
    for r in app.router.routes():
        if r.method == "HEAD" or r.resource is None:
            continue
        out[(r.method, r.resource.canonical)] = r.handler
    return out


def _declared(routes: Iterable[Route]) -> dict[tuple[str, str], Route]:
    return {(r.method, _REGEX.sub(r"{\1}", r.path)): r for r in routes
            if r.handler is not None or r.directory is not None}


def _mismatches(app: web.Application, routes: Routes) -> list[str]:
    served = {k: h for k, h in _served(app).items() if k not in FACTORY}
    declared = _declared(routes)
    problems = [f"served but not declared: {m} {p}" for m, p in served
                if (m, p) not in declared]
    problems += [f"declared but not served: {m} {p}" for m, p in declared
                 if (m, p) not in served]
    problems += [f"{m} {p} is served by {served[m, p]!r}, declared for {r.handler!r}"
                 for (m, p), r in declared.items()
                 if (m, p) in served and r.handler is not None and served[m, p] is not r.handler]
    return problems


@pytest.fixture(scope="module")
def services() -> dict[str, tuple[web.Application, Routes, list[RouteDoc]]]:
    settings = _settings()
    out = {}
    for name in SERVICES:
        module = importlib.import_module(f"services.{name}.app")
        spec = module.build_spec(settings)
        docs = spec.docs if name != "gateway" else module.docs.ROUTES.docs
        out[name] = (create_app(settings, spec), module.ROUTES, docs)
    return out


@pytest.mark.parametrize("name", SERVICES)
def test_the_router_serves_exactly_the_declared_routes(services, name):
    app, routes, _ = services[name]
    assert _mismatches(app, routes) == []


@pytest.mark.parametrize("name", SERVICES)
def test_every_documented_route_is_served_and_every_other_is_internal(services, name):
    app, routes, docs = services[name]
    served = {(m, _template(p)) for m, p in _served(app)}
    assert [f"{d.method} {d.path}" for d in docs
            if (d.method.upper(), _template(d.path)) not in served] == []
    # The spec's documents are the table's (the gateway's: those of its docs module).
    assert [d for d in routes.docs if d in docs] == docs
    undocumented = [f"{r.method} {r.path}" for r in routes
                    if r.doc is None and not UNDOCUMENTED.match(_REGEX.sub(r"{\1}", r.path))]
    assert undocumented == [], "give these a summary (they are public API) or route them " \
        "under /internal/"


def test_a_route_added_around_the_table_or_left_out_of_it_is_found():
    async def handler(_request: web.Request) -> web.Response:
        return web.Response()

    table = Routes(get("/api/v2/things", handler, "Things"),
                   post("/api/v2/things", handler, "Make a thing"))
    app = web.Application()
    table.install(app)
    assert _mismatches(app, table) == []
    app.router.add_get("/api/v2/others", handler)  # not declared
    loose = Routes(*table, get("/api/v2/missing", handler, "Never installed"))
    assert _mismatches(app, loose) == ["served but not declared: GET /api/v2/others",
                                       "declared but not served: GET /api/v2/missing"]


def test_what_the_document_says_of_auth_is_what_the_gateway_asks(services):
    disagree = []
    for name in SERVICES:
        for doc in services[name][2]:
            sample = _PARAM.sub("1.0.0" if "{version}" in doc.path else "x1", doc.path)
            if doc.access.public != is_public(sample) \
                    and (doc.method, doc.path) not in NOT_YET_AGREED:
                disagree.append(f"{doc.method} {doc.path}: documented "
                                f"{'public' if doc.access.public else 'signed-in'}")
    assert disagree == []
