"""What the billing service's public routes answer on success, one model per answer object,
named by what it is (RouteDoc.response; the OpenAPI document shows them). Checked against
every answer the test suite sees (shared/http/answers.py): a field a handler adds
without adding it here fails the suite."""

from __future__ import annotations

from typing import Any

from shared.http.answers import Answer, Pagination, SnakeAnswer


class BilledCustomer(Answer):
    """Whom an invoice bills, as given (a subscription's invoice names its customer id
    and subscription)."""

    name: str | None = None
    email: str | None = None
    address: str | None = None
    id: str | None = None
    subscription_id: str | None = None


class InvoicePeriod(Answer):
    start: str
    end: str


class InvoiceLine(Answer):
    description: str
    quantity: int
    unit_price: str
    amount: str
    tax: str | None = None
    tax_rate_id: str | None = None
    tax_rate: str | None = None  # percent, "7.5"
    period: InvoicePeriod | None = None  # a subscription's line: the period it bills


class Invoice(Answer):
    invoice_id: str
    invoice_number: str
    status: str
    subtotal: str
    tax: str
    total: str
    currency: str
    due_date: str
    pdf_url: str
    payment_url: str | None
    customer: BilledCustomer
    items: list[InvoiceLine]
    notes: str | None
    payment_id: str | None
    subscription_id: str | None
    created_at: str
    sent_at: str | None
    paid_at: str | None
    voided_at: str | None
    livemode: bool


class SubscriptionInvoice(Invoice):
    """A subscription's invoice, with its collection attempts and the period it bills."""

    attempts: int
    last_failure: str | None
    period_start: str
    period_end: str


class SentInvoice(Answer):
    invoice_id: str
    sent_at: str
    recipient: str


class InvoiceList(Answer):
    invoices: list[Invoice]
    pagination: Pagination


class Plan(Answer):
    plan_id: str
    name: str
    amount: str
    currency: str
    interval: str
    interval_count: int
    features: list[str]
    livemode: bool
    created_at: str


class PayoutDestination(Answer):
    settlement_account_id: str
    type: str
    last_4: str
    account_name: str
    bank_name: str


class PayoutTimeline(Answer):
    status: str
    at: str
    note: str | None


class Payout(Answer):
    payout_id: str
    amount: str
    fee: str
    currency: str
    status: str
    automatic: bool
    merchant_id: int
    settlement_account_id: str
    rail: str
    destination: PayoutDestination
    description: str | None
    metadata: dict[str, Any]
    rail_reference: str | None
    failure_code: str | None
    failure_reason: str | None
    livemode: bool
    created_at: str
    in_transit_at: str | None
    paid_at: str | None
    failed_at: str | None
    canceled_at: str | None
    timeline: list[PayoutTimeline]


class BalanceBalances(Answer):
    currency: str
    pending: str
    available: str
    in_transit: str


class Balance(Answer):
    merchant_id: int
    livemode: bool
    balances: list[BalanceBalances]






class TaxRate(Answer):
    tax_rate_id: str
    name: str
    percentage: str
    default: bool



class PlanList(Answer):
    plans: list[Plan]
    pagination: Pagination


class DashboardRevenue(Answer):
    total: str
    payments: str
    subscriptions: str


class DashboardPayments(Answer):
    total: int
    completed: int
    pending: int
    failed: int
    canceled: int
    refunded: int


class DashboardSubscriptions(SnakeAnswer):
    active: int
    trialing: int
    past_due: int
    canceled: int


class DashboardCustomers(Answer):
    total: int
    new: int


class DashboardTopProducts(Answer):
    name: str
    revenue: str
    count: int


class Dashboard(Answer):
    revenue: DashboardRevenue
    payments: DashboardPayments
    subscriptions: DashboardSubscriptions
    customers: DashboardCustomers
    top_products: list[DashboardTopProducts]
    period: str
    since: str
    currency: str
    livemode: bool


class DashboardSeriesRange(Answer):
    """[start, end) in Unix seconds."""

    start: str
    end: str


class DashboardSeriesFigures(Answer):
    """One bucket's (or a period's) figures: completed revenue net of refunds in minor
    units, by when the payments completed; payments completed and failed, by when made."""

    revenue: str
    completed: int
    failed: int


class DashboardSeriesPrevious(DashboardSeriesFigures):
    start: str


class DashboardSeriesBucket(DashboardSeriesFigures):
    start: str
    # The previous period's bucket at the same place (null past its end: a month of 31
    # days after one of 30).
    previous: DashboardSeriesPrevious | None


class DashboardSeriesCurrency(Answer):
    currency: str
    current: DashboardSeriesFigures
    previous: DashboardSeriesFigures
    buckets: list[DashboardSeriesBucket]


class DashboardSeries(Answer):
    period: str
    granularity: str
    current: DashboardSeriesRange
    previous: DashboardSeriesRange
    currencies: list[DashboardSeriesCurrency]
    livemode: bool


class PayoutList(Answer):
    payouts: list[Payout]
    pagination: Pagination


class Settlement(Answer):
    settlement_id: str
    merchant_id: int
    amount: float
    fee: float
    currency: str
    status: str
    automatic: bool
    settlement_account_id: str
    rail: str
    destination: PayoutDestination
    narration: str | None
    rail_reference: str | None
    failure_reason: str | None
    created_at: str
    paid_at: str | None
    failed_at: str | None
    canceled_at: str | None








class SubscriptionPaymentMethod(Answer):
    payment_method: str
    payer: str


class Subscription(Answer):
    subscription_id: str
    plan_id: str
    customer_id: str
    status: str
    current_period_start: str
    current_period_end: str
    trial_end: str | None
    amount: str
    currency: str
    interval: str
    interval_count: int
    cancel_at_period_end: bool
    canceled_at: str | None
    ends_at: str | None
    cancel_reason: str | None
    metadata: dict[str, Any]
    payment_method: SubscriptionPaymentMethod | None
    livemode: bool
    created_at: str
    subscription_status: str | None = None


class TrialBalanceCurrenciesAccounts(Answer):
    account: str
    name: str
    merchant_id: int
    debit: str
    credit: str


class TrialBalanceCurrencies(Answer):
    currency: str
    accounts: list[TrialBalanceCurrenciesAccounts]
    total_debits: str
    total_credits: str
    balanced: bool


class TrialBalance(Answer):
    currencies: list[TrialBalanceCurrencies]
    livemode: bool
    balanced: bool


class LedgerReversal(Answer):
    transaction_id: str
    reverses: str
    livemode: bool


class LedgerEntry(Answer):
    entry_id: str
    transaction_id: str
    reference_type: str
    reference_id: str
    description: str
    account: str
    account_name: str
    direction: str
    amount: str
    currency: str
    display: str
    reverses: str | None
    merchant_id: int
    livemode: bool
    posted_at: str


class LedgerEntryList(Answer):
    entries: list[LedgerEntry]
    pagination: Pagination


class UpcomingBalanceDays(Answer):
    date: str
    available_on: str
    amount: str


class UpcomingBalance(Answer):
    currency: str
    livemode: bool
    days: list[UpcomingBalanceDays]


class SettlementReportCurrencies(Answer):
    merchant_id: int
    currency: str
    period_start: str
    period_end: str
    gross: str
    charges: str
    refunds: str
    net: str
    payments: int
    refund_count: int


class SettlementReport(Answer):
    merchant_id: int
    period_start: str
    period_end: str
    livemode: bool
    currencies: list[SettlementReportCurrencies]



class SubscriptionList(Answer):
    subscriptions: list[Subscription]
    pagination: Pagination


class LedgerAccountList(Answer):
    account: str
    name: str
    type: str
    currency: str
    merchant_id: int
    livemode: bool
    debits: str
    credits: str
    balance: str



class BalanceTransaction(Answer):
    balance_transaction_id: str
    type: str
    source_id: str
    amount: str
    currency: str
    status: str
    available_on: str
    created_at: str
    description: str
    rail: str | None
    livemode: bool


class BalanceTransactionList(Answer):
    transactions: list[BalanceTransaction]
    pagination: Pagination
