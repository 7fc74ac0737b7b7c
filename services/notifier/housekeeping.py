"""The notifier's housekeeping (docs/housekeeping.md), pruned on a schedule by
shared/housekeeping.py: webhook payloads and response bodies past their retention (the
delivery log stays), the manual sends' and the recipient cap's past windows, and the
record of e-mails sent long ago."""

from __future__ import annotations

from functools import partial

from services.notifier.email import events, store
from services.notifier.webhooks import store as webhooks
from shared.housekeeping import Prune, housekeeping_ctx
from shared.http.middleware import SETTINGS
from shared.settings import Settings

# take_manual_sends counts in UTC minutes; an hour on, a tenant's row is long past.
MANUAL_SENDS_RETENTION_SECONDS = 3600


def prunes(settings: Settings) -> list[Prune]:
    days = settings.webhook_payload_retention_days
    return [
        Prune("webhook_events.body", partial(webhooks.prune_event_payloads,
                                             retention_days=days)),
        Prune("webhook_attempts.response_body", partial(webhooks.prune_attempt_bodies,
                                                        retention_days=days)),
        Prune("webhook_manual_sends", partial(
            webhooks.prune_manual_sends, retention_seconds=MANUAL_SENDS_RETENTION_SECONDS)),
        Prune("email_recipient_sends", partial(store.prune_email_recipient_sends,
                                               window_seconds=events.WINDOW_SECONDS)),
        Prune("emails", partial(store.prune_emails,
                                retention_days=settings.email_log_retention_days)),
    ]


ctx = housekeeping_ctx(lambda app: prunes(app[SETTINGS]))
