"""`?page=1&per_page=10` as the NORAH seed pages lists, validated once."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from shared.http.errors import ApiError, Errors

MAX_PER_PAGE = 100


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
    values = {}
    for name, default, upper in (("page", 1, 1_000_000), ("per_page", default_per_page,
                                                          MAX_PER_PAGE)):
        raw = request.query.get(name, str(default)) or str(default)
        if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= upper:
            raise ApiError(Errors.VALIDATION, field=name,
                           detail=f"{name}: must be a whole number from 1 to {upper}")
        values[name] = int(raw)
    return Page(**values)


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
