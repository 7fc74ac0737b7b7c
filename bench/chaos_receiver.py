"""The merchant's webhook receiver for `make chaos`.

It checks the seed's signature (`X-NorPay-Signature`, hex HMAC-SHA256 of the raw
body keyed with the endpoint's `whsec_...` secret) and that the body's `id` is the
`webhook-id`, then records the event by that id. `fail_for(seconds)` makes it answer
500 for a while, as a merchant's broken deploy would. Delivery is at least once, so
it counts how often each id was accepted rather than assuming once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections import Counter

from aiohttp import web

from bench.hooks import HookServer


class Receiver(HookServer):
    def __init__(self, port: int):
        super().__init__(port)
        self.secret: str | None = None
        self.accepted: Counter[str] = Counter()  # webhook-id -> 2xx answers given
        self.events: dict[str, dict] = {}  # webhook-id -> body, kept once
        self.refused = 0  # 500s answered while failing
        self.bad: list[str] = []  # bad signature or id mismatch
        self._fail_until = 0.0

    def fail_for(self, seconds: float) -> None:
        self._fail_until = time.monotonic() + seconds

    def heal(self) -> None:
        self._fail_until = 0.0

    def _signed(self, body: bytes, headers) -> bool:
        if self.secret is None:
            return False
        expected = hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, headers.get("X-NorPay-Signature", ""))

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        webhook_id = request.headers.get("webhook-id", "")
        if time.monotonic() < self._fail_until:
            self.refused += 1
            return web.Response(status=500, text="receiver is down for maintenance")
        try:
            payload = json.loads(body)
        except ValueError:
            payload = {}
        if not self._signed(body, request.headers) or payload.get("id") != webhook_id:
            self.bad.append(webhook_id or "?")
            return web.Response(status=401, text="bad signature")
        self.accepted[webhook_id] += 1
        self.events.setdefault(webhook_id, payload)
        return web.Response(status=200, text="ok")
