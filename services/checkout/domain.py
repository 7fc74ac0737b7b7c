"""The Payment aggregate's rules: its state machine, ids and request bodies.

    pending ──confirm──▶ completed | failed            (a rail that answers at once)
    pending ──confirm──▶ processing ──▶ completed | failed
                         (3-D Secure, OTP, phone prompt, or an asynchronous rail)
    pending | processing ──cancel──▶ canceled
    pending ──session ended (expiry sweep)──▶ canceled  (cancellation_reason "expired")
    completed ──refund (all of it)──▶ refunded         (partial refunds stay completed)
    pending | processing ──declined on a checkout page──▶ pending   (an attempt; retry)
A decline the shopper met on a checkout page (hosted, NORAH, embedded) is an attempt,
not the end: the payment goes back to pending, the page offers every method again, and
the attempt is in the timeline (`attempt_failed`) and sent as `payment.attempt_failed`,
until the session ends or MAX_FAILED_ATTEMPTS declines (card testing), when the last one
fails the payment. A merchant's own confirm through the API fails at the first decline,
as the specs say: the merchant's server decides what comes next.
A pending payment past `expires_at` cannot be confirmed ("Payment session expired"); the
expiry sweep then cancels it (`cancellation_reason` "expired"), and it still answers so.
NORAH shows the same statuses upper-case (PENDING, ..., CANCELLED).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, field_validator

from shared.ids import record_id
from shared.money import MinorInput, Money, parse_major

Status = Literal["pending", "processing", "completed", "failed", "canceled", "refunded"]
TRANSITIONS: dict[str, frozenset[str]] = {
    "pending": frozenset({"processing", "completed", "failed", "canceled"}),
    "processing": frozenset({"completed", "failed", "canceled"}),
    "completed": frozenset({"refunded"}),
    "failed": frozenset(),
    "canceled": frozenset(),
    "refunded": frozenset(),
}
NORAH_STATUS = {"pending": "PENDING", "processing": "PROCESSING", "completed": "COMPLETED",
                "failed": "FAILED", "canceled": "CANCELLED", "refunded": "REFUNDED"}
SESSION_TTL = timedelta(hours=1)  # a session's length when the create names no expiresAt
# What a public create may ask for: long enough to pay, short enough that a forgotten
# link does not hold a price or stock for days (invoices' links use the internal route).
SESSION_MIN = timedelta(minutes=5)
SESSION_MAX = timedelta(hours=24)
EXPIRED = "expired"  # cancellation_reason of a payment the expiry sweep canceled
METHODS = ("VISA_MASTER", "ZIMSWITCH", "OMARI", "INNBUCKS", "ECOCASH", "NOR_WALLET")


class InvalidTransition(Exception):
    def __init__(self, current: str, target: str):
        super().__init__(f"a {current} payment cannot become {target}")
        self.current, self.target = current, target


def check_transition(current: str, target: str) -> None:
    if target not in TRANSITIONS[current]:
        raise InvalidTransition(current, target)


# Domain errors: a payment's rule refused a step. Not HTTP: each API family and the
# pages map them at their edge (services/checkout/errors.py).

class PaymentRefused(Exception):
    """A step the payment's rules do not allow."""


class SessionExpired(PaymentRefused):
    def __init__(self) -> None:
        super().__init__("Payment session expired")


class WrongState(PaymentRefused):
    """`action` ("confirmed", "authenticated", "canceled", "refunded") is not a step a
    payment in `status` takes."""

    def __init__(self, status: str, action: str) -> None:
        super().__init__(f"A {status} payment cannot be {action}")
        self.status, self.action = status, action


class MethodNotEnabled(PaymentRefused):
    def __init__(self, method: str) -> None:
        super().__init__(f"Payment method {method} is not enabled for this merchant")
        self.method = method


class MethodUnavailableLive(PaymentRefused):
    def __init__(self, method: str) -> None:
        super().__init__(f"Payment method {method} is not available in live mode")
        self.method = method


class RefundTooLarge(PaymentRefused):
    def __init__(self, left: int) -> None:
        super().__init__(f"amount: at most {left} is left to refund")
        self.left = left


# Metadata keys our own flows set (a price's, an invoice's or a subscription's payment,
# a NORAH token): a merchant's or a browser's create may not, so nothing downstream can
# be told a payment is one it is not. (Consumers also check the payment's origin.)
RESERVED_METADATA = frozenset({"priceId", "appId", "invoiceId", "subscriptionId",
                               "tokenJti", "widget"})


class SessionEndOutOfRange(ValueError):
    """A public create's expiresAt outside SESSION_MIN..SESSION_MAX from now."""


def session_end(requested: int, now: datetime) -> datetime:
    """When a public create's session ends, asked as `expiresAt` (Unix seconds): between
    SESSION_MIN and SESSION_MAX after `now`. Compared as seconds, so no value, however
    large, overflows a datetime."""
    start = int(now.timestamp())
    if not start + SESSION_MIN.total_seconds() <= requested \
            <= start + SESSION_MAX.total_seconds():
        raise SessionEndOutOfRange(
            "expiresAt: must be between 5 minutes and 24 hours from now "
            f"(Unix seconds, {start + int(SESSION_MIN.total_seconds())} to "
            f"{start + int(SESSION_MAX.total_seconds())})")
    return datetime.fromtimestamp(requested, UTC)


def expired(row: Mapping[str, Any], now: datetime) -> bool:
    """Whether the payment's session is over: pending past `expires_at`, or canceled by
    the expiry sweep for that (so a late confirm or page load says so either way)."""
    if row["status"] == "pending":
        return bool(row["expires_at"] <= now)
    return bool(row["status"] == "canceled" and row["cancellation_reason"] == EXPIRED)


MAX_FAILED_ATTEMPTS = 5  # declines a checkout page takes before the payment fails


def may_retry(row: Mapping[str, Any], now: datetime) -> bool:
    """Whether a decline on a checkout page leaves the shopper another attempt: the
    session still open and fewer than MAX_FAILED_ATTEMPTS declines with this one."""
    return bool(row["status"] in ("pending", "processing") and row["expires_at"] > now
                and row["failed_attempts"] + 1 < MAX_FAILED_ATTEMPTS)


def attempts_left(row: Mapping[str, Any]) -> int:
    return max(0, MAX_FAILED_ATTEMPTS - int(row["failed_attempts"]))


def check_public_metadata(metadata: dict[str, Any]) -> None:
    reserved = sorted(RESERVED_METADATA & set(metadata))
    if reserved:
        raise ValueError(f"metadata.{reserved[0]} is set by norgate itself")


def price_part(price: Mapping[str, Any], name: str) -> Money:
    """A figure of a price's `price_item` (major units, as the Prices API writes them) as
    Money of the price's currency; `amount_total` is what its checkout charges."""
    return parse_major(Decimal(str(price["price_item"][name])), price["currency"],
                       allow_zero=True)


def offers(payment: Mapping[str, Any], method: str) -> bool:
    """Whether the payment's merchant takes `method` (its account's paymentMethods when
    the payment was made; every method when it named none)."""
    return payment["methods"] is None or method in payment["methods"]


# A checkout page's order when the merchant names none: cards first, as shoppers expect.
PAGE_ORDER = ("VISA_MASTER", "NOR_WALLET", "ECOCASH", "OMARI", "ZIMSWITCH", "INNBUCKS")


def page_methods(accepted: list[str] | None, currency: str,
                 available: frozenset[str] | set[str]) -> list[str]:
    """The methods a checkout page offers, in the order it shows them: the merchant's
    paymentMethods in the merchant's order (its first is its preferred), else PAGE_ORDER;
    only those a rail serves in the payment's mode; the NOR wallet for NOR only."""
    order = accepted if accepted is not None else PAGE_ORDER
    return [m for m in dict.fromkeys(order)
            if m in available and (m != "NOR_WALLET" or currency == "NOR")]


def new_payment_id() -> str:
    return "pay_" + record_id(24)


def new_refund_id() -> str:
    return "re_" + record_id(24)


def _url(value: str | None) -> str | None:
    if value and not re.match(r"^https?://[^\s/]+\S*$", value):
        raise ValueError("must be an http:// or https:// URL")
    return value or None


class PaymentIntent(BaseModel):
    """What every create names: amount in minor units (wei for NOR), currency, and the
    merchant's description and metadata; a public create may name when its session ends
    (`expiresAt`, checked against the clock by session_end)."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    amount: MinorInput
    currency: str = Field(min_length=2, max_length=5)
    description: str | None = Field(default=None, max_length=1000)
    metadata: dict[str, Any] = Field(default_factory=dict, max_length=50)
    expires_at: Annotated[int | None, WithJsonSchema({
        "anyOf": [{"type": "string", "pattern": "^[0-9]{1,12}$"},
                  {"type": "integer", "minimum": 0}, {"type": "null"}],
        "description": "When the session ends (Unix seconds), 5 minutes to 24 hours "
                       "from now; one hour when absent"})] = Field(default=None,
                                                                alias="expiresAt")

    @field_validator("expires_at", mode="before")
    @classmethod
    def _unix_seconds(cls, value: object) -> object:
        # As the answer writes it ("1640998800"), or a JSON integer as `amount` takes
        # one; never true/false or a fraction, which lax int parsing would let through.
        if value is None or (isinstance(value, int) and not isinstance(value, bool)
                             and value >= 0):
            return value
        if isinstance(value, str) and re.fullmatch(r"[0-9]{1,12}", value):
            return int(value)
        raise ValueError('must be Unix seconds: a string of digits ("1640998800") or a '
                         "whole number")


class CreatePayment(PaymentIntent):
    """NorPay `POST /api/v2/payments/create`."""

    success_url: str | None = Field(default=None, alias="successUrl", max_length=2000)
    cancel_url: str | None = Field(default=None, alias="cancelUrl", max_length=2000)

    @field_validator("success_url", "cancel_url")
    @classmethod
    def _urls(cls, value: str | None) -> str | None:
        return _url(value)


class Card(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    number: str = Field(min_length=12, max_length=23)
    exp_month: int = Field(alias="expMonth", ge=1, le=12)
    exp_year: int = Field(alias="expYear", ge=2000, le=2100)
    cvc: str = Field(pattern=r"^[0-9]{3,4}$")


class ConfirmPayment(BaseModel):
    """NorPay `POST /api/v2/payments/{id}/confirm`: the method and what it needs."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    payment_method: Literal["VISA_MASTER", "ZIMSWITCH", "OMARI", "INNBUCKS", "ECOCASH",
                            "NOR_WALLET"] = Field(default="NOR_WALLET", alias="paymentMethod")
    card: Card | None = None
    payer: str | None = Field(default=None, max_length=100)  # NOR wallet address
    phone_number: str | None = Field(default=None, alias="phoneNumber",
                                     pattern=r"^\+?[0-9]{9,15}$")
    account: str | None = Field(default=None, max_length=40)  # ZIMSWITCH / INNBUCKS


class PaymentAction(BaseModel):
    """Completes a step a rail asked for: an OMARI OTP or a 3-D Secure answer."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    otp: str | None = Field(default=None, pattern=r"^[0-9]{4,8}$")
    three_d_secure: Literal["pass", "fail"] | None = Field(default=None, alias="threeDSecure")


class RefundPayment(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    amount: MinorInput | None = None  # minor units; all that is left when absent
    reason: str | None = Field(default=None, max_length=500)


# The Payment --------------------------------------------------------------------

def units(value: int | Decimal | None) -> str | None:
    """A NUMERIC(78,0) amount as a plain integer string (no exponent, as wei need)."""
    return None if value is None else str(int(value))


EVENT_OF = {"processing": "payment.processing", "completed": "payment.completed",
            "failed": "payment.failed", "canceled": "payment.canceled",
            "refunded": "payment.refunded"}
ATTEMPT_FAILED = "payment.attempt_failed"  # a checkout page's declined attempt (retryable)
Amount = int | Decimal  # NUMERIC(78,0): Decimal as read, int as the code makes it


@dataclass(frozen=True, slots=True, eq=False)
class Payment(Mapping[str, Any]):
    """A payment: the one statement of its shape (a `payments` row, every column; the
    store builds it from `SELECT *` and derives its statements from these fields), its
    rules and its event payload. No I/O: a refused step raises a PaymentRefused.

    Also a read-only mapping of column to value (`payment["status"]`), as the
    templates, the rails (shared/rails PaymentRow) and the answers read it; two are
    equal when their columns are."""

    id: int
    payment_id: str
    trace: uuid.UUID
    company_id: int
    merchant_id: int
    origin: str
    amount: Amount
    currency: str
    description: str | None
    metadata: dict[str, Any]
    success_url: str | None
    cancel_url: str | None
    status: str
    payment_method: str | None
    pending_action: str | None
    payer: str | None
    transaction_hash: str | None
    card_brand: str | None
    card_last4: str | None
    phone_number: str | None
    failure_reason: str | None
    quote: dict[str, Any] | None
    charges: Amount | None
    net_amount: Amount | None
    refunded_amount: Amount
    expires_at: datetime
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None
    canceled_at: datetime | None
    merchant_name: str | None
    methods: list[str] | None
    cancellation_reason: str | None
    livemode: bool
    failed_attempts: int

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> Payment:
        """From a `SELECT *` row: a column the model does not name (or a missing one)
        fails here, so the table and the model cannot drift apart silently."""
        if isinstance(row, Payment):
            return row
        if not isinstance(row, dict) and tuple(row.keys()) == COLUMNS:
            # An asyncpg Record whose columns are the model's, in its order: by
            # position, a third of the cost of by name (a read of every payment does it).
            return cls(*row.values())
        return cls(**row)

    # A mapping of its columns ---------------------------------------------------

    def __getitem__(self, key: str) -> Any:
        if key not in COLUMN_SET:  # a column, never a method
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self) -> Iterator[str]:
        return iter(COLUMNS)

    def __len__(self) -> int:
        return len(COLUMNS)

    def seen_with(self, changes: Mapping[str, Any]) -> Mapping[str, Any]:
        """This payment's columns as `changes` would leave them, without building one (a
        status change's event payload is made from it before the write)."""
        return _Changed(self, changes)

    def changed(self, changes: Mapping[str, Any]) -> Payment:
        """This payment with `changes` (columns) applied: dataclasses.replace without its
        per-call field walk, as a confirm builds one for its event."""
        if not changes.keys() <= COLUMN_SET:
            raise KeyError(f"not a payment column: {sorted(set(changes) - COLUMN_SET)}")
        return Payment(*[changes[c] if c in changes else getattr(self, c) for c in COLUMNS])

    # Rules ----------------------------------------------------------------------

    def expired(self, now: datetime) -> bool:
        return expired(self, now)

    def may_retry(self, now: datetime) -> bool:
        return may_retry(self, now)

    def check_confirmable(self, method: str, live_methods: frozenset[str] | set[str],
                          now: datetime) -> None:
        """A confirm with `method` may reach a rail: the session open, the payment
        pending, the method the merchant's and one served in the payment's mode
        (`live_methods`: connectors.for_mode) — else nothing changes, no event."""
        if self.expired(now):
            raise SessionExpired()
        if self.status != "pending":
            raise WrongState(self.status, "confirmed")
        if not offers(self, method):
            raise MethodNotEnabled(method)
        if method not in live_methods:
            raise MethodUnavailableLive(method)

    def check_actionable(self) -> None:
        """An answer (OTP, 3-D Secure) to the step a rail asked for."""
        if self.status != "processing" or self.pending_action not in ("otp", "3ds"):
            raise WrongState(self.status, "authenticated")

    def check_cancelable(self) -> None:
        if self.status not in ("pending", "processing"):
            raise WrongState(self.status, "canceled")

    def check_refundable(self) -> None:
        if self.status != "completed":
            raise WrongState(self.status, "refunded")

    def refund_left(self) -> int:
        return int(self.amount) - int(self.refunded_amount)

    def refund_amount(self, asked: int | None) -> int:
        """What a refund of `asked` minor units (all that is left when None) takes: at
        most what is left, of a completed payment only."""
        self.check_refundable()
        left = self.refund_left()
        amount = left if asked is None else asked
        if amount > left:
            raise RefundTooLarge(left)
        return amount

    def status_changes(self, target: str, changes: Mapping[str, Any] | None,
                       now: datetime) -> dict[str, Any]:
        """The column changes of a move to `target` (TRANSITIONS), with what each move
        clears or stamps."""
        check_transition(self.status, target)
        out = {"status": target, **(changes or {})}
        if target == "completed":
            out["completed_at"] = now
            out["pending_action"] = None
        if target in ("processing", "completed") and self.failure_reason:
            out.setdefault("failure_reason", None)  # an earlier attempt's, now behind it
        if target in ("failed", "canceled"):
            out["pending_action"] = None
        if target == "canceled":
            out["canceled_at"] = now
        return out

    def attempt_changes(self, reason: str | None) -> dict[str, Any]:
        """A declined attempt the shopper may follow with another: back to pending (no
        method, no pending step), the decline's reason kept for the page."""
        return {"status": "pending", "failure_reason": reason, "pending_action": None,
                "payment_method": None, "failed_attempts": self.failed_attempts + 1}

    # Its events -----------------------------------------------------------------

    def event_ids(self) -> dict[str, str]:
        return event_ids(self)

    def event_data(self) -> dict[str, Any]:
        return event_data(self)


def event_ids(payment: Mapping[str, Any]) -> dict[str, str]:
    return {"company_id": str(payment["company_id"]),
            "merchant_id": str(payment["merchant_id"])}


def event_data(payment: Mapping[str, Any]) -> dict[str, Any]:
    """The webhook-facing payload (the NorPay seed's shape) of a payment, or of a new
    one's columns before the database made it (a create's)."""
    return {
        "paymentId": payment["payment_id"], "trace": str(payment["trace"]),
        "origin": payment["origin"], "amount": units(payment["amount"]),
        "currency": payment["currency"], "status": payment["status"],
        "payer": payment["payer"], "transactionHash": payment["transaction_hash"],
        "paymentMethod": payment["payment_method"], "metadata": payment["metadata"],
        "charges": units(payment["charges"]),
        "netAmount": units(payment["net_amount"]),
        "refundedAmount": units(payment["refunded_amount"]),
        "livemode": bool(payment["livemode"]),  # docs/modes.md: events carry their mode
        # Only on payment.canceled (additive): "expired" when the expiry sweep canceled
        # it, null for a merchant's or payer's cancel.
        **({"cancellationReason": payment["cancellation_reason"]}
           if payment["status"] == "canceled" else {}),
    }


class _Changed(Mapping[str, Any]):
    __slots__ = ("_changes", "_payment")

    def __init__(self, payment: Payment, changes: Mapping[str, Any]) -> None:
        self._payment, self._changes = payment, changes

    def __getitem__(self, key: str) -> Any:
        changes = self._changes
        return changes[key] if key in changes else self._payment[key]

    def __iter__(self) -> Iterator[str]:
        return iter(COLUMNS)

    def __len__(self) -> int:
        return len(COLUMNS)


COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(Payment))
COLUMN_SET = frozenset(COLUMNS)
# What the database makes for a new payment (the store reads them back).
MADE_BY_DATABASE = ("id", "created_at", "updated_at")
# A new payment's columns the create does not choose: their defaults in the migrations,
# so the insert reads back only what the database made and the row is whole.
NEW_PAYMENT_DEFAULTS: dict[str, Any] = {
    "status": "pending", "payment_method": None, "pending_action": None, "payer": None,
    "transaction_hash": None, "card_brand": None, "card_last4": None, "phone_number": None,
    "failure_reason": None, "refunded_amount": 0, "completed_at": None, "canceled_at": None,
    "cancellation_reason": None, "failed_attempts": 0}
# The columns a create writes: every other one.
CREATE_COLUMNS: tuple[str, ...] = tuple(
    c for c in COLUMNS if c not in NEW_PAYMENT_DEFAULTS and c not in ("id", "updated_at"))
