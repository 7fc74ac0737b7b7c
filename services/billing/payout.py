"""A payout: its states, its transitions and what each does to the books. No I/O.

    pending ──sent to the rail──▶ in_transit ──the rail pays──▶ paid
    pending ──sent to a rail that pays at once──▶ paid
    pending ──canceled (by the merchant)──▶ canceled
    pending | in_transit ──the rail refuses──▶ failed       (funds back to available)
    paid ──the bank sends it back──▶ failed (returned)      (funds back to available)

The ledger effect of each transition (services/billing/ledger.py has the postings):
created posts the payout and its fee out of available; paid moves it from in transit
to the settlement bank; failed or canceled before being paid reverses the payout and
its fee; a return after being paid brings the amount back to available (the fee of a
payout that was made stays charged, as a bank's would).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.billing.rails import RailAnswer
from shared.money import MinorInput

PayoutStatus = Literal["pending", "in_transit", "paid", "failed", "canceled"]
STATUSES: tuple[str, ...] = ("pending", "in_transit", "paid", "failed", "canceled")
TRANSITIONS: dict[str, frozenset[str]] = {
    # paid at once: a rail that settles instantly answers paid from send
    "pending": frozenset({"in_transit", "paid", "failed", "canceled"}),
    "in_transit": frozenset({"paid", "failed"}),
    "paid": frozenset({"failed"}),  # returned by the receiving bank
    "failed": frozenset(),
    "canceled": frozenset(),
}
# The webhook event each status is announced with (in_transit is not an event).
EVENT_OF: dict[str, str] = {"pending": "payout.created", "paid": "payout.paid",
                            "failed": "payout.failed", "canceled": "payout.canceled"}
LedgerEffect = Literal["none", "paid", "reverse", "return"]


class InvalidPayoutTransition(Exception):
    def __init__(self, current: str, target: str):
        super().__init__(f"a {current} payout cannot become {target}")
        self.current, self.target = current, target


class TimelineEntry(BaseModel):
    model_config = ConfigDict(frozen=True)

    status: str
    at: datetime
    note: str | None = None


class Payout(BaseModel):
    model_config = ConfigDict(frozen=True)

    payout_id: str
    company_id: int
    merchant_id: int
    livemode: bool
    amount: int
    fee: int
    currency: str
    status: PayoutStatus
    automatic: bool
    settlement_account_id: str
    rail: str
    destination: dict[str, Any]
    description: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    rail_reference: str | None = None
    failure_code: str | None = None
    failure_reason: str | None = None
    submit_after: datetime
    created_at: datetime
    updated_at: datetime
    in_transit_at: datetime | None = None
    next_check_at: datetime | None = None
    paid_at: datetime | None = None
    failed_at: datetime | None = None
    canceled_at: datetime | None = None
    timeline: tuple[TimelineEntry, ...] = ()

    def norpay(self) -> dict[str, Any]:
        """The NorPay shape (amounts as minor-unit strings, Unix-second strings): the
        API's answer and the payload of payout.* events."""
        def at(value: datetime | None) -> str | None:
            return None if value is None else str(int(value.timestamp()))
        return {
            "payoutId": self.payout_id, "amount": str(self.amount), "fee": str(self.fee),
            "currency": self.currency, "status": self.status, "automatic": self.automatic,
            "merchantId": self.merchant_id, "settlementAccountId": self.settlement_account_id,
            "rail": self.rail, "destination": self.destination,
            "description": self.description, "metadata": self.metadata,
            "railReference": self.rail_reference, "failureCode": self.failure_code,
            "failureReason": self.failure_reason, "livemode": self.livemode,
            "createdAt": at(self.created_at), "inTransitAt": at(self.in_transit_at),
            "paidAt": at(self.paid_at), "failedAt": at(self.failed_at),
            "canceledAt": at(self.canceled_at),
            "timeline": [{"status": t.status, "at": at(t.at), "note": t.note}
                         for t in self.timeline],
        }

    @staticmethod
    def check_after(answer: RailAnswer, status: str, *, at: datetime,
                    grace: float) -> datetime | None:
        """When to ask the rail if its callback does not come: in transit, once the
        callback is due (plus `grace`); paid with a return still due, likewise; else
        never."""
        if status == "in_transit" or (status == "paid" and answer.callback_after is not None):
            return at + timedelta(seconds=(answer.callback_after or 0.0) + grace)
        return None

    def can_become(self, target: str) -> bool:
        return target in TRANSITIONS[self.status]

    def moved(self, target: PayoutStatus, *, at: datetime, answer: RailAnswer | None = None,
              check_grace: float = 0.0) -> tuple[Payout, LedgerEffect]:
        """The payout after the transition, and what it does to the books."""
        if not self.can_become(target):
            raise InvalidPayoutTransition(self.status, target)
        changes: dict[str, Any] = {"status": target, "updated_at": at}
        if target == "in_transit":
            changes["in_transit_at"] = at
        elif target == "paid":
            changes["paid_at"] = at
        elif target == "failed":
            changes["failed_at"] = at
        elif target == "canceled":
            changes["canceled_at"] = at
        changes["next_check_at"] = None
        if answer is not None:
            changes["next_check_at"] = self.check_after(answer, target, at=at,
                                                        grace=check_grace)
            if answer.rail_reference:
                changes["rail_reference"] = answer.rail_reference
            if target == "failed":
                changes["failure_code"] = answer.failure_code or "failed"
                changes["failure_reason"] = answer.failure_reason or "The rail refused it"
        effect: LedgerEffect = "none"
        if target == "paid":
            effect = "paid"
        elif target in ("failed", "canceled"):
            effect = "return" if self.status == "paid" else "reverse"
        return self.model_copy(update=changes), effect

    def after_answer(self, answer: RailAnswer, *, at: datetime, check_grace: float) \
            -> tuple[Payout, LedgerEffect] | None:
        """Where a rail's answer takes the payout, or None when it changes nothing (an
        answer repeated, a late callback for a payout already settled). `check_grace`:
        how long past a promised callback the rail is asked (the status check setting)."""
        target: PayoutStatus = answer.status
        if target == self.status or not self.can_become(target):
            return None
        if target == "failed" and self.status == "paid" and not answer.returned:
            return None  # only a return undoes a payment
        return self.moved(target, at=at, answer=answer, check_grace=check_grace)

    def next_check(self, answer: RailAnswer, *, at: datetime, check_grace: float) \
            -> datetime | None:
        """When to ask again after an answer that did not move the payout."""
        if self.status not in ("in_transit", "paid"):
            return None
        return self.check_after(answer, self.status, at=at, grace=check_grace)


class CreatePayout(BaseModel):
    """POST /api/v2/payouts/create."""
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    amount: MinorInput
    currency: str = Field(min_length=3, max_length=5)
    settlement_account_id: str | None = Field(default=None, alias="settlementAccountId",
                                              min_length=1, max_length=64)
    description: str | None = Field(default=None, max_length=500)
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("metadata")
    @classmethod
    def _small(cls, value: dict[str, Any]) -> dict[str, Any]:
        if len(value) > 50:
            raise ValueError("metadata: at most 50 keys")
        for key, item in value.items():
            if len(key) > 40 or (isinstance(item, str) and len(item) > 500):
                raise ValueError("metadata: keys up to 40 characters, values up to 500")
        return value
