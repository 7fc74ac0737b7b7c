"""Checkout's typed ports to the services it asks: auth (merchant accounts, payees) and
fees (quotes). Each returns pydantic models and keeps its own cache, so no module
fetches `/internal/merchants/...` or `/internal/quotes` by hand.

An auth or fees that does not answer is the caller's 502 `upstream_unavailable` (as
InternalClient.get_json has it): the one HTTP error here, because a port is an edge.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Literal
from urllib.parse import urlencode

from aiohttp import web
from pydantic import BaseModel, ConfigDict

from shared.events import Event
from shared.expiring import ExpiringCache
from shared.http.client import InternalClient, ServiceUnavailable
from shared.http.errors import ApiError, Errors
from shared.internal_answers import MerchantAccount as MerchantAccount
from shared.internal_answers import handler_answer
from shared.lease import VersionLease
from shared.logging import get_logger

log = get_logger(__name__)


class Quote(BaseModel):
    """A fee quote: what checkout reads of it, and the document stored with the payment
    (`payments.quote`: fees' whole answer, or a price's own figures), kept verbatim."""

    model_config = ConfigDict(frozen=True)

    charges: int
    net_amount: int
    rules_version: int | None = None  # None: not from fees (a price's figures)
    rules_age: float = 0.0
    document: dict[str, Any]

    @classmethod
    def of(cls, document: dict[str, Any]) -> Quote:
        version = document.get("rulesVersion")
        return cls(charges=int(document["charges"]), net_amount=int(document["netAmount"]),
                   rules_version=None if version is None else int(version),
                   rules_age=float(document.get("rulesAge") or 0), document=document)


class Payee(BaseModel):
    """auth's `/internal/payees/...`: the merchant account a token pays, or why none
    (no_merchant: the signer's company has none to default to; out_of_scope: the token
    names a merchant its signer may not pay; signer_disabled)."""

    merchant: MerchantAccount | None = None
    problem: Literal["no_merchant", "out_of_scope", "signer_disabled"] | None = None


KIND_OF = {"u": "user", "m": "merchant"}


def _unavailable(service: str) -> ApiError:
    return ApiError(Errors.UPSTREAM_UNAVAILABLE, service=service)


class AuthClient:
    """Merchant accounts and payees from auth. `merchant` is cached
    NORGATE_API_KEY_CACHE_SECONDS: the bound the gateway's key cache already puts on an
    account change reaching a create (payments and the pages' brand share it); `find`
    and `find_by_uid` ask every time (lookups whose answer decides a tenant's view)."""

    def __init__(self, client: InternalClient, ttl: float) -> None:
        self._client = client
        self._accounts: ExpiringCache = ExpiringCache(ttl)

    async def merchant(self, merchant_id: int | str | None) -> MerchantAccount:
        """The account, cached. An unknown merchant (a principal naming none too), like
        an auth that does not answer, is the caller's 502 `upstream_unavailable`
        (nothing is cached)."""
        async def ask_auth() -> MerchantAccount:
            found = await self.find(merchant_id)
            if found is None:
                raise _unavailable("auth")
            return found

        # Keyed by the id's text: a principal's str and an int id are one entry.
        account: MerchantAccount = await self._accounts.fetch(str(merchant_id), ask_auth)
        return account

    async def find(self, merchant_id: int | str | None) -> MerchantAccount | None:
        """The account now (uncached); None when auth knows no such merchant."""
        body = await self._client.get_json("auth", f"/internal/merchants/{merchant_id}")
        return None if body is None else handler_answer(MerchantAccount, body, "auth")

    async def find_by_uid(self, uid: uuid.UUID) -> MerchantAccount | None:
        body = await self._client.get_json("auth", f"/internal/merchants/by-uid/{uid}")
        return None if body is None else handler_answer(MerchantAccount, body, "auth")

    async def payee(self, kind: Literal["u", "m"], subject: str, mid: str | None) -> Payee:
        """Whom a token signed by `subject` pays, given its `mid` claim. A signature
        proves only who signed: a user may read its own secret and sign any claims
        offline, so the claim is checked against the signer's scope every time."""
        query = "" if mid is None else f"?{urlencode({'mid': mid})}"
        body = await self._client.get_json(
            "auth", f"/internal/payees/{KIND_OF[kind]}/{subject}{query}")
        if body is None:
            return Payee(problem="out_of_scope")  # an unknown signer pays nobody
        return Payee.model_validate(body)

    async def close(self) -> None:
        await self._accounts.close()


class QuoteCache:
    """Fee quotes by (merchant, currency, amount), so a create with an amount seen
    lately needs no hop to fees.

    Read-your-writes: an entry is filed under the rules' version it was quoted with,
    and served only while that version is the current one, as confirmed within the
    fee-rules lease (shared/lease.py; renewed in the background from fees'
    `/internal/rules-version` and from every quote fees answers). A charge write
    answers only after the lease has passed since its commit, so once it has answered,
    no replica serves a quote made before it. Entries also live at most `ttl` seconds
    (NORGATE_API_KEY_CACHE_SECONDS, 0 turns the cache off). A `charge.*` event (heard
    by every replica through a broadcast subscription) or a broker reconnection makes
    the next create check the version at once.
    """

    def __init__(self, ttl: float, lease_seconds: float,
                 rules_version: Callable[[], Awaitable[dict[str, Any]]]) -> None:
        self._entries: ExpiringCache = ExpiringCache(ttl)
        self._ask_version = rules_version
        self.rules = VersionLease(lease_seconds, self._check, name="fee-quotes")

    async def _check(self) -> tuple[int, float]:
        answer = await self._ask_version()
        return int(answer["rulesVersion"]), float(answer["rulesAge"])

    async def fetch(self, key: Hashable, ask: Callable[[], Awaitable[Quote]]) -> Quote:
        """The cached quote of the current rules, else `ask()`'s (ExpiringCache.fetch:
        one question for concurrent callers, renewed before it runs out)."""
        if self._entries.ttl <= 0:
            return await ask()  # nothing cached, so nothing to check
        version = await self.rules.current()

        async def load() -> Quote:
            asked = time.monotonic()
            quote = await ask()
            # Fees confirmed its version `rulesAge` before it answered, and it answered
            # after we asked: a lower bound on when that version was current.
            self.rules.saw(int(quote.rules_version or 0), asked - quote.rules_age)
            return quote

        quote: Quote = await self._entries.fetch(
            (version, key), load, keep=lambda quote: quote.rules_version == version)
        return quote

    async def close(self) -> None:
        await self._entries.close()
        await self.rules.close()

    def never(self) -> None:
        """Keep nothing (no events can tell of rule changes)."""
        self._entries.ttl = 0

    def invalidate(self) -> None:
        self.rules.expire()
        self._entries.clear()

    async def on_event(self, event: Event) -> None:
        self.invalidate()
        log.info("fee_quotes_dropped", cause=event.type)

    async def on_resync(self) -> None:
        self.invalidate()


class FeesClient:
    """Fee quotes from fees, cached briefly and dropped when a fee rule changes
    (QuoteCache)."""

    def __init__(self, client: InternalClient, ttl: float, lease_seconds: float) -> None:
        self._client = client
        self.cache = QuoteCache(ttl, lease_seconds, self._rules_version)

    async def quote(self, merchant_id: int, currency: str, amount: int) -> Quote:
        async def ask_fees() -> Quote:
            document = await self._post("/internal/quotes", {
                "merchantId": merchant_id, "currency": currency, "amount": str(amount)})
            return Quote.of(document)

        return await self.cache.fetch((merchant_id, currency, amount), ask_fees)

    async def _rules_version(self) -> dict[str, Any]:
        """Fees' current rules version (QuoteCache's lease check)."""
        return await self._call("GET", "/internal/rules-version", None)

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self._call("POST", path, body)

    async def _call(self, method: str, path: str,
                    body: dict[str, Any] | None) -> dict[str, Any]:
        try:
            status, answer = await self._client.request("fees", method, path, json=body)
        except ServiceUnavailable:
            raise _unavailable("fees") from None
        if status != 200 or not isinstance(answer, dict):
            raise _unavailable("fees")
        return answer

    async def close(self) -> None:
        await self.cache.close()


AUTH = web.AppKey("auth_client", AuthClient)
FEES = web.AppKey("fees_client", FeesClient)


def as_account(account: MerchantAccount | dict[str, Any]) -> MerchantAccount:
    """An account as the ports give it, or as auth writes it (internal callers' dicts)."""
    return account if isinstance(account, MerchantAccount) \
        else MerchantAccount.model_validate(account)


def as_quote(quote: Quote | dict[str, Any]) -> Quote:
    return quote if isinstance(quote, Quote) else Quote.of(quote)
