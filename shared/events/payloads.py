"""One schema per event type: what each event's `data` holds (issue 24, item 2).

`PAYLOADS` maps every event type any service emits to the pydantic model of its
`data`. `UnitOfWork.emit` (and `outbox_clause`, for events a statement writes
itself) checks an event's data against its type's model before it is written: an
unknown type or data that does not match is a bug in the producer and raises
`InvalidPayload`. Consumers (`read_events`) check each event they receive the same
way: one that does not match is unreadable and dead-lettered (a Consumer) or
dropped with an error logged (a Subscriber), never handed to a handler; a handler
reads its event's typed payload with `payload_of(event, Model)`.

What goes on the wire is the producer's own dict, unchanged: a model only checks it.
Models that describe what merchants receive in webhook bodies (payments,
subscriptions, invoices, payouts, merchants, companies) allow extra fields, so the
body merchants verify signatures of keeps every field it carries today; the
required fields are those every consumer relies on. Field names are the wire's
(camelCase) as aliases of snake_case attributes.
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError


class InvalidPayload(ValueError):
    """An event whose type has no schema, or whose data does not match it."""


class Payload(BaseModel):
    """The data of one event type. Extra fields are kept (allowed) unless a model
    forbids them."""

    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)


class Strict(Payload):
    """A payload only services read: its fields are all there is."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


Id = int | str  # ids travel as numbers from auth, as strings from elsewhere


# Payments (checkout) -------------------------------------------------------------------

class PaymentPayload(Payload):
    """payment.* (docs/webhooks.md): the payment as merchants see it. `livemode` is a
    real boolean (absent: a test payment from before modes); "yes" or 1 is refused."""

    payment_id: str = Field(alias="paymentId")
    amount: str
    currency: str
    status: str
    livemode: StrictBool = False
    trace: str | None = None
    origin: str | None = None
    payer: str | None = None
    transaction_hash: str | None = Field(default=None, alias="transactionHash")
    payment_method: str | None = Field(default=None, alias="paymentMethod")
    metadata: dict[str, Any] | None = None
    charges: str | None = None
    net_amount: str | None = Field(default=None, alias="netAmount")
    refunded_amount: str | None = Field(default=None, alias="refundedAmount")


class PaymentCanceled(PaymentPayload):
    cancellation_reason: str | None = Field(default=None, alias="cancellationReason")


class PaymentRefunded(PaymentPayload):
    """A full refund, or a partial one (`partial`, `refundAmount`)."""

    partial: StrictBool = False
    refund_amount: str | None = Field(default=None, alias="refundAmount")


class PaymentAttemptFailed(PaymentPayload):
    attempt: int
    failure_reason: str | None = Field(default=None, alias="failureReason")


# Billing ---------------------------------------------------------------------------------

class SubscriptionPayload(Payload):
    subscription_id: str = Field(alias="subscriptionId")
    plan_id: str = Field(alias="planId")
    status: str
    amount: str
    currency: str
    livemode: StrictBool = False
    metadata: dict[str, Any] | None = None


class InvoicePayload(Payload):
    invoice_id: str = Field(alias="invoiceId")
    invoice_number: str = Field(alias="invoiceNumber")
    status: str
    total: str
    currency: str
    livemode: StrictBool = False
    payment_id: str | None = Field(default=None, alias="paymentId")


class PayoutPayload(Payload):
    payout_id: str = Field(alias="payoutId")
    amount: str
    fee: str
    currency: str
    status: str
    merchant_id: Id = Field(alias="merchantId")
    livemode: StrictBool = False
    metadata: dict[str, Any] | None = None


class LedgerTransactionReversed(Strict):
    transaction_id: str = Field(alias="transactionId")
    reverses: str
    reference_type: str | None = Field(alias="referenceType")
    reference_id: str | None = Field(alias="referenceId")
    livemode: StrictBool


# Fees ------------------------------------------------------------------------------------

class ChargePayload(Strict):
    """charge.*: which fee rule changed (caches reload; not sent to merchants)."""

    charge_id: Id = Field(alias="chargeId")
    scope: str
    merchant_id: Id | None = Field(alias="merchantId")
    currency: str | None
    charge_category: str | None = Field(alias="chargeCategory")
    status: str | None


# Auth ------------------------------------------------------------------------------------

class MerchantCreated(Payload):
    merchant_id: Id = Field(alias="merchantId")
    merchant_uid: str = Field(alias="merchantUid")
    name: str
    status: str
    rate_plan: str | None = Field(default=None, alias="ratePlan")
    created_by: str | None = Field(default=None, alias="createdBy")


class MerchantUpdated(Payload):
    """merchant.updated: which of the account's fields (`changed`, wire names) moved."""

    merchant_id: Id = Field(alias="merchantId")
    changed: list[str]


class MerchantStatus(Payload):
    merchant_id: Id = Field(alias="merchantId")
    status: str


class MerchantSecretRegenerated(Payload):
    merchant_id: Id = Field(alias="merchantId")


class CompanyCreated(Payload):
    company_id: Id = Field(alias="companyId")
    name: str


class UserPayload(Strict):
    """user.*, session.revoked: whose account (the gateway forgets what it knows of it)."""

    user_id: Id = Field(alias="userId")


class UserCreated(UserPayload):
    role: str
    enabled: StrictBool
    merchant_id: Id | None = Field(default=None, alias="merchantId")
    created_by: Id | None = Field(default=None, alias="createdBy")


class UserUpdated(UserPayload):
    changed: list[str]


class UserConfirmed(UserPayload):
    enabled: StrictBool


class SessionRevoked(UserPayload):
    """A refresh family ended (gateways drop what they know of the user's sessions)."""

    user_id: int = Field(alias="userId")
    session_id: str = Field(alias="sessionId")
    reason: Literal["sign_out", "refresh_reuse"]
    tokens_revoked: int = Field(alias="tokensRevoked")


class ApiKeyCreated(Strict):
    key_id: str = Field(alias="keyId")
    prefix: str
    name: str | None
    merchant_id: Id = Field(alias="merchantId")
    app_id: str | None = Field(alias="appId")
    type: str
    mode: str
    created_by: str | None = Field(alias="createdBy")


class ApiKeyRevoked(Strict):
    key_id: str = Field(alias="keyId")
    merchant_id: Id = Field(alias="merchantId")
    reason: Literal["revoked", "app_deleted"]
    revoked_by: str | None = Field(alias="revokedBy")


class AppCreated(Strict):
    app_id: str = Field(alias="appId")
    name: str
    type: str
    status: str


class AppUpdated(Strict):
    app_id: str = Field(alias="appId")
    changed: list[str]


class AppDeleted(Strict):
    app_id: str = Field(alias="appId")


# Any service: e-mail ---------------------------------------------------------------------

class EmailAttachment(Strict):
    filename: str = Field(min_length=1)
    content_type: str = "application/octet-stream"
    content_base64: str


class EmailRequested(Strict):
    """email.requested: a message for the notifier to send (its own checks of the
    addresses and sizes are services/notifier/email/domain.py's)."""

    to: list[str] = Field(min_length=1)
    subject: str = Field(min_length=1)
    text: str
    html: str | None = None
    reply_to: str | None = None
    attachments: list[EmailAttachment] = Field(default_factory=list)


PAYLOADS: dict[str, type[Payload]] = {
    "payment.created": PaymentPayload,
    "payment.processing": PaymentPayload,
    "payment.completed": PaymentPayload,
    "payment.failed": PaymentPayload,
    "payment.canceled": PaymentCanceled,
    "payment.refunded": PaymentRefunded,
    "payment.attempt_failed": PaymentAttemptFailed,
    "subscription.created": SubscriptionPayload,
    "subscription.updated": SubscriptionPayload,
    "subscription.canceled": SubscriptionPayload,
    "invoice.created": InvoicePayload,
    "invoice.paid": InvoicePayload,
    "invoice.overdue": InvoicePayload,
    "invoice.voided": InvoicePayload,
    "payout.created": PayoutPayload,
    "payout.paid": PayoutPayload,
    "payout.failed": PayoutPayload,
    "payout.canceled": PayoutPayload,
    "ledger.transaction_reversed": LedgerTransactionReversed,
    "charge.created": ChargePayload,
    "charge.updated": ChargePayload,
    "charge.deleted": ChargePayload,
    "merchant.created": MerchantCreated,
    "merchant.updated": MerchantUpdated,
    "merchant.activated": MerchantStatus,
    "merchant.inactivated": MerchantStatus,
    "merchant.secret_regenerated": MerchantSecretRegenerated,
    "company.created": CompanyCreated,
    "user.created": UserCreated,
    "user.updated": UserUpdated,
    "user.confirmed": UserConfirmed,
    "user.deleted": UserPayload,
    "user.secret_regenerated": UserPayload,
    "session.revoked": SessionRevoked,
    "api_key.created": ApiKeyCreated,
    "api_key.revoked": ApiKeyRevoked,
    "app.created": AppCreated,
    "app.updated": AppUpdated,
    "app.deleted": AppDeleted,
    "email.requested": EmailRequested,
}

P = TypeVar("P", bound=Payload)


def check(event_type: str, data: Any) -> Payload:
    """`data` as its type's model; InvalidPayload for an unknown type or bad data."""
    model = PAYLOADS.get(event_type)
    if model is None:
        raise InvalidPayload(f"{event_type} has no payload schema (shared/events/payloads.py)")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidPayload(f"invalid {event_type} data: {exc}") from exc


def known(event_type: str) -> bool:
    return event_type in PAYLOADS
