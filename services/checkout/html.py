"""What the server-rendered checkout pages share: templates, HTML answers, CSRF."""

from __future__ import annotations

import functools
import hashlib
import hmac
from pathlib import Path

import jinja2
from aiohttp import web

from shared.secrets import derive

ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True, trim_blocks=True, lstrip_blocks=True)
HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer",
           "X-Frame-Options": "DENY"}


class Answer(Exception):
    """A finished page to answer with (the error middleware would turn an HTTP error
    exception into a JSON envelope, so HTML errors travel as this)."""

    def __init__(self, response: web.Response):
        super().__init__(response.status)
        self.response = response


def html_handler(handler):
    """Lets a page handler `raise Answer(page)` from anywhere."""
    @functools.wraps(handler)
    async def wrapper(request: web.Request) -> web.Response:
        try:
            return await handler(request)
        except Answer as answer:
            return answer.response
    return wrapper


def render(template: str, *, status: int = 200, **context) -> web.Response:
    html = ENV.get_template(template).render(**context)
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8",
                        headers=HEADERS)


def csrf(settings, purpose: str, value: str) -> str:
    """A form token bound to `value` (a payment id, a payment token's jti)."""
    key = derive(settings, purpose).encode()
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()
