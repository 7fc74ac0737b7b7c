"""Small asyncio helpers."""

from __future__ import annotations

import asyncio


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
