"""The checkout pages' Content-Security-Policy (services/checkout/html.py): built from
what the page is (embedded or not, where its forms lead), never from text a merchant
could use to add directives."""

from __future__ import annotations

import base64
import hashlib
import re

from services.checkout import html


def _directives(csp: str) -> dict[str, list[str]]:
    return {name: values for name, *values in (p.split() for p in csp.split(";"))}


def test_the_layout_stylesheet_is_allowed_by_its_hash_only():
    layout = html.ENV.get_template("_layout.html").render()
    [style] = re.findall(r"<style>(.*?)</style>", layout, re.S)
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    csp = _directives(html.policy())
    assert csp["style-src"] == [f"'sha256-{digest}'"]
    assert csp["default-src"] == ["'none'"] and "script-src" not in csp
    assert csp["frame-ancestors"] == ["'none'"] and csp["base-uri"] == ["'none'"]
    assert csp["form-action"] == ["'self'"]


def test_an_embedded_page_runs_its_frame_script_and_only_its_merchant_frames_it():
    csp = _directives(html.policy(frame_origin="https://shop.example.com", scripts=True))
    assert csp["script-src"] == ["'self'"]
    assert csp["frame-ancestors"] == ["https://shop.example.com"]


def test_form_action_names_the_merchant_origins_the_303s_lead_to():
    csp = _directives(html.policy(form_targets=[
        "https://Shop.Example.com/ok?order=1", "http://user:pw@[2001:db8::1]:8443/x",
        "https://shop.example.com/cancel"]))
    assert csp["form-action"] == ["'self'", "http://[2001:db8::1]:8443",
                                  "https://shop.example.com"]


def test_unknown_or_unexpressible_targets_leave_form_action_out():
    # NORAH's page does not know the returnUrl its 303 leads to.
    assert "form-action" not in html.policy(form_targets=None)
    for bad in ("https://a.example; script-src *", "https://a.example\r\nX: y",
                "javascript:alert(1)", "https://exa mple.com/", "https:///nohost"):
        csp = html.policy(form_targets=["https://ok.example/", bad])
        assert "form-action" not in csp, bad
        assert "script-src" not in csp and "\n" not in csp and "*" not in csp, bad


def test_render_builds_each_page_kind_its_policy():
    page = html.render("price_checkout.html", status=404, view="missing")
    csp = _directives(page.headers["Content-Security-Policy"])
    assert csp["form-action"] == ["'self'"] and csp["frame-ancestors"] == ["'none'"]
    assert page.headers["Cache-Control"] == "no-store"
    norah = html.render("norah_checkout.html", status=400, view="invalid", offer=None,
                        result=None, error=None, errors={}, values={}, method=None)
    assert "form-action" not in norah.headers["Content-Security-Policy"]
    assert "default-src 'none'" in norah.headers["Content-Security-Policy"]
