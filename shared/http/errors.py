"""One error catalogue with stable codes; each API family renders it its own way.

Define each message once here; raise `ApiError(Errors.X, field=..., **fmt)`.
Codes are part of the public contract (the `X-Error-Code` header and the
error bodies): never change an existing code, add a new one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError


@dataclass(frozen=True)
class ErrorKind:
    code: str
    status: int
    message: str


class Errors:
    VALIDATION = ErrorKind("validation_error", 400, "{detail}")
    MALFORMED_JSON = ErrorKind("malformed_json", 400, "Request body is not valid JSON: {detail}")
    BODY_NOT_OBJECT = ErrorKind("body_not_object", 400, "Request body must be a JSON object")
    UNSUPPORTED_MEDIA_TYPE = ErrorKind(
        "unsupported_media_type", 415, "Content-Type must be application/json")
    UPLOAD_TOO_SLOW = ErrorKind(
        "upload_too_slow", 408, "The upload did not arrive within {seconds} seconds")
    BODY_TOO_LARGE = ErrorKind(
        "body_too_large", 413, "Request body is larger than the limit of {limit} bytes")
    AMOUNT_NOT_POSITIVE = ErrorKind("amount_not_positive", 400, "Amount must be greater than 0")
    EMAIL_TAKEN = ErrorKind("email_taken", 409, "An account with this e-mail already exists")
    INVALID_CONFIRMATION = ErrorKind(
        "invalid_confirmation_token", 400, "The confirmation token is invalid, used or expired")
    INVALID_CREDENTIALS = ErrorKind("invalid_credentials", 401, "Invalid e-mail or password")
    EMAIL_NOT_CONFIRMED = ErrorKind(
        "email_not_confirmed", 403,
        "Confirm your e-mail address before signing in (see the message we sent you)")
    ACCOUNT_DISABLED = ErrorKind("account_disabled", 403, "This account is disabled")
    TOO_MANY_SIGN_INS = ErrorKind(
        "too_many_sign_ins", 429, "Too many failed sign-ins; try again in {seconds} seconds")
    TOO_MANY_SIGN_UPS = ErrorKind(
        "too_many_sign_ups", 429, "Too many sign-ups {where}; try again in {seconds} seconds")
    INVALID_REFRESH_TOKEN = ErrorKind(
        "invalid_refresh_token", 401, "The refresh token is invalid, expired or revoked")
    REFRESH_TOKEN_REUSED = ErrorKind(
        "refresh_token_reused", 401,
        "This refresh token was already used; every session started from it is now signed out")
    INVALID_ACCESS_TOKEN = ErrorKind(
        "invalid_access_token", 401, "The access token is invalid or expired: {detail}")
    INVALID_API_KEY = ErrorKind("invalid_api_key", 401, "The API key is invalid or revoked")
    # The internal lookup's answer (auth to the gateway), which answers the public 401 above.
    API_KEY_NOT_FOUND = ErrorKind("unknown_api_key", 404, "No live API key matches")
    CANNOT_DELETE_SELF = ErrorKind(
        "cannot_delete_self", 400, "You cannot delete your own account")
    CANNOT_GRANT_SUPER = ErrorKind(
        "cannot_grant_super", 403, "Only a SUPER user can create or promote SUPER users")
    INSUFFICIENT_BALANCE = ErrorKind("insufficient_balance", 402, "Insufficient balance")
    # A payout of more than the available balance (the NorPay seed's message; a 400).
    PAYOUT_INSUFFICIENT_BALANCE = ErrorKind(
        "payout_insufficient_balance", 400, "Insufficient balance")
    PAYOUT_STATE = ErrorKind("payout_state", 409, "A {status} payout cannot be {action}")
    NO_SETTLEMENT_ACCOUNT = ErrorKind(
        "no_settlement_account", 400,
        "settlementAccountId: the merchant has no default {currency} settlement account; "
        "add one (POST /api/v1/admin/merchants/{{merchantId}}/settlement-accounts)")
    PAYOUT_RAIL_LIVE_UNAVAILABLE = ErrorKind(
        "payout_rail_live_unavailable", 400,
        "Payouts to {type} are not available in live mode: no live payout rail is configured")
    PAYMENT_FAILED = ErrorKind("payment_failed", 402, "{reason}")
    PAYMENT_EXPIRED = ErrorKind("payment_expired", 410, "Payment session expired")
    PAYMENT_STATE = ErrorKind("payment_state", 409, "A {status} payment cannot be {action}")
    PAYMENT_METHOD_NOT_ENABLED = ErrorKind(
        "payment_method_not_enabled", 400,
        "Payment method {method} is not enabled for this merchant")
    # The sandbox rails serve test mode only; no live connector ships (docs/modes.md).
    PAYMENT_METHOD_LIVE_UNAVAILABLE = ErrorKind(
        "payment_method_live_unavailable", 400,
        "Payment method {method} is not available in live mode")
    MERCHANT_INACTIVE = ErrorKind(
        "merchant_inactive", 403, "This merchant is inactive and cannot take new payments")
    CHARGE_MISMATCH = ErrorKind(
        "charge_mismatch", 400, "charge must be {expected} for this amount")
    PAYMENT_TOKEN_EXPIRED = ErrorKind(
        "payment_token_expired", 400, "The payment token has expired; generate a new one")
    PAYMENT_TOKEN_INVALID = ErrorKind(
        "payment_token_invalid", 400, "The payment token is invalid: {detail}")
    COMPLETED_NOT_CANCELABLE = ErrorKind(
        "transaction_completed", 409,
        "A completed transaction cannot be cancelled; refund it instead")
    RECEIPT_NOT_AVAILABLE = ErrorKind(
        "receipt_not_available", 409,
        "A receipt is issued only for a COMPLETED or REFUNDED transaction; this one is {status}")
    RECEIPT_LINK_INVALID = ErrorKind(
        "receipt_link_invalid", 403,
        "This receipt download link is invalid; generate the receipt again for a new link")
    RECEIPT_LINK_EXPIRED = ErrorKind(
        "receipt_link_expired", 403,
        "This receipt download link has expired; generate the receipt again for a new link")
    PRICE_AMOUNT_TOO_LOW = ErrorKind(
        "price_amount_too_low", 400, "amount must be at least {minimum}")
    UNAUTHENTICATED = ErrorKind("unauthenticated", 401, "Authentication required")
    INVALID_PRINCIPAL = ErrorKind(
        "invalid_principal", 401, "The internal principal header is invalid or expired")
    FORBIDDEN = ErrorKind("forbidden", 403, "You are not allowed to do this")
    NOT_FOUND = ErrorKind("not_found", 404, "{resource} not found")
    USER_EMAIL_UNKNOWN = ErrorKind(
        "user_email_unknown", 404,
        "user_email: no merchant or user {email} in your scope")
    ROUTE_NOT_FOUND = ErrorKind("route_not_found", 404, "No route for {method} {path}")
    METHOD_NOT_ALLOWED = ErrorKind(
        "method_not_allowed", 405, "Method {method} is not allowed on {path}")
    CONFLICT = ErrorKind("conflict", 409, "{detail}")
    RATE_LIMITED = ErrorKind("rate_limited", 429, "Too many requests; retry later")
    INVALID_IDEMPOTENCY_KEY = ErrorKind(
        "invalid_idempotency_key", 400,
        "Idempotency-Key must be one header of 1 to 255 printable ASCII characters")
    IDEMPOTENCY_KEY_REUSED = ErrorKind(
        "idempotency_key_reused", 409,
        "Idempotency-Key was already used with a different request")
    IDEMPOTENCY_KEY_IN_PROGRESS = ErrorKind(
        "idempotency_key_in_progress", 409,
        "A request with this Idempotency-Key is still in progress")
    # nginx's 499: the client hung up before its request was sent on; nobody reads the
    # answer, but the access log and the metrics then say what happened.
    CLIENT_CLOSED = ErrorKind(
        "client_closed_request", 499, "The client closed the connection before its request "
        "was complete")
    UPSTREAM_UNAVAILABLE = ErrorKind(
        "upstream_unavailable", 502, "The {service} service is unavailable; retry later")
    UPSTREAM_TIMEOUT = ErrorKind(
        "upstream_timeout", 504, "The {service} service did not answer in time")
    NOT_READY = ErrorKind("not_ready", 503, "Service is not ready")
    INTERNAL = ErrorKind("internal_error", 500, "Internal server error")
    DATABASE_UNAVAILABLE = ErrorKind(
        "database_unavailable", 503, "The database is unavailable; retry shortly")
    PUBLISHABLE_KEY_NOT_ALLOWED = ErrorKind(
        "publishable_key_not_allowed", 403,
        "A publishable key (nk_pub_...) works only with the checkout widget's routes "
        "(/v1/widget/...); use a secret key from your server for {path}")
    SECRET_KEY_IN_BROWSER = ErrorKind(
        "secret_key_not_allowed", 403,
        "The checkout widget takes a publishable key (nk_pub_...); a secret key must "
        "never be sent from a browser: revoke it if it was published")
    ORIGIN_NOT_ALLOWED = ErrorKind(
        "origin_not_allowed", 403,
        "Origin {origin} is not allowed for this publishable key; add it to the key's "
        "allowedOrigins")
    WEBHOOK_URL_NOT_ALLOWED = ErrorKind(
        "webhook_url_not_allowed", 400, "url: {detail}")
    WEBHOOK_ENDPOINT_DISABLED = ErrorKind(
        "webhook_endpoint_disabled", 409,
        "This webhook endpoint is disabled; enable it before sending to it")
    WEBHOOK_ENDPOINT_LIMIT = ErrorKind(
        "webhook_endpoint_limit", 409,
        "A merchant may have at most {limit} webhook endpoints; delete one to add another")
    WEBHOOK_SENDS_RATE_LIMITED = ErrorKind(
        "webhook_sends_rate_limited", 429,
        "A merchant may queue at most {limit} redeliveries and test events a minute; "
        "{left} left in this minute, this request needs {wanted}; retry in {seconds} s")
    INVOICE_SENDS_RATE_LIMITED = ErrorKind(
        "invoice_sends_rate_limited", 429, "{detail}; retry in {seconds} s")


class ApiError(Exception):
    def __init__(self, kind: ErrorKind, *, field: str | None = None,
                 details: Any = None, headers: dict[str, str] | None = None, **fmt: Any):
        self.kind = kind
        self.field = field
        self.details = details
        self.headers = headers or {}
        self.message = kind.message.format(**fmt) if fmt else kind.message
        super().__init__(self.message)

    @property
    def status(self) -> int:
        return self.kind.status

    @property
    def code(self) -> str:
        return self.kind.code


def field_path(loc: tuple[str | int, ...]) -> str:
    """A location as clients read it: items[0].unitPrice."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def from_validation_error(exc: ValidationError) -> ApiError:
    """A 400 whose message names the first bad field; all problems in `details`."""
    problems: list[dict[str, str | None]] = []
    for err in exc.errors(include_url=False):
        field = field_path(tuple(err.get("loc", ())))
        msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
        problems.append({"field": field or None, "message": msg})
    first = problems[0] if problems else {"field": None, "message": "invalid request"}
    return ApiError(Errors.VALIDATION, field=first["field"], details=problems,
                    detail=_every_problem(problems) if problems else first["message"])


def _every_problem(problems: list[dict[str, str | None]]) -> str:
    """Every problem in one message, the fields of one problem together ("card.expMonth,
    card.cvc: Field required"), so a client fixes a request in one round, not one 400 per
    field. Past a few the rest are counted; `details` lists them all."""
    grouped: dict[str, list[str]] = {}
    for p in problems:
        grouped.setdefault(str(p["message"]), []).append(p["field"] or "")
    parts = [f"{', '.join(f for f in fields if f)}: {msg}" if any(fields) else msg
             for msg, fields in grouped.items()]
    shown = parts[:_SHOWN_PROBLEMS]
    more = len(parts) - len(shown)
    return "; ".join(shown) + (f"; and {more} more (see details)" if more else "")


_SHOWN_PROBLEMS = 5
