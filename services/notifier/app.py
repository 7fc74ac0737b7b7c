"""Notifier: e-mail now; signed webhooks come with their own issue."""

from __future__ import annotations

from pathlib import Path

from services.notifier.events import email_handlers
from services.notifier.mailer import Mailer
from shared.http.app import ConsumerSpec, ServiceSpec
from shared.settings import Settings


def build_spec(settings: Settings) -> ServiceSpec:
    if not settings.smtp_url:
        raise SystemExit(
            "norgate: invalid configuration\n  NORGATE_SMTP_URL: required by the notifier "
            "(make run starts a local mail sink and sets it)")
    mailer = Mailer(settings.smtp_url)
    return ServiceSpec(
        name="notifier",
        migrations=Path(__file__).parent / "migrations",
        consumers=[ConsumerSpec("email", email_handlers(mailer, settings.smtp_from))],
    )
