"""The checkout pages' brand (services/checkout/branding.py): colours that hold WCAG AA
contrast whatever the merchant picked, and a page policy that allows exactly the brand's
colour block and logo origin."""

from __future__ import annotations

import re

import pytest

from services.checkout import branding, html


def _directives(csp: str) -> dict[str, list[str]]:
    return {name: values for name, *values in (p.split() for p in csp.split(";"))}


def test_contrast_is_wcags_ratio():
    assert branding.contrast("#000000", "#ffffff") == pytest.approx(21)
    assert branding.contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)
    assert branding.contrast("#ffffff", "#ffffff") == 1


@pytest.mark.parametrize("accent", ["#ff8800", "#ffe000", "#ffffff", "#777777", "#1a7f37",
                                    "#0b5fcc", "#000000", "#00ffff", "#ff0000", "#8000ff"])
def test_text_and_links_reach_aa_whatever_the_accent(accent):
    brand = branding.brand_of({"merchantName": "Shop", "accentColor": accent})
    assert brand.accent == accent
    assert brand.accent_text in ("#000000", "#ffffff")
    assert branding.contrast(brand.accent, brand.accent_text) >= 4.5
    for background in ("#ffffff", branding.PAGE_BACKGROUND):
        assert branding.contrast(brand.accent_link, background) >= 4.5, background


def test_a_dark_enough_accent_is_its_own_link_colour_and_a_light_one_is_darkened():
    assert branding.brand_of({"accentColor": "#1a7f37"}).accent_link == "#1a7f37"
    orange = branding.brand_of({"accentColor": "#ff8800"})
    assert orange.accent_text == "#000000"  # white on orange is 2.9:1
    # The lightest shade of the same hue that reaches 4.5:1: one step lighter does not.
    r, g, b = (int(orange.accent_link[i:i + 2], 16) for i in (1, 3, 5))
    assert r > g > b == 0 and r / 255 == pytest.approx(g / 136, abs=0.01)
    lighter = branding._scaled("#ff8800", r / 255 + 0.01)
    assert branding.contrast(lighter, branding.PAGE_BACKGROUND) < 4.5


def test_the_policy_allows_the_brand_block_and_the_logos_origin_only():
    brand = branding.brand_of({"merchantName": "Shop", "merchantEmail": "help@shop.example",
                               "accentColor": "#ff8800",
                               "logoUrl": "https://cdn.shop.example:8443/brand/logo.png?v=2"})
    page = html.ENV.get_template("_layout.html").render(brand=brand, brand_css=brand.css())
    blocks = re.findall(r"<style>(.*?)</style>", page, re.S)
    csp = _directives(html.policy(brand=brand))
    assert sorted(csp["style-src"]) == sorted(html.style_hash(b) for b in blocks)
    assert len(blocks) == 2 and blocks[1] == brand.css()
    assert csp["img-src"] == ["https://cdn.shop.example:8443"]
    assert csp["default-src"] == ["'none'"]
    assert 'alt="Shop"' in page and 'href="mailto:help@shop.example"' in page


def test_no_logo_no_img_src_and_a_logo_no_policy_can_name_is_not_shown():
    csp = _directives(html.policy(brand=branding.DEFAULT))
    assert "img-src" not in csp
    odd = branding.brand_of({"merchantName": "Shop", "logoUrl": "https://bad host/logo.png"})
    assert (odd.logo_url, odd.logo_origin) == (None, None)
    assert "img-src" not in _directives(html.policy(brand=odd))


def test_a_tampered_accent_never_reaches_the_stylesheet():
    with pytest.raises(ValueError):
        branding.Brand(accent="red; } body { display: none")
    odd = branding.brand_of({"merchantName": "Shop", "accentColor": "red; } body {"})
    assert odd.accent == branding.DEFAULT_ACCENT  # the page renders, in the default look
