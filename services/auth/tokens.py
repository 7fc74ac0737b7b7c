"""Access tokens: Ed25519 (EdDSA) JWTs, their signing keys and the JWKS.

Keys live in the auth schema, private halves sealed with NORGATE_SECRET_KEY,
so every replica signs with the same current key. Rotation makes a new key
current and keeps the old one published until the last token it signed has
expired (`retired_at + access TTL`), so rotation never logs anyone out.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shared.crypto import SecretBox
from shared.settings import Settings

ISSUER = "norgate-auth"
AUDIENCE = "norgate"
RELOAD_SECONDS = 30.0


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private: Ed25519PrivateKey
    public_jwk: dict
    created_at: datetime
    retired_at: datetime | None


class KeyRing:
    def __init__(self, pool: asyncpg.Pool, settings: Settings):
        self._pool = pool
        self._settings = settings
        self._box = SecretBox(settings, "jwt-signing-key")
        self._keys: list[SigningKey] = []
        self._loaded_at = 0.0
        self._lock = asyncio.Lock()

    @property
    def ttl(self) -> timedelta:
        return timedelta(seconds=self._settings.access_token_ttl_seconds)

    async def ensure_current(self) -> None:
        """Create a key when none is current or the current one is due for rotation."""
        rotation = timedelta(days=self._settings.signing_key_rotation_days)
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('auth-signing-keys'))")
            newest = await conn.fetchrow(
                "SELECT kid, created_at FROM signing_keys WHERE retired_at IS NULL "
                "ORDER BY created_at DESC LIMIT 1")
            if newest is None or newest["created_at"] < datetime.now(UTC) - rotation:
                await self._insert_new(conn)
        await self.reload()

    async def rotate(self) -> str:
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('auth-signing-keys'))")
            kid = await self._insert_new(conn)
        await self.reload()
        return kid

    async def _insert_new(self, conn: asyncpg.Connection) -> str:
        private = Ed25519PrivateKey.generate()
        raw_public = private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        kid = f"k_{uuid.uuid4().hex[:16]}"
        jwk = {"kty": "OKP", "crv": "Ed25519", "x": _b64(raw_public), "kid": kid,
               "alg": "EdDSA", "use": "sig"}
        pem = private.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()).decode()
        await conn.execute("UPDATE signing_keys SET retired_at = now() WHERE retired_at IS NULL")
        await conn.execute(
            "INSERT INTO signing_keys (kid, private_key, public_jwk) VALUES ($1, $2, $3)",
            kid, self._box.seal(pem), jwk)
        return kid

    async def reload(self) -> None:
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                """SELECT kid, private_key, public_jwk, created_at, retired_at FROM signing_keys
                   WHERE retired_at IS NULL OR retired_at > now() - make_interval(secs => $1)
                   ORDER BY created_at DESC""", self._settings.access_token_ttl_seconds + 60)
        keys = []
        for row in rows:
            private = serialization.load_pem_private_key(
                self._box.open(row["private_key"]).encode(), password=None)
            jwk = row["public_jwk"]
            keys.append(SigningKey(row["kid"], private,  # type: ignore[arg-type]
                                   jwk if isinstance(jwk, dict) else json.loads(jwk),
                                   row["created_at"], row["retired_at"]))
        self._keys = keys
        self._loaded_at = time.monotonic()

    async def _fresh(self) -> list[SigningKey]:
        if time.monotonic() - self._loaded_at > RELOAD_SECONDS or not self._keys:
            async with self._lock:
                if time.monotonic() - self._loaded_at > RELOAD_SECONDS or not self._keys:
                    await self.reload()
        return self._keys

    async def jwks(self) -> dict:
        return {"keys": [k.public_jwk for k in await self._fresh()]}

    async def issue(self, claims: dict) -> tuple[str, datetime]:
        """Sign an access token; returns it with its expiry."""
        keys = await self._fresh()
        current = next(k for k in keys if k.retired_at is None)
        now = datetime.now(UTC).replace(microsecond=0)
        expires = now + self.ttl
        payload = {**claims, "iss": ISSUER, "aud": AUDIENCE, "iat": int(now.timestamp()),
                   "exp": int(expires.timestamp()), "jti": uuid.uuid4().hex, "typ": "access"}
        token = jwt.encode(payload, current.private, algorithm="EdDSA",
                           headers={"kid": current.kid})
        return token, expires
