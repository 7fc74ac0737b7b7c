"""A merchant's (or a company's) callback URL in a test: keeps every callback as it came,
raw body and headers, and answers 200."""

from __future__ import annotations

import orjson
from aiohttp import web

from tests.support.net import free_port


class RawReceiver:
    def __init__(self, path: str = "/callbacks") -> None:
        self.calls: list[tuple[bytes, dict[str, str]]] = []
        self.port = free_port()
        self._path = path
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self._path}"

    async def _handle(self, request: web.Request) -> web.Response:
        self.calls.append((await request.read(), dict(request.headers)))
        return web.json_response({"received": True})

    def by_payment(self) -> dict[str, tuple[bytes, dict[str, str]]]:
        """The callbacks by the paymentId in their data."""
        return {orjson.loads(body)["data"].get("paymentId"): (body, headers)
                for body, headers in self.calls}

    def created(self, payment_id: str) -> tuple[bytes, dict[str, str]] | None:
        """The first payment.created callback of `payment_id`."""
        for body, headers in self.calls:
            payload = orjson.loads(body)
            if payload["event"] == "payment.created" and \
                    payload["data"]["paymentId"] == payment_id:
                return body, headers
        return None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post(self._path, self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
