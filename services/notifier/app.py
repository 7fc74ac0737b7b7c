"""Notifier: e-mail, and signed webhooks with durable retries (schema notifier)."""

from __future__ import annotations

from pathlib import Path

from services.notifier import housekeeping
from services.notifier.context import Shared, context_ctx
from services.notifier.email.events import email_handlers
from services.notifier.email.mailer import Mailer
from services.notifier.webhooks import api as webhooks_api
from services.notifier.webhooks.events import webhook_handlers
from shared.http.app import ConsumerSpec, ServiceSpec
from shared.settings import Settings

ROUTES = webhooks_api.ROUTES


def build_spec(settings: Settings) -> ServiceSpec:
    if not settings.smtp_url:
        raise SystemExit(
            "norgate: invalid configuration\n  NORGATE_SMTP_URL: required by the notifier "
            "(make run starts a local mail sink and sets it)")
    mailer = Mailer(settings.smtp_url)
    shared = Shared(settings)
    return ServiceSpec(
        name="notifier",
        migrations=Path(__file__).parent / "migrations",
        setup_routes=ROUTES.install,
        docs=ROUTES.docs,
        consumers=[ConsumerSpec("email", email_handlers(mailer, settings.smtp_from),
                                  batch=False),
                   ConsumerSpec("webhooks", webhook_handlers(shared))],
        # Runs after the database and events contexts: the dispatcher needs the pool.
        cleanup_ctx=[context_ctx(shared), housekeeping.ctx],
        # The record of many successful sends updates deliveries through a join on
        # their seq: a generic plan made while the table was small scans all of it.
        custom_plans=True,
    )
