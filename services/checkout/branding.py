"""The merchant's brand on its checkout pages: name, support e-mail, logo and accent
colour (auth's merchant settings `logoUrl` and `accentColor`, docs/payments.md).

Colours are chosen, not trusted: the text on an accent-coloured button is black or
white, whichever contrasts more (one of the two always reaches WCAG AA's 4.5:1), and
links and focus outlines use the accent only when it reaches 4.5:1 on the page's
lightest-but-one background; otherwise a darker shade of it, computed here.

The page's stylesheet is fixed (hashed once, html.STYLE_HASHES) and reads the colours
from CSS custom properties; `Brand.css()` writes those in a second, tiny block whose
text comes from validated `#rrggbb` values only, and html.render allows exactly that
text by its hash. Nothing in the rendered page is trusted to be a stylesheet.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web
from pydantic import BaseModel, Field

from services.checkout.ports import AUTH, MerchantAccount
from shared.http.client import ServiceUnavailable
from shared.http.errors import ApiError
from shared.logging import get_logger

log = get_logger(__name__)

HEX = r"^#[0-9a-f]{6}$"
DEFAULT_ACCENT = "#0b5fcc"  # norgate's blue: the look of a merchant without a brand
# The darkest background a link or focus outline sits on (the page behind the cards,
# #f4f5f7; the cards are white, where the same colour contrasts more).
PAGE_BACKGROUND = "#f4f5f7"
AA_TEXT = 4.5  # WCAG 2 AA, normal text


def _channel(value: int) -> float:
    c = value / 255
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def luminance(color: str) -> float:
    """WCAG 2 relative luminance of `#rrggbb`."""
    r, g, b = (int(color[i:i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * _channel(r) + 0.7152 * _channel(g) + 0.0722 * _channel(b)


def contrast(a: str, b: str) -> float:
    """WCAG 2 contrast ratio of two `#rrggbb` colours, 1 to 21."""
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def text_on(accent: str) -> str:
    """Black or white, whichever contrasts more with `accent` (at least 4.58:1)."""
    return "#ffffff" if contrast(accent, "#ffffff") >= contrast(accent, "#000000") \
        else "#000000"


def _scaled(color: str, factor: float) -> str:
    r, g, b = (int(color[i:i + 2], 16) for i in (1, 3, 5))
    return "#" + "".join(f"{round(c * factor):02x}" for c in (r, g, b))


def readable_on(color: str, background: str = PAGE_BACKGROUND,
                ratio: float = AA_TEXT) -> str:
    """`color` if it reaches `ratio` against `background`, else the lightest shade of it
    (its channels scaled toward black, keeping its hue) that does. Black reaches 18:1
    on PAGE_BACKGROUND, so a shade is always found."""
    for step in range(101):
        shade = _scaled(color, 1 - step / 100)
        if contrast(shade, background) >= ratio:
            return shade
    return "#000000"


class Brand(BaseModel):
    """What the checkout layout shows of a merchant (services/checkout/templates/_layout.html)."""

    name: str | None = None  # None: no header (a page about no known merchant)
    support_email: str | None = None
    logo_url: str | None = None
    logo_origin: str | None = None  # the logo's scheme://host[:port], the page's img-src
    accent: str = Field(default=DEFAULT_ACCENT, pattern=HEX)
    accent_text: str = Field(default=text_on(DEFAULT_ACCENT), pattern=HEX)
    # Links and focus outlines: the accent, or a darker shade reaching 4.5:1.
    accent_link: str = Field(default=readable_on(DEFAULT_ACCENT), pattern=HEX)

    def css(self) -> str:
        """The custom-properties block the layout's stylesheet reads. Its text is made
        of validated hex colours only; html.render allows it by its hash."""
        return (f":root {{ --accent: {self.accent}; --accent-text: {self.accent_text}; "
                f"--accent-link: {self.accent_link}; }}")


DEFAULT = Brand()
# A page handler's brand, once it knows the merchant (pages.py keeps it here).
BRAND = web.RequestKey("checkout_brand", Brand)


def brand_of(account: MerchantAccount | dict[str, Any]) -> Brand:
    """The brand of auth's merchant account (AuthClient's, or as auth writes it)."""
    from services.checkout.html import origin_of  # html renders Brand: imported late

    if isinstance(account, MerchantAccount):
        account = account.model_dump(by_alias=True)
    accent = str(account.get("accentColor") or "").lower()
    if not re.match(HEX, accent):  # none, or not a colour (auth checks; this page must render)
        accent = DEFAULT_ACCENT
    logo = account.get("logoUrl") or None
    origin = origin_of(logo) if logo else None
    return Brand(name=account.get("merchantName") or None,
                 support_email=account.get("merchantEmail") or None,
                 # A logo whose origin a policy cannot name is not shown (the name is).
                 logo_url=logo if origin else None, logo_origin=origin,
                 accent=accent, accent_text=text_on(accent), accent_link=readable_on(accent))


def default_brand(name: str | None = None) -> Brand:
    return Brand(name=name) if name else DEFAULT


async def brand_for(app: web.Application, merchant_id: int | None, *,
                    name: str | None = None) -> Brand:
    """The merchant's brand, from its cached account (AuthClient.merchant).
    When auth cannot say, the page still renders: the default look, with `name` (what
    the page already knows, a payment's merchant name) in the header."""
    if merchant_id is None:
        return default_brand(name)
    try:
        return brand_of(await app[AUTH].merchant(merchant_id))
    except (ApiError, ServiceUnavailable):
        log.warning("brand_unavailable", merchant_id=merchant_id)
        return default_brand(name)
