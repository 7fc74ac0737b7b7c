"""Auth's housekeeping (docs/housekeeping.md), pruned on a schedule by
shared/housekeeping.py: sign-in counts already forgotten, clients no longer known, the
past windows of the unauthenticated writes' budgets, confirmations used or expired and
refresh tokens expired or revoked past their retention."""

from __future__ import annotations

from functools import partial

from services.auth import sessions_api, store
from shared.housekeeping import Prune, housekeeping_ctx
from shared.http.middleware import SETTINGS
from shared.settings import Settings

DAY = 86_400


def prunes(settings: Settings) -> list[Prune]:
    return [
        Prune("sign_in_throttle", partial(store.prune_sign_in_throttle,
                                          forget_after=settings.sign_in_lock_seconds)),
        Prune("sign_in_clients", partial(store.prune_sign_in_clients,
                                         known_days=sessions_api.KNOWN_CLIENT_DAYS)),
        Prune("public_write_counters", partial(
            store.prune_public_write_counters,
            retention_seconds=settings.public_write_retention_seconds)),
        Prune("email_confirmations", partial(
            store.prune_email_confirmations,
            retention_days=settings.email_confirmation_retention_days)),
        # Never before the access tokens of the session can have expired: the gateway's
        # session check reads a session with no token left as signed out.
        Prune("refresh_tokens", partial(
            store.prune_refresh_tokens,
            retention_seconds=max(settings.refresh_token_retention_days * DAY,
                                  settings.access_token_ttl_seconds))),
    ]


ctx = housekeeping_ctx(lambda app: prunes(app[SETTINGS]))
