"""The merchant's balance and its movements: rules, no I/O (docs/payouts.md).

A balance is three ledger accounts of one book (merchant, mode, currency), kept up to
date as entries post, never summed on read:

    pending     customer_wallet      completed payments net of fees and refunds, not
                                     yet past the settlement delay
    available   available_balance    what a payout may take (may go negative: a refund
                                     after a payout; later payments net it off)
    inTransit   payouts_in_transit   payouts not yet paid

Every movement is also a balance transaction (what GET /api/v2/balance/transactions
lists and reconciliation matches). A payment's movements (the payment and its fee)
become available `delay_days` settlement days after completion; a refund comes out of
the same bucket as the payment it refunds (pending while the payment's funds are,
otherwise available at the next release); payouts and their fees come out of available
at once.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict

from services.billing import ledger

MovementType = Literal["payment", "fee", "refund", "payout", "payout_fee", "adjustment"]
MOVEMENT_TYPES: tuple[str, ...] = ("payment", "fee", "refund", "payout", "payout_fee",
                                   "adjustment")
DEFAULT_DELAY_DAYS = 2
# The three accounts of a balance, by ledger account code.
ACCOUNTS = {ledger.PENDING_CODE: "pending", ledger.AVAILABLE.code: "available",
            ledger.IN_TRANSIT.code: "in_transit"}


class Balance(BaseModel):
    model_config = ConfigDict(frozen=True)

    currency: str
    pending: int = 0
    available: int = 0
    in_transit: int = 0

    @classmethod
    def of_accounts(cls, currency: str, balances: dict[str, int]) -> Balance:
        """From {account code: balance on its normal side}."""
        return cls(currency=currency, **{ACCOUNTS[code]: value
                                         for code, value in balances.items()
                                         if code in ACCOUNTS})

    def covers(self, amount: int, fee: int) -> bool:
        """Whether a payout of `amount` with its `fee` fits in what is available."""
        return amount > 0 and fee >= 0 and amount + fee <= self.available

    def automatic_amount(self, minimum: int) -> int | None:
        """What an automatic payout takes (all that is available), or None while the
        balance is not positive or under the schedule's minimum."""
        if self.available <= 0 or self.available < minimum:
            return None
        return self.available


class Movement(BaseModel):
    """One balance transaction to record."""
    model_config = ConfigDict(frozen=True)

    type: MovementType
    source_id: str
    amount: int  # signed: + adds to the merchant's balance
    currency: str
    description: str
    available_on: datetime
    released: bool
    rail: str | None = None
    trace: str | None = None
    rail_reference: str | None = None


class BalanceTransaction(Movement):
    """A recorded movement."""
    balance_transaction_id: str
    merchant_id: int
    livemode: bool
    created_at: datetime

    def status(self) -> Literal["pending", "available"]:
        return "available" if self.released else "pending"


def available_on(at: datetime, *, delay_days: int, day_seconds: float) -> datetime:
    """When funds of a movement at `at` become available: `delay_days` settlement days
    later (NORGATE_PAYOUT_DAY_SECONDS long each)."""
    return at + timedelta(seconds=delay_days * day_seconds)


def of_completion(data: dict, *, at: datetime, delay_days: int,
                  day_seconds: float) -> list[Movement]:
    """A completed payment's movements: the payment and its fee, pending until the
    delay has passed."""
    when = available_on(at, delay_days=delay_days, day_seconds=day_seconds)
    pid, currency = str(data["paymentId"]), str(data["currency"])
    refs = {"rail": data.get("paymentMethod"), "trace": _text(data.get("trace")),
            "rail_reference": _text(data.get("transactionHash"))}
    out = [Movement(type="payment", source_id=pid, amount=int(data["amount"]),
                    currency=currency, description=f"Payment {pid}", available_on=when,
                    released=False, **refs)]
    charges = int(data.get("charges") or 0)
    if charges > 0:
        out.append(Movement(type="fee", source_id=pid, amount=-charges, currency=currency,
                            description=f"Processing fee of payment {pid}",
                            available_on=when, released=False, **refs))
    return out


def of_refund(data: dict, delta: int, *, at: datetime,
              payment_available_on: datetime | None) -> Movement:
    """A refund of `delta`: from the same bucket as its payment's funds (their
    availability date while still pending; otherwise now, at the next release)."""
    pid = str(data["paymentId"])
    when = at if payment_available_on is None or payment_available_on < at \
        else payment_available_on
    return Movement(type="refund", source_id=pid, amount=-delta,
                    currency=str(data["currency"]), description=f"Refund of payment {pid}",
                    available_on=when, released=False, rail=data.get("paymentMethod"),
                    trace=_text(data.get("trace")),
                    rail_reference=_text(data.get("transactionHash")))


def _text(value: object) -> str | None:
    return None if value is None or value == "" else str(value)
