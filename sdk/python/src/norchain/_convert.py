"""snake_case arguments to the API's camelCase JSON."""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

# Values under these keys are the caller's own data and go out untouched.
OPAQUE_KEYS = frozenset({"metadata"})
# Query parameters the API spells in snake_case (NORAH-style paging).
SNAKE_QUERY = frozenset({"per_page"})

_WORD = re.compile(r"_([a-z0-9])")


def camel(name: str) -> str:
    """``success_url`` → ``successUrl``; ``from_`` → ``from``; camelCase is kept."""
    name = name.rstrip("_") if name.endswith("_") and not name.startswith("_") else name
    return _WORD.sub(lambda m: m.group(1).upper(), name)


def value(item: Any) -> Any:
    """Plain JSON value: datetimes become Unix seconds (as the API writes them), Decimal
    integers their digits; nested dicts and lists are converted key by key."""
    if isinstance(item, _dt.datetime):
        if item.tzinfo is None:
            raise ValueError("naive datetime: give it a timezone (for example UTC)")
        return str(int(item.timestamp()))
    if isinstance(item, _dt.date):
        raise ValueError("give a datetime with a timezone or Unix seconds, not a date")
    if isinstance(item, Decimal):
        if item != item.to_integral_value():
            raise ValueError(f"{item} is not a whole number of minor units")
        return str(int(item))
    if isinstance(item, Mapping):
        return body(item)
    if isinstance(item, (list, tuple)):
        return [value(v) for v in item]
    return item


def body(params: Mapping[str, Any]) -> dict[str, Any]:
    """A request body: keys camelCased recursively, None dropped, metadata untouched."""
    out: dict[str, Any] = {}
    for key, item in params.items():
        if item is None:
            continue
        name = camel(key)
        out[name] = dict(item) if name in OPAQUE_KEYS and isinstance(item, Mapping) \
            else value(item)
    return out


def query(params: Mapping[str, Any] | None) -> dict[str, str]:
    """Query parameters: camelCase (but ``per_page``), None dropped, booleans lower-case."""
    out: dict[str, str] = {}
    for key, item in (params or {}).items():
        if item is None:
            continue
        name = key if key in SNAKE_QUERY else camel(key)
        if isinstance(item, bool):
            out[name] = "true" if item else "false"
        else:
            out[name] = str(value(item))
    return out
