"""Internal HTTP client for service-to-service commands (fee quotes, key lookups).

Carries the request and correlation ids and a signed principal, applies a
timeout to every call, and retries idempotent methods on connection errors,
timeouts and 502/503/504 with a short backoff. Non-idempotent calls are sent
once: retrying a POST could do the work twice.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import orjson

from shared import principal as principal_mod
from shared.db import json_text
from shared.events.broker import backoff_delays
from shared.http.middleware import CORRELATION_ID, REQUEST_ID
from shared.logging import current_correlation_id, current_request_id, get_logger
from shared.settings import Settings

log = get_logger(__name__)

IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
RETRY_STATUSES = frozenset({502, 503, 504})


class ServiceUnavailable(Exception):
    def __init__(self, service: str, reason: str):
        super().__init__(f"{service}: {reason}")
        self.service = service
        self.reason = reason


class InternalClient:
    def __init__(self, settings: Settings, *, caller: str, timeout: float = 5.0,
                 retries: int = 2):
        self._settings = settings
        self._caller = caller
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._retries = retries
        self._session: aiohttp.ClientSession | None = None
        self._closed = False  # closed with its app: a late call must not open a session

    async def __aenter__(self) -> "InternalClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _http(self, service: str) -> aiohttp.ClientSession:
        # Checked on every attempt: a close while a call waits to retry (its session
        # closed under it) must not open a session nobody closes.
        if self._closed:
            raise ServiceUnavailable(service, "the internal client is closed")
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout, json_serialize=json_text)
        return self._session

    async def close(self) -> None:
        self._closed = True
        if self._session is not None:
            await self._session.close()

    def headers(self, principal: principal_mod.Principal | None = None, *,
                audience: str) -> dict[str, str]:
        """Headers for a call to the service `audience`: the principal is signed for it
        alone, so the service it reaches cannot replay it to another."""
        who = principal or principal_mod.Principal(kind="service", subject=self._caller)
        headers = {principal_mod.HEADER: principal_mod.sign(who, self._settings,
                                                            audience=audience)}
        if rid := current_request_id():
            headers[REQUEST_ID] = rid
        if cid := current_correlation_id():
            headers[CORRELATION_ID] = cid
        return headers

    async def request(self, service: str, method: str, path: str, *,
                      json: Any = None, principal: principal_mod.Principal | None = None,
                      params: dict[str, str] | None = None) -> tuple[int, Any]:
        """Returns (status, parsed JSON body); raises ServiceUnavailable when unreachable."""
        method = method.upper()
        url = self._settings.url_of(service) + path
        attempts = 1 + (self._retries if method in IDEMPOTENT else 0)
        delays = backoff_delays(first=0.1, cap=1.0)
        last = "no attempt"
        headers = self.headers(principal, audience=service)
        for attempt in range(1, attempts + 1):
            try:
                async with self._http(service).request(method, url, json=json, params=params,
                                                headers=headers) as resp:
                    body = await resp.read()
                    if resp.status in RETRY_STATUSES and attempt < attempts:
                        last = f"HTTP {resp.status}"
                    else:
                        return resp.status, orjson.loads(body) if body else None
            except (TimeoutError, aiohttp.ClientConnectionError) as exc:
                last = str(exc) or type(exc).__name__
            if attempt < attempts:
                log.warning("internal_call_retry", service=service, path=path, attempt=attempt,
                            reason=last)
                await asyncio.sleep(next(delays))
        raise ServiceUnavailable(service, last)

    async def get_json(self, service: str, path: str) -> Any | None:
        """For a handler: `service`'s answer to GET `path`; None for a 404. An unreachable
        or failing service is the caller's 502 `upstream_unavailable`."""
        from shared.http.errors import ApiError, Errors

        try:
            status, body = await self.request(service, "GET", path)
        except ServiceUnavailable:
            raise ApiError(Errors.UPSTREAM_UNAVAILABLE, service=service) from None
        if status == 404:
            return None
        if status != 200:
            raise ApiError(Errors.UPSTREAM_UNAVAILABLE, service=service)
        return body
