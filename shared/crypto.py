"""Secrets at rest: AES-256-GCM with a key derived from NORGATE_SECRET_KEY.

For values the service must give back later (transaction-signing secrets,
private signing keys), unlike passwords and API keys, which are only hashed.
The purpose label is bound as associated data, so a value encrypted for one
purpose does not decrypt as another.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import string

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from shared.secrets import derive
from shared.settings import Settings


class SecretBox:
    def __init__(self, settings: Settings, purpose: str):
        self._aead = AESGCM(bytes.fromhex(derive(settings, f"secret-box:{purpose}")))
        self._aad = purpose.encode()

    def seal(self, plaintext: str) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), self._aad)
        return "v1." + base64.urlsafe_b64encode(nonce + sealed).decode()

    def open(self, token: str) -> str:
        raw = base64.urlsafe_b64decode(token.removeprefix("v1.").encode())
        return self._aead.decrypt(raw[:12], raw[12:], self._aad).decode()


BASE62 = string.ascii_letters + string.digits


def base62(length: int) -> str:
    """`length` random characters of [A-Za-z0-9] (ids: pay_..., key_...), from one
    os.urandom call: bytes under 248 (4 x 62) map evenly onto the alphabet, the rest
    are drawn again. secrets.choice per character costs a system call each."""
    out: list[str] = []
    while len(out) < length:
        out.extend(BASE62[b % 62] for b in os.urandom(length + 8) if b < 248)
    return "".join(out[:length])


def random_secret(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()
