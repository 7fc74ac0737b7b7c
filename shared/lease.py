"""A version known to be current within a lease: read-your-writes for caches of data
that another process changes (fee rules, held by every fees and checkout replica).

The protocol, with L the lease (NORGATE_FEE_RULES_LEASE_SECONDS):
- a reader answers from its cache only while the version it holds was verified by a
  check that *started* less than L ago (a check started after a commit sees it);
- a writer answers its 2xx no sooner than L after its commit.
So a request that arrives after the write's answer finds every reader's last check
started after the commit: the cache it answers from has the change. Only durations on
each process's own monotonic clock are compared, never clocks of two machines.

Checks are shared: one in flight serves every caller that arrived while it was young
enough, and a version read in the second half of its lease is renewed in the
background, so under steady traffic nobody waits for a check.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable

from shared.logging import get_logger

log = get_logger(__name__)

# `check()` answers (version, age): the version, and how old that knowledge already was
# when given (0 for a database read; another replica's answer from its own lease).
Check = Callable[[], Awaitable[tuple[int, float]]]


class VersionLease:
    def __init__(self, lease_seconds: float, check: Check, *, name: str) -> None:
        self.lease = lease_seconds
        self._check = check
        self._name = name
        self.version: int | None = None
        self.verified_at = -math.inf  # monotonic start of the check that last confirmed it
        self._inflight: asyncio.Task[None] | None = None
        self._inflight_started = -math.inf

    def age(self) -> float:
        return time.monotonic() - self.verified_at

    def saw(self, version: int, verified_at: float) -> None:
        """`version` was current at `verified_at` (from a check, or from an answer that
        carried it): keep the newest version, and for it the latest verification."""
        if self.version is None or version > self.version:
            self.version, self.verified_at = version, verified_at
        elif version == self.version:
            self.verified_at = max(self.verified_at, verified_at)

    def expire(self) -> None:
        """The next `current()` checks again (a change was announced)."""
        self.verified_at = -math.inf

    async def current(self) -> int:
        """The version, verified within the lease (waiting for a check if need be)."""
        now = time.monotonic()
        age = now - self.verified_at
        if age < self.lease and self.version is not None:
            if age > self.lease / 2 and not self._checking(now):
                self._start(now).add_done_callback(self._quiet)  # renew, nobody waits
            return self.version
        task = (self._inflight if self._checking(now) and self._inflight is not None
                else self._start(now))
        await asyncio.shield(task)
        assert self.version is not None
        return self.version

    async def refresh(self) -> int:
        """Check now, whatever the lease says."""
        await asyncio.shield(self._start(time.monotonic()))
        assert self.version is not None
        return self.version

    def _checking(self, now: float) -> bool:
        # A check in flight vouches for callers that arrived less than a lease after it
        # started; a later caller needs a check of its own.
        return (self._inflight is not None and not self._inflight.done()
                and now - self._inflight_started < self.lease)

    def _start(self, now: float) -> asyncio.Task[None]:
        async def run() -> None:
            version, age = await self._check()
            self.saw(version, now - age)

        self._inflight_started = now
        self._inflight = asyncio.get_running_loop().create_task(run(), name=self._name)
        return self._inflight

    def _quiet(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.warning("lease_renewal_failed", lease=self._name, error=str(task.exception()))

    async def close(self) -> None:
        if self._inflight is not None and not self._inflight.done():
            self._inflight.cancel()
            await asyncio.gather(self._inflight, return_exceptions=True)
