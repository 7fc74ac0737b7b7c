"""Steady payment load for `make chaos`: an open-loop generator through the gateway.

Each tick starts one payment: create, then confirm, alternating a sandbox card in USD
(4242...) and the NOR wallet (one of a few sandbox wallets, so the checks can add up
what each was debited). It behaves as a careful client: every request carries an
`Idempotency-Key`, and a 5xx, 429, `idempotency_key_in_progress` or lost connection is
retried with the same key a few times with backoff. The final answers, and the ones
that were retried, are counted per fault window; every 2xx create's paymentId, and
every 2xx confirm's status, is kept for the checks.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
import uuid
from collections import Counter, defaultdict

import aiohttp

CARD = {"number": "4242424242424242", "expMonth": 12, "expYear": 2099, "cvc": "123"}
WALLETS = [f"0x{n:040x}" for n in range(0xC4A05000, 0xC4A05000 + 12)]
CENTI_NOR = 10**16
RETRY_DELAYS = (0.5, 1.0, 2.0, 3.0)


class Load:
    def __init__(self, gateway: str, api_key: str, *, rate: float, max_in_flight: int = 150):
        self.gateway = gateway
        self.api_key = api_key
        self.rate = rate
        self.max_in_flight = max_in_flight
        self.phase = "warm-up"
        self.created: dict[str, str] = {}  # paymentId -> currency, for every 2xx create
        self.confirmed: dict[str, str] = {}  # paymentId -> status in a 2xx confirm answer
        self.outcomes: dict[str, Counter] = defaultdict(Counter)  # phase -> outcome -> n
        self.retried: dict[str, Counter] = defaultdict(Counter)  # phase -> answer -> n
        self.shed = 0  # ticks skipped because max_in_flight requests were waiting
        self._tasks: set[asyncio.Task] = set()
        self._stop = asyncio.Event()

    async def run(self) -> None:
        connector = aiohttp.TCPConnector(limit=self.max_in_flight)
        timeout = aiohttp.ClientTimeout(total=20)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout,
                                         headers={"X-API-Key": self.api_key}) as http:
            interval = 1 / self.rate
            next_at = time.monotonic()
            for n in itertools.count():
                if self._stop.is_set():
                    break
                if len(self._tasks) >= self.max_in_flight:
                    self.shed += 1
                else:
                    task = asyncio.create_task(self._payment(http, n, self.phase))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
                next_at += interval
                delay = next_at - time.monotonic()
                if delay > 0:
                    try:
                        async with asyncio.timeout(delay):
                            await self._stop.wait()
                    except TimeoutError:
                        pass
                else:
                    next_at = time.monotonic()  # behind: do not burst to catch up
            if self._tasks:
                await asyncio.wait(set(self._tasks))

    def stop(self) -> None:
        self._stop.set()

    async def _call(self, http: aiohttp.ClientSession, path: str, body: dict, phase: str,
                    op: str) -> tuple[int, dict | None]:
        key = str(uuid.uuid4())
        for attempt in range(len(RETRY_DELAYS) + 1):
            status, data, code = 0, None, ""
            try:
                async with http.post(self.gateway + path, json=body,
                                     headers={"Idempotency-Key": key}) as resp:
                    status, code = resp.status, resp.headers.get("X-Error-Code", "")
                    data = await resp.json(content_type=None)
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                code = type(exc).__name__
            outcome = f"{op} {status or code}"
            if 200 <= status < 300:
                self.outcomes[phase][outcome] += 1
                return status, data
            retry = status == 0 or status >= 500 or status == 429 or \
                code == "idempotency_key_in_progress"
            if not retry or attempt == len(RETRY_DELAYS):
                self.outcomes[phase][f"{outcome} {code}".strip()] += 1
                return status, data
            self.retried[phase][f"{op} {status or code}"] += 1
            await asyncio.sleep(RETRY_DELAYS[attempt])
        raise AssertionError("unreachable")

    async def _payment(self, http: aiohttp.ClientSession, n: int, phase: str) -> None:
        if n % 2:
            create = {"amount": str(random.randint(100, 50_000)), "currency": "USD",
                      "description": f"chaos order {n}", "metadata": {"orderId": f"o{n}"}}
            confirm = {"paymentMethod": "VISA_MASTER", "card": CARD}
        else:
            create = {"amount": str(random.randint(1, 50) * CENTI_NOR), "currency": "NOR",
                      "description": f"chaos order {n}", "metadata": {"orderId": f"o{n}"}}
            confirm = {"paymentMethod": "NOR_WALLET",
                       "payer": WALLETS[(n // 2) % len(WALLETS)]}
        status, data = await self._call(http, "/api/v2/payments/create", create, phase,
                                        "create")
        if not 200 <= status < 300:
            return
        payment_id = data["result"]["paymentId"]
        self.created[payment_id] = create["currency"]
        status, data = await self._call(http, f"/api/v2/payments/{payment_id}/confirm",
                                        confirm, phase, "confirm")
        if 200 <= status < 300:
            self.confirmed[payment_id] = data["result"]["status"]
