"""What the sync and async clients share: configuration, request building, the retry
policy and turning answers into results or typed errors. No I/O here."""

from __future__ import annotations

import datetime as _dt
import json
import os
import random
import uuid
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any, Union

import httpx

from norchain import _convert
from norchain._version import __version__
from norchain.errors import (
    Conflict,
    ConnectionError,
    NorPayError,
    RateLimited,
    ServerError,
    Timeout,
    error_class,
)

DEFAULT_BASE_URL = "http://127.0.0.1:8080"
DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_RETRIES = 2
API_PREFIX = "/api/v2"
# Methods the gateway applies Idempotency-Key to: every one of them gets a key.
KEYED_METHODS = frozenset({"POST", "PATCH"})
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# The gateway answers 409 with this code while the first request with the key runs.
IN_PROGRESS = "idempotency_key_in_progress"
MAX_RETRY_AFTER = 60.0

TimeoutTypes = Union[float, httpx.Timeout, None]


def new_idempotency_key() -> str:
    return f"norchain-{uuid.uuid4()}"


class Request:
    """One logical call; its attempts share the same bytes and Idempotency-Key."""

    __slots__ = ("method", "url", "params", "content", "headers", "raw", "timeout")

    def __init__(self, method: str, url: str, params: dict[str, str], content: bytes | None,
                 headers: dict[str, str], raw: bool, timeout: Any):
        self.method, self.url, self.params = method, url, params
        self.content, self.headers, self.raw, self.timeout = content, headers, raw, timeout


class BaseClient:
    def __init__(self, api_key: str | None = None, *, base_url: str | None = None,
                 access_token: str | None = None, timeout: TimeoutTypes = DEFAULT_TIMEOUT,
                 max_retries: int = DEFAULT_MAX_RETRIES, backoff: float = 0.5,
                 max_backoff: float = 8.0, headers: Mapping[str, str] | None = None):
        api_key = api_key or os.environ.get("NORPAY_API_KEY")
        if not api_key and not access_token:
            raise ValueError("NorPayClient needs api_key= (or NORPAY_API_KEY) or access_token=")
        if max_retries < 0:
            raise ValueError("max_retries must be 0 or more")
        self.api_key = api_key
        self.access_token = access_token
        self.base_url = _normalise(base_url or os.environ.get("NORPAY_BASE_URL")
                                   or DEFAULT_BASE_URL)
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._extra_headers = dict(headers or {})

    def __repr__(self) -> str:  # never the key
        return f"{type(self).__name__}(base_url={self.base_url!r})"

    # Building ------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        out = {"Accept": "application/json", "User-Agent": f"norchain-python/{__version__}"}
        if self.api_key:
            out["X-API-Key"] = self.api_key
        if self.access_token:
            out["Authorization"] = f"Bearer {self.access_token}"
        out.update(self._extra_headers)
        return out

    def build(self, method: str, path: str, *, body: Mapping[str, Any] | None = None,
              params: Mapping[str, Any] | None = None, idempotency_key: str | None = None,
              raw: bool = False, timeout: Any = None) -> Request:
        method = method.upper()
        headers = self._headers()
        content = None
        if method in KEYED_METHODS or body is not None:
            content = json.dumps(_convert.body(body or {}), separators=(",", ":"),
                                 ensure_ascii=False).encode()
            headers["Content-Type"] = "application/json"
        if method in KEYED_METHODS:
            headers["Idempotency-Key"] = idempotency_key or new_idempotency_key()
        elif idempotency_key is not None:
            raise ValueError(f"Idempotency-Key applies to POST and PATCH, not {method}")
        return Request(method, self.base_url + API_PREFIX + path, _convert.query(params),
                       content, headers, raw, self.timeout if timeout is None else timeout)

    # Answers -------------------------------------------------------------------

    def result(self, req: Request, response: httpx.Response) -> Any:
        """The envelope's `result`, or the raw bytes for `raw` calls; a typed error for
        anything but a success."""
        if 200 <= response.status_code < 300:
            if req.raw:
                return response.content
            payload = _json(response)
            if isinstance(payload, dict) and payload.get("status") == "1" and "result" in payload:
                return payload["result"]
            if isinstance(payload, dict) and payload.get("status") == "0":
                raise self.error(response)
            if response.status_code == 204 or not response.content:
                return None
            return payload
        raise self.error(response)

    def error(self, response: httpx.Response) -> NorPayError:
        payload = _json(response)
        message = None
        code = response.headers.get("X-Error-Code")
        if isinstance(payload, dict):
            if isinstance(payload.get("message"), str):
                message = payload["message"]  # NorPay and NORAH: "Error! ..." verbatim
            detail = payload.get("error")
            if isinstance(detail, dict):
                message = message or detail.get("message")
                code = code or detail.get("code")
        if not message:
            text = response.text.strip()[:200] if response.content else ""
            message = f"HTTP {response.status_code}" + (f": {text}" if text else "")
        kind = error_class(response.status_code)
        common = dict(status=response.status_code, code=code, body=payload,
                      request_id=response.headers.get("X-Request-ID"),
                      headers=dict(response.headers))
        if kind is RateLimited:
            return RateLimited(message, retry_after=retry_after(response), **common)
        return kind(message, **common)

    # Retries -------------------------------------------------------------------

    def settle(self, req: Request, attempt: int, *, response: httpx.Response | None = None,
               failure: httpx.TransportError | None = None) -> tuple[bool, Any]:
        """After attempt `attempt`: (True, result), or (False, seconds to wait before
        the next attempt); raises the typed error when there is none to make."""
        if failure is not None:
            error: NorPayError = self.transport_error(failure)
            error.__cause__ = failure
        else:
            try:
                return True, self.result(req, response)
            except NorPayError as exc:
                error = exc
        delay = self.retry_delay(attempt, error)
        if delay is None:
            raise error
        return False, delay

    def retry_delay(self, attempt: int, error: NorPayError) -> float | None:
        """Seconds to wait before attempt `attempt + 1`, or None to give up."""
        if attempt >= self.max_retries:
            return None
        retryable = (
            isinstance(error, ConnectionError)
            or (isinstance(error, (ServerError, RateLimited)) and error.status in RETRY_STATUSES)
            or (isinstance(error, Conflict) and error.code == IN_PROGRESS))
        if not retryable:
            return None
        delay = min(self.max_backoff, self.backoff * (2 ** attempt))
        delay *= 0.5 + random.random() / 2  # jitter: spread the clients that failed together
        server = error.retry_after if isinstance(error, RateLimited) else \
            _header_seconds(error.headers.get("retry-after") or error.headers.get("Retry-After"))
        if server is not None:
            if server > MAX_RETRY_AFTER:
                return None
            delay = max(delay, server)
        return delay

    @staticmethod
    def transport_error(exc: httpx.TransportError) -> ConnectionError:
        if isinstance(exc, httpx.TimeoutException):
            return Timeout(f"No answer in time: {exc or type(exc).__name__}")
        return ConnectionError(f"Could not reach the NorPay API: {exc or type(exc).__name__}")


def _normalise(url: str) -> str:
    url = url.rstrip("/")
    for suffix in (API_PREFIX, "/api"):
        if url.endswith(suffix):
            url = url[: -len(suffix)]
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"base_url must start with http:// or https://, not {url!r}")
    return url


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _header_seconds(raw: str | None) -> float | None:
    if not raw:
        return None
    raw = raw.strip()
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - _dt.datetime.now(_dt.timezone.utc)).total_seconds())


def retry_after(response: httpx.Response) -> float | None:
    return _header_seconds(response.headers.get("Retry-After"))
