"""Small asyncio helpers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Any, Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


async def cancel_and_wait(task: asyncio.Task[Any] | None, *, retry_every: float = 0.5) -> None:
    """Cancel `task` and wait until it is done.

    Cancels again while it is still running: client libraries (aiormq among
    them) sometimes turn a cancellation into their own error, which a retry
    loop then treats as an ordinary failure, and a single cancel would be lost.
    """
    if task is None:
        return
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=retry_every)
    if not task.cancelled() and task.exception() is not None:
        task.exception()  # retrieved, so asyncio does not warn about it


def being_cancelled() -> bool:
    """True when the current task has a cancellation pending, even if a library
    caught the CancelledError and raised something else: loops that retry on
    errors check this so they still stop when asked."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def every(seconds: float, job: Callable[[], Awaitable[object]], *, name: str) -> asyncio.Task[None]:
    """Run `job` every `seconds` in a task (stop it with cancel_and_wait). A failing run
    is logged and the next one happens on time; a cancellation always ends the loop."""
    from shared.logging import get_logger

    log = get_logger(__name__)

    async def loop() -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await job()
            except Exception as exc:
                if being_cancelled():
                    raise asyncio.CancelledError from exc
                log.exception("periodic_job_failed", job=name)

    return asyncio.create_task(loop(), name=name)


class Coalescer(Generic[T, R]):
    """Many concurrent callers' work done as one batch: while a batch is in flight,
    what is submitted waits, and goes together in the next batch. One caller alone
    waits for nothing (its batch starts at the next turn of the loop, or after `linger`
    seconds); under load one round trip and one commit serve many requests.

    `run` takes the items of a batch and returns one result per item, in order; a
    result that is an exception is raised to its caller alone. Items with the same
    `key` never share a batch (a multi-row `INSERT ... ON CONFLICT` cannot touch one
    row twice): a repeat waits for the next. When `run` raises, every caller of the
    batch gets the exception, unless `alone_on(exc)` says the batch may be tried again
    item by item (a row the database refused must fail only its own caller).
    """

    def __init__(self, run: Callable[[list[T]], Awaitable[Sequence[R | BaseException]]], *,
                 key: Callable[[T], Hashable] = id, max_batch: int = 256,
                 linger: float = 0.0,
                 alone_on: Callable[[Exception], bool] | None = None) -> None:
        self._run = run
        self._key = key
        self._max_batch = max_batch
        self._linger = linger
        self._alone_on = alone_on
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._task: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        # Retrieved even when its caller was cancelled (no "never retrieved" warning).
        future.add_done_callback(lambda f: f.cancelled() or f.exception())
        self._pending.append((item, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain(), name="coalescer")
        # Shielded: a cancelled caller must not cancel the batch others wait on.
        return await asyncio.shield(future)

    def _take(self) -> list[tuple[T, asyncio.Future[R]]]:
        batch: list[tuple[T, asyncio.Future[R]]] = []
        rest: list[tuple[T, asyncio.Future[R]]] = []
        keys: set[Hashable] = set()
        for entry in self._pending:
            key = self._key(entry[0])
            if key in keys or len(batch) >= self._max_batch:
                rest.append(entry)
            else:
                keys.add(key)
                batch.append(entry)
        self._pending = rest
        return batch

    # R, or an exception for one item (raised to its caller alone).
    async def _results(self, items: list[T]) -> Sequence[R | BaseException]:
        results = await self._run(items)
        if len(results) != len(items):
            raise RuntimeError(f"{len(results)} results for {len(items)} items")
        return results

    async def _drain(self) -> None:
        while self._pending:
            if self._linger:
                await asyncio.sleep(self._linger)
            batch = self._take()
            items = [item for item, _ in batch]
            try:
                try:
                    results = await self._results(items)
                except Exception as exc:
                    if len(items) == 1 or self._alone_on is None or not self._alone_on(exc):
                        raise
                    results = [await self._alone(item) for item in items]
            except BaseException as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                if isinstance(exc, asyncio.CancelledError):
                    for _, future in self._pending:
                        future.cancel()
                    self._pending = []
                    raise
                continue
            for (_, future), result in zip(batch, results, strict=True):
                if future.done():
                    continue
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result(result)

    async def _alone(self, item: T) -> R | BaseException:
        try:
            return (await self._results([item]))[0]
        except Exception as exc:
            return exc
