"""Billing's calls to checkout (services/checkout/collect_api.py): a hosted payment
for an invoice, or an off-session charge of a subscription's saved method."""

from __future__ import annotations

from datetime import datetime

from aiohttp import web

from services.billing.context import CLIENT
from shared.http.client import ServiceUnavailable
from shared.http.errors import ApiError, Errors


class CollectionUnavailable(Exception):
    """Checkout could not be reached, or failed (5xx): try again later."""


class CollectionRefused(Exception):
    """Checkout refused the request (inactive merchant, bad saved details)."""


def payment_request(*, merchant_id: int, livemode: bool, amount: int, currency: str,
                    description: str, metadata: dict, **extra) -> dict:
    """The body of `POST /internal/payments`: a payment in the mode of the invoice it
    is for. `livemode` is sent only when true (absent means test), so a test invoice's
    request is the same as before modes existed."""
    body = {"merchantId": merchant_id, "amount": str(amount), "currency": currency,
            "description": description, "metadata": metadata, **extra}
    if livemode:
        body["livemode"] = True
    return body


async def _post(app: web.Application, body: dict) -> dict:
    try:
        status, answer = await app[CLIENT].request("checkout", "POST", "/internal/payments",
                                                   json=body)
    except ServiceUnavailable as exc:
        raise CollectionUnavailable(str(exc)) from None
    if status == 201:
        return answer
    if 400 <= status < 500:
        error = (answer or {}).get("error") or {}
        raise CollectionRefused(error.get("message") or f"checkout answered {status}")
    raise CollectionUnavailable(f"checkout answered {status}: {answer}")


async def hosted_payment(app: web.Application, *, merchant_id: int, livemode: bool,
                         amount: int, currency: str, description: str, metadata: dict,
                         expires_at: datetime) -> dict:
    """A pending payment whose checkout page stays open until `expires_at`."""
    try:
        return await _post(app, payment_request(
            merchant_id=merchant_id, livemode=livemode, amount=amount, currency=currency,
            description=description, metadata=metadata,
            expiresAt=int(expires_at.timestamp())))
    except CollectionUnavailable:
        raise ApiError(Errors.UPSTREAM_UNAVAILABLE, service="checkout") from None
    except CollectionRefused as exc:
        raise ApiError(Errors.CONFLICT, detail=str(exc)) from None


async def charge(app: web.Application, *, merchant_id: int, livemode: bool, amount: int,
                 currency: str, description: str, metadata: dict, method: dict) -> dict:
    """Charge a saved method now: {paymentId, status: completed|failed, failureReason}."""
    try:
        return await _post(app, payment_request(
            merchant_id=merchant_id, livemode=livemode, amount=amount, currency=currency,
            description=description, metadata=metadata, charge=method))
    except CollectionRefused as exc:
        return {"status": "failed", "failureReason": str(exc), "paymentId": None}
