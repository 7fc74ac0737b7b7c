"""The API's resources. Each method builds one call and returns the client's answer:
the ``result`` dict for NorPayClient, an awaitable of it for AsyncNorPayClient.

Arguments are snake_case and go out camelCase (``success_url`` → ``successUrl``),
nested dicts too (``items=[{"unit_price": ...}]``), except ``metadata``, which is
sent as given. Arguments left at None are not sent. Extra keyword arguments are sent
the same way, for fields this version of the SDK does not name.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Mapping
from typing import Any, Union
from urllib.parse import quote

from norchain import webhooks as _webhooks

Amount = Union[str, int]
Epoch = Union[str, int, Any]  # Unix seconds, or a timezone-aware datetime


def _id(value: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError("an id must be a non-empty string")
    return quote(value, safe="")


def _args(**kw: Any) -> dict[str, Any]:
    extra = kw.pop("extra", None) or {}
    return {**kw, **extra}


class _Resource:
    def __init__(self, client: Any):
        self._client = client

    def _get(self, path: str, params: Mapping[str, Any] | None = None, **kw: Any) -> Any:
        return self._client.request("GET", path, params=params, **kw)

    def _post(self, path: str, body: Mapping[str, Any] | None = None,
              idempotency_key: str | None = None, **kw: Any) -> Any:
        return self._client.request("POST", path, body=body or {},
                                    idempotency_key=idempotency_key, **kw)


class Payments(_Resource):
    """One-time payments: ``/api/v2/payments``."""

    def create(self, *, amount: Amount, currency: str, description: str | None = None,
               metadata: Mapping[str, Any] | None = None, success_url: str | None = None,
               cancel_url: str | None = None, idempotency_key: str | None = None,
               **extra: Any) -> Any:
        """Create a payment intent. ``amount`` is in minor units (wei for NOR) as a
        string; ``expires_at=`` (Unix seconds, 5 minutes to 24 hours ahead) chooses when
        its session ends. Answers ``paymentId, amount, currency, status, checkoutUrl,
        expiresAt, createdAt, livemode``."""
        return self._post("/payments/create", _args(
            amount=amount, currency=currency, description=description, metadata=metadata,
            success_url=success_url, cancel_url=cancel_url, extra=extra), idempotency_key)

    def get(self, payment_id: str) -> Any:
        return self._get(f"/payments/{_id(payment_id)}")

    retrieve = get

    def confirm(self, payment_id: str, *, payment_method: str | None = None,
                card: Mapping[str, Any] | None = None, payer: str | None = None,
                phone_number: str | None = None, account: str | None = None,
                idempotency_key: str | None = None, **extra: Any) -> Any:
        """Pay with a method: ``NOR_WALLET`` (``payer``), ``VISA_MASTER`` (``card``
        with ``number, exp_month, exp_year, cvc``), ``OMARI``/``ECOCASH``
        (``phone_number``), ``ZIMSWITCH``/``INNBUCKS`` (``account``)."""
        return self._post(f"/payments/{_id(payment_id)}/confirm", _args(
            payment_method=payment_method, card=card, payer=payer, phone_number=phone_number,
            account=account, extra=extra), idempotency_key)

    def action(self, payment_id: str, *, otp: str | None = None,
               three_d_secure: str | None = None,
               idempotency_key: str | None = None) -> Any:
        """Answer a pending step: an OMARI ``otp`` or ``three_d_secure="pass"``."""
        return self._post(f"/payments/{_id(payment_id)}/action",
                          _args(otp=otp, three_d_secure=three_d_secure), idempotency_key)

    def cancel(self, payment_id: str, *, idempotency_key: str | None = None) -> Any:
        return self._post(f"/payments/{_id(payment_id)}/cancel", None, idempotency_key)

    def refund(self, payment_id: str, *, amount: Amount | None = None,
               reason: str | None = None, idempotency_key: str | None = None) -> Any:
        """Refund ``amount`` (minor units), or all that is left when absent."""
        return self._post(f"/payments/{_id(payment_id)}/refund",
                          _args(amount=amount, reason=reason), idempotency_key)


class Plans(_Resource):
    """Subscription plans: ``/api/v2/plans``."""

    def create(self, *, name: str, amount: Amount, currency: str, interval: str = "month",
               interval_count: int | None = None, features: Iterable[str] | None = None,
               idempotency_key: str | None = None, **extra: Any) -> Any:
        return self._post("/plans/create", _args(
            name=name, amount=amount, currency=currency, interval=interval,
            interval_count=interval_count,
            features=None if features is None else list(features), extra=extra),
            idempotency_key)

    def get(self, plan_id: str) -> Any:
        return self._get(f"/plans/{_id(plan_id)}")

    def list(self, *, page: int | None = None, per_page: int | None = None) -> Any:
        """``{"plans": [...], "pagination": {page, per_page, total}}``."""
        return self._get("/plans", {"page": page, "per_page": per_page})


class Subscriptions(_Resource):
    """Recurring billing: ``/api/v2/subscriptions``."""

    def create(self, *, plan_id: str, customer_id: str, trial_days: int | None = None,
               metadata: Mapping[str, Any] | None = None,
               payment_method: Mapping[str, Any] | None = None,
               idempotency_key: str | None = None, **extra: Any) -> Any:
        """``payment_method`` is the off-session method renewals are charged to, such
        as ``{"payment_method": "NOR_WALLET", "payer": "0x..."}``."""
        return self._post("/subscriptions/create", _args(
            plan_id=plan_id, customer_id=customer_id, trial_days=trial_days,
            metadata=metadata, payment_method=payment_method, extra=extra), idempotency_key)

    def get(self, subscription_id: str) -> Any:
        return self._get(f"/subscriptions/{_id(subscription_id)}")

    def cancel(self, subscription_id: str, *, cancel_at_period_end: bool | None = None,
               reason: str | None = None, idempotency_key: str | None = None) -> Any:
        return self._post(f"/subscriptions/{_id(subscription_id)}/cancel", _args(
            cancel_at_period_end=cancel_at_period_end, reason=reason), idempotency_key)

    def invoices(self, subscription_id: str) -> Any:
        """The subscription's invoices, one per billed period."""
        return self._get(f"/subscriptions/{_id(subscription_id)}/invoices")

    def set_payment_method(self, subscription_id: str, *, payment_method: str,
                           payer: str | None = None, account: str | None = None,
                           idempotency_key: str | None = None) -> Any:
        return self._post(f"/subscriptions/{_id(subscription_id)}/payment-method", _args(
            payment_method=payment_method, payer=payer, account=account), idempotency_key)


class TaxRates(_Resource):
    def create(self, *, name: str, percentage: str | int, default: bool | None = None,
               idempotency_key: str | None = None) -> Any:
        return self._post("/invoices/tax-rates",
                          _args(name=name, percentage=str(percentage), default=default),
                          idempotency_key)

    def list(self) -> Any:
        return self._get("/invoices/tax-rates")


class Invoices(_Resource):
    """Invoices: ``/api/v2/invoices``."""

    def __init__(self, client: Any):
        super().__init__(client)
        self.tax_rates = TaxRates(client)

    def create(self, *, customer: Mapping[str, Any], items: Iterable[Mapping[str, Any]],
               currency: str, due_date: Epoch, notes: str | None = None,
               tax_rate_id: str | None = None, idempotency_key: str | None = None,
               **extra: Any) -> Any:
        """``items`` are dicts of ``description, quantity, unit_price, amount`` (or the
        camelCase keys); ``due_date`` is Unix seconds or an aware datetime."""
        return self._post("/invoices/create", _args(
            customer=customer, items=list(items), currency=currency, due_date=due_date,
            notes=notes, tax_rate_id=tax_rate_id, extra=extra), idempotency_key)

    def get(self, invoice_id: str) -> Any:
        return self._get(f"/invoices/{_id(invoice_id)}")

    def send(self, invoice_id: str, *, idempotency_key: str | None = None) -> Any:
        """E-mail the invoice (PDF attached, payment link): ``invoiceId, sentAt,
        recipient``."""
        return self._post(f"/invoices/{_id(invoice_id)}/send", None, idempotency_key)

    def void(self, invoice_id: str, *, idempotency_key: str | None = None) -> Any:
        return self._post(f"/invoices/{_id(invoice_id)}/void", None, idempotency_key)

    def pdf(self, invoice_id: str) -> Any:
        """The invoice as PDF bytes."""
        return self._get(f"/invoices/{_id(invoice_id)}/pdf", raw=True)


class Merchants(_Resource):
    def dashboard(self, *, period: str | None = None, currency: str | None = None,
                  merchant_id: int | None = None, company_id: int | None = None) -> Any:
        """Statistics for ``period`` = today, week, month (default) or year."""
        return self._get("/merchants/dashboard", {
            "period": period, "currency": currency, "merchant_id": merchant_id,
            "company_id": company_id})

    get_dashboard = dashboard


class LedgerEntries(_Resource):
    def list(self, *, reference_type: str | None = None, reference_id: str | None = None,
             account: str | None = None, page: int | None = None,
             per_page: int | None = None, merchant_id: int | None = None,
             company_id: int | None = None) -> Any:
        """``{"entries": [...], "pagination": {...}}``; each entry has ``display`` such
        as ``Dr Customer NOR Wallet 1.00 NOR``."""
        return self._get("/ledger/entries", {
            "reference_type": reference_type, "reference_id": reference_id,
            "account": account, "page": page, "per_page": per_page,
            "merchant_id": merchant_id, "company_id": company_id})


class LedgerAccounts(_Resource):
    def list(self, *, merchant_id: int | None = None,
             company_id: int | None = None) -> Any:
        return self._get("/ledger/accounts", {"merchant_id": merchant_id,
                                              "company_id": company_id})


class LedgerTransactions(_Resource):
    def reverse(self, transaction_id: str, *, idempotency_key: str | None = None) -> Any:
        """Post the mirror image of a transaction (ADMIN or SUPER)."""
        return self._post(f"/ledger/transactions/{_id(transaction_id)}/reverse", None,
                          idempotency_key)


class Ledger(_Resource):
    """NorLedger: ``norpay.ledger.entries.list(reference_type="payment", ...)`` is the
    seed's ``norledger.entries.list``."""

    def __init__(self, client: Any):
        super().__init__(client)
        self.entries = LedgerEntries(client)
        self.accounts = LedgerAccounts(client)
        self.transactions = LedgerTransactions(client)

    def trial_balance(self, *, merchant_id: int | None = None,
                      company_id: int | None = None) -> Any:
        return self._get("/ledger/trial-balance", {"merchant_id": merchant_id,
                                                   "company_id": company_id})

    def settlement(self, *, period: str | None = None, from_: Epoch | None = None,
                   to: Epoch | None = None, merchant_id: int | None = None,
                   format: str | None = None) -> Any:  # noqa: A002 - the API's name
        """The payout report; ``format="csv"`` answers the CSV bytes."""
        return self._get("/ledger/settlement", {
            "period": period, "from": from_, "to": to, "merchant_id": merchant_id,
            "format": format}, raw=format == "csv")


class WebhookEndpoints(_Resource):
    def create(self, *, url: str, events: builtins.list[str] | None = None,
               enabled: bool | None = None, ordered: bool | None = None,
               description: str | None = None, merchant_id: int | None = None,
               idempotency_key: str | None = None) -> Any:
        """Answers the endpoint with its ``secret`` (shown only here and on rotation)."""
        return self._post("/webhooks/endpoints", _args(
            url=url, events=events, enabled=enabled, ordered=ordered,
            description=description, merchant_id=merchant_id), idempotency_key)

    def list(self, *, page: int | None = None, per_page: int | None = None,
             merchant_id: int | None = None) -> Any:
        return self._get("/webhooks/endpoints", {"page": page, "per_page": per_page,
                                                 "merchant_id": merchant_id})

    def get(self, endpoint_id: str) -> Any:
        return self._get(f"/webhooks/endpoints/{_id(endpoint_id)}")

    def update(self, endpoint_id: str, *, idempotency_key: str | None = None,
               **changes: Any) -> Any:
        """``url, events, enabled, ordered, description``."""
        return self._client.request("PATCH", f"/webhooks/endpoints/{_id(endpoint_id)}",
                                    body=changes, idempotency_key=idempotency_key)

    def delete(self, endpoint_id: str) -> Any:
        return self._client.request("DELETE", f"/webhooks/endpoints/{_id(endpoint_id)}")

    def rotate_secret(self, endpoint_id: str, *, idempotency_key: str | None = None) -> Any:
        return self._post(f"/webhooks/endpoints/{_id(endpoint_id)}/rotate-secret", None,
                          idempotency_key)

    def test(self, endpoint_id: str, *, event_type: str | None = None,
             idempotency_key: str | None = None) -> Any:
        return self._post(f"/webhooks/endpoints/{_id(endpoint_id)}/test",
                          _args(event_type=event_type), idempotency_key)


class WebhookDeliveries(_Resource):
    def list(self, *, endpoint_id: str | None = None, event_id: str | None = None,
             event: str | None = None, status: str | None = None,
             merchant_id: int | None = None, page: int | None = None,
             per_page: int | None = None) -> Any:
        return self._get("/webhooks/deliveries", {
            "endpoint_id": endpoint_id, "event_id": event_id, "event": event,
            "status": status, "merchant_id": merchant_id, "page": page, "per_page": per_page})

    def get(self, delivery_id: str) -> Any:
        return self._get(f"/webhooks/deliveries/{_id(delivery_id)}")

    def redeliver(self, delivery_id: str, *, idempotency_key: str | None = None) -> Any:
        return self._post(f"/webhooks/deliveries/{_id(delivery_id)}/redeliver", None,
                          idempotency_key)


class Webhooks(_Resource):
    """Endpoints, the delivery log, redelivery; and the signature checks
    (``norpay.webhooks.verify`` is `norchain.webhooks.verify`)."""

    verify = staticmethod(_webhooks.verify)
    verify_headers = staticmethod(_webhooks.verify_headers)

    def __init__(self, client: Any):
        super().__init__(client)
        self.endpoints = WebhookEndpoints(client)
        self.deliveries = WebhookDeliveries(client)

    def redeliver(self, *, endpoint_id: str, event_id: str | None = None,
                  since: Epoch | None = None, until: Epoch | None = None,
                  only_failed: bool | None = None,
                  idempotency_key: str | None = None) -> Any:
        """One event again (``event_id``) or every event of a time range."""
        return self._post("/webhooks/redeliver", _args(
            endpoint_id=endpoint_id, event_id=event_id, since=since, until=until,
            only_failed=only_failed), idempotency_key)
