"""JSON in and out, exactly: requests, responses, jsonb columns and events.

Requests are parsed with every fractional number as a Decimal and integers of any size
(shared.http.middleware), so what a merchant sent (an amount in wei, a tax rate in its
metadata) must go out as the same number: a Decimal verbatim (975.00 stays 975.00, no
float on the way) and an integer beyond orjson's 64 bits as its digits.

Request bodies are read with `bounded=True`: a number with more than MAX_DIGITS digits
or an exponent beyond +-MAX_EXPONENT is refused (NumberOutOfRange, naming where it sits)
before anything converts it. `Decimal('1e999999999')` is a few bytes, but writing it
out, quantizing it or int() of it allocates a billion digits; a JSON integer of a
million digits costs quadratic time in int(). Stored JSON and events come from bounded
requests, so they are read as they are.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any, NoReturn

import orjson

from shared.money import MAX_DIGITS, MAX_MINOR

_INT_MIN, _INT_MAX = -(2**63), 2**64 - 1

# The widest number a request may hold: MAX_DIGITS (78) digits, leading zeros aside (the
# widest amount column, NUMERIC(78,0), and a uint256), with an exponent (scientific
# notation, Decimal.adjusted()) from -100 to 100. Written out in full that is at most
# ~180 characters, whatever a caller does with it.
MAX_EXPONENT = 100
OUT_OF_RANGE = (f"numbers may have at most {MAX_DIGITS} digits and an exponent from "
                f"-{MAX_EXPONENT} to {MAX_EXPONENT}")
_LITERAL = re.compile(r"-?([0-9]+)(?:\.([0-9]+))?(?:[eE]([-+]?)([0-9]+))?")
_EXPONENT_CHARS = 9  # more exponent digits than this is out of range: skip int() of them


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


class NumberOutOfRange(ValueError):
    """A request's number beyond the bound; `loc` is where it sits (keys and indexes)."""

    def __init__(self, loc: tuple[str | int, ...]) -> None:
        super().__init__(OUT_OF_RANGE)
        self.loc = loc


def loads(raw: bytes | str, *, bounded: bool = False) -> Any:
    """Every fractional number as an exact Decimal and integers of any size, never a
    float (orjson would give floats for both). orjson first (fast); a document holding
    a float is parsed again by the stdlib. ValueError (or RecursionError) when it is
    not JSON; NaN and Infinity are refused. `bounded` (request bodies): a number out of
    range raises NumberOutOfRange, each one checked on its text before conversion."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        data = None  # the stdlib parser below names the problem
    else:
        if not _has_float(data):
            return data  # only integers orjson holds (64 bits): within range
    if not bounded:
        return json.loads(raw, parse_float=Decimal, parse_constant=_reject_constant)
    refused = False

    def number(text: str, convert: type[Decimal] | type[int]) -> Any:
        nonlocal refused
        if _literal_in_range(text):
            return convert(text)
        refused = True
        return _REFUSED

    data = json.loads(raw, parse_float=lambda text: number(text, Decimal),
                      parse_int=lambda text: number(text, int),
                      parse_constant=_reject_constant)
    if refused:
        raise NumberOutOfRange(_where(data, _REFUSED))
    return data


_REFUSED = object()  # stands in for a refused number until its place is found


def _in_range(digits: int, adjusted: int) -> bool:
    return digits <= MAX_DIGITS and -MAX_EXPONENT <= adjusted <= MAX_EXPONENT


def _literal_in_range(text: str) -> bool:
    """A JSON number's text within the bound, judged without converting it."""
    m = _LITERAL.fullmatch(text)
    if m is None:
        return False
    whole, frac, sign, exp = m.group(1), m.group(2) or "", m.group(3), m.group(4) or "0"
    exp = exp.lstrip("0") or "0"
    if len(exp) > _EXPONENT_CHARS:
        return False
    digits = (whole + frac).lstrip("0")
    exponent = (-1 if sign == "-" else 1) * int(exp) - len(frac)  # of the last digit
    return _in_range(len(digits), exponent + max(len(digits) - 1, 0))


def in_range(value: int | Decimal) -> bool:
    """The same bound for a number already converted (from a string, say): cheap for
    any size (no str() of an int, no expansion of an exponent)."""
    if isinstance(value, int):
        return abs(value) <= MAX_MINOR  # at most MAX_DIGITS digits
    if not value.is_finite():
        return False
    digits = len(value.as_tuple().digits) if value else 0
    return _in_range(digits, value.adjusted())


def _where(value: Any, target: object) -> tuple[str | int, ...]:
    """The path to the first `target` in document order (iterative: any depth)."""
    pending: list[tuple[tuple[str | int, ...], Any]] = [((), value)]
    while pending:
        loc, item = pending.pop()
        if item is target:
            return loc
        if isinstance(item, dict):
            pending.extend(((*loc, k), v) for k, v in reversed(item.items()))
        elif isinstance(item, list):
            pending.extend(((*loc, i), v) for i, v in reversed(list(enumerate(item))))
    return ()


def _has_float(value: Any) -> bool:
    if isinstance(value, float):
        return True
    if isinstance(value, dict):
        return any(_has_float(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_float(v) for v in value)
    return False


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a valid JSON number")
