"""Money out, one function per operation (docs/payouts.md): the balance movements of
payment events, payout create / cancel, sending a payout to its rail, the rail's
answer, releasing funds that became available and the scheduled payouts.

Every change to a balance is a ledger posting and a balance transaction in the same
transaction, and a payout's status changes with its postings and its event (the
outbox): a payout is never paid twice, lost, or half-written.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from aiohttp import web
from pydantic import ValidationError

from services.billing import (
    balances,
    ledger,
    ledger_store,
    payouts_store,
    rails,
    sandbox_rails,
    settlement_accounts_store,
)
from services.billing.balances import Movement, MovementType
from services.billing.context import CLIENT, uow
from services.billing.domain import epoch, new_id
from services.billing.payout import EVENT_OF, CreatePayout, LedgerEffect, Payout
from services.billing.payouts_store import NewMovement
from shared.crypto import SecretBox
from shared.events import UnitOfWork
from shared.http.app import POOL
from shared.http.client import InternalClient, ServiceUnavailable
from shared.http.errors import ApiError, Errors
from shared.http.middleware import SETTINGS
from shared.internal_answers import QuoteBatch
from shared.logging import get_logger
from shared.money import get_currency, parse_minor_string
from shared.settings import Settings

log = get_logger(__name__)

PAYOUT_CATEGORY = "PAYOUT"  # the fee engine's charge category of payouts (docs/fees.md)
TASKS: web.AppKey[set[asyncio.Task[None]]] = web.AppKey("payout_callbacks", set)
CALLBACK_GATE = web.AppKey("payout_callback_gate", asyncio.Semaphore)


def box(settings: Settings) -> SecretBox:
    return settlement_accounts_store.sealer(settings)


# Movements of payment events (called by the payment-event consumer) ----------------------

@dataclass(frozen=True)
class PaymentEvent:
    data: dict
    company_id: int
    merchant_id: int
    livemode: bool
    at: datetime
    event_id: uuid.UUID


async def record_completions(conn, settings: Settings, completed: list[PaymentEvent]) -> None:
    """The payment and fee movements of a batch of completions: pending until the
    merchant's delay has passed. One query for the delays and one insert."""
    if not completed:
        return
    delays = await payouts_store.delay_days_of(conn, sorted({c.merchant_id
                                                             for c in completed}))
    items = [NewMovement(m, c.company_id, c.merchant_id, c.livemode, c.at, c.event_id)
             for c in completed
             for m in balances.of_completion(c.data, at=c.at, delay_days=delays[c.merchant_id],
                                             day_seconds=settings.payout_day_seconds)]
    await payouts_store.record(conn, items)


async def record_refund(conn, event: PaymentEvent, delta: int, ledger_tx: str) -> None:
    pending_until = await payouts_store.payment_availability(conn, str(event.data["paymentId"]))
    movement = balances.of_refund(event.data, delta, at=event.at,
                                  payment_available_on=pending_until)
    await payouts_store.record(conn, [NewMovement(movement, event.company_id,
                                                  event.merchant_id, event.livemode,
                                                  event.at, event.event_id, ledger_tx)])


async def record_adjustment(conn, reversal: ledger.Posting, ledger_tx: str, *, company_id: int,
                            merchant_id: int, livemode: bool, at: datetime) -> None:
    """A manual ledger reversal (of a payment, fee or refund) as the movement of the
    balance it makes: out of pending now, and through the next release into available,
    as the movement it undoes would have gone."""
    effect = sum(ln.amount if ln.direction == ledger.DEBIT else -ln.amount
                 for ln in reversal.lines if ln.account.code == ledger.PENDING_CODE)
    if effect == 0:
        return
    # with the funds it corrects: still pending while its payment's are
    pending_until = await payouts_store.payment_availability(conn, reversal.reference_id)
    movement = Movement(type="adjustment", source_id=reversal.reference_id, amount=effect,
                        currency=reversal.currency, description=reversal.description,
                        available_on=max(at, pending_until or at), released=False)
    await payouts_store.record(conn, [NewMovement(movement, company_id, merchant_id, livemode,
                                                  at, ledger_transaction_id=ledger_tx)])


# Fees ------------------------------------------------------------------------------------

class FeesUnavailable(Exception):
    pass


@dataclass(frozen=True)
class FeeAsk:
    merchant_id: int
    amount: int
    currency: str


async def quote_fees(client: InternalClient, asks: list[FeeAsk]) -> list[int]:
    """The PAYOUT charges on each amount, from the fee engine, in one call per 1,000."""
    out: list[int] = []
    for start in range(0, len(asks), 1000):
        chunk = asks[start:start + 1000]
        body = {"quotes": [{"merchantId": a.merchant_id, "amount": str(a.amount),
                            "currency": a.currency, "category": PAYOUT_CATEGORY}
                           for a in chunk]}
        try:
            status, answer = await client.request("fees", "POST", "/internal/quotes/batch",
                                                  json=body)
        except ServiceUnavailable as exc:
            raise FeesUnavailable(str(exc)) from None
        if status != 200:
            raise FeesUnavailable(f"fees answered {status}")
        try:
            batch = QuoteBatch.model_validate(answer)
        except ValidationError:
            raise FeesUnavailable(f"fees answered {status}") from None
        if len(batch.quotes) != len(chunk):
            raise FeesUnavailable(f"fees answered {status}")
        out.extend(q.charges for q in batch.quotes)
    return out


# Create, cancel --------------------------------------------------------------------------

@dataclass(frozen=True)
class Book:
    company_id: int
    merchant_id: int
    livemode: bool


def _movement(kind: MovementType, p: Payout, amount: int, text: str, at: datetime,
              ledger_tx: str | None) -> NewMovement:
    m = Movement(type=kind, source_id=p.payout_id, amount=amount, currency=p.currency,
                 description=text, available_on=at, released=True, rail=p.rail,
                 rail_reference=p.rail_reference)
    return NewMovement(m, p.company_id, p.merchant_id, p.livemode, at,
                       ledger_transaction_id=ledger_tx)


def _emit(work: UnitOfWork, p: Payout, event_type: str) -> None:
    """The payout.* event, in the API's shape (without the timeline: the event is one
    step of it)."""
    data = p.norpay()
    data.pop("timeline")
    work.emit(event_type, data, company_id=str(p.company_id), merchant_id=str(p.merchant_id))


async def create(work: UnitOfWork, settings: Settings, book: Book, *, amount: int,
                 currency: str, fee: int, settlement_account_id: str | None,
                 description: str | None, metadata: dict, automatic: bool,
                 run_key: str | None, now: datetime) -> Payout | None:
    """A pending payout out of the available balance, with its fee; None when the
    scheduled run `run_key` already made its payout."""
    conn = work.conn
    destination = await settlement_accounts_store.payout_destination(
        conn, box(settings), merchant_id=book.merchant_id, currency=currency,
        settlement_account_id=settlement_account_id)
    if destination is None:
        if settlement_account_id is not None:
            raise ApiError(Errors.NOT_FOUND, resource="Settlement account")
        raise ApiError(Errors.NO_SETTLEMENT_ACCOUNT, currency=currency)
    rail = rails.rail_for(destination.type, livemode=book.livemode, settings=settings)
    if rail is None:
        raise ApiError(Errors.PAYOUT_RAIL_LIVE_UNAVAILABLE, type=destination.type)
    supports = getattr(rail, "supports", None)
    if supports is not None and not supports(currency):
        raise ApiError(Errors.VALIDATION, field="currency",
                       detail=f"currency: {rail.name} does not pay out {currency}")
    balance = await payouts_store.lock_balance(conn, merchant_id=book.merchant_id,
                                               livemode=book.livemode, currency=currency)
    if not balance.covers(amount, fee):
        raise ApiError(Errors.PAYOUT_INSUFFICIENT_BALANCE)
    hold = 0.0 if automatic else settings.payout_hold_seconds
    p = Payout(payout_id=new_id("po"), company_id=book.company_id,
               merchant_id=book.merchant_id, livemode=book.livemode, amount=amount, fee=fee,
               currency=currency, status="pending", automatic=automatic,
               settlement_account_id=destination.settlement_account_id,
               rail=rails.RAIL_OF[destination.type], destination=destination.masked(),
               description=description, metadata=metadata,
               submit_after=now + timedelta(seconds=hold), created_at=now, updated_at=now)
    sealed = box(settings).seal(destination.model_dump_json())
    if not await payouts_store.insert_payout(conn, p, run_key=run_key,
                                             destination_sealed=sealed):
        return None
    postings = ledger.payout_created(p.payout_id, currency, amount, fee)
    ids = await ledger_store.post_many(conn, [
        ledger_store.Post(posting, book.company_id, book.merchant_id, at=now,
                          livemode=book.livemode) for posting in postings])
    moves = [_movement("payout", p, -amount, f"Payout {p.payout_id}", now, ids[0])]
    if fee > 0:
        moves.append(_movement("payout_fee", p, -fee, f"Fee of payout {p.payout_id}", now,
                               ids[1]))
    await payouts_store.record(conn, moves)
    _emit(work, p, "payout.created")
    return p


async def create_requested(app: web.Application, book: Book, body: CreatePayout,
                           now: datetime) -> Payout:
    """POST /api/v2/payouts/create: the merchant's own payout of `amount`."""
    settings = app[SETTINGS]
    money = parse_minor_string(body.amount, body.currency)
    currency = get_currency(body.currency).code
    try:
        [fee] = await quote_fees(app[CLIENT], [FeeAsk(book.merchant_id, money.minor, currency)])
    except FeesUnavailable:
        raise ApiError(Errors.UPSTREAM_UNAVAILABLE, service="fees") from None
    async with uow(app) as work:
        p = await create(work, settings, book, amount=money.minor, currency=currency, fee=fee,
                         settlement_account_id=body.settlement_account_id,
                         description=body.description, metadata=body.metadata,
                         automatic=False, run_key=None, now=now)
    assert p is not None  # only a scheduled run can find its payout made
    return p


async def _apply_effect(work: UnitOfWork, before: Payout, after: Payout,
                        effect: LedgerEffect, now: datetime) -> None:
    conn = work.conn
    if effect == "paid":
        [tx] = await ledger_store.post_many(conn, [ledger_store.Post(
            ledger.payout_paid(after.payout_id, after.currency, after.amount),
            after.company_id, after.merchant_id, at=now, livemode=after.livemode)])
    elif effect == "reverse":
        txs = await ledger_store.reverse_references(
            conn, reference_types=["payout", "payout_fee"], reference_id=after.payout_id,
            livemode=after.livemode, at=now)
        text = "canceled" if after.status == "canceled" else "failed"
        moves = [_movement("payout", after, after.amount,
                           f"Payout {after.payout_id} {text}", now, txs[0] if txs else None)]
        if after.fee > 0:
            moves.append(_movement("payout_fee", after, after.fee,
                                   f"Fee of payout {after.payout_id} given back", now,
                                   txs[1] if len(txs) > 1 else None))
        await payouts_store.record(conn, moves)
    elif effect == "return":
        [tx] = await ledger_store.post_many(conn, [ledger_store.Post(
            ledger.payout_returned(after.payout_id, after.currency, after.amount),
            after.company_id, after.merchant_id, at=now, livemode=after.livemode)])
        await payouts_store.record(conn, [_movement(
            "payout", after, after.amount, f"Payout {after.payout_id} returned", now, tx)])


async def cancel(work: UnitOfWork, settings: Settings, p: Payout, now: datetime) -> Payout:
    """A pending payout (locked by the caller) canceled: its funds and fee back."""
    if not p.can_become("canceled"):
        raise ApiError(Errors.PAYOUT_STATE, status=p.status.replace("_", " "),
                       action="canceled")
    after, effect = p.moved("canceled", at=now)
    await payouts_store.update_payout(work.conn, after, note="Canceled by the merchant")
    await _apply_effect(work, p, after, effect, now)
    _emit(work, after, "payout.canceled")
    return after


async def apply_answer(work: UnitOfWork, settings: Settings, p: Payout,
                       answer: rails.RailAnswer, now: datetime) -> Payout:
    """The rail's word on a payout (locked by the caller): its status, postings and
    event, or nothing when the answer changes nothing."""
    grace = settings.payout_status_check_seconds
    moved = p.after_answer(answer, at=now, check_grace=grace)
    if moved is None:
        # Nothing happened yet (asked too early, a return still to come): ask again later.
        await payouts_store.set_next_check(work.conn, p.payout_id,
                                           p.next_check(answer, at=now, check_grace=grace))
        return p
    after, effect = moved
    await payouts_store.update_payout(work.conn, after, note=answer.failure_reason)
    await _apply_effect(work, p, after, effect, now)
    if after.status in EVENT_OF:
        _emit(work, after, EVENT_OF[after.status])
    return after


# The rail ---------------------------------------------------------------------------------

def _instruction(p: Payout, destination: rails.Destination) -> rails.PayoutInstruction:
    return rails.PayoutInstruction(payout_id=p.payout_id, amount=p.amount, currency=p.currency,
                                   livemode=p.livemode, destination=destination)


async def _route(conn, settings: Settings, p: Payout) \
        -> tuple[rails.Destination, rails.PayoutRail | None]:
    """Where the payout goes (the account as it was when the payout was made: a later
    change or removal of the account never redirects money already on its way) and the
    rail that takes it."""
    sealed = await payouts_store.destination_sealed(conn, p.payout_id)
    destination = rails.Destination.model_validate_json(box(settings).open(sealed))
    return destination, rails.rail_for(destination.type, livemode=p.livemode,
                                       settings=settings)


def _refused(code: str, reason: str) -> rails.RailAnswer:
    return rails.RailAnswer(status="failed", failure_code=code, failure_reason=reason)


async def submit(app: web.Application, payout_id: str, now: datetime) -> Payout | None:
    """Sends a pending payout to its rail (None when another replica has it)."""
    settings = app[SETTINGS]
    async with uow(app) as work:
        p = await payouts_store.lock_pending(work.conn, payout_id)
        if p is None:
            return None
        destination, rail = await _route(work.conn, settings, p)
        if rail is None:
            answer = _refused("no_rail", "No payout rail is configured for this mode")
        else:
            answer = await rail.send(_instruction(p, destination))
        p = await apply_answer(work, settings, p, answer, now)
    if answer.callback_after is not None and p.status == "in_transit":
        _call_back_later(app, p.payout_id, answer.callback_after)
    return p


def _call_back_later(app: web.Application, payout_id: str, delay: float) -> None:
    """The sandbox rail's callback, as the ECOCASH pay-in sandbox makes it."""
    task = asyncio.create_task(_call_back(app, payout_id, delay))
    tasks = app[TASKS]
    tasks.add(task)
    task.add_done_callback(tasks.discard)


CALLBACKS_AT_ONCE = 32  # a daily run of 10,000 payouts calls back 10,000 times at once


async def _call_back(app: web.Application, payout_id: str, delay: float) -> None:
    """Over the service's own long-lived client (one session, closed with the app; a
    session per callback was 10,000 sessions for a daily run)."""
    await asyncio.sleep(delay)
    async with app[CALLBACK_GATE]:
        try:
            status, _ = await app[CLIENT].request(
                "billing", "POST", sandbox_rails.PAYOUT_CALLBACK_PATH,
                json={"payoutId": payout_id})
            if status != 200:
                log.warning("payout_callback_refused", status=status, payout_id=payout_id)
        except ServiceUnavailable as exc:  # the tick asks the rail later
            log.warning("payout_callback_failed", payout_id=payout_id, error=str(exc))


async def rail_called_back(app: web.Application, payout_id: str, now: datetime) -> Payout:
    """The rail's callback, or the tick asking about a payout with no answer: what the
    rail says now, applied."""
    settings = app[SETTINGS]
    async with uow(app) as work:
        p = await payouts_store.payout(work.conn, payout_id, company_id=None,
                                       merchant_id=None, livemode=None, for_update=True)
        if p is None:
            raise ApiError(Errors.NOT_FOUND, resource="Payout")
        if p.status not in ("in_transit", "paid") or p.rail_reference is None \
                or p.in_transit_at is None:
            return p
        destination, rail = await _route(work.conn, settings, p)
        if rail is None:  # no rail of its mode any more: asked again later
            await payouts_store.set_next_check(work.conn, p.payout_id, now + timedelta(
                seconds=settings.payout_status_check_seconds))
            return p
        answer = await rail.status(_instruction(p, destination),
                                   rail_reference=p.rail_reference, sent_at=p.in_transit_at,
                                   paid_at=p.paid_at, now=now)
        after = await apply_answer(work, settings, p, answer, now)
    if answer.callback_after is not None and after.status in ("in_transit", "paid"):
        _call_back_later(app, payout_id, answer.callback_after)
    return after


# The payouts tick's steps -----------------------------------------------------------------

RELEASE_BATCH = 5000
SCHEDULE_BATCH = 500


async def release_due(app: web.Application, now: datetime) -> int:
    """Moves what became available from pending to available: one posting per book
    and batch. Returns how many movements were released."""
    released = 0
    while True:
        async with uow(app) as work:
            due = await payouts_store.take_due(work.conn, now, RELEASE_BATCH)
            if not due:
                return released
            posts = []
            for d in due:
                posting = ledger.release(d.currency, d.net, new_id("rel"))
                if posting is not None:
                    posts.append(ledger_store.Post(posting, d.company_id, d.merchant_id,
                                                   at=now, livemode=d.livemode))
            await ledger_store.post_many(work.conn, posts)
            ids = [i for d in due for i in d.ids]
            await payouts_store.mark_released(work.conn, ids)
            released += len(ids)
        if len(ids) < RELEASE_BATCH:
            return released


async def run_schedules(app: web.Application, now: datetime, *, concurrency: int = 8) -> int:
    """The automatic payouts of every schedule that is due: all that is available in
    each book of a positive balance (less its fee), to the currency's default account.
    Returns how many payouts were made."""
    made = 0
    seen: set[int] = set()
    while True:
        async with app[POOL].acquire() as conn:
            due = [d for d in await payouts_store.due_schedules(conn, now, SCHEDULE_BATCH)
                   if d.merchant_id not in seen]
            if not due:
                return made
            books = await payouts_store.available_books(conn, [d.merchant_id for d in due])
        seen.update(d.merchant_id for d in due)
        schedule_of = {d.merchant_id: d for d in due}
        wanted = [b for b in books if not b.livemode or rails.LIVE]
        try:
            gross = await quote_fees(app[CLIENT], [FeeAsk(b.merchant_id, b.available, b.currency)
                                                   for b in wanted])
        except FeesUnavailable as exc:
            log.warning("payout_schedules_fees_unavailable", error=str(exc))
            return made  # schedules stay due: the next tick runs them
        plans: dict[int, list[tuple[payouts_store.Book, int]]] = {}
        for b, fee in zip(wanted, gross, strict=True):
            minimum = schedule_of[b.merchant_id].schedule.minimum_amount
            take = balances.Balance(currency=b.currency, available=b.available) \
                .automatic_amount(minimum)
            if take is not None and take - fee > 0:
                plans.setdefault(b.merchant_id, []).append((b, take - fee))
        flat = [(m, b, amt) for m, items in plans.items() for b, amt in items]
        try:
            fees = await quote_fees(app[CLIENT], [FeeAsk(m, amt, b.currency)
                                                  for m, b, amt in flat])
        except FeesUnavailable as exc:
            log.warning("payout_schedules_fees_unavailable", error=str(exc))
            return made
        fee_of = {(m, b.livemode, b.currency): f for (m, b, _), f in zip(flat, fees, strict=True)}
        gate = asyncio.Semaphore(concurrency)
        runs = await asyncio.gather(*(
            _run_schedule(app, gate, d, plans.get(d.merchant_id, []), fee_of, now)
            for d in due), return_exceptions=True)
        for d, run in zip(due, runs, strict=True):
            if isinstance(run, BaseException):  # that merchant's run waits; others go on
                log.error("payout_schedule_failed", merchant_id=d.merchant_id,
                          error=repr(run))
            else:
                made += run
        if len(due) < SCHEDULE_BATCH:
            return made


async def _run_schedule(app: web.Application, gate: asyncio.Semaphore,
                        d: payouts_store.DueSchedule,
                        plan: list[tuple[payouts_store.Book, int]],
                        fee_of: dict[tuple[int, bool, str], int], now: datetime) -> int:
    """One merchant's run (several at once, `gate` bounding how many): its books'
    payouts and its schedule moved on, in one transaction."""
    settings, made = app[SETTINGS], 0
    async with gate, uow(app) as work:
        for b, amount in plan:
            run_key = f"{b.merchant_id}:{int(b.livemode)}:{b.currency}:{epoch(d.run_at)}"
            try:
                async with work.conn.transaction():
                    p = await create(work, settings, Book(b.company_id, b.merchant_id,
                                                          b.livemode),
                                     amount=amount, currency=b.currency,
                                     fee=fee_of[(b.merchant_id, b.livemode, b.currency)],
                                     settlement_account_id=None,
                                     description="Automatic payout", metadata={},
                                     automatic=True, run_key=run_key, now=now)
                    made += p is not None
            except ApiError as exc:
                # No default account for the currency, funds spent meanwhile, no live
                # rail: this run pays nothing from that book; the next one tries again.
                log.info("automatic_payout_skipped", merchant_id=b.merchant_id,
                         currency=b.currency, livemode=b.livemode, reason=exc.code)
        next_run = d.schedule.next_run(max(now, d.run_at),
                                       day_seconds=settings.payout_day_seconds)
        await payouts_store.set_next_run(work.conn, d.merchant_id, next_run, d.run_at)
    return made


async def submit_due(app: web.Application, now: datetime, *, concurrency: int = 8) -> int:
    """Sends the pending payouts whose hold is over, each at most once a round, several
    at a time (each in its own transaction, its row locked)."""
    sent, seen = 0, set[str]()
    gate = asyncio.Semaphore(concurrency)

    async def one(payout_id: str) -> bool:
        async with gate:
            try:
                return await submit(app, payout_id, now) is not None
            except Exception:  # one payout's trouble never holds up the others
                log.exception("payout_submit_failed", payout_id=payout_id)
                return False

    while True:
        async with app[POOL].acquire() as conn:
            ids = [i for i in await payouts_store.to_submit(conn, now, 500) if i not in seen]
        if not ids:
            return sent
        seen.update(ids)
        sent += sum(await asyncio.gather(*(one(i) for i in ids)))


async def ask_unanswered(app: web.Application, now: datetime) -> int:
    """Payouts whose rail's callback is overdue by NORGATE_PAYOUT_STATUS_CHECK_SECONDS
    (in transit, or paid with a return to come): a callback was lost (a restart, the
    network), so the rail is asked."""
    async with app[POOL].acquire() as conn:
        ids = await payouts_store.unanswered(conn, now, 1000)
    for payout_id in ids:
        try:
            await rail_called_back(app, payout_id, now)
        except Exception:  # asked again at the next round; the others go on
            log.exception("payout_status_check_failed", payout_id=payout_id)
    return len(ids)
