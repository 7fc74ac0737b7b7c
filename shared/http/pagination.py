"""`?page=1&per_page=10` as the NORAH seed pages lists, validated once."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

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

    def envelope(self, total: int) -> dict[str, int]:
        return {"page": self.page, "per_page": self.per_page, "total": total}


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


def query_text(request: web.Request, name: str, *, max_length: int = 200) -> str | None:
    """An optional free-text filter; empty means absent."""
    value = request.query.get(name, "").strip()
    if "\x00" in value:
        raise ApiError(Errors.VALIDATION, field=name, detail=f"{name}: NUL is not allowed")
    if len(value) > max_length:
        raise ApiError(Errors.VALIDATION, field=name,
                       detail=f"{name}: at most {max_length} characters")
    return value or None
