"""Secrets derived from NORGATE_SECRET_KEY, so one operator secret yields many.

Derivation is HMAC-SHA256 with a purpose label: knowing one derived value
reveals nothing about the key or the other values. That is also what lets a
process run without the master key: given NORGATE_SERVICE_KEYS, the derived
values for its own purposes only (deploy/service_secrets.py hands them out),
it can neither derive another service's secrets nor the master.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shared.settings import Settings


class MissingSecret(RuntimeError):
    """This process holds neither the master key nor the derived value asked for."""

    def __init__(self, purpose: str):
        super().__init__(
            f"norgate: no secret for {purpose!r}: set NORGATE_SECRET_KEY, or give this "
            f"process NORGATE_SERVICE_KEYS with {purpose!r} (python -m "
            "deploy.service_secrets; deploy/README.md)")
        self.purpose = purpose


def derive(settings: Settings, purpose: str) -> str:
    if settings.secret_key is not None:
        return _derive(settings.secret_key.get_secret_value(), purpose)
    given = settings.service_keys.get(purpose)
    if given is None:
        raise MissingSecret(purpose)
    return given.get_secret_value()


def derive_from(master: str, purpose: str) -> str:
    """What `derive` answers for `purpose` under the master key `master`."""
    return _derive(master, purpose)


@functools.lru_cache(maxsize=256)
def _derive(secret: str, purpose: str) -> str:
    return hmac.new(secret.encode(), purpose.encode(), hashlib.sha256).hexdigest()
