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


async def hosted_payment(app: web.Application, *, merchant_id: int, amount: int,
                         currency: str, description: str, metadata: dict,
                         expires_at: datetime) -> dict:
    """A pending payment whose checkout page stays open until `expires_at`."""
    try:
        return await _post(app, {"merchantId": merchant_id, "amount": str(amount),
                                 "currency": currency, "description": description,
                                 "metadata": metadata,
                                 "expiresAt": int(expires_at.timestamp())})
    except CollectionUnavailable:
        raise ApiError(Errors.UPSTREAM_UNAVAILABLE, service="checkout") from None
    except CollectionRefused as exc:
        raise ApiError(Errors.CONFLICT, detail=str(exc)) from None


async def charge(app: web.Application, *, merchant_id: int, amount: int, currency: str,
                 description: str, metadata: dict, method: dict) -> dict:
    """Charge a saved method now: {paymentId, status: completed|failed, failureReason}."""
    try:
        return await _post(app, {"merchantId": merchant_id, "amount": str(amount),
                                 "currency": currency, "description": description,
                                 "metadata": metadata, "charge": method})
    except CollectionRefused as exc:
        return {"status": "failed", "failureReason": str(exc), "paymentId": None}
