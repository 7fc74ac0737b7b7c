"""The one interface of a payment rail, for money in and money out.

A rail (VISA_MASTER, OMARI, ECOCASH, ZIMSWITCH, INNBUCKS, NOR_WALLET) is one object:
checkout charges a payer through its money-in methods, billing pays a merchant through
its money-out ones. Both directions share the rail's name, its rules (an account or a
phone ending 0001 is refused either way) and its mode: the sandbox rails serve test
mode only (shared/rails/sandbox.py), live mode only rails an operator configured
(registry.LIVE; none ships with norgate).

Money in (checkout, services/checkout/connectors.py):

    decided(payment, details)  the outcome when the rail decides from the details alone,
                               with no effect anywhere; None when it must charge (`start`)
    start(conn, payment, d.)   charge: completed, failed, or processing (an action the
                               payer must still take, or a callback to come)
    act(payment, answer)       the payer's answer to the pending action (OTP, 3-D Secure)
    called_back(payment)       what an asynchronous rail reports when it calls back

`decided` runs before the payment is locked, once per concurrent confirm, so it must
never reach outside the process: a rail that calls a real network returns None there
and charges in `start`, under the lock.

Money out (billing, services/billing/payouts.py):

    supports(currency)         whether the rail pays that currency out
    send(instruction)          the rail takes the payout: in_transit (with its reference),
                               paid at once, or refused: failed
    ... the rail calls back    (callback_after seconds later)
    status(instruction, ...)   what the rail says now: in_transit, paid, or failed; a paid
                               payout the bank sends back later is `returned` (failed)

`send` must be idempotent by payout id: a payout is sent again when the answer to the
first send was lost, and the rail must then answer about the payout it already has,
never pay it twice. `status` is what a callback reports and what the payouts tick asks
when a callback is late, so a lost callback never leaves a payout in transit for ever.

`pays_in` / `pays_out` say which directions a rail serves (cards and the NOR wallet pay
in only); the methods of the other direction refuse (RuntimeError): callers choose a
rail through the registry, which never hands one out for a direction it lacks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable

import asyncpg
from pydantic import BaseModel, ConfigDict, Field

# The reason a rail gives when the payer's funds do not cover the payment: checkout
# answers it with its own error (insufficient_balance), every other failure alike.
INSUFFICIENT = "Insufficient balance"


# Money in ----------------------------------------------------------------------------

class PaymentRow(Protocol):
    """A payment as the rail reads it (checkout's row: payment_id, livemode, currency,
    amount, pending_action, phone_number, payment_method, ...)."""

    def __getitem__(self, key: str, /) -> Any: ...


class CardDetails(Protocol):
    @property
    def number(self) -> str: ...
    @property
    def exp_month(self) -> int: ...
    @property
    def exp_year(self) -> int: ...


class PayInDetails(Protocol):
    """What the payer gave to pay with (checkout's ConfirmPayment)."""

    @property
    def payment_method(self) -> str: ...
    @property
    def card(self) -> CardDetails | None: ...
    @property
    def payer(self) -> str | None: ...  # a NOR wallet address
    @property
    def phone_number(self) -> str | None: ...
    @property
    def account(self) -> str | None: ...


class PayerAnswer(Protocol):
    """The payer's answer to a pending action (checkout's PaymentAction)."""

    @property
    def otp(self) -> str | None: ...
    @property
    def three_d_secure(self) -> str | None: ...


class BadPaymentDetails(ValueError):
    """Details the rail cannot pay with: a 400 naming `field`."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


@dataclass
class Outcome:
    """A rail's word on a payment."""
    status: str  # completed | failed | processing
    reason: str | None = None
    action: str | None = None  # what the payer must still do: 3ds | otp | phone_prompt
    facts: dict[str, Any] = field(default_factory=dict)  # payer, transaction_hash, ...
    callback_after: float | None = None  # an asynchronous rail will call back


# Money out ---------------------------------------------------------------------------

DestinationType = Literal["BANK", "ECOCASH", "OMARI", "INNBUCKS"]
# The rail each settlement account type is paid over.
RAIL_OF: dict[str, str] = {"BANK": "ZIMSWITCH", "ECOCASH": "ECOCASH", "OMARI": "OMARI",
                           "INNBUCKS": "INNBUCKS"}


class Destination(BaseModel):
    """Where a payout goes: a settlement account with its number in clear. Made only
    to hand to a rail; never logged, stored or rendered (masked() is)."""
    model_config = ConfigDict(frozen=True)

    settlement_account_id: str
    type: DestinationType
    currency: str
    number: str = Field(repr=False)  # account number, or the wallet's phone (263...)
    account_name: str | None = None
    bank_name: str | None = None
    branch_code: str | None = None

    def masked(self) -> dict[str, str | None]:
        """What a payout shows of its destination (last four only)."""
        return {"settlementAccountId": self.settlement_account_id, "type": self.type,
                "last4": self.number[-4:], "accountName": self.account_name,
                "bankName": self.bank_name}


class PayoutInstruction(BaseModel):
    """What a rail is asked to pay."""
    model_config = ConfigDict(frozen=True)

    payout_id: str
    amount: int = Field(gt=0)  # minor units
    currency: str
    livemode: bool
    destination: Destination


class RailAnswer(BaseModel):
    """A rail's word on a payout."""
    model_config = ConfigDict(frozen=True)

    status: Literal["in_transit", "paid", "failed"]
    rail_reference: str | None = None
    failure_code: str | None = None      # account_closed, returned, ...
    failure_reason: str | None = None    # for people: "Account closed"
    returned: bool = False               # failed after having been paid
    callback_after: float | None = None  # seconds until the rail calls back


# The rail ----------------------------------------------------------------------------

@runtime_checkable
class Rail(Protocol):
    """One rail, both directions (the module docstring says what each method does)."""

    name: str
    pays_in: bool
    pays_out: bool

    # Money in.
    def decided(self, payment: PaymentRow, details: PayInDetails) -> Outcome | None: ...

    async def start(self, conn: asyncpg.Connection, payment: PaymentRow,
                    details: PayInDetails) -> Outcome: ...

    def act(self, payment: PaymentRow, answer: PayerAnswer) -> Outcome: ...

    def called_back(self, payment: PaymentRow) -> Outcome: ...

    # Money out.
    def supports(self, currency: str) -> bool: ...

    async def send(self, instruction: PayoutInstruction) -> RailAnswer: ...

    async def status(self, instruction: PayoutInstruction, *, rail_reference: str,
                     sent_at: datetime, paid_at: datetime | None,
                     now: datetime) -> RailAnswer: ...


# The methods of each direction, by name: what a rail claiming it must implement.
PAY_IN_METHODS: tuple[str, ...] = ("decided", "start", "act", "called_back")
PAY_OUT_METHODS: tuple[str, ...] = ("supports", "send", "status")
