"""Secrets derived from NORGATE_SECRET_KEY, so one operator secret yields many.

Derivation is HMAC-SHA256 with a purpose label: knowing one derived value
reveals nothing about the key or the other values.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shared.settings import Settings


def derive(settings: Settings, purpose: str) -> str:
    return _derive(settings.secret_key.get_secret_value(), purpose)


@functools.lru_cache(maxsize=256)
def _derive(secret: str, purpose: str) -> str:
    return hmac.new(secret.encode(), purpose.encode(), hashlib.sha256).hexdigest()
