"""CORS for the checkout widget: only its routes, only from a key's allowed origins.

Browsers call the gateway from a merchant's page only through checkout.js, with a
publishable key (`nk_pub_...`) in the query string (`?key=`), so that a preflight,
which carries no credentials, still names the key whose allowed origins decide:

  OPTIONS /v1/widget/...?key=nk_pub_...   Origin allowed  -> 204 + CORS headers
                                          otherwise       -> 403 origin_not_allowed
                                                             (no CORS headers)
  GET/POST /v1/widget/...?key=nk_pub_...  Origin allowed  -> the answer, including
                                                             errors, with CORS headers
                                          otherwise       -> 403, no CORS headers

Every other route sends no CORS headers at all, so a browser on another site can
never read an answer made with a secret key or a user's session. The headers are
added in `on_response_prepare`, so proxied answers that stream get them too.
"""

from __future__ import annotations

from aiohttp import web

from shared.http.errors import ApiError, Errors

WIDGET_PREFIX = "/v1/widget/"
PUBLISHABLE_PREFIX = "nk_pub_"
ALLOW_METHODS = "GET, POST"
ALLOW_HEADERS = "Content-Type, Idempotency-Key, X-Request-ID"
EXPOSE_HEADERS = ("X-Request-ID, X-Error-Code, Retry-After, X-RateLimit-Limit, "
                  "X-RateLimit-Remaining")
MAX_AGE_SECONDS = 600

CORS_ORIGIN_KEY = web.RequestKey("cors_origin", str)


def is_widget(path: str) -> bool:
    return path.startswith(WIDGET_PREFIX)


def is_publishable(key: str) -> bool:
    return key.startswith(PUBLISHABLE_PREFIX)


def is_preflight(request: web.Request) -> bool:
    return request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers


def query_key(request: web.Request) -> str | None:
    """The publishable key checkout.js puts in a widget URL (`?key=`)."""
    if not is_widget(request.path):
        return None
    return request.query.get("key", "").strip() or None


def check_origin(request: web.Request, found: dict) -> str:
    """The request's Origin when the key allows it; 403 naming the origin otherwise."""
    origin = request.headers.get("Origin", "").strip()
    if not origin or origin not in found.get("allowedOrigins", ()):
        raise ApiError(Errors.ORIGIN_NOT_ALLOWED, origin=origin or "(none sent)")
    request[CORS_ORIGIN_KEY] = origin
    return origin


def preflight_response(request: web.Request, found: dict) -> web.Response:
    check_origin(request, found)
    method = request.headers.get("Access-Control-Request-Method", "").upper()
    if method not in ("GET", "POST"):
        raise ApiError(Errors.METHOD_NOT_ALLOWED, method=method or "(none)",
                       path=request.path, headers={"Allow": ALLOW_METHODS})
    return web.Response(status=204, headers={
        "Access-Control-Allow-Methods": ALLOW_METHODS,
        "Access-Control-Allow-Headers": ALLOW_HEADERS,
        "Access-Control-Max-Age": str(MAX_AGE_SECONDS),
        "Cache-Control": "no-store"})


async def _add_headers(request: web.Request, response: web.StreamResponse) -> None:
    if not is_widget(request.path):
        return
    response.headers.add("Vary", "Origin")
    origin = request.get(CORS_ORIGIN_KEY)
    if origin:
        response.headers["Access-Control-Allow-Origin"] = origin
        if request.method != "OPTIONS":
            response.headers["Access-Control-Expose-Headers"] = EXPOSE_HEADERS


def setup_cors(app: web.Application) -> None:
    app.on_response_prepare.append(_add_headers)
