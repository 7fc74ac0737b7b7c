"""Who may do what: role checks and tenant scoping for service handlers.

SUPER sees everything; ADMIN its own company; MERCHANT its own merchant. An
object of another tenant is reported as missing (404), never as forbidden,
so its existence is not confirmed.
"""

from __future__ import annotations

from aiohttp import web

from shared.http.errors import ApiError, Errors
from shared.http.middleware import principal_of
from shared.principal import Principal


def require(request: web.Request, *roles: str, allow_keys: bool = False) -> Principal:
    """The caller, who must be signed in (or hold an API key when `allow_keys`)
    with one of `roles` (any role when none are given)."""
    who = principal_of(request)
    if who.kind == "user" or (allow_keys and who.kind == "api_key"):
        if roles and who.role not in roles:
            raise ApiError(Errors.FORBIDDEN)
        return who
    raise ApiError(Errors.UNAUTHENTICATED)


def company_scope(who: Principal) -> int | None:
    """The company a query is limited to; None for SUPER (every company)."""
    return None if who.role == "SUPER" else int(who.company_id or 0)


def merchant_scope(who: Principal) -> int | None:
    """The merchant a query is limited to; None unless the caller is a merchant."""
    return int(who.merchant_id or 0) if who.role == "MERCHANT" else None
