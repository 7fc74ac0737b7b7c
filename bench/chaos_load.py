"""Steady payment load for `make chaos`: an open-loop generator through the gateway.

Each tick starts one payment: create, then confirm, alternating a sandbox card in USD
(4242...) and the NOR wallet (one of a few sandbox wallets, so the checks can add up
what each was debited). It behaves as a careful client: every request carries an
`Idempotency-Key`, and a 5xx, 429, `idempotency_key_in_progress` or lost connection is
retried with the same key a few times with backoff. The final answers, and the ones
that were retried, are counted per fault window; every 2xx create's paymentId, and
every 2xx confirm's status, is kept for the checks.

Money out runs beside it (when the merchant's settlement accounts are given): every
`payout_every` seconds a manual payout in USD (`POST /api/v2/payouts/create`, with its
own Idempotency-Key, retried as the payments are), in turn to the default account, to
the default account and canceled at once, to the account that fails ("Account closed")
and to the one the bank returns. A 400 "Insufficient balance" (the daily automatic
payout just took everything) is asked again, with a new key, 0.7 s later. Every 2xx
payout's id and every final cancel answer are kept for the checks.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Coroutine
from typing import Any

import aiohttp

CARD = {"number": "4242424242424242", "expMonth": 12, "expYear": 2099, "cvc": "123"}
WALLETS = [f"0x{n:040x}" for n in range(0xC4A05000, 0xC4A05000 + 12)]
CENTI_NOR = 10**16
RETRY_DELAYS = (0.5, 1.0, 2.0, 3.0)
# The manual payouts' destinations, in turn (roles of bench/chaos_stack.ACCOUNTS);
# "cancel" is a payout to the default account canceled as soon as it is answered.
PAYOUT_TURNS = ("default", "cancel", "closed", "default", "returned")
INSUFFICIENT = "payout_insufficient_balance"


class Load:
    def __init__(self, gateway: str, api_key: str, *, rate: float, max_in_flight: int = 150,
                 accounts: dict[str, str] | None = None, payout_every: float = 5.0):
        self.gateway = gateway
        self.api_key = api_key
        self.rate = rate
        self.max_in_flight = max_in_flight
        self.accounts = accounts or {}  # role -> settlementAccountId; none: no payouts
        self.payout_every = payout_every
        self.payouts: dict[str, str] = {}  # payoutId -> destination role, every 2xx create
        self.cancels: dict[str, int] = {}  # payoutId -> HTTP status of the final cancel
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
            if self.accounts:
                self._spawn(self._payouts(http))
            interval = 1 / self.rate
            next_at = time.monotonic()
            for n in itertools.count():
                if self._stop.is_set():
                    break
                if len(self._tasks) >= self.max_in_flight:
                    self.shed += 1
                else:
                    self._spawn(self._payment(http, n, self.phase))
                next_at += interval
                delay = next_at - time.monotonic()
                if delay > 0:
                    await self._pause(delay)
                else:
                    next_at = time.monotonic()  # behind: do not burst to catch up
            while self._tasks:  # the payouts' loop may start one more as it ends
                await asyncio.wait(set(self._tasks))

    def stop(self) -> None:
        self._stop.set()

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _pause(self, seconds: float) -> bool:
        """Sleeps `seconds`, or less when the load is stopped; True when stopped."""
        try:
            async with asyncio.timeout(seconds):
                await self._stop.wait()
        except TimeoutError:
            pass
        return self._stop.is_set()

    async def _call(self, http: aiohttp.ClientSession, path: str, body: dict, phase: str,
                    op: str) -> tuple[int, dict | None, str]:
        """(status, body, X-Error-Code) of the final answer."""
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
                return status, data, code
            retry = status == 0 or status >= 500 or status == 429 or \
                code == "idempotency_key_in_progress"
            if not retry or attempt == len(RETRY_DELAYS):
                self.outcomes[phase][f"{outcome} {code}".strip()] += 1
                return status, data, code
            self.retried[phase][f"{op} {status or code}"] += 1
            await asyncio.sleep(RETRY_DELAYS[attempt])
        raise AssertionError("unreachable")

    async def _payment(self, http: aiohttp.ClientSession, n: int, phase: str) -> None:
        confirm: dict[str, object]
        if n % 2:
            currency, amount = "USD", random.randint(100, 50_000)
            confirm = {"paymentMethod": "VISA_MASTER", "card": CARD}
        else:
            currency, amount = "NOR", random.randint(1, 50) * CENTI_NOR
            confirm = {"paymentMethod": "NOR_WALLET",
                       "payer": WALLETS[(n // 2) % len(WALLETS)]}
        create = {"amount": str(amount), "currency": currency,
                  "description": f"chaos order {n}", "metadata": {"orderId": f"o{n}"}}
        status, data, _ = await self._call(http, "/api/v2/payments/create", create, phase,
                                           "create")
        if not 200 <= status < 300 or data is None:
            return
        payment_id = data["result"]["paymentId"]
        self.created[payment_id] = currency
        status, data, _ = await self._call(http, f"/api/v2/payments/{payment_id}/confirm",
                                           confirm, phase, "confirm")
        if 200 <= status < 300 and data is not None:
            self.confirmed[payment_id] = data["result"]["status"]

    # Money out --------------------------------------------------------------------------

    async def _payouts(self, http: aiohttp.ClientSession) -> None:
        for n in itertools.count():
            if await self._pause(self.payout_every):
                return
            self._spawn(self._payout(http, n, PAYOUT_TURNS[n % len(PAYOUT_TURNS)],
                                     self.phase))

    async def _payout(self, http: aiohttp.ClientSession, n: int, turn: str,
                      phase: str) -> None:
        body: dict = {"amount": str(random.randint(100, 1000)), "currency": "USD",
                      "description": f"chaos payout {n} ({turn})",
                      "metadata": {"turn": turn}}
        role = "default" if turn == "cancel" else turn
        if role != "default":  # the default account is the one chosen when none is named
            body["settlementAccountId"] = self.accounts[role]
        for attempt in range(4):
            status, data, code = await self._call(http, "/api/v2/payouts/create", body,
                                                  phase, "payout")
            # Not a whole settlement day (2 s) later: that would meet the next daily
            # automatic payout again, just after it took everything available.
            if code != INSUFFICIENT or attempt == 3 or await self._pause(0.7):
                break
        if not 200 <= status < 300 or data is None:
            return
        payout_id = data["result"]["payoutId"]
        self.payouts[payout_id] = role
        if turn == "cancel":
            status, _, _ = await self._call(http, f"/api/v2/payouts/{payout_id}/cancel", {},
                                            phase, "cancel")
            self.cancels[payout_id] = status
