"""Billing: plans, subscriptions, invoices, the NorLedger ledger and the merchant
dashboard (schema billing). It consumes checkout's payment events and runs the
renewal scheduler."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from services.billing import (
    api,
    events,
    housekeeping,
    invoices_api,
    ledger_api,
    merchant_settings_api,
    payouts,
    payouts_api,
    payouts_scheduler,
    reconciliation_api,
    scheduler,
)
from services.billing.context import CLOCK, SystemClock, client_ctx, set_clock
from shared.aio import cancel_and_wait, every
from shared.http.app import ConsumerSpec, ServiceSpec
from shared.http.envelopes import json_response
from shared.http.errors import ApiError, Errors
from shared.http.middleware import SETTINGS, principal_of, read_json
from shared.http.routes import Routes, post
from shared.settings import Settings

API_MODULES = [api, invoices_api, ledger_api, payouts_api, merchant_settings_api,
               reconciliation_api]


async def run_tick(request: web.Request) -> web.Response:
    """Internal: run one scheduler round now, optionally at `{"now": unix}` when the
    service runs with a settable clock (tests; never routed by the gateway)."""
    if principal_of(request).kind != "service":
        raise ApiError(Errors.FORBIDDEN)
    body = await read_json(request)
    if body.get("now") is not None:
        set_clock(request.app, body["now"])
    ran = await scheduler.tick(request.app)
    return json_response({"ran": ran, "now": int(request.app[CLOCK].now().timestamp())})


ROUTES = Routes(*(module.ROUTES for module in API_MODULES),
                post("/internal/billing/tick", run_tick, None))


def build_spec(settings: Settings, *, clock=None, run_scheduler: bool = True) -> ServiceSpec:
    """`clock` (an object with now()) replaces the system clock; tests that drive
    tick() themselves pass run_scheduler=False."""
    clock = clock or SystemClock()

    def setup_routes(app: web.Application) -> None:
        app[CLOCK] = clock
        ROUTES.install(app)

    async def scheduler_ctx(app: web.Application) -> AsyncIterator[None]:
        tasks = [every(app[SETTINGS].billing_tick_seconds, lambda: scheduler.tick(app),
                       name="billing-scheduler"),
                 every(app[SETTINGS].payout_tick_seconds, lambda: payouts_scheduler.tick(app),
                       name="payouts-scheduler")] if run_scheduler else []
        yield
        for task in [*tasks, *app[payouts.TASKS]]:  # and the sandbox rails' callbacks
            await cancel_and_wait(task)

    return ServiceSpec(
        name="billing", setup_routes=setup_routes,
        migrations=Path(__file__).parent / "migrations",
        consumers=[ConsumerSpec("payments", events.payment_handlers(settings, clock))],
        docs=ROUTES.docs,
        cleanup_ctx=[client_ctx, scheduler_ctx, housekeeping.ctx])

