"""Ids of records that grow with a merchant's history, ordered by when they were made."""

from __future__ import annotations

import os
import string
import time
import uuid

from shared.crypto import base62

# The clock part of a record id, in an alphabet whose order is byte order, so ids made
# later sort later (in the C collation; in any collation ids of the same minute share
# their first characters).
SORTED62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
_CLOCK_CHARS = 8  # 62**8 milliseconds: about 6,900 years from 1970


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def record_id(length: int) -> str:
    """`length` characters of [0-9A-Za-z] for a record that grows with the merchant's
    history (payments, refunds, ledger postings): the creation millisecond first, then
    `length - 8` random characters (16 give 95 bits: still unguessable). A new id lands
    at the right edge of its unique index instead of on a random page of it, so a
    create touches the same few index pages at ten million rows as at ten thousand
    (docs/benchmarks.md, growth). Never for secrets: those are base62 throughout."""
    ms, clock = _now_ms(), []
    for _ in range(_CLOCK_CHARS):
        ms, digit = divmod(ms, 62)
        clock.append(SORTED62[digit])
    return "".join(reversed(clock)) + base62(length - _CLOCK_CHARS)


def uuid7() -> uuid.UUID:
    """A version 7 UUID (RFC 9562): 48 bits of Unix milliseconds, then 74 random bits;
    time-ordered for the same reason as record_id (traces, event ids)."""
    rand = int.from_bytes(os.urandom(10), "big")
    value = ((_now_ms() & (1 << 48) - 1) << 80 | 0x7 << 76 | (rand >> 62 & 0xFFF) << 64
             | 0b10 << 62 | rand & (1 << 62) - 1)
    return uuid.UUID(int=value)
