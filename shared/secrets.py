"""Secrets derived from NORGATE_SECRET_KEY, so one operator secret yields many.

Derivation is HMAC-SHA256 with a purpose label: knowing one derived value
reveals nothing about the key or the other values.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shared.settings import Settings


def derive(settings: "Settings", purpose: str) -> str:
    key = settings.secret_key.get_secret_value().encode()
    return hmac.new(key, purpose.encode(), hashlib.sha256).hexdigest()
