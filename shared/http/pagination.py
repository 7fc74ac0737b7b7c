"""`?page=1&per_page=10` as the NORAH seed pages lists, validated once; and `?cursor=`."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from shared.db import KeyPage, Position
from shared.http.errors import ApiError, Errors

MAX_PER_PAGE = 100
# How deep a page may reach, page x per_page: OFFSET reads and drops every row before
# the page, so a deep one costs a scan a client gets for free; past it, filter.
MAX_DEPTH = 10_000
_MAX_DIGITS = 18  # of a page number in the query; more is out of range anyway


@dataclass(frozen=True)
class Page:
    page: int
    per_page: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page

    def envelope(self, total: int, *, total_is_estimate: bool = False) -> dict[str, object]:
        """The seed's {page, per_page, total}; `totalIsEstimate` only when the total is
        the planner's estimate (shared.db.bounded_total)."""
        out: dict[str, object] = {"page": self.page, "per_page": self.per_page,
                                  "total": total}
        if total_is_estimate:
            out["totalIsEstimate"] = True
        return out


def page_of(request: web.Request, *, default_per_page: int = 10) -> Page:
    page = Page(page=_whole(request, "page", 1, None),
                per_page=_whole(request, "per_page", default_per_page, MAX_PER_PAGE))
    if page.page * page.per_page > MAX_DEPTH:
        raise ApiError(Errors.VALIDATION, field="page", detail=(
            f"page: at most {MAX_DEPTH // page.per_page} with per_page={page.per_page} "
            f"(a list is paged through its first {MAX_DEPTH} rows); narrow the filters "
            "to reach the others"))
    return page


def _whole(request: web.Request, name: str, default: int, upper: int | None) -> int:
    raw = request.query.get(name, str(default)) or str(default)
    # Length first: int() of more than 4300 digits raises (a 500), and costs quadratic
    # time below that.
    if not (raw.isascii() and raw.isdigit() and len(raw) <= _MAX_DIGITS) \
            or not 1 <= int(raw) <= (upper or int(raw)):
        bounds = f"from 1 to {upper}" if upper else "of at least 1"
        raise ApiError(Errors.VALIDATION, field=name,
                       detail=f"{name}: must be a whole number {bounds}")
    return int(raw)


def query_choice(request: web.Request, name: str, choices: tuple[str, ...]) -> str | None:
    """An optional filter that must be one of `choices`; empty means absent."""
    value = query_text(request, name, max_length=50)
    if value is not None and value not in choices:
        raise ApiError(Errors.VALIDATION, field=name,
                       detail=f"{name}: one of {', '.join(choices)}")
    return value


def query_id(request: web.Request, name: str) -> int | None:
    """An optional filter by a row id (a merchant's, a company's): digits within a
    bigint, else a 400 naming it; empty means absent."""
    value = query_text(request, name, max_length=19)
    if value is None:
        return None
    if not (value.isascii() and value.isdigit()) or int(value) > _MAX_ID:
        raise ApiError(Errors.VALIDATION, field=name, detail=f"{name}: an id (digits)")
    return int(value)


def query_text(request: web.Request, name: str, *, max_length: int = 200) -> str | None:
    """An optional free-text filter; empty means absent."""
    value = request.query.get(name, "").strip()
    if "\x00" in value:
        raise ApiError(Errors.VALIDATION, field=name, detail=f"{name}: NUL is not allowed")
    if len(value) > max_length:
        raise ApiError(Errors.VALIDATION, field=name,
                       detail=f"{name}: at most {max_length} characters")
    return value or None


# Keyset (cursor) pages -----------------------------------------------------------------
#
# A list in a fixed order (newest first by (created_at, id), or by a sequence) continues
# from the last row it showed: the next page's query starts at that row in the index
# instead of reading and dropping every row before it (OFFSET), so page 1,000 costs what
# page 2 does.

_MAX_CURSOR = 120  # characters; a real one is about 50
_MAX_ID = 2**63 - 1  # bigint
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# page:key:id; the key is a time (t, microseconds since the epoch; also the untagged
# form the first cursors had) or a number (n, a bigint such as a sequence or a row id).
_CURSOR_TEXT = re.compile(r"^([1-9][0-9]{0,17}):([tn]?)(-?[0-9]{1,18}):([0-9]{1,19})$")


@dataclass(frozen=True)
class KeysetPage:
    """`page`/`per_page` as page_of reads them, or, with `cursor`, the page after the
    position the previous page's `nextCursor` names (`page` is then the cursor's)."""

    page: int
    per_page: int
    after: Position | None

    @property
    def offset(self) -> int:
        return 0 if self.after is not None else (self.page - 1) * self.per_page

    def envelope(self, total: int, *, total_is_estimate: bool = False,
                 last: Position | None = None) -> dict[str, object]:
        """The seed's {page, per_page, total}, plus `nextCursor` (null on the last page:
        `last` is the page's last row when another follows) and `totalIsEstimate`, only
        when the total is the planner's estimate."""
        out: dict[str, object] = {
            "page": self.page, "per_page": self.per_page, "total": total,
            "nextCursor": None if last is None else encode_cursor(self.page + 1, last)}
        if total_is_estimate:
            out["totalIsEstimate"] = True
        return out

    def of(self, found: KeyPage[Any]) -> dict[str, object]:
        """The envelope of a store's page: its total, whether that is an estimate, and
        the cursor of the page after it."""
        return self.envelope(found.total, total_is_estimate=found.total_is_estimate,
                             last=found.last)


def encode_cursor(page: int, position: Position) -> str:
    if isinstance(position.key, datetime):
        key = f"t{(position.key - _EPOCH) // timedelta(microseconds=1)}"
    else:
        key = f"n{position.key}"
    text = f"{page}:{key}:{position.id}".encode()
    return base64.urlsafe_b64encode(text).decode().rstrip("=")


def decode_cursor(raw: str, *, key: type[datetime] | type[int] = datetime
                  ) -> tuple[int, Position]:
    """(page, position) of a cursor this module made for a list ordered by `key` (a
    time or a number); anything else is a 400 naming `cursor` (a cursor is opaque: only
    ever one a list gave)."""
    bad = ApiError(Errors.VALIDATION, field="cursor",
                   detail="cursor: not a cursor a list gave (use the nextCursor as given)")
    if not (raw.isascii() and 0 < len(raw) <= _MAX_CURSOR):
        raise bad
    try:
        text = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise bad from None
    match = _CURSOR_TEXT.match(text)
    if match is None or (match.group(2) == "n") != (key is int):
        raise bad
    page, number, ident = int(match.group(1)), int(match.group(3)), int(match.group(4))
    if ident > _MAX_ID:
        raise bad
    if key is int:
        return page, Position(number, ident)
    try:
        return page, Position(_EPOCH + timedelta(microseconds=number), ident)
    except OverflowError:
        raise bad from None


def keyset_page_of(request: web.Request, *, default_per_page: int = 10,
                   key: type[datetime] | type[int] = datetime) -> KeysetPage:
    """page_of, or the cursor's page when `cursor` is given (`key`: what the list is
    ordered by first, a time or a number). A cursor page is not bounded by MAX_DEPTH: it
    reads from its position, never the rows before it."""
    raw = request.query.get("cursor", "").strip()
    if not raw:
        page = page_of(request, default_per_page=default_per_page)
        return KeysetPage(page=page.page, per_page=page.per_page, after=None)
    number, position = decode_cursor(raw, key=key)
    _whole(request, "page", 1, None)  # still a whole number if given, though unused
    return KeysetPage(page=number, after=position,
                      per_page=_whole(request, "per_page", default_per_page, MAX_PER_PAGE))
