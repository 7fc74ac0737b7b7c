"""Billing rules: plans, the subscription and invoice state machines, period
arithmetic, tax and invoice numbers. No I/O here.

Subscription statuses (docs/billing.md has the full table):

    create (trialDays > 0) ──▶ trialing ──trial ends, period billed──▶ active
    create (no trial) ──────▶ active (its first period is billed at the next tick)
    active | trialing ──a collection fails──▶ past_due
    past_due ──the period's invoice is paid (a dunning retry or the customer)──▶ active
    past_due ──the dunning schedule runs out──▶ canceled
    any but canceled ──cancel (now)──▶ canceled
    any but canceled ──cancel at period end──▶ (same status) ──period ends──▶ canceled

Invoice statuses:

    draft ──send──▶ open ──its payment completes──▶ paid
    draft | open ──void──▶ void
    open (subscription) ──dunning runs out──▶ uncollectible
    A draft whose hosted payment completes is paid too (the link works before sending).
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation, localcontext
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared import jsontext
from shared.ids import record_id
from shared.money import MajorInput, MinorInput

Interval = Literal["day", "week", "month", "year"]

SUBSCRIPTION_TRANSITIONS: dict[str, frozenset[str]] = {
    "trialing": frozenset({"active", "past_due", "canceled"}),
    "active": frozenset({"past_due", "canceled"}),
    "past_due": frozenset({"active", "canceled"}),
    "canceled": frozenset(),
}
INVOICE_TRANSITIONS: dict[str, frozenset[str]] = {
    "draft": frozenset({"open", "paid", "void"}),
    "open": frozenset({"paid", "void", "uncollectible"}),
    "paid": frozenset(),
    "void": frozenset(),
    "uncollectible": frozenset({"paid"}),  # a late payment still settles it
}
# Methods billing may charge without the customer present: they settle at once and
# need nothing secret stored (a wallet address, an account number; never a card).
OffSessionMethod = Literal["NOR_WALLET", "ZIMSWITCH", "INNBUCKS"]


class InvalidTransition(Exception):
    def __init__(self, kind: str, current: str, target: str):
        super().__init__(f"a {current} {kind} cannot become {target}")


def check_subscription(current: str, target: str) -> None:
    if target not in SUBSCRIPTION_TRANSITIONS[current]:
        raise InvalidTransition("subscription", current, target)


def check_invoice(current: str, target: str) -> None:
    if target not in INVOICE_TRANSITIONS[current]:
        raise InvalidTransition("invoice", current, target)


def new_id(prefix: str) -> str:
    return prefix + "_" + record_id(24)


def epoch(value: datetime | None) -> str | None:
    return None if value is None else str(int(value.timestamp()))


# Periods ---------------------------------------------------------------------------

def _add_months(value: datetime, months: int) -> datetime:
    total = value.month - 1 + months
    year, month = value.year + total // 12, total % 12 + 1
    day = min(value.day, calendar.monthrange(year, month)[1])
    return value.replace(year=year, month=month, day=day)


def period_boundary(anchor: datetime, interval: str, count: int, n: int) -> datetime:
    """The start of paid period n+1 (n periods after the anchor). Months are counted
    from the anchor, so a subscription anchored on the 31st bills on the last day of
    shorter months and on the 31st again after them."""
    if interval == "day":
        return anchor + timedelta(days=count * n)
    if interval == "week":
        return anchor + timedelta(weeks=count * n)
    if interval == "month":
        return _add_months(anchor, count * n)
    return _add_months(anchor, 12 * count * n)


# Tax ----------------------------------------------------------------------------------

_MAX_PERCENT_TEXT = 64  # "15.5"; a longer string is no percentage (and costs to convert)


def percent_to_ppm(value: Decimal | int | str) -> int:
    """"15" or "15.5" percent -> parts per million of the amount (150000, 155000)."""
    if isinstance(value, str) and len(value) > _MAX_PERCENT_TEXT:
        raise ValueError("must be a number of percent, such as 15 or 15.5")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise ValueError("must be a number of percent, such as 15 or 15.5") from None
    if not number.is_finite() or number < 0 or number > 100:
        raise ValueError("must be between 0 and 100")
    if not jsontext.in_range(number):  # 1e-999999999: the context would round it to 0
        raise ValueError("at most 4 decimals")
    with localcontext() as ctx:
        ctx.prec = 200  # exact for any number in range (at most 78 digits)
        ppm = number * 10000
        if ppm != ppm.to_integral_value():
            raise ValueError("at most 4 decimals")
    return int(ppm)


def ppm_to_percent(ppm: int) -> str:
    return format((Decimal(ppm) / 10000).normalize(), "f")


def tax_of(amount: int, ppm: int) -> int:
    """Tax on one line, rounded half up to the currency's minor unit (integers only)."""
    return (amount * ppm + 500_000) // 1_000_000


def invoice_number(year: int, value: int) -> str:
    return f"INV-{year}-{value:03d}"


# Request bodies ---------------------------------------------------------------------

class _Body(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")


class CreatePlan(_Body):
    name: str = Field(min_length=1, max_length=200)
    amount: MinorInput
    currency: str = Field(min_length=2, max_length=5)
    interval: Interval = "month"
    interval_count: int = Field(default=1, alias="intervalCount", ge=1, le=365)
    features: list[str] = Field(default_factory=list, max_length=50)


class SavedMethod(_Body):
    """A method billing may charge for renewals (an OffSessionMethod)."""

    payment_method: OffSessionMethod = Field(alias="paymentMethod")
    payer: str | None = Field(default=None, pattern=r"^0x[0-9a-fA-F]{40}$")
    account: str | None = Field(default=None, pattern=r"^[0-9]{4,40}$")

    def checked(self) -> "SavedMethod":
        if self.payment_method == "NOR_WALLET" and not self.payer:
            raise ValueError("paymentMethod.payer: a wallet address is required for NOR_WALLET")
        if self.payment_method != "NOR_WALLET" and not self.account:
            raise ValueError("paymentMethod.account: an account number is required")
        return self

    def public(self) -> dict:
        """What is shown back: never the whole account number."""
        if self.payment_method == "NOR_WALLET":
            return {"paymentMethod": self.payment_method, "payer": self.payer}
        return {"paymentMethod": self.payment_method, "accountLast4": (self.account or "")[-4:]}


class CreateSubscription(_Body):
    plan_id: str = Field(alias="planId", min_length=1, max_length=64)
    customer_id: str = Field(alias="customerId", min_length=1, max_length=200)
    trial_days: int = Field(default=0, alias="trialDays", ge=0, le=730)
    metadata: dict[str, Any] = Field(default_factory=dict, max_length=50)
    payment_method: SavedMethod | None = Field(default=None, alias="paymentMethod")


class CancelSubscription(_Body):
    cancel_at_period_end: bool = Field(default=False, alias="cancelAtPeriodEnd")
    reason: str | None = Field(default=None, max_length=500)


class InvoiceCustomer(_Body):
    name: str = Field(min_length=1, max_length=200)
    email: str = Field(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    address: str | None = Field(default=None, max_length=500)


class InvoiceItem(_Body):
    description: str = Field(min_length=1, max_length=500)
    quantity: int = Field(default=1, ge=1, le=1_000_000)
    unit_price: MinorInput = Field(alias="unitPrice")
    amount: MinorInput | None = None  # when given, must equal quantity x unitPrice
    tax_rate_id: str | None = Field(default=None, alias="taxRateId", max_length=64)


class CreateInvoice(_Body):
    customer: InvoiceCustomer
    items: list[InvoiceItem] = Field(min_length=1, max_length=100)
    currency: str = Field(min_length=2, max_length=5)
    due_date: str | int = Field(alias="dueDate")
    notes: str | None = Field(default=None, max_length=2000)
    tax_rate_id: str | None = Field(default=None, alias="taxRateId", max_length=64)

    @field_validator("due_date")
    @classmethod
    def _due(cls, value):
        text = str(value)
        if not re.fullmatch(r"[0-9]{1,11}", text):
            raise ValueError("must be a Unix time in seconds, such as \"1641600000\"")
        return text

    def due(self) -> datetime:
        return datetime.fromtimestamp(int(self.due_date), UTC)


class CreateTaxRate(_Body):
    name: str = Field(min_length=1, max_length=100)
    percentage: MajorInput
    default: bool = False

    @field_validator("percentage")
    @classmethod
    def _pct(cls, value):
        percent_to_ppm(value)
        return value
