"""Checkout: payments and transactions, payment-method connectors (schema checkout)."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from services.checkout import (
    collect_api,
    norah_page,
    pages,
    payments,
    payments_api,
    price_checkout,
    prices_api,
    receipts_api,
    timeline_api,
    transaction_tokens,
    transactions_api,
    triggers,
    widget,
)
from services.checkout.context import context_ctx
from shared.http.app import ConsumerSpec, ServiceSpec
from shared.settings import Settings

API_MODULES = [collect_api, payments_api, timeline_api, transaction_tokens, transactions_api,
               receipts_api, prices_api, triggers, price_checkout, pages, norah_page, widget]


def setup_routes(app: web.Application) -> None:
    for module in API_MODULES:
        module.setup_routes(app)


def build_spec(settings: Settings) -> ServiceSpec:
    return ServiceSpec(name="checkout", setup_routes=setup_routes,
                       migrations=Path(__file__).parent / "migrations",
                       docs=[doc for module in API_MODULES for doc in module.DOCS],
                       consumers=[ConsumerSpec("prices", triggers.HANDLERS,
                                               wants=triggers.pays_a_price)],
                       cleanup_ctx=[context_ctx, payments.creates_ctx,
                                    payments.expiry_sweep_ctx, triggers.dispatcher_ctx])
