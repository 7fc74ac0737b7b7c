/**
 * Typed errors. Every error the API answers becomes a NorPayError subclass carrying the
 * API's own message ("Error! Insufficient balance" in the NorPay family), the HTTP
 * status, the stable error code (the X-Error-Code header) and the request id.
 */

export interface ErrorDetails {
  status?: number;
  code?: string;
  requestId?: string;
  body?: unknown;
  headers?: Record<string, string>;
  cause?: unknown;
}

export class NorPayError extends Error {
  readonly status?: number;
  readonly code?: string;
  readonly requestId?: string;
  readonly body?: unknown;
  readonly headers: Record<string, string>;

  constructor(message: string, details: ErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = new.target.name;
    this.status = details.status;
    this.code = details.code;
    this.requestId = details.requestId;
    this.body = details.body;
    this.headers = details.headers ?? {};
  }
}

/** 400, 405, 413, 415, 422: the request itself is wrong (the message names the field). */
export class InvalidRequestError extends NorPayError {}
/** 401: the API key or access token is missing, invalid or revoked. */
export class AuthenticationError extends NorPayError {}
/** 402: the payment rail refused (card declined, insufficient balance, ...). */
export class PaymentFailedError extends NorPayError {}
/** 403: authenticated, but not allowed to do this. */
export class PermissionDeniedError extends NorPayError {}
/** 404: no such object (or it belongs to another tenant). */
export class NotFoundError extends NorPayError {}
/** 409: the object's state forbids the action, or an Idempotency-Key was reused. */
export class ConflictError extends NorPayError {}
/** 410: the payment session expired. */
export class PaymentExpiredError extends NorPayError {}

/** 429: too many requests; `retryAfter` is the server's Retry-After in seconds. */
export class RateLimitError extends NorPayError {
  readonly retryAfter?: number;

  constructor(message: string, details: ErrorDetails & { retryAfter?: number } = {}) {
    super(message, details);
    this.retryAfter = details.retryAfter;
  }
}

/** 5xx: the server or an upstream service failed; safe to retry later. */
export class ServerError extends NorPayError {}
/** The API could not be reached, or the connection broke before an answer. */
export class ConnectionError extends NorPayError {}
/** No answer within the client's timeout. */
export class TimeoutError extends ConnectionError {}
/** A webhook's signature, timestamp or payload is not acceptable. */
export class WebhookVerificationError extends NorPayError {}

const BY_STATUS: Record<number, typeof NorPayError> = {
  400: InvalidRequestError, 401: AuthenticationError, 402: PaymentFailedError,
  403: PermissionDeniedError, 404: NotFoundError, 405: InvalidRequestError,
  409: ConflictError, 410: PaymentExpiredError, 413: InvalidRequestError,
  415: InvalidRequestError, 422: InvalidRequestError,
};

/** The class of error an HTTP status is answered with (429 is RateLimitError). */
export function errorClassFor(status: number): typeof NorPayError {
  if (status === 429) return RateLimitError;
  if (BY_STATUS[status]) return BY_STATUS[status];
  return status >= 500 ? ServerError : NorPayError;
}
