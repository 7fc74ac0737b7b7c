"""JSON in and out, exactly: requests, responses, jsonb columns and events.

Requests are parsed with every fractional number as a Decimal and integers of any size
(shared.http.middleware), so what a merchant sent (an amount in wei, a tax rate in its
metadata) must go out as the same number: a Decimal verbatim (975.00 stays 975.00, no
float on the way) and an integer beyond orjson's 64 bits as its digits.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import orjson

_INT_MIN, _INT_MAX = -(2**63), 2**64 - 1


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise TypeError(f"cannot serialise the non-finite number {value}")
        return orjson.Fragment(f"{value:f}".encode())
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json", by_alias=True)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def _big_ints(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and not (
            _INT_MIN <= value <= _INT_MAX):
        return orjson.Fragment(str(value).encode())
    if isinstance(value, dict):
        return {k: _big_ints(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_big_ints(v) for v in value]
    return value


def dumps(value: Any) -> bytes:
    try:
        return orjson.dumps(value, default=_default)
    except orjson.JSONEncodeError as exc:
        if "64-bit" not in str(exc):
            raise
        return orjson.dumps(_big_ints(value), default=_default)


def loads(raw: bytes | str) -> Any:
    """Every fractional number as an exact Decimal and integers of any size, never a
    float (orjson would give floats for both). orjson first (fast); a document holding
    a float is parsed again by the stdlib. ValueError (or RecursionError) when it is
    not JSON; NaN and Infinity are refused."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        data = None  # the stdlib parser below names the problem
    else:
        if not _has_float(data):
            return data
    return json.loads(raw, parse_float=Decimal, parse_constant=_reject_constant)


def _has_float(value: Any) -> bool:
    if isinstance(value, float):
        return True
    if isinstance(value, dict):
        return any(_has_float(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_float(v) for v in value)
    return False


def _reject_constant(name: str):
    raise ValueError(f"{name} is not a valid JSON number")
