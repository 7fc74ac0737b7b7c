"""What the server-rendered checkout pages share: templates, HTML answers, CSRF.

Every page carries a Content-Security-Policy built by `policy()`: nothing loads but
the layout's inline stylesheet (allowed by its SHA-256, computed from the template at
import), the merchant's brand colours (a second <style> block of CSS custom
properties, branding.Brand.css(), allowed by the hash of the text Brand writes from
validated `#rrggbb` values, computed at render time: never a hash of whatever the
rendered page contains), the merchant's logo (`img-src` its one origin, when it has
one) and, in an embedded page, /v1/checkout-frame.js; forms may lead only here and to
the merchant's success and cancel pages (a form's answer is a 303 there); only the
merchant's page that created an embedded payment may frame it.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import re
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jinja2
from aiohttp import web

from services.checkout.branding import DEFAULT, Brand
from shared.secrets import derive
from shared.settings import Settings

ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True, trim_blocks=True, lstrip_blocks=True)
HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer",
           "X-Frame-Options": "DENY"}


def style_hash(text: str) -> str:
    """A CSP source allowing the inline <style> block whose exact text is `text`."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def _inline_style_hashes() -> tuple[str, ...]:
    """The CSP hashes of the layout's own <style> blocks, as the layout renders them
    without a brand (the hash covers the exact text between the tags; the brand's block
    is rendered only with a brand's css, hashed per page)."""
    layout = ENV.get_template("_layout.html").render()
    blocks = re.findall(r"<style>(.*?)</style>", layout, re.S)
    return tuple(sorted({style_hash(b) for b in blocks}))


STYLE_HASHES = _inline_style_hashes()
# NORAH's forms answer with a 303 to the merchant's returnUrl, which its page is not
# told: a form-action there would stop the payer on the way back, so it has none.
_FORMS_LEAD_TO_UNKNOWN = frozenset({"norah_checkout.html"})
_ORIGIN = re.compile(r"^https?://[a-z0-9.\-]+(:[0-9]{1,5})?$|^https?://\[[0-9a-f:.]+\](:[0-9]{1,5})?$")


def origin_of(url: str) -> str | None:
    """scheme://host[:port] of `url` as a CSP source, or None when it cannot be one."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if not host:
        return None
    host = f"[{host}]" if ":" in host else host
    origin = f"{parts.scheme.lower()}://{host}" + (f":{port}" if port is not None else "")
    return origin if _ORIGIN.match(origin) else None


def policy(*, frame_origin: str | None = None, scripts: bool = False, connect: bool = False,
           form_targets: Iterable[str] | None = (), brand: Brand | None = None) -> str:
    """A page's Content-Security-Policy. `form_targets`: the URLs a form's answer may
    redirect to (None: unknown, no form-action). `brand`: its colours' block and its
    logo's origin are allowed (nothing else is)."""
    styles = list(STYLE_HASHES)
    if brand is not None:
        styles.append(style_hash(brand.css()))
    parts = ["default-src 'none'", "style-src " + " ".join(styles)]
    if brand is not None and brand.logo_url and brand.logo_origin:
        parts.append(f"img-src {brand.logo_origin}")
    if scripts:
        parts.append("script-src 'self'")
    if connect:  # a script that reads this page again (checkout-wait.js)
        parts.append("connect-src 'self'")
    if form_targets is not None:
        origins = set()
        for url in form_targets:
            origin = origin_of(url)
            if origin is None:  # not expressible: better no form-action than a broken one
                break
            origins.add(origin)
        else:
            parts.append(" ".join(["form-action 'self'", *sorted(origins)]))
    parts += ["frame-ancestors " + (frame_origin or "'none'"), "base-uri 'none'"]
    return "; ".join(parts)


def _page_policy(template: str, context: dict[str, Any]) -> str:
    embed = context.get("embed") or {}
    payment = context.get("payment") or {}
    targets = None if template in _FORMS_LEAD_TO_UNKNOWN else [
        u for u in (payment.get("success_url"), payment.get("cancel_url")) if u]
    frame = origin_of(embed["origin"]) if embed.get("origin") else None
    # Scripts from here only, and the pages work without them: `scripts` names the
    # page's (/v1/checkout-card.js for a card form, /v1/checkout-wait.js while a phone
    # is asked, which fetches the page again), an embedded page adds checkout-frame.js.
    scripts = context.get("scripts") or ()
    return policy(frame_origin=frame, scripts=bool(frame) or bool(scripts),
                  connect="checkout-wait.js" in scripts, form_targets=targets,
                  brand=context["brand"])


class Answer(Exception):
    """A finished page to answer with (the error middleware would turn an HTTP error
    exception into a JSON envelope, so HTML errors travel as this)."""

    def __init__(self, response: web.Response):
        super().__init__(response.status)
        self.response = response


PageHandler = Callable[[web.Request], Awaitable[web.Response]]


def html_handler(handler: PageHandler) -> PageHandler:
    """Lets a page handler `raise Answer(page)` from anywhere."""
    @functools.wraps(handler)
    async def wrapper(request: web.Request) -> web.Response:
        try:
            return await handler(request)
        except Answer as answer:
            return answer.response
    return wrapper


def render(template: str, *, status: int = 200, **context: Any) -> web.Response:
    """The page; `brand` (branding.Brand) in the context is the merchant's look, the
    default one when absent or None."""
    context["brand"] = context.get("brand") or DEFAULT
    html = ENV.get_template(template).render(brand_css=context["brand"].css(), **context)
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8",
                        headers={**HEADERS,
                                 "Content-Security-Policy": _page_policy(template, context)})


def csrf(settings: Settings, purpose: str, value: str) -> str:
    """A form token bound to `value` (a payment id, a payment token's jti)."""
    key = derive(settings, purpose).encode()
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()
