"""Checkout: payments and transactions, payment-method connectors (schema checkout)."""

from __future__ import annotations

from pathlib import Path

from services.checkout import (
    collect_api,
    norah_page,
    pages,
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
from services.checkout.context import context_ctx, creates_ctx, expiry_sweep_ctx
from shared.http.app import ConsumerSpec, ServiceSpec
from shared.http.routes import Routes
from shared.settings import Settings

API_MODULES = [collect_api, payments_api, timeline_api, transaction_tokens, transactions_api,
               receipts_api, prices_api, triggers, price_checkout, pages, norah_page, widget]
ROUTES = Routes(*(module.ROUTES for module in API_MODULES))


def build_spec(settings: Settings) -> ServiceSpec:
    return ServiceSpec(name="checkout", setup_routes=ROUTES.install,
                       migrations=Path(__file__).parent / "migrations",
                       docs=ROUTES.docs,
                       consumers=[ConsumerSpec("prices", triggers.HANDLERS,
                                               wants=triggers.pays_a_price)],
                       cleanup_ctx=[context_ctx, creates_ctx, expiry_sweep_ctx,
                                    triggers.dispatcher_ctx])
