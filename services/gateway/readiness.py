"""The gateway's readiness covers its upstreams, at start-up only.

A script or an orchestrator waits on the gateway's `/readyz` before its first request.
Answering 200 while auth (or any service the gateway routes to) is still starting would
send that request to a 502, so until every upstream has answered its own `/readyz` 200
once, the gateway's `/readyz` is 503 and names those still not ready. Once they all have,
the gateway stays ready: an upstream that goes down later fails only its own routes
(502/503), and taking the whole edge out of rotation for it would fail every other route
too.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from services.gateway.proxy import UPSTREAM_SESSION
from services.gateway.routing import UPSTREAMS
from shared.http.middleware import SETTINGS
from shared.logging import get_logger
from shared.settings import Settings

log = get_logger(__name__)

PROBE_TIMEOUT_SECONDS = 1.0


class UpstreamReadiness:
    """Which upstreams have been seen ready. Probes of the ones not yet seen are shared:
    concurrent `/readyz` calls wait for the same round of probes."""

    def __init__(self, settings: Settings, session: aiohttp.ClientSession,
                 services: tuple[str, ...] = UPSTREAMS) -> None:
        self._settings = settings
        self._session = session
        self._services = services
        self._seen: set[str] = set()
        self._round: asyncio.Task[None] | None = None

    @property
    def complete(self) -> bool:
        return self._seen.issuperset(self._services)

    async def checks(self) -> dict[str, str]:
        """`upstream.<service>`: "up" once it answered its /readyz 200, else "not_ready"."""
        if not self.complete:
            if self._round is None or self._round.done():
                self._round = asyncio.create_task(self._probe_missing(),
                                                  name="upstream-readiness")
            await asyncio.shield(self._round)
        return {f"upstream.{name}": "up" if name in self._seen else "not_ready"
                for name in self._services}

    async def _probe_missing(self) -> None:
        missing = [name for name in self._services if name not in self._seen]
        answers = await asyncio.gather(*(self._ready(name) for name in missing))
        for name, ready in zip(missing, answers, strict=True):
            if ready:
                self._seen.add(name)
        if self.complete:
            log.info("upstreams_ready", upstreams=list(self._services))

    async def _ready(self, name: str) -> bool:
        url = self._settings.url_of(name) + "/readyz"
        try:
            async with self._session.get(
                    url, timeout=aiohttp.ClientTimeout(total=PROBE_TIMEOUT_SECONDS)) as resp:
                return resp.status == 200
        except (TimeoutError, aiohttp.ClientError):
            return False

    async def close(self) -> None:
        if self._round is not None and not self._round.done():
            self._round.cancel()
            await asyncio.gather(self._round, return_exceptions=True)


READINESS = web.AppKey("upstream_readiness", UpstreamReadiness)


async def readiness_ctx(app: web.Application) -> AsyncIterator[None]:
    """After upstream_session_ctx: the probes share the proxy's aiohttp session."""
    readiness = UpstreamReadiness(app[SETTINGS], app[UPSTREAM_SESSION])
    app[READINESS] = readiness
    yield
    await readiness.close()


async def upstream_checks(app: web.Application) -> dict[str, str]:
    readiness = app.get(READINESS)
    if readiness is None:  # still starting: nothing probed yet
        return {f"upstream.{name}": "not_ready" for name in UPSTREAMS}
    return await readiness.checks()
