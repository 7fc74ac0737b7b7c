"""Auth: companies, users, sign-up and e-mail confirmation (schema auth)."""

from __future__ import annotations

from pathlib import Path

from services.auth import api
from shared.http.app import ServiceSpec
from shared.settings import Settings


def build_spec(settings: Settings) -> ServiceSpec:
    return ServiceSpec(name="auth", setup_routes=api.setup_routes,
                       migrations=Path(__file__).parent / "migrations", docs=api.DOCS)
