"""Request context, error rendering, metrics and principal middleware."""

from __future__ import annotations

import re
import time
from typing import Any, TypeVar, overload

import asyncpg
from aiohttp import web
from aiohttp.typedefs import Handler
from pydantic import BaseModel, ValidationError

from shared import jsontext, metrics
from shared import principal as principal_mod
from shared.db import database_gone
from shared.http import envelopes
from shared.http.errors import (
    ApiError,
    ErrorKind,
    Errors,
    field_path,
    from_validation_error,
)
from shared.logging import bind_ids, get_logger, new_id
from shared.money import MoneyError
from shared.settings import Settings

log = get_logger(__name__)
M = TypeVar("M", bound=BaseModel)

REQUEST_ID = "X-Request-ID"
CORRELATION_ID = "X-Correlation-ID"
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")

SERVICE_NAME = web.AppKey("service_name", str)
SETTINGS = web.AppKey("settings", Settings)
REQUEST_ID_KEY = web.RequestKey("request_id", str)
PRINCIPAL_KEY = web.RequestKey("principal", principal_mod.Principal)
ROUTE_LABEL_KEY = web.RequestKey("route_label", str)  # metrics label set by a handler


def _incoming_id(request: web.Request, header: str) -> str | None:
    value = request.headers.get(header)
    return value if value and _SAFE_ID.match(value) else None


def to_api_error(exc: BaseException, request: web.Request) -> ApiError | None:
    """Map expected exceptions to catalogue errors; None means an unexpected bug."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, ValidationError):
        return from_validation_error(exc)
    if isinstance(exc, MoneyError):
        kind = (Errors.AMOUNT_NOT_POSITIVE if exc.message == "Amount must be greater than 0"
                else Errors.VALIDATION)
        return ApiError(kind, field=exc.field, detail=exc.message)
    if isinstance(exc, web.HTTPRequestEntityTooLarge):
        return ApiError(Errors.BODY_TOO_LARGE, limit=request.app[SETTINGS].max_body_bytes)
    if isinstance(exc, web.HTTPMethodNotAllowed):
        return ApiError(Errors.METHOD_NOT_ALLOWED, method=request.method, path=request.path,
                        headers={"Allow": ", ".join(sorted(exc.allowed_methods))})
    if isinstance(exc, web.HTTPNotFound):
        return ApiError(Errors.ROUTE_NOT_FOUND, method=request.method, path=request.path)
    if isinstance(exc, asyncpg.CharacterNotInRepertoireError
                  | asyncpg.UntranslatableCharacterError):
        # Text the database cannot store (a NUL that slipped past the checks): the
        # caller's input, never our own data.
        return ApiError(Errors.VALIDATION, detail="text contains a character that cannot "
                        "be stored (such as NUL)")
    if database_gone(exc):
        # PostgreSQL restarting or unreachable: a retry in a moment succeeds. A 503.
        if isinstance(exc, asyncpg.InternalClientError):
            # Also what one connection used twice at once would raise: a bug to see.
            log.error("database_connection_cut", error=str(exc), path=request.path,
                      exc_info=exc)
        log.warning("database_unavailable", error=type(exc).__name__, path=request.path)
        return ApiError(Errors.DATABASE_UNAVAILABLE, headers={"Retry-After": "1"})
    if isinstance(exc, asyncpg.DeadlockDetectedError | asyncpg.SerializationError):
        # Chosen as a deadlock's victim: rolled back whole, so a retry is safe.
        log.warning("database_conflict", error=type(exc).__name__, path=request.path)
        return ApiError(Errors.DATABASE_UNAVAILABLE, headers={"Retry-After": "1"})
    return None


def _check_url(request: web.Request) -> None:
    """A NUL in the path or query cannot be stored or matched: 400, not a database error."""
    if "\x00" in request.path or any("\x00" in k or "\x00" in v
                                     for k, v in request.query.items()):
        raise ApiError(Errors.VALIDATION, detail="NUL characters are not allowed in the URL")


@web.middleware
async def context_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Bind ids, render every error in the family's envelope, log and count."""
    request_id = _incoming_id(request, REQUEST_ID) or new_id()
    correlation_id = _incoming_id(request, CORRELATION_ID) or request_id
    bind_ids(request_id=request_id, correlation_id=correlation_id)
    request[REQUEST_ID_KEY] = request_id
    started = time.perf_counter()
    family = envelopes.family_of(request.path)
    service = request.app[SERVICE_NAME]
    try:
        _check_url(request)
        response = await handler(request)
    except Exception as exc:
        if isinstance(exc, web.HTTPException) and exc.status < 400:
            raise  # redirects and friends pass through
        err = to_api_error(exc, request)
        if err is None:
            if isinstance(exc, web.HTTPException):
                err = ApiError(ErrorKind(f"http_{exc.status}", exc.status, exc.reason))
            else:
                log.exception("unhandled_error", method=request.method, path=request.path)
                err = ApiError(Errors.INTERNAL)
        response = envelopes.error(family, err, request_id)
    if not response.prepared:  # a streamed (proxied) response set them itself
        response.headers[REQUEST_ID] = request_id
        response.headers[CORRELATION_ID] = correlation_id
    route = request.match_info.route.resource
    route_name = request.get(ROUTE_LABEL_KEY) or (
        route.canonical if route is not None else "unmatched")
    elapsed = time.perf_counter() - started
    metrics.observe_request(service, request.method, route_name, response.status, elapsed)
    if not request.path.startswith(("/healthz", "/readyz", "/metrics")):
        # Service-to-service calls are many and cheap: logged at debug unless they fail.
        quiet = request.path.startswith("/internal/") and response.status < 400
        (log.debug if quiet else log.info)(
            "http_request", method=request.method, path=request.path, route=route_name,
            status=response.status, duration_ms=round(elapsed * 1000, 2))
    return response


@web.middleware
async def principal_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Identity comes only from a valid signed principal header."""
    token = request.headers.get(principal_mod.HEADER)
    if token is None:
        request[PRINCIPAL_KEY] = principal_mod.ANONYMOUS
    else:
        try:
            # Bound to this service: a principal sent to another one is refused.
            request[PRINCIPAL_KEY] = principal_mod.verify(
                token, request.app[SETTINGS], audience=request.app.get(SERVICE_NAME))
        except principal_mod.InvalidPrincipal:
            raise ApiError(Errors.INVALID_PRINCIPAL) from None
    return await handler(request)


def principal_of(request: web.Request) -> principal_mod.Principal:
    who: principal_mod.Principal = request.get(PRINCIPAL_KEY, principal_mod.ANONYMOUS)
    return who


def _parse(raw: bytes) -> object:
    """JSON with every fractional or huge number as an exact Decimal or int, never a
    float: amounts such as 1.123456789012345678 NOR must arrive exactly as sent.
    orjson first (fast); bodies holding a float are parsed again by the stdlib.
    A number beyond jsontext's bound (78 digits, exponent +-100) is a 400 naming its
    field, before anything (a model, an f-string) can expand it."""
    try:
        return jsontext.loads(raw, bounded=True)
    except jsontext.NumberOutOfRange as exc:
        field = field_path(exc.loc) or None
        detail = f"{field}: {exc}" if field else str(exc)
        raise ApiError(Errors.VALIDATION, field=field, detail=detail,
                       details=[{"field": field, "message": str(exc)}]) from None
    except (ValueError, RecursionError) as exc:
        detail = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise ApiError(Errors.MALFORMED_JSON, detail=detail) from None


@overload
async def read_json(request: web.Request, model: None = None) -> dict[str, Any]: ...
@overload
async def read_json(request: web.Request, model: type[M]) -> M: ...
async def read_json(request: web.Request,
                    model: type[M] | None = None) -> M | dict[str, Any]:
    """Parse the body as a JSON object (and into `model`); 4xx naming the problem."""
    ctype = request.content_type
    if request.body_exists and ctype not in ("application/json", "") \
            and not ctype.endswith("+json"):
        raise ApiError(Errors.UNSUPPORTED_MEDIA_TYPE)
    raw = await request.read()
    if b"\\u0000" in raw or b"\x00" in raw:
        # PostgreSQL text cannot hold NUL; refuse it here rather than fail later.
        raise ApiError(Errors.MALFORMED_JSON, detail="NUL characters are not allowed")
    if not raw.strip():
        data: object = {}
    else:
        data = _parse(raw)
    if not isinstance(data, dict):
        raise ApiError(Errors.BODY_NOT_OBJECT)
    if _too_deep(data):
        # Stored JSON (metadata) must serialise again: orjson stops at 255 levels.
        raise ApiError(Errors.MALFORMED_JSON,
                       detail=f"nested more than {MAX_JSON_DEPTH} levels deep")
    return model.model_validate(data) if model is not None else data


MAX_JSON_DEPTH = 32


def _too_deep(value: object, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether objects/arrays nest deeper than `limit` (the body itself is level 1)."""
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        children = (item.values() if isinstance(item, dict)
                    else item if isinstance(item, list) else None)
        if children is None:
            continue
        if depth > limit:
            return True
        pending.extend((child, depth + 1) for child in children)
    return False
