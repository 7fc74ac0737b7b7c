"""argon2id password hashing, off the event loop (a hash takes tens of milliseconds)."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_HASHER = PasswordHasher()  # argon2id, RFC 9106 low-memory profile (64 MiB per hash)
# Verified against when an e-mail is unknown, so both cases cost the same time.
DUMMY_HASH = _HASHER.hash("norgate-no-such-account")
# At most this many hashes at once per process: each holds 64 MiB while it runs, so a
# burst of sign-ins queues instead of multiplying the service's memory.
CONCURRENT_HASHES = 2
_SLOTS: asyncio.Semaphore | None = None


def _slots() -> asyncio.Semaphore:
    global _SLOTS
    if _SLOTS is None:  # made on first use, inside the running loop
        _SLOTS = asyncio.Semaphore(CONCURRENT_HASHES)
    return _SLOTS


async def hash_password(password: str) -> str:
    async with _slots():
        return await asyncio.to_thread(_HASHER.hash, password)


async def verify_password(password_hash: str, password: str) -> bool:
    try:
        async with _slots():
            return await asyncio.to_thread(_HASHER.verify, password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
