"""Typed errors. Every error the API answers becomes a `NorPayError` subclass that
carries the API's own message (``"Error! Insufficient balance"``), the HTTP status,
the stable error code from the ``X-Error-Code`` header and the request id."""

from __future__ import annotations

from typing import Any


class NorPayError(Exception):
    """Base class of every error raised by the SDK."""

    def __init__(self, message: str, *, status: int | None = None,
                 code: str | None = None, request_id: str | None = None,
                 body: Any = None, headers: dict | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.request_id = request_id
        self.body = body
        self.headers = dict(headers or {})

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(message={self.message!r}, status={self.status!r}, "
                f"code={self.code!r}, request_id={self.request_id!r})")


class InvalidRequest(NorPayError):
    """400, 405, 413, 415, 422: the request itself is wrong (the message names the field)."""


class AuthenticationError(NorPayError):
    """401: the API key or access token is missing, invalid or revoked."""


class PaymentFailed(NorPayError):
    """402: the payment rail refused (card declined, insufficient balance, ...)."""


class PermissionDenied(NorPayError):
    """403: authenticated, but not allowed to do this."""


class NotFound(NorPayError):
    """404: no such object (or it belongs to another tenant)."""


class Conflict(NorPayError):
    """409: the object's state forbids the action, or an Idempotency-Key was reused
    with a different request (code ``idempotency_key_reused``)."""


class PaymentExpired(NorPayError):
    """410: the payment session expired."""


class RateLimited(NorPayError):
    """429: too many requests. `retry_after` is the server's Retry-After in seconds."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any):
        super().__init__(message, **kw)
        self.retry_after = retry_after


class ServerError(NorPayError):
    """5xx: the server or an upstream service failed; safe to retry later."""


class ConnectionError(NorPayError):  # noqa: A001 - shadows the builtin on purpose
    """The API could not be reached, or the connection broke before an answer."""


APIConnectionError = ConnectionError  # for code that must not shadow the builtin


class Timeout(ConnectionError):
    """No answer within the client's timeout."""


_BY_STATUS = {
    400: InvalidRequest, 401: AuthenticationError, 402: PaymentFailed,
    403: PermissionDenied, 404: NotFound, 405: InvalidRequest, 409: Conflict,
    410: PaymentExpired, 413: InvalidRequest, 415: InvalidRequest, 422: InvalidRequest,
    429: RateLimited,
}


def error_class(status: int) -> type[NorPayError]:
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    if status >= 500:
        return ServerError
    return NorPayError
