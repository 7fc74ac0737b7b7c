"""The gateway's housekeeping (docs/housekeeping.md): expired Idempotency-Keys and
rate-limit windows long past, pruned on a schedule by shared/housekeeping.py."""

from __future__ import annotations

from functools import partial

from services.gateway import housekeeping_store as store
from shared.housekeeping import Prune, housekeeping_ctx
from shared.http.middleware import SETTINGS
from shared.settings import Settings

IDEMPOTENCY_KEYS = Prune("idempotency_keys", store.prune_idempotency_keys)


def prunes(settings: Settings) -> list[Prune]:
    return [
        IDEMPOTENCY_KEYS,
        Prune("rate_limit_counters", partial(
            store.prune_rate_limit_counters,
            retention_seconds=settings.rate_limit_retention_seconds)),
    ]


ctx = housekeeping_ctx(lambda app: prunes(app[SETTINGS]))
