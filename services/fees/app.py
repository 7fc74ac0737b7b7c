"""Fees: charge rules and the fee engine (schema fees)."""

from __future__ import annotations

from pathlib import Path

from services.fees import charges_api, quote_api
from services.fees.context import client_ctx
from services.fees.rules_cache import rules_ctx
from shared.http.app import ServiceSpec
from shared.http.routes import Routes
from shared.settings import Settings

API_MODULES = [charges_api, quote_api]
ROUTES = Routes(*(module.ROUTES for module in API_MODULES))


def build_spec(settings: Settings) -> ServiceSpec:
    return ServiceSpec(name="fees", setup_routes=ROUTES.install,
                       migrations=Path(__file__).parent / "migrations",
                       docs=ROUTES.docs,
                       cleanup_ctx=[client_ctx, rules_ctx])
