"""The edge's mapping of the payment's domain errors (domain.PaymentRefused) to the
HTTP errors of the API families: NorPay (`/api/v2`) and NORAH (`/api/v1`) answer the
same codes and messages (shared/http/errors.py Errors), each in its own envelope (the
middleware picks it by route). The pages map them to their views themselves
(pages.py, norah_page.py), with these messages."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from services.checkout import domain
from shared.http.errors import ApiError, Errors


def api_error(exc: domain.PaymentRefused) -> ApiError:
    if isinstance(exc, domain.SessionExpired):
        return ApiError(Errors.PAYMENT_EXPIRED)
    if isinstance(exc, domain.WrongState):
        return ApiError(Errors.PAYMENT_STATE, status=exc.status, action=exc.action)
    if isinstance(exc, domain.MethodNotEnabled):
        return ApiError(Errors.PAYMENT_METHOD_NOT_ENABLED, field="paymentMethod",
                        method=exc.method)
    if isinstance(exc, domain.MethodUnavailableLive):
        return ApiError(Errors.PAYMENT_METHOD_LIVE_UNAVAILABLE, field="paymentMethod",
                        method=exc.method)
    if isinstance(exc, domain.RefundTooLarge):
        return ApiError(Errors.VALIDATION, field="amount", detail=str(exc))
    raise TypeError(f"no API error for {type(exc).__name__}")  # a new rule unmapped


@contextmanager
def api_errors() -> Iterator[None]:
    """Around an API handler's use case: a refused step is its 4xx."""
    try:
        yield
    except domain.PaymentRefused as exc:
        raise api_error(exc) from None
