"""NorPayClient (blocking) and AsyncNorPayClient (asyncio), both on httpx."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

import httpx

from norchain._base import DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT, BaseClient, TimeoutTypes
from norchain.resources import (
    Invoices,
    Ledger,
    Merchants,
    Payments,
    Plans,
    Subscriptions,
    Webhooks,
)


class _Resources:
    def _mount(self) -> None:
        self.payments = Payments(self)
        self.plans = Plans(self)
        self.subscriptions = Subscriptions(self)
        self.invoices = Invoices(self)
        self.merchants = Merchants(self)
        self.ledger = Ledger(self)
        self.webhooks = Webhooks(self)


class NorPayClient(BaseClient, _Resources):
    """Blocking client::

        norpay = NorPayClient(api_key="nk_...", base_url="http://127.0.0.1:8080")
        payment = norpay.payments.create(amount="1000000000000000000", currency="NOR")

    Every method returns the API's ``result`` (a dict with the API's camelCase keys) or
    raises a `norchain.errors.NorPayError` subclass. POST and PATCH calls carry an
    Idempotency-Key (generated once per call, or yours via ``idempotency_key=``) that
    every retry reuses, so a retried create never creates twice.
    """

    def __init__(self, api_key: str | None = None, *, base_url: str | None = None,
                 access_token: str | None = None, timeout: TimeoutTypes = DEFAULT_TIMEOUT,
                 max_retries: int = DEFAULT_MAX_RETRIES, backoff: float = 0.5,
                 max_backoff: float = 8.0, headers: Mapping[str, str] | None = None,
                 http_client: httpx.Client | None = None):
        super().__init__(api_key, base_url=base_url, access_token=access_token,
                         timeout=timeout, max_retries=max_retries, backoff=backoff,
                         max_backoff=max_backoff, headers=headers)
        self._own_http = http_client is None
        self._http = http_client or httpx.Client(follow_redirects=False)
        self._mount()

    def request(self, method: str, path: str, *, body: Mapping[str, Any] | None = None,
                params: Mapping[str, Any] | None = None,
                idempotency_key: str | None = None, raw: bool = False,
                timeout: Any = None) -> Any:
        """One API call under ``/api/v2`` with retries; the low-level escape hatch."""
        req = self.build(method, path, body=body, params=params,
                         idempotency_key=idempotency_key, raw=raw, timeout=timeout)
        attempt = 0
        while True:
            try:
                response = self._http.request(req.method, req.url, params=req.params,
                                              content=req.content, headers=req.headers,
                                              timeout=req.timeout)
            except httpx.TransportError as exc:
                done, value = self.settle(req, attempt, failure=exc)
            else:
                done, value = self.settle(req, attempt, response=response)
            if done:
                return value
            time.sleep(value)
            attempt += 1

    def close(self) -> None:
        if self._own_http:
            self._http.close()

    def __enter__(self) -> NorPayClient:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class AsyncNorPayClient(BaseClient, _Resources):
    """The same API for asyncio: every resource method returns an awaitable::

        async with AsyncNorPayClient(api_key="nk_...") as norpay:
            payment = await norpay.payments.create(amount="1000", currency="USD")
    """

    def __init__(self, api_key: str | None = None, *, base_url: str | None = None,
                 access_token: str | None = None, timeout: TimeoutTypes = DEFAULT_TIMEOUT,
                 max_retries: int = DEFAULT_MAX_RETRIES, backoff: float = 0.5,
                 max_backoff: float = 8.0, headers: Mapping[str, str] | None = None,
                 http_client: httpx.AsyncClient | None = None):
        super().__init__(api_key, base_url=base_url, access_token=access_token,
                         timeout=timeout, max_retries=max_retries, backoff=backoff,
                         max_backoff=max_backoff, headers=headers)
        self._own_http = http_client is None
        self._http = http_client or httpx.AsyncClient(follow_redirects=False)
        self._mount()

    async def request(self, method: str, path: str, *, body: Mapping[str, Any] | None = None,
                      params: Mapping[str, Any] | None = None,
                      idempotency_key: str | None = None, raw: bool = False,
                      timeout: Any = None) -> Any:
        req = self.build(method, path, body=body, params=params,
                         idempotency_key=idempotency_key, raw=raw, timeout=timeout)
        attempt = 0
        while True:
            try:
                response = await self._http.request(req.method, req.url, params=req.params,
                                                    content=req.content, headers=req.headers,
                                                    timeout=req.timeout)
            except httpx.TransportError as exc:
                done, value = self.settle(req, attempt, failure=exc)
            else:
                done, value = self.settle(req, attempt, response=response)
            if done:
                return value
            await asyncio.sleep(value)
            attempt += 1

    async def aclose(self) -> None:
        if self._own_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncNorPayClient:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()
