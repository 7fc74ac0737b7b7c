"""Streaming reverse proxy from the public port to the services.

A request whose body is in hand (none; the bytes a middleware that needed the whole
request left in `REQUEST_BODY_KEY`, as Idempotency-Key does to fingerprint it; or a
body up to `SMALL_BODY` read at once) goes through the gateway's own HTTP/1.1 client
(services/gateway/upstream.py), its answer read whole up to `INLINE_ANSWER` (or
`BUFFER_RESPONSE_KEY` bytes, for a middleware that wants it as a `web.Response`) and
streamed beyond. A larger body streams through aiohttp's client as it arrives, and so
does its answer. The caller's identity is forwarded only as a
principal the gateway signed itself; any `X-Norgate-Principal` a client sends
is dropped. A service that is down is a 502, one that is too slow a 504, each
in the family's envelope.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from services.gateway.authn import RATE_HEADERS_KEY
from services.gateway.routing import is_upload, route_for
from services.gateway.upstream import Pool, UpstreamError, Upstreams, read_at_most
from shared import metrics
from shared import principal as principal_mod
from shared.http.errors import ApiError, Errors
from shared.http.middleware import (
    CORRELATION_ID,
    REQUEST_ID,
    REQUEST_ID_KEY,
    ROUTE_LABEL_KEY,
    SETTINGS,
    principal_of,
)
from shared.logging import current_correlation_id, get_logger

log = get_logger(__name__)

UPSTREAM_SESSION = web.AppKey("upstream_session", aiohttp.ClientSession)
# The gateway's own client (services/gateway/upstream.py), for requests whose body is
# in hand; aiohttp's session carries the rest.
UPSTREAMS = web.AppKey("upstreams", Upstreams)
# Set by a middleware that already read the request body: forward these bytes.
REQUEST_BODY_KEY = web.RequestKey("request_body", bytes)
# Set to N to get an upstream answer of at most N bytes back as an unprepared
# web.Response (its body readable) instead of streaming it to the client.
BUFFER_RESPONSE_KEY = web.RequestKey("buffer_response", int)

# Hop-by-hop headers (RFC 9110 7.6.1) and ones the gateway sets itself.
_DROP_REQUEST = frozenset(h.lower() for h in (
    "Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "TE", "Trailer",
    "Transfer-Encoding", "Upgrade", "Host", principal_mod.HEADER, "X-Forwarded-For",
    # The credential stays at the edge: services get the signed principal instead.
    "Authorization", "X-API-Key",
    "X-Forwarded-Proto", "X-Forwarded-Host", REQUEST_ID, CORRELATION_ID))
_DROP_RESPONSE = frozenset(h.lower() for h in (
    "Connection", "Keep-Alive", "Transfer-Encoding", "Trailer", "Upgrade", "Content-Length",
    "Server", "Date"))
CHUNK = 64 * 1024
# A request body up to this size is read before it is forwarded (the lean client); a
# larger one streams through aiohttp.
SMALL_BODY = 16 * 1024
# An answer up to this size is read whole and sent with one write; a larger one streams.
INLINE_ANSWER = 256 * 1024
# Sent by the lean client itself, or meaningless once the body is in hand.
_LEAN_DROP = frozenset(("content-length", "expect"))


async def upstream_session_ctx(app: web.Application) -> AsyncIterator[None]:
    connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=30, ttl_dns_cache=300)
    settings = app[SETTINGS]
    app[UPSTREAM_SESSION] = aiohttp.ClientSession(
        connector=connector, auto_decompress=False,
        timeout=aiohttp.ClientTimeout(total=None, connect=5,
                                      sock_read=settings.upstream_timeout_seconds))
    app[UPSTREAMS] = Upstreams()
    yield
    app[UPSTREAMS].close()
    await app[UPSTREAM_SESSION].close()


class _LimitedBody:
    """Streams the request body upstream, stopping once it passes `limit` bytes.

    The client library wraps errors raised while sending, so what went wrong is
    remembered here: an overflow (a 413), a client that stopped sending (hung up
    mid-body: no upstream failure, a 499). (A body that does not parse, such as a bad
    chunked encoding, is answered 400 by aiohttp's parser itself.)
    """

    def __init__(self, stream: aiohttp.StreamReader, limit: int):
        self._stream = stream
        self._limit = limit
        self.exceeded = False
        self.client_error: ConnectionResetError | None = None

    async def __aiter__(self) -> AsyncIterator[bytes]:
        seen = 0
        try:
            async for chunk in self._stream.iter_any():  # on as it arrives
                seen += len(chunk)
                if seen > self._limit:
                    self.exceeded = True
                    raise ApiError(Errors.BODY_TOO_LARGE, limit=self._limit)
                yield chunk
        except ConnectionResetError as exc:  # aiohttp's "Connection lost"
            self.client_error = exc
            raise


class _ClientGone(Exception):
    """Writing the answer failed: the client hung up while it streamed."""


async def _to_client(write) -> None:
    try:
        await write
    except ConnectionResetError as exc:  # aiohttp's ClientConnectionResetError too
        raise _ClientGone(str(exc)) from exc


def _client_gone(request: web.Request) -> bool:
    return request.transport is None or request.transport.is_closing()


def _has_dot_segment(path: str) -> bool:
    return any(part in (".", "..") for part in path.split("/"))


def _forward_headers(request: web.Request, service: str) -> CIMultiDict:
    settings = request.app[SETTINGS]
    headers = CIMultiDict((k, v) for k, v in request.headers.items()
                          if k.lower() not in _DROP_REQUEST)
    # Signed for `service` alone: it cannot replay the caller's principal to another.
    headers[principal_mod.HEADER] = principal_mod.sign(principal_of(request), settings,
                                                       audience=service)
    headers[REQUEST_ID] = request[REQUEST_ID_KEY]
    headers[CORRELATION_ID] = current_correlation_id() or request[REQUEST_ID_KEY]
    # Only the client address the gateway vouches for (the principal's): what a client
    # wrote in X-Forwarded-For itself is not sent on for a service to take.
    headers["X-Forwarded-For"] = principal_of(request).ip or request.remote or ""
    headers["X-Forwarded-Proto"] = request.scheme
    headers["X-Forwarded-Host"] = request.host
    return headers


async def proxy(request: web.Request) -> web.StreamResponse:
    service = route_for(request.path)
    # Routing looks at the decoded path; a "." or ".." segment (even encoded)
    # could lead an upstream somewhere the routing table never sent it.
    if service is None or _has_dot_segment(request.path):
        raise ApiError(Errors.ROUTE_NOT_FOUND, method=request.method, path=request.path)
    request[ROUTE_LABEL_KEY] = f"proxy:{service}"
    settings = request.app[SETTINGS]
    limit = settings.max_upload_bytes if is_upload(request.method, request.path) \
        else settings.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(Errors.BODY_TOO_LARGE, limit=limit)
    buffered = request.get(REQUEST_BODY_KEY)
    pool = request.app[UPSTREAMS].pool(settings.url_of(service))
    if pool is not None and request.method != "HEAD":
        if buffered is None and not request.body_exists:
            buffered = b""
        elif buffered is None and request.content_length is not None \
                and request.content_length <= SMALL_BODY:
            buffered = await _read_small(request, service)
        if buffered is not None:
            return await _proxy_lean(request, service, pool, buffered)
    body = _LimitedBody(request.content, limit) \
        if request.body_exists and buffered is None else None
    data = body.__aiter__() if body else (buffered if request.body_exists else None)
    buffer_cap = request.get(BUFFER_RESPONSE_KEY)
    # Forward the path exactly as the client encoded it, query string included.
    url = URL(settings.url_of(service) + request.raw_path, encoded=True)
    session = request.app[UPSTREAM_SESSION]
    try:
        async with session.request(request.method, url,
                                   headers=_forward_headers(request, service), data=data,
                                   allow_redirects=False) as upstream:
            return await _answer(
                request, service, upstream.status, upstream.reason,
                _answer_headers(request, upstream.headers.items()), upstream.content_length,
                buffer_cap, lambda cap: read_at_most(upstream.content.readany, cap),
                upstream.content.iter_chunked(CHUNK), broken=(TimeoutError, aiohttp.ClientError))
    except ApiError:
        raise
    except asyncio.CancelledError as exc:
        # A handler is cancelled at shutdown, or (with handler_cancellation) when its
        # client hangs up: only the latter is counted here.
        if (body is not None and body.client_error is not None) or _client_gone(request):
            _client_went_away(service, exc)
        raise
    except (TimeoutError, aiohttp.ClientError) as exc:
        if body is not None and body.exceeded:
            raise ApiError(Errors.BODY_TOO_LARGE, limit=limit) from None
        if body is not None and body.client_error is not None:
            # The client hung up mid-body: the upstream saw half a request, and nobody
            # is left to answer. (An upstream failure after the client left is still
            # the upstream's, below.)
            _client_went_away(service, body.client_error)
            raise ApiError(Errors.CLIENT_CLOSED) from None
        raise _upstream_error(service, exc) from None


def _answer_headers(request: web.Request, upstream_headers) -> CIMultiDict:
    """The upstream's headers (name, value pairs) less the hop-by-hop ones, with the
    rate-limit headers and the request and correlation ids."""
    answer = CIMultiDict((k, v) for k, v in upstream_headers
                         if k.lower() not in _DROP_RESPONSE)
    answer.update(request.get(RATE_HEADERS_KEY, {}))
    answer[REQUEST_ID] = request[REQUEST_ID_KEY]
    answer[CORRELATION_ID] = current_correlation_id() or request[REQUEST_ID_KEY]
    return answer


async def _answer(request: web.Request, service: str, status: int, reason: str | None,
                  headers: CIMultiDict, content_length: int | None, cap: int | None,
                  read_at_most, chunks, *,
                  broken: tuple[type[BaseException], ...]) -> web.StreamResponse:
    """The upstream's answer for the client (both clients' paths): read whole, up to
    `cap` bytes, as a web.Response; beyond that (or with no `cap`), streamed from the
    part already read (`read_at_most(cap)`) through `chunks`. A client that hangs up
    mid-answer is counted; an upstream that breaks (`broken`) after the headers went
    out cuts the stream. Anything else, before that, goes to the caller."""
    response: web.StreamResponse | None = None
    try:
        head = b""
        if cap is not None and (content_length or 0) <= cap:
            head, complete = await read_at_most(cap)
            if complete:
                return web.Response(status=status, reason=reason, headers=headers,
                                    body=head)
        response = web.StreamResponse(status=status, reason=reason, headers=headers)
        if content_length is not None:
            response.content_length = content_length
        await _to_client(response.prepare(request))
        if head:
            await _to_client(response.write(head))
        async for chunk in chunks:
            await _to_client(response.write(chunk))
        await _to_client(response.write_eof())
        return response
    except _ClientGone as exc:
        # The client hung up while its answer streamed: nothing is wrong upstream.
        _client_went_away(service, exc)
        assert response is not None  # only writing it raises _ClientGone
        return response
    except broken as exc:
        if response is not None and response.prepared:
            return _cut(request, service, response, exc)
        raise


def _cut(request: web.Request, service: str, response: web.StreamResponse,
         exc: BaseException) -> web.StreamResponse:
    """The upstream broke after the answer's headers went out: all we can do is cut the
    stream so the client sees it."""
    log.warning("upstream_broke_mid_stream", upstream=service, error=repr(exc))
    metrics.UPSTREAM_ERRORS.labels(service, "mid_stream").inc()
    if request.transport is not None:
        request.transport.close()
    return response


async def _read_small(request: web.Request, service: str) -> bytes:
    try:
        return await request.read()
    except ConnectionResetError as exc:  # hung up mid-body
        _client_went_away(service, exc)
        raise ApiError(Errors.CLIENT_CLOSED) from None


async def _proxy_lean(request: web.Request, service: str, pool: Pool,
                      body: bytes) -> web.StreamResponse:
    """The proxy through the gateway's own client: the request body is in hand."""
    settings = request.app[SETTINGS]
    headers = [(k, v) for k, v in _forward_headers(request, service).items()
               if k.lower() not in _LEAN_DROP]
    try:
        upstream = await pool.request(request.method, request.raw_path, headers, body,
                                      settings.upstream_timeout_seconds)
    except UpstreamError as exc:
        raise _upstream_error(service, exc) from None
    except asyncio.CancelledError as exc:
        if _client_gone(request):
            _client_went_away(service, exc)
        raise
    try:
        return await _answer(
            request, service, upstream.status, upstream.reason,
            _answer_headers(request, upstream.headers), upstream.content_length,
            request.get(BUFFER_RESPONSE_KEY, INLINE_ANSWER), upstream.read_at_most,
            upstream.chunks(), broken=(UpstreamError,))
    except asyncio.CancelledError as exc:
        if _client_gone(request):
            _client_went_away(service, exc)
        raise
    except UpstreamError as exc:
        raise _upstream_error(service, exc) from None
    finally:
        upstream.close_unless_released()


def _client_went_away(service: str, exc: BaseException) -> None:
    metrics.CLIENTS_GONE.labels(service).inc()
    log.info("client_went_away", upstream=service, error=repr(exc))


def _upstream_error(service: str, exc: BaseException) -> ApiError:
    if isinstance(exc, UpstreamError):
        if exc.kind == "timeout":
            metrics.UPSTREAM_ERRORS.labels(service, "timeout").inc()
            log.warning("upstream_timeout", upstream=service)
            return ApiError(Errors.UPSTREAM_TIMEOUT, service=service)
        metrics.UPSTREAM_ERRORS.labels(service, exc.kind).inc()
        log.warning("upstream_unavailable" if exc.kind == "unavailable" else "upstream_failed",
                    upstream=service, error=str(exc))
        return ApiError(Errors.UPSTREAM_UNAVAILABLE, service=service)
    if isinstance(exc, aiohttp.ClientConnectorError):
        metrics.UPSTREAM_ERRORS.labels(service, "unavailable").inc()
        log.warning("upstream_unavailable", upstream=service, error=str(exc))
        return ApiError(Errors.UPSTREAM_UNAVAILABLE, service=service)
    if isinstance(exc, (asyncio.TimeoutError, aiohttp.ServerTimeoutError)):
        metrics.UPSTREAM_ERRORS.labels(service, "timeout").inc()
        log.warning("upstream_timeout", upstream=service)
        return ApiError(Errors.UPSTREAM_TIMEOUT, service=service)
    metrics.UPSTREAM_ERRORS.labels(service, "broken").inc()
    log.warning("upstream_failed", upstream=service, error=str(exc))
    return ApiError(Errors.UPSTREAM_UNAVAILABLE, service=service)
