"""The checkout service: plumbing from the foundation; its routes arrive with their issue."""

from __future__ import annotations

from pathlib import Path

from shared.http.app import ServiceSpec
from shared.settings import Settings


def build_spec(settings: Settings) -> ServiceSpec:
    return ServiceSpec(name="checkout", migrations=Path(__file__).parent / "migrations")
