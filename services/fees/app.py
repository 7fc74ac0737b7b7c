"""Fees: charge rules and the fee engine (schema fees)."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from services.fees import charges_api, quote_api
from services.fees.context import client_ctx
from services.fees.rules_cache import rules_ctx
from shared.http.app import ServiceSpec
from shared.settings import Settings

API_MODULES = [charges_api, quote_api]


def setup_routes(app: web.Application) -> None:
    for module in API_MODULES:
        module.setup_routes(app)


def build_spec(settings: Settings) -> ServiceSpec:
    return ServiceSpec(name="fees", setup_routes=setup_routes,
                       migrations=Path(__file__).parent / "migrations",
                       docs=[doc for module in API_MODULES for doc in module.DOCS],
                       cleanup_ctx=[client_ctx, rules_ctx])
