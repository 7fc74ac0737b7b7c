"""Price triggers (`tri_...`, /triggers/{app_id}, Prices envelope).

A trigger is a merchant-defined action: a signed HTTPS call to the merchant's URL
with the trigger's params, executed when a payment for a price that names it
succeeds. A price that names a trigger gets a trigger intent (`ti_...`) holding
the params it supplied (`trigger_data.params_data`, checked against the params the
trigger requires). Each completed payment of the price adds one execution (one per
payment, however often the completion event arrives) that a dispatcher delivers,
retrying on the `NORGATE_TRIGGER_RETRY_SCHEDULE` until a 2xx answer; its status
(pending, delivered, failed), attempts and last answer are readable on the price.

A trigger belongs to the merchant that made it (none: an ADMIN's on a shared app).
On an app the company's merchants share, a MERCHANT caller lists, reads and deletes
only its own (another's is 404 "Trigger not found"), an ADMIN the company's; and a
price may name only a trigger of its own merchant, so nobody can have another
merchant's signed call made for its payments. A trigger is also of its creator's mode
(`livemode`, docs/modes.md): only that mode's callers reach it, only a price of that
mode may name it, and a price's payment calls only a trigger of the price's mode (a
test payment never makes a live fulfilment call, nor a live one a test call).

The call is signed like our webhooks: `X-NorPay-Signature` (hex HMAC-SHA256 of the
raw body with the trigger's secret) and the Standard Webhooks headers (`webhook-id`,
`webhook-timestamp`, `webhook-signature: v1,<base64>`). The secret (`whsec_...`) is
shown once, when the trigger is created.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import asyncpg
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.checkout import answers, domain
from services.checkout import prices_store as store
from services.checkout.app_scope import app_in_scope, owner_of, prices_time
from shared.aio import cancel_and_wait, every
from shared.authz import require
from shared.crypto import SecretBox, base62
from shared.events import Event, UnitOfWork
from shared.events.payloads import PaymentPayload
from shared.http.app import POOL
from shared.http.envelopes import Family, dumps, ok
from shared.http.errors import ApiError, Errors
from shared.http.middleware import SETTINGS, read_json
from shared.http.pagination import page_of
from shared.http.routes import Routes, delete, get, post
from shared.logging import get_logger
from shared.outbound import addresses, signing
from shared.principal import Principal

log = get_logger(__name__)

TRIGGER = "Trigger"
TRIGGER_ID = re.compile(r"^tri_[A-Za-z0-9]{22}$")
PARAM = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
DISPATCH_EVERY_SECONDS = 0.5
BATCH = 20
TIMEOUT_SECONDS = 15
LEASE_SECONDS = TIMEOUT_SECONDS * 2  # longer than any call
BOX = web.AppKey("trigger_secrets", SecretBox)
_T = ("triggers",)


def _id(prefix: str) -> str:
    return prefix + base62(22)


class CreateTrigger(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=256)
    url: str = Field(min_length=1, max_length=2000)
    params: list[str] = Field(default_factory=list, max_length=50)

    @field_validator("params")
    @classmethod
    def _params(cls, value: list[str]) -> list[str]:
        for name in value:
            if not PARAM.match(name):
                raise ValueError(f"{name!r} is not a parameter name (letters, digits, _)")
        if len(set(value)) != len(value):
            raise ValueError("parameter names must differ")
        return value


def render(row: asyncpg.Record, *, secret: str | None = None) -> dict[str, Any]:
    data = {"id": row["trigger_id"], "name": row["name"], "url": row["url"],
            "params": list(row["params"]), "app_id": row["app_id"],
            "created_at": prices_time(row["created_at"]),
            "updated_at": prices_time(row["updated_at"]), "livemode": row["livemode"]}
    if secret is not None:
        data["secret"] = secret  # shown once, at creation
    return data


def render_execution(row: asyncpg.Record) -> dict[str, Any]:
    return {"payment_id": row["payment_id"], "status": row["status"],
            "attempts": row["attempts"], "last_status_code": row["last_status_code"],
            "last_error": row["last_error"],
            "delivered_at": prices_time(row["delivered_at"]) if row["delivered_at"] else None,
            "created_at": prices_time(row["created_at"])}


async def create_trigger(request: web.Request) -> web.Response:
    who = require(request, allow_keys=True)
    body = await read_json(request, CreateTrigger)
    try:  # in prod, public addresses only (checked again at every call)
        await addresses.check_url(body.url, strict=request.app[SETTINGS].env == "prod")
    except addresses.AddressNotAllowed as exc:
        raise ApiError(Errors.WEBHOOK_URL_NOT_ALLOWED, field="url", detail=str(exc)) from None
    app = await app_in_scope(request, who)
    secret = signing.new_secret()
    merchant_id = app.get("merchant_id") or (int(who.merchant_id) if who.merchant_id else None)
    async with request.app[POOL].acquire() as conn:
        row = await store.insert_trigger(
            conn, trigger_id=_id("tri_"), app_id=app["id"], company_id=int(app["company_id"]),
            merchant_id=merchant_id, livemode=who.livemode, name=body.name, url=body.url,
            params=body.params, secret_sealed=request.app[BOX].seal(secret))
    return ok(Family.PRICES, render(row, secret=secret), status=201)


async def list_triggers(request: web.Request) -> web.Response:
    who = require(request, allow_keys=True)
    page = page_of(request)
    app = await app_in_scope(request, who)
    async with request.app[POOL].acquire() as conn:
        rows, total, estimated = await store.list_triggers(
            conn, app["id"], **owner_of(who).filters(), limit=page.per_page,
            offset=page.offset)
    return ok(Family.PRICES, [render(r) for r in rows],
              pagination=page.envelope(total, total_is_estimate=estimated))


async def _trigger(request: web.Request, conn: asyncpg.Connection, app: dict[str, Any],
                   who: Principal) -> asyncpg.Record:
    trigger_id = request.match_info["triggerId"]
    row = await store.trigger(conn, app["id"], trigger_id, **owner_of(who).filters()) \
        if TRIGGER_ID.match(trigger_id) else None
    if row is None:
        raise ApiError(Errors.NOT_FOUND, resource=TRIGGER)
    return row


async def get_trigger(request: web.Request) -> web.Response:
    who = require(request, allow_keys=True)
    app = await app_in_scope(request, who)
    async with request.app[POOL].acquire() as conn:
        row = await _trigger(request, conn, app, who)
    return ok(Family.PRICES, render(row))


async def delete_trigger(request: web.Request) -> web.Response:
    who = require(request, allow_keys=True)
    app = await app_in_scope(request, who)
    async with request.app[POOL].acquire() as conn:
        row = await _trigger(request, conn, app, who)
        row = await store.delete_trigger(conn, app["id"], row["trigger_id"],
                                         **owner_of(who).filters()) or row
    return ok(Family.PRICES, render(row))


async def attach(conn: asyncpg.Connection, *, app_id: str, price_id: str,
                 merchant_id: int | None, livemode: bool, trigger_id: str,
                 trigger_data: dict[str, Any] | None) -> asyncpg.Record:
    """Give a new price (of `merchant_id` and `livemode`) its trigger intent; 400 for a
    trigger that is unknown, another merchant's or another mode's (the same answer: its
    existence is not confirmed), or missing params."""
    row = await store.trigger_for_price(conn, app_id, trigger_id, merchant_id=merchant_id,
                                        livemode=livemode) \
        if TRIGGER_ID.match(trigger_id) else None
    if row is None:
        raise ApiError(Errors.VALIDATION, field="trigger_id",
                       detail=f"trigger_id: no trigger {trigger_id[:40]!r} in this app")
    params = (trigger_data or {}).get("params_data")
    if params is not None and not isinstance(params, dict):
        raise ApiError(Errors.VALIDATION, field="trigger_data.params_data",
                       detail="trigger_data.params_data: must be an object")
    missing = [name for name in row["params"] if name not in (params or {})]
    if missing:
        raise ApiError(Errors.VALIDATION, field="trigger_data.params_data",
                       detail="trigger_data.params_data: the trigger requires "
                              + ", ".join(missing))
    intent_id = _id("ti_")
    await store.insert_intent(conn, intent_id=intent_id, trigger_id=trigger_id,
                              price_id=price_id, params=params)
    return await store.set_price_intent(conn, price_id, intent_id, params)


# Execution ---------------------------------------------------------------------------

def pays_a_price(event: Event) -> bool:
    """Only a payment the price's own checkout made pays a price; the consumer acks the
    others untouched (ConsumerSpec.wants)."""
    paid = event.payload(PaymentPayload)
    return paid.origin == "prices" and bool((paid.metadata or {}).get("priceId"))


async def on_payment_completed(event: Event, uow: UnitOfWork) -> None:
    """A price's payment succeeded: a dynamic price is used up, and its trigger (if any)
    gets one execution to deliver."""
    if not pays_a_price(event):
        return
    paid = event.payload(PaymentPayload)
    price_id = (paid.metadata or {})["priceId"]
    price = await store.price_by_id(uow.conn, str(price_id))
    # A price's link makes payments of the price's mode; an event from before modes
    # (no livemode) is of a test payment.
    if price is None or str(price["merchant_id"]) != event.merchant_id \
            or paid.livemode is not price["livemode"] \
            or paid.amount != str(domain.price_part(price, "amount_total").minor):
        log.warning("price_payment_mismatch", price_id=price_id,
                    payment_id=paid.payment_id)
        return
    await store.expire_price(uow.conn, price_id)
    intent = await store.intent_of_price(uow.conn, price_id)
    if intent is None:
        return
    if intent["trigger_merchant_id"] != price["merchant_id"]:
        # Attached before prices were held to their own merchant's triggers: never
        # make another merchant's signed call for this payment.
        log.warning("price_trigger_of_another_merchant", price_id=price_id,
                    trigger_id=intent["trigger_id"])
        return
    if intent["trigger_livemode"] != price["livemode"]:
        # Never from the API (attach checks the mode): a stored mismatch must still not
        # make a test payment's fulfilment call live, or a live one's in test.
        log.warning("price_trigger_of_another_mode", price_id=price_id,
                    trigger_id=intent["trigger_id"])
        return
    # `livemode` at the top level, as in our webhook bodies (docs/modes.md).
    body = {"event": "trigger.executed", "timestamp": event.occurred_at.isoformat(),
            "livemode": price["livemode"],
            "data": {"triggerId": intent["trigger_id"], "triggerIntentId": intent["intent_id"],
                     "priceId": price_id, "paymentId": paid.payment_id,
                     "amount": paid.amount, "currency": paid.currency,
                     "params": intent["params"] or {}}}
    await store.add_execution(uow.conn, intent_id=intent["intent_id"],
                              payment_id=event.data["paymentId"], event_id=event.id, body=body)


class Dispatcher:
    """Delivers due executions; replicas share the work (rows locked SKIP LOCKED)."""

    def __init__(self, app: web.Application):
        self.app = app
        self.strict = app[SETTINGS].env == "prod"
        self.http: aiohttp.ClientSession | None = None

    async def run_once(self) -> int:
        """Lease the due executions (a short transaction), call them all at once outside
        any transaction, record each answer in its own: one slow endpoint delays only
        its own calls."""
        async with self.app[POOL].acquire() as conn:
            rows = await store.lease_executions(conn, BATCH, LEASE_SECONDS)
        await asyncio.gather(*(self._attempt(row) for row in rows))
        return len(rows)

    async def _attempt(self, row: asyncpg.Record) -> None:
        schedule = self.app[SETTINGS].trigger_retry_schedule
        code, error = await self._deliver(row)
        attempt = row["attempts"] + 1
        if code is not None and 200 <= code < 300:
            status, delay = "delivered", None
        elif attempt >= len(schedule):
            status, delay = "failed", None
        else:
            status, delay = "pending", schedule[attempt]
        async with self.app[POOL].acquire() as conn:
            await store.record_attempt(conn, row["id"], status=status, status_code=code,
                                       error=error, next_attempt_in=delay)
        log.info("trigger_attempt", payment_id=row["payment_id"], status=status,
                 status_code=code, attempt=attempt)

    async def _deliver(self, row: asyncpg.Record) -> tuple[int | None, str | None]:
        try:
            secret = self.app[BOX].open(row["secret_sealed"])
        except Exception:  # a secret sealed under another key: fail it, do not stall
            return None, "the trigger's secret cannot be opened"
        body = dumps(row["body"])
        headers = {"Content-Type": "application/json", "User-Agent": "norgate-triggers/1",
                   **signing.headers(msg_id=f"msg_{row['event_id'].hex}",
                                     timestamp=int(time.time()), body=body, secret=secret)}
        try:
            addresses.check_literal_host(row["url"], strict=self.strict)
            assert self.http is not None  # opened by dispatcher_ctx before the first run
            async with self.http.post(row["url"], data=body, headers=headers,
                                      allow_redirects=False) as resp:
                await resp.content.read(1024)
                return resp.status, None if resp.status < 300 else f"HTTP {resp.status}"
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
            return None, (type(exc).__name__ + ": " + str(exc))[:300]


async def dispatcher_ctx(app: web.Application) -> AsyncIterator[None]:
    app[BOX] = SecretBox(app[SETTINGS], "trigger-secrets")
    dispatcher = Dispatcher(app)
    dispatcher.http = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(
            resolver=addresses.PublicOnlyResolver(strict=dispatcher.strict)),
        trust_env=False, timeout=aiohttp.ClientTimeout(total=TIMEOUT_SECONDS))
    task = every(DISPATCH_EVERY_SECONDS, dispatcher.run_once, name="trigger-dispatch")
    yield
    await cancel_and_wait(task)
    await dispatcher.http.close()


HANDLERS: dict[str, Callable[[Event, UnitOfWork], Awaitable[None]]] = {
    "payment.completed": on_payment_completed}


ROUTES = Routes(
    post("/triggers/{appId}", create_trigger, "Create a trigger: a signed call to `url` with "
         "the params a price supplies, made when a payment for the price succeeds "
         "(the secret is shown once)", _T, request=CreateTrigger, status=201,
         response=answers.TriggerAnswer),
    get("/triggers/{appId}", list_triggers, "The app's triggers (?page=&per_page=)", _T,
        response=answers.TriggerPage),
    get("/triggers/{appId}/{triggerId}", get_trigger, "One trigger", _T,
        response=answers.TriggerAnswer),
    delete("/triggers/{appId}/{triggerId}", delete_trigger, "Delete a trigger", _T,
           response=answers.TriggerAnswer),
)
