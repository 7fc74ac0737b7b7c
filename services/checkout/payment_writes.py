"""The store adapter the payment use cases write through: one interface, two
strategies.

- `Locked(work)`: inside the caller's unit of work (its transaction, the events it
  emitted), the payment row locked `FOR UPDATE` before it is decided on. Every step
  but the API's confirm, and that one when it must.
- `Shared(pool, relay)`: a whole unit of work per call, and calls that arrive together
  share one statement, one round trip and one commit: public creates (store.
  insert_payments), reads by id, and the API's confirm whose rail decides from the
  details alone, written only if the payment is still as it was read
  (store.transitions_if_unchanged: no lock). A step it cannot take so raises NeedsLock,
  and the caller runs the same use case again with `Locked`.

A status only moves forward, so what the checks refuse on the row as read they would
refuse locked.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import asyncpg

from services.checkout import connectors, store
from services.checkout.domain import ConfirmPayment, Payment
from shared.aio import Coalescer
from shared.db import database_gone
from shared.events import Event, OutboxRelay, UnitOfWork


class NeedsLock(Exception):
    """The shared strategy cannot take this step: run it again with `Locked`."""


class PaymentWrites(Protocol):
    """What a use case asks of the store."""

    async def add(self, payment: dict[str, Any], event: Event) -> Payment:
        """A new pending payment (store.PAYMENT_COLUMNS) with its event."""

    async def held(self, payment: Payment) -> Payment:
        """The payment as it is now, safe to decide on."""

    async def charge(self, payment: Payment, body: ConfirmPayment) -> connectors.Outcome:
        """The rail's outcome for a confirm."""

    async def transition(self, payment: Payment, changes: Mapping[str, Any], status: str,
                         detail: dict[str, Any], event: Event) -> Payment:
        """A status change (`status`: its history row's) with its history row and its
        event."""

    async def update(self, payment: Payment, changes: Mapping[str, Any]) -> Payment:
        """Column changes with no status change, no event."""

    async def add_refund(self, payment: Payment, refund_id: str, amount: int,
                         reason: str | None) -> asyncpg.Record:
        """A refund of `amount` of the payment (its row)."""


class Locked:
    """Inside `work`'s transaction. `already_held`: the caller read the payment FOR
    UPDATE itself."""

    def __init__(self, work: UnitOfWork, *, already_held: bool = False) -> None:
        self.work = work
        self._held = already_held

    async def add(self, payment: dict[str, Any], event: Event) -> Payment:
        self.work.emit(event.type, event.data, company_id=event.company_id,
                       merchant_id=event.merchant_id, event_id=event.id)
        [made] = await store.insert_payments(self.work.conn, [payment],
                                             self.work.take_unwritten())
        return made

    async def held(self, payment: Payment) -> Payment:
        if self._held:
            self._held = False  # once: a second step reads it again
            return payment
        return await store.payment_by_pk_for_update(self.work.conn, payment.id)

    async def charge(self, payment: Payment, body: ConfirmPayment) -> connectors.Outcome:
        return await connectors.start(self.work.conn, payment, body)

    async def transition(self, payment: Payment, changes: Mapping[str, Any], status: str,
                         detail: dict[str, Any], event: Event) -> Payment:
        # Emitted first, so the update's statement carries its outbox row.
        self.work.emit(event.type, event.data, company_id=event.company_id,
                       merchant_id=event.merchant_id, event_id=event.id)
        return await store.transition_payment(self.work, payment.id, changes, status, detail)

    async def update(self, payment: Payment, changes: Mapping[str, Any]) -> Payment:
        return await store.update_payment(self.work.conn, payment.id, changes)

    async def add_refund(self, payment: Payment, refund_id: str, amount: int,
                         reason: str | None) -> asyncpg.Record:
        return await store.add_refund(self.work.conn, refund_id=refund_id, pk=payment.id,
                                      amount=amount, reason=reason)


class Shared:
    """Calls that arrive together, written together (shared.aio.Coalescer). A lost
    connection fails every call of its batch (a 503: it may have committed); any other
    failure is a row the database refused, and the others are written again one by
    one, so only the bad one fails."""

    def __init__(self, pool: asyncpg.Pool, relay: OutboxRelay | None = None) -> None:
        self._pool = pool
        self._relay = relay
        alone = lambda exc: not database_gone(exc)  # noqa: E731
        self._adds: Coalescer[tuple[dict[str, Any], Event], Payment] = Coalescer(
            self._insert, alone_on=alone)
        self._reads: Coalescer[str, Payment | None] = Coalescer(self._read)
        # A payment appears once in a batch (one UPDATE cannot change a row twice).
        # (payment as read, changes, history detail, event)
        self._changes: Coalescer[_Change, Payment | None] = Coalescer(
            self._write, key=lambda item: item[0]["id"], alone_on=alone)

    async def add(self, payment: dict[str, Any], event: Event) -> Payment:
        return await self._adds.submit((payment, event))

    async def payment(self, payment_id: str) -> Payment | None:
        """The payment in any scope (the caller checks it), or None; read with the
        others that arrive together, each read started after its request arrived."""
        return await self._reads.submit(payment_id)

    async def held(self, payment: Payment) -> Payment:
        return payment  # as read: the write checks it is still so

    async def charge(self, payment: Payment, body: ConfirmPayment) -> connectors.Outcome:
        outcome = connectors.decided(payment, body)
        if outcome is None:  # the rail needs the database (the NOR wallet)
            raise NeedsLock()
        return outcome

    async def transition(self, payment: Payment, changes: Mapping[str, Any], status: str,
                         detail: dict[str, Any], event: Event) -> Payment:
        if status != changes.get("status") or not set(changes) - {"status"} \
                <= store.CHANGE_TYPES.keys():
            raise NeedsLock()
        updated = await self._changes.submit((payment, changes, detail, event))
        if updated is None:  # it changed since it was read
            raise NeedsLock()
        return updated

    async def update(self, payment: Payment, changes: Mapping[str, Any]) -> Payment:
        raise NeedsLock()

    async def add_refund(self, payment: Payment, refund_id: str, amount: int,
                         reason: str | None) -> asyncpg.Record:
        raise NeedsLock()  # a refund is decided on the payment locked

    async def _insert(self, items: list[tuple[dict[str, Any], Event]]) -> list[Payment]:
        async with self._pool.acquire() as conn:
            rows = await store.insert_payments(conn, [p for p, _ in items],
                                               [e for _, e in items])
        if self._relay is not None:
            self._relay.wake()
        return rows

    async def _read(self, payment_ids: list[str]) -> list[Payment | None]:
        async with self._pool.acquire() as conn:
            found = await store.payments_by_id(conn, sorted(set(payment_ids)))
        return [found.get(payment_id) for payment_id in payment_ids]

    async def _write(self, items: list[_Change]) -> list[Payment | None]:
        async with self._pool.acquire() as conn:
            rows = await store.transitions_if_unchanged(conn, items)
        if self._relay is not None and any(row is not None for row in rows):
            self._relay.wake()
        return rows


_Change = tuple[Mapping[str, Any], Mapping[str, Any], dict[str, Any], Event]
