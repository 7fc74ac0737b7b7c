"""The Payment aggregate's rules: its state machine, ids and request bodies.

    pending ──confirm──▶ completed | failed            (a rail that answers at once)
    pending ──confirm──▶ processing ──▶ completed | failed
                         (3-D Secure, OTP, phone prompt, or an asynchronous rail)
    pending | processing ──cancel──▶ canceled
    completed ──refund (all of it)──▶ refunded         (partial refunds stay completed)
A pending payment past `expires_at` cannot be confirmed ("Payment session expired").
NORAH shows the same statuses upper-case (PENDING, ..., CANCELLED).
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.crypto import base62
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
SESSION_TTL = timedelta(hours=1)
METHODS = ("VISA_MASTER", "ZIMSWITCH", "OMARI", "INNBUCKS", "ECOCASH", "NOR_WALLET")


class InvalidTransition(Exception):
    def __init__(self, current: str, target: str):
        super().__init__(f"a {current} payment cannot become {target}")
        self.current, self.target = current, target


def check_transition(current: str, target: str) -> None:
    if target not in TRANSITIONS[current]:
        raise InvalidTransition(current, target)


# Metadata keys our own flows set (a price's, an invoice's or a subscription's payment,
# a NORAH token): a merchant's or a browser's create may not, so nothing downstream can
# be told a payment is one it is not. (Consumers also check the payment's origin.)
RESERVED_METADATA = frozenset({"priceId", "appId", "invoiceId", "subscriptionId",
                               "tokenJti", "widget"})


def check_public_metadata(metadata: dict) -> None:
    reserved = sorted(RESERVED_METADATA & set(metadata))
    if reserved:
        raise ValueError(f"metadata.{reserved[0]} is set by norgate itself")


def price_part(price, name: str) -> Money:
    """A figure of a price's `price_item` (major units, as the Prices API writes them) as
    Money of the price's currency; `amount_total` is what its checkout charges."""
    return parse_major(Decimal(str(price["price_item"][name])), price["currency"],
                       allow_zero=True)


def offers(payment, method: str) -> bool:
    """Whether the payment's merchant takes `method` (its account's paymentMethods when
    the payment was made; every method when it named none)."""
    return payment["methods"] is None or method in payment["methods"]


def new_payment_id() -> str:
    return "pay_" + base62(24)


def new_refund_id() -> str:
    return "re_" + base62(24)


def _url(value: str | None) -> str | None:
    if value and not re.match(r"^https?://[^\s/]+\S*$", value):
        raise ValueError("must be an http:// or https:// URL")
    return value or None


class PaymentIntent(BaseModel):
    """What every create names: amount in minor units (wei for NOR), currency, and the
    merchant's description and metadata."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    amount: MinorInput
    currency: str = Field(min_length=2, max_length=5)
    description: str | None = Field(default=None, max_length=1000)
    metadata: dict[str, Any] = Field(default_factory=dict, max_length=50)


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
