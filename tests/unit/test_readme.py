"""The README stays true: it documents every setting and every routed prefix."""

from __future__ import annotations

from pathlib import Path

from services.gateway.routing import ROUTES
from shared.settings import Settings

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_every_setting_is_documented():
    missing = [f"NORGATE_{name.upper()}" for name in Settings.model_fields
               if f"`NORGATE_{name.upper()}`" not in README]
    assert not missing, f"README.md does not document {missing}"


def test_every_routed_prefix_is_documented():
    missing = [prefix for prefix, _ in ROUTES if prefix.rstrip("/") not in README]
    assert not missing, f"README.md does not mention {missing}"


def test_every_error_code_is_in_the_catalogue_table():
    from shared.http.errors import ErrorKind, Errors

    codes = [k.code for k in vars(Errors).values() if isinstance(k, ErrorKind)]
    missing = [code for code in codes if f"| `{code}` |" not in README]
    assert not missing, f"README.md's error table lacks {missing}"
