"""The merchant console: a static single-page app served by the gateway at /console/.

The pages hold no data. The app signs in through the public sign-in route and calls
the APIs with the access token in an Authorization header, so the console itself is
public at the gateway (authn.py lists it). Files come from static/console/ and are
loaded once at start-up (the app's whole code is a few tens of kilobytes):

  GET /console, /console/, /console/{anything}   index.html (the app routes itself)
  GET /console/static/{file}                     the file, with its content type, an
                                                 ETag and `Cache-Control: no-cache`
                                                 (revalidated, 304 when unchanged:
                                                 module URLs carry no version)

Every answer carries a strict Content-Security-Policy (scripts, styles, images and
API calls from this origin only; no inline script or style, no framing).
"""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from shared.http.errors import ApiError, Errors
from shared.http.routes import Routes, get

ROOT = Path(__file__).parent / "static" / "console"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
       "connect-src 'self'; font-src 'self'; manifest-src 'self'; form-action 'self'; "
       "base-uri 'none'; frame-ancestors 'none'; object-src 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}
TYPES = {".js": "text/javascript", ".mjs": "text/javascript", ".css": "text/css",
         ".html": "text/html", ".svg": "image/svg+xml", ".png": "image/png",
         ".ico": "image/x-icon", ".json": "application/json", ".txt": "text/plain",
         ".webmanifest": "application/manifest+json"}
TEXT = ("text/", "application/json", "application/manifest+json", "image/svg+xml")
_ASSETS: web.AppKey[dict[str, Asset]] = web.AppKey("console_assets", dict)


@dataclass(frozen=True)
class Asset:
    body: bytes
    content_type: str
    etag: str


def load_assets(root: Path = ROOT) -> dict[str, Asset]:
    """Every file under `root`, keyed by its path relative to it (posix)."""
    assets = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        body = path.read_bytes()
        kind = TYPES.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0] \
            or "application/octet-stream"
        assets[path.relative_to(root).as_posix()] = Asset(
            body, kind, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')
    return assets


def _answer(request: web.Request, asset: Asset) -> web.Response:
    headers = {**SECURITY_HEADERS, "Cache-Control": "no-cache", "ETag": asset.etag}
    if asset.etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers=headers)
    charset = "utf-8" if asset.content_type.startswith(TEXT) else None
    return web.Response(body=asset.body, content_type=asset.content_type, charset=charset,
                        headers=headers)


async def shell(request: web.Request) -> web.Response:
    return _answer(request, request.app[_ASSETS]["index.html"])


async def static_file(request: web.Request) -> web.Response:
    name = request.match_info["file"]
    asset = request.app[_ASSETS].get(name)
    if asset is None or name == "index.html":
        raise ApiError(Errors.NOT_FOUND, resource=f"Console file {name}")
    return _answer(request, asset)


def _setup(app: web.Application) -> None:
    app[_ASSETS] = load_assets()


# The console's pages: not part of the API (they call it). The shell's catch-all last.
ROUTES = Routes(
    get("/console", shell, None),
    get("/console/static/{file:.+}", static_file, None),
    get("/console/{path:.*}", shell, None),
    setup=_setup,
)
