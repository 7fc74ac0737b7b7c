"""One supervised AMQP connection per process.

The relay and the consumers of a service share it. When RabbitMQ goes away
the supervisor reconnects with capped exponential backoff and runs the
`on_connect` hooks again, so consumers re-declare and resume by themselves.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Iterator

import aio_pika
from aio_pika.abc import AbstractConnection

from shared.aio import being_cancelled, cancel_and_wait
from shared.logging import get_logger

log = get_logger(__name__)

ConnectHook = Callable[[AbstractConnection], Awaitable[None]]


def backoff_delays(first: float = 0.2, cap: float = 15.0) -> Iterator[float]:
    """Capped exponential backoff with full jitter: 0.2 s, 0.4 s, ... at most `cap`."""
    delay = first
    while True:
        yield random.uniform(delay / 2, delay)
        delay = min(cap, delay * 2)


class Broker:
    def __init__(self, url: str, *, name: str, backoff_cap: float = 15.0):
        self._url = url
        self._name = name
        self._backoff_cap = backoff_cap
        self._hooks: list[ConnectHook] = []
        self._connection: AbstractConnection | None = None
        self._up = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def is_up(self) -> bool:
        return self._up.is_set() and self._connection is not None \
            and not self._connection.is_closed

    @property
    def connection(self) -> AbstractConnection:
        if not self.is_up or self._connection is None:  # is_up implies it; the type does not
            raise ConnectionError("broker connection is down")
        return self._connection

    def on_connect(self, hook: ConnectHook) -> None:
        """Run `hook` now if connected, and after every (re)connection."""
        self._hooks.append(hook)
        if self.is_up:
            asyncio.get_running_loop().create_task(self._run_hook(hook, self.connection))

    async def wait_up(self, timeout: float | None = None) -> bool:
        # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation.
        try:
            async with asyncio.timeout(timeout):
                await self._up.wait()
            return True
        except TimeoutError:
            return False

    async def start(self) -> None:
        self._task = asyncio.create_task(self._supervise(), name=f"broker-{self._name}")

    async def stop(self) -> None:
        self._stopping = True
        await cancel_and_wait(self._task)
        if self._connection and not self._connection.is_closed:
            await self._connection.close()
        self._up.clear()

    async def _run_hook(self, hook: ConnectHook, connection: AbstractConnection) -> None:
        try:
            await hook(connection)
        except Exception as exc:
            if being_cancelled():
                raise asyncio.CancelledError from exc
            if self._stopping:
                return
            # A hook that cannot set itself up (e.g. declare failed) must not
            # leave a half-working consumer: drop the connection and retry all.
            log.exception("broker_hook_failed", broker=self._name)
            await connection.close()

    async def _supervise(self) -> None:
        delays = backoff_delays(cap=self._backoff_cap)
        while not self._stopping:
            closed = asyncio.Event()
            try:
                connection = await aio_pika.connect(
                    self._url, client_properties={"connection_name": self._name}, timeout=10)
            except Exception as exc:
                if being_cancelled():
                    raise asyncio.CancelledError from exc
                delay = next(delays)
                log.warning("broker_unavailable", broker=self._name, error=str(exc) or
                            type(exc).__name__, retry_in=round(delay, 2))
                await asyncio.sleep(delay)
                continue
            connection.close_callbacks.add(lambda *_, closed=closed: closed.set())
            self._connection = connection
            self._up.set()
            connected_at = asyncio.get_running_loop().time()
            log.info("broker_connected", broker=self._name)
            for hook in list(self._hooks):
                await self._run_hook(hook, connection)
            if self._stopping:
                break
            await closed.wait()
            self._up.clear()
            if self._stopping:
                break
            log.warning("broker_connection_lost", broker=self._name)
            # Reset the backoff only after a connection that held for a while,
            # so a broker that accepts and then drops us is not hammered.
            if asyncio.get_running_loop().time() - connected_at > 5:
                delays = backoff_delays(cap=self._backoff_cap)
            await asyncio.sleep(next(delays))
