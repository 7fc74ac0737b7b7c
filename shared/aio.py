"""Small asyncio helpers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


async def cancel_and_wait(task: asyncio.Task | None, *, retry_every: float = 0.5) -> None:
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


def every(seconds: float, job: Callable[[], Awaitable[object]], *, name: str) -> asyncio.Task:
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
