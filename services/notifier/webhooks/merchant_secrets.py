"""Merchant transaction-signing secrets, which key X-NorPay-Signature of the callbacks
to a merchant's webServiceUrl (the NORAH document: the merchant secret "verifies
webhook callbacks").

Auth owns them, sealed. The dispatcher asks auth for one (`GET
/internal/secrets/merchant/{id}`) when it sends to an implicit endpoint, and keeps it
in memory only, never in the notifier's database: a second copy at rest would widen
what one compromised service exposes. The copy lives at most
NORGATE_API_KEY_CACHE_SECONDS (renewed in the background under traffic, so no send
waits for auth). Every replica hears `merchant.secret_regenerated` through a
broadcast subscription and drops what it holds, so callbacks sent after a regenerate
are signed with the new secret; after a broker (re)connection, when events may have
been missed, everything is dropped too.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError

from shared.events import Event
from shared.expiring import ExpiringCache
from shared.http.client import InternalClient, ServiceUnavailable
from shared.logging import get_logger

log = get_logger(__name__)

# Broadcast to every notifier replica (not a queue of the catalog: each process must
# drop its own copy, where a queue would hand the event to one of them).
SECRET_EVENTS = ("merchant.secret_regenerated",)


class SecretUnavailable(Exception):
    """Auth could not answer now: the send waits and is tried again (never unsigned)."""


class SecretNotFound(Exception):
    """Auth knows no such merchant."""


class _Answer(BaseModel):
    """Auth's answer; SecretStr keeps the value out of reprs and logs."""

    model_config = ConfigDict(extra="ignore")
    secret: SecretStr


class MerchantSecrets:
    def __init__(self, client: InternalClient | None, ttl: float) -> None:
        self._client = client
        self._cache = ExpiringCache(ttl)
        # Bumped by every drop: a lookup asked before a regenerate and answered after
        # it may hold the old secret, so it is used once but not kept.
        self.generation = 0

    async def get(self, merchant_id: int) -> str:
        """The merchant's secret; raises SecretUnavailable or SecretNotFound."""
        generation = self.generation
        answer: SecretStr = await self._cache.fetch(
            merchant_id, lambda: self._ask(merchant_id),
            keep=lambda *_: generation == self.generation)  # *_: whatever keep is given
        return answer.get_secret_value()

    async def _ask(self, merchant_id: int) -> SecretStr:
        if self._client is None:
            raise SecretUnavailable("no internal client")
        try:
            status, body = await self._client.request(
                "auth", "GET", f"/internal/secrets/merchant/{merchant_id}")
        except ServiceUnavailable as exc:
            raise SecretUnavailable(str(exc)) from None
        if status == 404:
            raise SecretNotFound(f"auth knows no merchant {merchant_id}")
        if status != 200:
            raise SecretUnavailable(f"auth: HTTP {status}")
        try:
            return _Answer.model_validate(body).secret
        except ValidationError:
            raise SecretUnavailable("auth: unexpected answer") from None

    def drop(self) -> None:
        self.generation += 1
        self._cache.clear()

    def never(self) -> None:
        """Keep nothing (no events can tell of a regenerate): ask auth on every send."""
        self._cache.ttl = 0

    async def on_event(self, event: Event) -> None:
        # Every entry, not only this merchant's: regenerates are rare, and the others
        # are asked for again once, in the background of their next send.
        self.drop()
        log.info("merchant_secrets_dropped", cause=event.type,
                 merchant_id=event.data.get("merchantId") or event.merchant_id)

    async def on_resync(self) -> None:
        self.drop()

    async def close(self) -> None:
        await self._cache.close()
