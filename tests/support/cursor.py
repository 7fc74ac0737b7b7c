"""Walking a list by its `nextCursor`, as a client pages through it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Read = Callable[[dict[str, Any]], tuple[list[str], dict[str, Any]]]


def norpay(items: str, key: str) -> Read:
    """A NorPay list: result[items] and result.pagination."""
    def read(body: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
        result = body["result"]
        return [item[key] for item in result[items]], result["pagination"]
    return read


def norah(key: str) -> Read:
    """A NORAH list: data is the rows, pagination beside it."""
    def read(body: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
        return [item[key] for item in body["data"]], body["pagination"]
    return read


async def get(client, path: str, headers: dict, params: dict) -> dict[str, Any]:
    resp = await client.get(path, headers=headers, params=params)
    body = await resp.json()
    assert resp.status == 200, body
    return body


async def walk(client, path: str, headers: dict, read: Read, *, per_page: int,
               params: dict | None = None, start: str | None = None,
               limit: int = 1_000) -> list[str]:
    """Every id the list gives, page after page by `nextCursor` (from the first page, or
    from the page `start` names), until it is null. Each full page but the last has
    per_page rows and the cursor's page number; from the first page, the total stays."""
    base = {**(params or {}), "per_page": str(per_page)}
    body = await get(client, path, headers, base if start is None else {**base,
                                                                         "cursor": start})
    ids, pagination = read(body)
    total, walked, number = pagination["total"], list(ids), pagination["page"]
    while pagination["nextCursor"] is not None:
        assert len(ids) == per_page, pagination
        assert len(walked) < limit, "the cursor never ends"
        body = await get(client, path, headers, {**base, "cursor": pagination["nextCursor"]})
        ids, pagination = read(body)
        number += 1
        assert pagination["page"] == number, pagination
        if start is None:
            assert pagination["total"] == total, pagination
        walked += ids
    return walked
