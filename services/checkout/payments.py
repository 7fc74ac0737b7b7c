"""Payment use cases: a status change and its event commit together (one unit of
work, or one statement). Concurrent confirms of one payment charge it once: a rail
that needs the database confirms under the payment row's lock; one that decides from
the details alone writes with a statement that applies only if the payment is still
as read (PaymentConfirms), and a confirm that loses that race takes the locked path."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import aiohttp
import asyncpg
from aiohttp import web

from services.checkout import connectors, domain, store
from services.checkout.context import TASKS
from services.checkout.ports import MerchantAccount, Quote, as_account, as_quote
from shared import principal as principal_mod
from shared.aio import Coalescer, cancel_and_wait, every
from shared.db import database_gone
from shared.events import Event, UnitOfWork
from shared.http.app import POOL, RELAY
from shared.http.errors import ApiError, Errors
from shared.http.middleware import SETTINGS
from shared.ids import uuid7
from shared.logging import get_logger
from shared.money import Money, parse_minor_string

log = get_logger(__name__)

EVENT_OF = {"processing": "payment.processing", "completed": "payment.completed",
            "failed": "payment.failed", "canceled": "payment.canceled",
            "refunded": "payment.refunded"}
ATTEMPT_FAILED = "payment.attempt_failed"  # a checkout page's declined attempt (retryable)


def units(value) -> str | None:
    """A NUMERIC(78,0) amount as a plain integer string (no exponent, as wei need)."""
    return None if value is None else str(int(value))


def event_data(row) -> dict:
    """The webhook-facing payload (the NorPay seed's shape)."""
    return {
        "paymentId": row["payment_id"], "trace": str(row["trace"]), "origin": row["origin"],
        "amount": units(row["amount"]), "currency": row["currency"], "status": row["status"],
        "payer": row["payer"], "transactionHash": row["transaction_hash"],
        "paymentMethod": row["payment_method"], "metadata": row["metadata"],
        "charges": units(row["charges"]),
        "netAmount": units(row["net_amount"]),
        "refundedAmount": units(row["refunded_amount"]),
        "livemode": bool(row["livemode"]),  # docs/modes.md: events carry their object's mode
        # Only on payment.canceled (additive): "expired" when the expiry sweep canceled
        # it, null for a merchant's or payer's cancel.
        **({"cancellationReason": row["cancellation_reason"]}
           if row["status"] == "canceled" else {}),
    }


def _ids(row) -> dict:
    return {"company_id": str(row["company_id"]), "merchant_id": str(row["merchant_id"])}


def _pending(merchant: MerchantAccount | dict, origin: str, money: Money,
             body: domain.CreatePayment, quote: Quote | dict, expires_at: datetime | None,
             livemode: bool) -> dict:
    """A new pending payment's row as far as the create knows it (what event_data and
    the insert need). `expires_at`: the session end the caller chose (a public create's
    expiresAt, which domain.session_end checked); without one, SESSION_TTL after creation,
    by the same reading of the clock: a batched insert runs a little later, and its own
    now() would make the session a second short when a second turned in between."""
    now = datetime.now(UTC)
    account, fees = as_account(merchant), as_quote(quote)
    return {
        **store.NEW_PAYMENT_DEFAULTS,
        "payment_id": domain.new_payment_id(), "trace": uuid7(), "origin": origin,
        "amount": money.minor, "currency": money.currency.code,
        "metadata": body.metadata, "charges": fees.charges, "net_amount": fees.net_amount,
        "company_id": account.company_id, "merchant_id": account.merchant_id,
        "description": body.description, "success_url": body.success_url,
        "cancel_url": body.cancel_url, "quote": fees.document,
        "expires_at": expires_at or now + domain.SESSION_TTL, "created_at": now,
        "merchant_name": account.merchant_name,
        "methods": account.payment_methods, "livemode": livemode}


async def create(work: UnitOfWork, *, merchant: MerchantAccount | dict, origin: str,
                 money: Money, body: domain.CreatePayment, quote: Quote | dict,
                 expires_at: datetime | None = None, livemode: bool = False):
    """A pending payment for `merchant` (auth's account: its ids, its name for the hosted
    page, the methods it takes), inside a unit of work that may do more; its session
    ends at `expires_at` (else SESSION_TTL after it is made). `livemode`: the mode of
    the caller, or of the object the payment is for (docs/modes.md)."""
    payment = _pending(merchant, origin, money, body, quote, expires_at, livemode)
    # Emitted first so the insert carries it; the history row names it.
    event = work.emit("payment.created", event_data(payment), **_ids(payment))
    return await store.insert_payment(
        work, **{c: payment[c] for c in store.PAYMENT_COLUMNS if c != "history"},
        history={"origin": origin, "eventId": str(event.id)})


class PaymentCreates:
    """Public creates (the API's and the widget's), which are a whole unit of work
    each: those that arrive together are written by one statement
    (store.insert_payments), one round trip and one commit for all. When the database
    refuses a row of the batch, each is written alone, so one bad row fails only its
    own request."""

    def __init__(self, pool: asyncpg.Pool, relay=None) -> None:
        self._pool = pool
        self._relay = relay
        # A lost connection fails every create of the batch (a 503): it may have
        # committed. Any other failure is a row the database (or its encoding) refused:
        # the others are written again one by one, so only the bad one fails.
        self._batches = Coalescer(self._insert, alone_on=lambda exc: not database_gone(exc))

    async def create(self, *, merchant: MerchantAccount | dict, origin: str, money: Money,
                     body: domain.CreatePayment, quote: Quote | dict,
                     expires_at: datetime | None = None, livemode: bool = False):
        payment = _pending(merchant, origin, money, body, quote, expires_at, livemode)
        event = Event(type="payment.created", producer="checkout",
                      data=event_data(payment), **_ids(payment))
        payment["history"] = {"origin": origin, "eventId": str(event.id)}
        return await self._batches.submit((payment, event))

    async def _insert(self, items: list[tuple[dict, Event]]) -> list:
        async with self._pool.acquire() as conn:
            rows = await store.insert_payments(conn, [p for p, _ in items],
                                               [e for _, e in items])
        if self._relay is not None:
            self._relay.wake()
        return rows


CREATES = web.AppKey("payment_creates", PaymentCreates)


async def creates_ctx(app: web.Application) -> AsyncIterator[None]:
    app[CREATES] = PaymentCreates(app[POOL], app.get(RELAY))
    app[READS] = PaymentReads(app[POOL])
    app[CONFIRMS] = PaymentConfirms(app[POOL], app.get(RELAY))
    yield


def _status_changes(row, target: str, changes: dict | None) -> dict:
    domain.check_transition(row["status"], target)
    changes = {"status": target, **(changes or {})}
    if target == "completed":
        changes["completed_at"] = datetime.now(UTC)
        changes["pending_action"] = None
    if target in ("processing", "completed") and row["failure_reason"]:
        changes.setdefault("failure_reason", None)  # an earlier attempt's, now behind it
    if target in ("failed", "canceled"):
        changes["pending_action"] = None
    if target == "canceled":
        changes["canceled_at"] = datetime.now(UTC)
    return changes


async def transition(uow: UnitOfWork, row, target: str, *, changes: dict | None = None,
                     detail: dict | None = None):
    changes = _status_changes(row, target, changes)
    # Each status change names the event it emitted (the timeline links its webhooks);
    # emitted first, so the update carries its outbox row.
    event = uow.emit(EVENT_OF[target], event_data({**dict(row), **changes}), **_ids(row))
    return await store.transition_payment(uow, row["id"], changes, target,
                                          {**(detail or {}), "eventId": str(event.id)})


def _outcome_changes(outcome: connectors.Outcome, method: str | None) -> tuple[dict, dict]:
    """The column changes and the history detail an outcome makes."""
    changes = {k: v for k, v in outcome.facts.items()}
    if method:
        changes["payment_method"] = method
    if outcome.status == "failed":
        changes["failure_reason"] = outcome.reason
    if outcome.status == "processing":
        changes["pending_action"] = outcome.action
    return changes, {"reason": outcome.reason, "action": outcome.action}


async def apply(uow: UnitOfWork, row, outcome: connectors.Outcome, *, method: str | None = None,
                retry: bool = False):
    """Record the rail's outcome. `retry`: the shopper is on a checkout page, so a
    decline is an attempt they may follow with another (domain.may_retry)."""
    if retry and outcome.status == "failed" and domain.may_retry(row, datetime.now(UTC)):
        return await _failed_attempt(uow, row, outcome, method or row["payment_method"])
    changes, detail = _outcome_changes(outcome, method)
    if outcome.status == row["status"]:  # still processing, facts only
        return await store.update_payment(uow.conn, row["id"], changes) if changes else row
    return await transition(uow, row, outcome.status, changes=changes, detail=detail)


async def _failed_attempt(uow: UnitOfWork, row, outcome: connectors.Outcome,
                          method: str | None):
    """A declined attempt the shopper may follow with another: back to pending (no
    method, no pending step), the decline's reason kept for the page, the attempt in the
    timeline and sent as `payment.attempt_failed`."""
    attempt = row["failed_attempts"] + 1
    changes = {"status": "pending", "failure_reason": outcome.reason, "pending_action": None,
               "payment_method": None, "failed_attempts": attempt}
    detail: dict = {"attempt": attempt, "method": method, "reason": outcome.reason}
    facts = outcome.facts
    if facts.get("card_last4"):  # which card, as the shopper would name it
        detail["card"] = f"{facts.get('card_brand') or 'CARD'} {facts['card_last4']}"
    event = uow.emit(ATTEMPT_FAILED, {
        **event_data({**dict(row), **changes}), "paymentMethod": method,
        "attempt": attempt, "failureReason": outcome.reason}, **_ids(row))
    return await store.transition_payment(uow, row["id"], changes, "attempt_failed",
                                          {**detail, "eventId": str(event.id)})


def _check_confirmable(row, body: domain.ConfirmPayment) -> None:
    if domain.expired(row, datetime.now(UTC)):
        raise ApiError(Errors.PAYMENT_EXPIRED)
    if row["status"] != "pending":
        raise ApiError(Errors.PAYMENT_STATE, status=row["status"], action="confirmed")
    if not domain.offers(row, body.payment_method):
        raise ApiError(Errors.PAYMENT_METHOD_NOT_ENABLED, field="paymentMethod",
                       method=body.payment_method)
    # Before any rail is reached: a live payment stays pending, with no event.
    if body.payment_method not in connectors.for_mode(row["livemode"]):
        raise ApiError(Errors.PAYMENT_METHOD_LIVE_UNAVAILABLE, field="paymentMethod",
                       method=body.payment_method)


async def confirm(uow: UnitOfWork, row, body: domain.ConfirmPayment, *,
                  locked: bool = False, retry: bool = False):
    """Lock (unless the caller read `row` FOR UPDATE), check, charge through the
    connector, record the outcome (`retry`: see apply)."""
    if not locked:
        row = await store.payment_by_pk_for_update(uow.conn, row["id"])
    _check_confirmable(row, body)
    outcome = await connectors.start(uow.conn, row, body)
    return await apply(uow, row, outcome, method=body.payment_method, retry=retry), outcome


class PaymentReads:
    """Payments read by id (GET, confirm) that arrive together are read by one
    statement; each read starts after its request arrived, so it is as fresh as a read
    of its own."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._reads = Coalescer(self._read)

    async def payment(self, payment_id: str):
        """The payment in any scope (the caller checks it), or None."""
        return await self._reads.submit(payment_id)

    async def _read(self, payment_ids: list[str]) -> list:
        async with self._pool.acquire() as conn:
            found = await store.payments_by_id(conn, sorted(set(payment_ids)))
        return [found.get(payment_id) for payment_id in payment_ids]


class PaymentConfirms:
    """Confirms whose rail decides from the details alone (connectors.decided), shared
    as creates are: those that arrive together are written by one statement
    (store.transitions_if_unchanged), which applies each change, with its history row
    and its event, only if that payment is still as it was read (PaymentReads, no
    lock). A status only moves forward, so what the checks refuse on the row read they
    would refuse locked. A confirm this cannot do (a rail that needs the database, such
    as the NOR wallet; a payment that changed meanwhile) gets None and runs `confirm`,
    locked, instead. Two round trips for many confirms, where the locked path takes
    four for each."""

    def __init__(self, pool: asyncpg.Pool, relay=None) -> None:
        self._pool = pool
        self._relay = relay
        # A payment appears once in a batch (one UPDATE cannot change a row twice); a
        # refused row is written again alone, a lost connection fails the batch (503).
        self._writes = Coalescer(self._write, key=lambda item: item[0]["id"],
                                 alone_on=lambda exc: not database_gone(exc))

    async def confirm(self, row, body: domain.ConfirmPayment):
        """(row, outcome) once written; None when `confirm` must run, locked."""
        _check_confirmable(row, body)
        outcome = connectors.decided(row, body)
        if outcome is None:
            return None
        changes, detail = _outcome_changes(outcome, body.payment_method)
        changes = _status_changes(row, outcome.status, changes)
        if not set(changes) - {"status"} <= store.CHANGE_TYPES.keys():
            return None
        event = Event(type=EVENT_OF[outcome.status], producer="checkout",
                      data=event_data({**dict(row), **changes}), **_ids(row))
        updated = await self._writes.submit(
            (row, changes, {**detail, "eventId": str(event.id)}, event))
        return None if updated is None else (updated, outcome)

    async def _write(self, items: list[tuple]) -> list:
        async with self._pool.acquire() as conn:
            rows = await store.transitions_if_unchanged(conn, items)
        if self._relay is not None and any(row is not None for row in rows):
            self._relay.wake()
        return rows


READS = web.AppKey("payment_reads", PaymentReads)
CONFIRMS = web.AppKey("payment_confirms", PaymentConfirms)

async def act(uow: UnitOfWork, row, body: domain.PaymentAction, *, locked: bool = False,
              retry: bool = False):
    if not locked:
        row = await store.payment_by_pk_for_update(uow.conn, row["id"])
    if row["status"] != "processing" or row["pending_action"] not in ("otp", "3ds"):
        raise ApiError(Errors.PAYMENT_STATE, status=row["status"], action="authenticated")
    outcome = connectors.act(row, body)
    return await apply(uow, row, outcome, retry=retry), outcome


async def cancel(uow: UnitOfWork, row):
    row = await store.payment_by_pk_for_update(uow.conn, row["id"])
    if row["status"] not in ("pending", "processing"):
        raise ApiError(Errors.PAYMENT_STATE, status=row["status"], action="canceled")
    return await transition(uow, row, "canceled")


async def refund(uow: UnitOfWork, row, body: domain.RefundPayment):
    row = await store.payment_by_pk_for_update(uow.conn, row["id"])
    if row["status"] != "completed":
        raise ApiError(Errors.PAYMENT_STATE, status=row["status"], action="refunded")
    left = int(row["amount"]) - int(row["refunded_amount"])
    amount = left if body.amount is None else \
        parse_minor_string(body.amount, row["currency"]).minor
    if amount > left:
        raise ApiError(Errors.VALIDATION, field="amount",
                       detail=f"amount: at most {left} is left to refund")
    refund_row = await store.add_refund(uow.conn, refund_id=domain.new_refund_id(),
                                        pk=row["id"], amount=amount, reason=body.reason)
    refunded = int(row["refunded_amount"]) + amount
    if refunded == int(row["amount"]):
        updated = await transition(uow, row, "refunded", changes={"refunded_amount": refunded},
                                   detail={"refundId": refund_row["refund_id"]})
    else:
        updated = await store.update_payment(uow.conn, row["id"],
                                             {"refunded_amount": refunded})
        event = uow.emit("payment.refunded", {**event_data(updated), "partial": True,
                                              "refundAmount": str(amount)}, **_ids(updated))
        await store.add_history(uow.conn, row["id"], "partially_refunded",
                                {"refundId": refund_row["refund_id"], "amount": str(amount),
                                 "eventId": str(event.id)})
    return updated, refund_row


# The expiry sweep: a session's end is enforced at once by every confirm and page
# (domain.expired); the sweep only makes the status (and its event) follow, so a few
# seconds' lag costs nothing and one indexed query per replica per run is cheap.
SWEEP_EVERY_SECONDS = 15.0
SWEEP_BATCH = 100  # payments per transaction: a short lock, a bounded outbox insert


async def sweep_expired(pool: asyncpg.Pool, relay=None, *, batch: int = SWEEP_BATCH) -> int:
    """Cancel the pending payments whose session has ended, `batch` at a time, each
    batch one transaction in which every status change commits with its
    payment.canceled event (cancellationReason "expired"). Rows another transaction
    holds are skipped (a confirm deciding the payment, another replica's sweep): the
    next run sees them again if still pending. How many it canceled."""
    swept = 0
    while True:
        async with UnitOfWork(pool, producer="checkout", relay=relay) as uow:
            rows = await store.expired_payments_for_update(uow.conn, batch)
            for row in rows:
                await transition(uow, row, "canceled",
                                 changes={"cancellation_reason": domain.EXPIRED},
                                 detail={"cancellationReason": domain.EXPIRED})
        swept += len(rows)
        if len(rows) < batch:
            if swept:
                log.info("payments_expired", count=swept)
            return swept


async def expiry_sweep_ctx(app: web.Application) -> AsyncIterator[None]:
    task = every(SWEEP_EVERY_SECONDS, lambda: sweep_expired(app[POOL], app.get(RELAY)),
                 name="payment-expiry-sweep")
    yield
    await cancel_and_wait(task)


RAIL_TIMEOUT = timedelta(minutes=2)  # a phone prompt nobody answers fails after this
CALLBACK_PATH = "/internal/rails/ecocash/callback"


async def rail_callback(settings, origin: str, payment_id: str, delay: float) -> None:
    """The sandbox ECOCASH rail: a moment later it calls the service back over HTTP,
    at the callback path, as the real rail does."""
    await asyncio.sleep(delay)
    headers = {principal_mod.HEADER: principal_mod.sign(
        principal_mod.Principal(kind="service", subject="ecocash-sandbox"), settings,
        audience="checkout")}
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
            async with http.post(origin + CALLBACK_PATH, json={"paymentId": payment_id},
                                 headers=headers) as resp:
                if resp.status != 200:
                    log.warning("rail_callback_refused", status=resp.status,
                                payment_id=payment_id)
    except (aiohttp.ClientError, TimeoutError) as exc:
        log.warning("rail_callback_failed", payment_id=payment_id, error=str(exc))


def follow_rail(app, request_origin: str, row, outcome: connectors.Outcome) -> None:
    """Schedule the asynchronous rail's callback, when the outcome says one comes."""
    if outcome.callback_after is None:
        return
    task = asyncio.create_task(rail_callback(app[SETTINGS], request_origin,
                                             row["payment_id"], outcome.callback_after))
    app[TASKS].add(task)
    task.add_done_callback(app[TASKS].discard)


async def rail_answered(uow: UnitOfWork, row):
    """The rail's callback: settle a payment still waiting for it."""
    row = await store.payment_by_pk_for_update(uow.conn, row["id"])
    if row["status"] != "processing" or row["payment_method"] != "ECOCASH":
        return row  # canceled, timed out or settled meanwhile: a late callback changes nothing
    return await apply(uow, row, connectors.ecocash_callback(row))


async def settle_if_timed_out(pool: asyncpg.Pool, relay, row):
    """A phone prompt unanswered for RAIL_TIMEOUT fails; checked when the payment is read
    (a status check resolves it, as the seed's NORAH status check does)."""
    if not (row["status"] == "processing" and row["payment_method"] == "ECOCASH"
            and row["updated_at"] < datetime.now(UTC) - RAIL_TIMEOUT):
        return row
    async with UnitOfWork(pool, producer="checkout", relay=relay) as uow:
        locked = await store.payment_by_pk_for_update(uow.conn, row["id"])
        if locked["status"] != "processing":
            return locked
        return await apply(uow, locked, connectors.Outcome(
            "failed", "The subscriber did not answer the payment prompt in time"))
