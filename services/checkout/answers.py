"""What the checkout service's public routes answer on success, one model per answer object,
named by what it is (RouteDoc.response; the OpenAPI document shows them). Checked against
every answer the test suite sees (shared/http/answers.py): a field a handler adds
without adding it here fails the suite."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from shared.http.answers import Answer, Pagination, SnakeAnswer


class PriceCurrencyConversion(SnakeAnswer):
    to: str
    from_: str = Field(alias="from")
    rate: float
    amount: float
    source: str
    amount_total: float



class PricePriceItem(SnakeAnswer):
    amount: float
    app_fee: float
    app_type: str
    currency: str
    amount_app: float
    amount_total: float
    platform_fee: float
    amount_seller: float
    amount_platform: float
    amount_transaction_fee: float
    provider_min_amount_fee: float
    provider_processing_fee_percent: float


class PriceApp(SnakeAnswer):
    id: str
    name: str
    type: str
    status: str
    use_explorer: bool
    created_at: str
    updated_at: str
    kyc_return_url: str
    app_fee: float


class Price(SnakeAnswer):
    """A price (`price_...`), in the Prices family's snake_case."""

    id: str
    amount: float
    currency: str
    currency_conversion: PriceCurrencyConversion | None
    type: str
    kyc_id: str | None
    metadata: dict[str, Any] | None
    deleted: bool
    expired: bool
    name: str | None
    trigger_id: str | None
    trigger_intent_id: str | None
    trigger_params_data_input: dict[str, Any] | None  # the trigger's params, as given
    price_item: PricePriceItem
    app: PriceApp
    created_at: str
    updated_at: str
    views: int
    livemode: bool


class RefundRefund(Answer):
    refund_id: str
    amount: str
    reason: str | None


class Refund(Answer):
    payment_id: str
    amount: str
    currency: str
    status: str
    description: str
    payer: str | None
    transaction_hash: str | None
    metadata: dict[str, Any]
    payment_method: str
    next_action: str | None
    failure_reason: str | None
    cancellation_reason: str | None
    charges: str
    net_amount: str
    refunded_amount: str
    checkout_url: str
    expires_at: str
    created_at: str
    completed_at: str
    livemode: bool
    refund: RefundRefund
    failed_attempts: int = 0


class Payment(Answer):
    payment_id: str
    amount: str
    currency: str
    status: str
    checkout_url: str
    expires_at: str
    created_at: str
    livemode: bool
    description: str | None = None
    payer: str | None = None
    transaction_hash: str | None = None
    metadata: dict[str, Any] | None = None
    payment_method: str | None = None
    next_action: str | None = None
    failure_reason: str | None = None
    cancellation_reason: str | None = None
    charges: str | None = None
    net_amount: str | None = None
    refunded_amount: str | None = None
    completed_at: str | None = None
    failed_attempts: int = 0


class Receipt(Answer):
    receipt_id: str
    receipt_url: str
    download_url: str
    transaction_id: str
    amount: float
    currency: str
    charges: float
    timestamp: str


class TriggerPagination(SnakeAnswer):
    page: int
    per_page: int
    total: int


class Trigger(SnakeAnswer):
    """A price's trigger (`tri_...`): the signed call made when a payment for the price
    succeeds; its secret only in the answer that created it."""

    id: str
    name: str
    url: str
    params: list[str]
    app_id: str
    created_at: str
    updated_at: str
    livemode: bool
    secret: str | None = None


# The trigger routes answer in the Prices envelope (ok(Family.PRICES, ...)) under a path
# outside /prices, so their models carry the envelope themselves.
class TriggerAnswer(Answer):
    data: Trigger


class TriggerPage(Answer):
    data: list[Trigger]
    pagination: TriggerPagination




class PaymentToken(Answer):
    token: str
    url: str


class VerifiedToken(Answer):
    amount: float
    currency: str
    type: str
    merchant_id: str
    expires_at: int
    livemode: bool


class EmbeddedPayment(Answer):
    """A payment of the embedded checkout (checkout.js), as its create and its status
    answer it."""

    payment_id: str
    amount: str
    currency: str
    status: str
    description: str | None
    payment_method: str | None
    transaction_hash: str | None
    failure_reason: str | None
    created_at: str
    completed_at: str | None
    livemode: bool
    expires_at: str | None = None
    checkout_url: str | None = None
    embed_path: str | None = None


class PaymentTimelineEventsDetail(Answer):
    origin: str | None = None
    cancellation_reason: str | None = None
    action: str | None = None
    reason: str | None = None
    amount: str | None = None
    refund_id: str | None = None
    attempt: int | None = None
    method: str | None = None
    card: str | None = None


class PaymentTimelineEvents(Answer):
    status: str
    at: str
    event: str
    event_id: str
    detail: PaymentTimelineEventsDetail


class PaymentTimeline(Answer):
    payment_id: str
    trace: str
    status: str
    events: list[PaymentTimelineEvents]


class TriggerExecution(SnakeAnswer):
    payment_id: str
    status: str
    attempts: int
    last_status_code: int | None
    last_error: str | None
    delivered_at: str | None
    created_at: str


class RecentTransaction(Answer):
    transaction_id: str
    trace: str
    merchant: str
    amount: float
    currency: str
    status: str
    payment_method: str | None
    timestamp: str
    livemode: bool


class TransactionChargeChargesBreakdown(Answer):
    type: str
    value: float
    amount: float


class TransactionCharge(Answer):
    transaction_id: str
    trace: str
    merchant_id: int
    amount: float
    currency: str
    charges: float
    net_amount: float
    timestamp: str
    livemode: bool
    charges_breakdown: list[TransactionChargeChargesBreakdown]


class TransactionStatus(Answer):
    trace: str
    status: str
    amount: float
    currency: str
    payment_method: str
    timestamp: str
    livemode: bool


class TransactionDetails(Answer):
    transaction_id: str
    trace: str
    merchant_id: int
    merchant: str
    amount: float
    currency: str
    status: str
    payment_method: str | None
    charges: float
    net_amount: float
    timestamp: str
    livemode: bool
    charges_breakdown: list[TransactionChargeChargesBreakdown]
    refunded_amount: float
    failure_reason: str | None
    next_action: str | None
    completed_at: str | None


class UserTransaction(Answer):
    """A transaction in a MERCHANT's own list (/transactions/user)."""

    transaction_id: str
    trace: str
    amount: float
    currency: str
    status: str
    payment_method: str | None
    timestamp: str
    livemode: bool


class MerchantTransaction(Answer):
    """A transaction in a merchant's list (/transactions/merchant/{merchantId})."""

    transaction_id: str
    trace: str
    merchant_id: int
    amount: float
    currency: str
    status: str
    charges: float
    net_amount: float
    timestamp: str
    livemode: bool


class TransactionSummary(Answer):
    """A transaction in the caller's scope (/transactions/all): with its merchant."""

    transaction_id: str
    trace: str
    merchant_id: int
    merchant: str | None
    amount: float
    currency: str
    status: str
    payment_method: str | None
    charges: float
    net_amount: float
    timestamp: str
    livemode: bool


class CanceledTransaction(Answer):
    trace: str
    status: str
    refunded_amount: float
    livemode: bool


class TransactionConfirmation(Answer):
    trace: str
    status: str
    amount: float
    charge: float
    net_amount: float
    currency: str
    payment_method: str
    transaction_id: str
    next_action: str | None
    failure_reason: str | None
    livemode: bool


class PaymentList(Answer):
    payments: list[Payment]
    pagination: Pagination
