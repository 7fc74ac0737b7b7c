"""Sign-in, refresh rotation, sign-out, throttling, and access tokens at the gateway."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import asyncpg
import jwt
import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.auth.app import build_spec as auth_spec
from services.auth.context import KEYRING
from services.gateway.app import build_spec as gateway_spec
from shared.http.app import create_app
from shared.principal import HEADER, Principal, sign
from tests.conftest import serve
from tests.support.auth import PASSWORD, make_company_admin
from tests.support.net import free_port


@pytest.fixture
async def stack(settings):
    """auth, and the gateway in front of it."""
    async with serve(create_app(settings, auth_spec(settings))) as auth:
        down = f"http://127.0.0.1:{free_port()}"
        s = settings.model_copy(update={
            "auth_url": f"http://127.0.0.1:{auth.server.port}", "checkout_url": down,
            "billing_url": down, "fees_url": down, "notifier_url": down})
        async with serve(create_app(s, gateway_spec(s))) as gateway:
            yield auth, gateway


async def _sign_in(client, email, password=PASSWORD):
    return await client.post("/api/v1/auth/sign-in", json={"email": email, "password": password})


async def test_sign_in_returns_exactly_the_seeds_fields(settings, stack):
    _, gateway = stack
    admin = await make_company_admin(settings)
    resp = await _sign_in(gateway, admin.email)
    assert resp.status == 200
    body = await resp.json()
    assert set(body) == {"token", "refreshToken", "tokenExpiryDate", "user_id", "role",
                         "fullName", "email"}
    assert (body["user_id"], body["role"], body["email"]) == (admin.user_id, "ADMIN",
                                                              admin.email)
    expiry = parsedate_to_datetime(body["tokenExpiryDate"])
    assert body["tokenExpiryDate"].endswith(" GMT")
    assert 3590 <= (expiry - datetime.now(UTC)).total_seconds() <= 3600
    header = jwt.get_unverified_header(body["token"])
    assert header["alg"] == "EdDSA" and header["kid"]


async def test_wrong_password_and_unknown_email_get_the_same_answer(settings, stack):
    auth, _ = stack
    admin = await make_company_admin(settings)
    wrong = await _sign_in(auth, admin.email, "Not-The-Password-1")
    unknown = await _sign_in(auth, "nobody.at.all@example.com", "Not-The-Password-1")
    assert wrong.status == unknown.status == 401
    assert (await wrong.json())["message"] == (await unknown.json())["message"] == \
        "Invalid e-mail or password"


async def test_sign_in_before_confirmation_says_so(settings, stack):
    auth, _ = stack
    admin = await make_company_admin(settings, enabled=False)
    resp = await _sign_in(auth, admin.email)
    assert resp.status == 403
    assert "Confirm your e-mail address" in (await resp.json())["message"]


async def test_repeated_failures_slow_that_client_not_the_account(settings, stack):
    auth, _ = stack
    s = settings
    admin = await make_company_admin(s)
    for _ in range(s.sign_in_max_failures):
        assert (await _sign_in(auth, admin.email, "Wrong-Password-123")).status == 401
    held = await _sign_in(auth, admin.email)  # from this client even the right one waits
    assert held.status == 429
    assert 0 < int(held.headers["Retry-After"]) <= s.sign_in_lock_seconds
    assert (await held.json())["error"]["code"] == "too_many_sign_ins"
    elsewhere = Principal(ip="2001:db8:77::1")  # as the gateway signs another client
    resp = await auth.post("/api/v1/auth/sign-in",
                           json={"email": admin.email, "password": PASSWORD},
                           headers={HEADER: sign(elsewhere, s)})
    assert resp.status == 200, await resp.text()


async def test_refresh_rotates_and_a_reused_token_revokes_the_family(settings, stack):
    auth, _ = stack
    admin = await make_company_admin(settings)
    first = await (await _sign_in(auth, admin.email)).json()
    second = await auth.post("/api/v1/auth/refresh",
                             json={"refreshToken": first["refreshToken"]})
    assert second.status == 200
    rotated = await second.json()
    assert rotated["refreshToken"] != first["refreshToken"] and rotated["token"]
    reuse = await auth.post("/api/v1/auth/refresh", json={"refreshToken": first["refreshToken"]})
    assert reuse.status == 401
    assert (await reuse.json())["error"]["code"] == "refresh_token_reused"
    # The thief's reuse also ended the legitimate, newest session of that family.
    after = await auth.post("/api/v1/auth/refresh",
                            json={"refreshToken": rotated["refreshToken"]})
    assert after.status == 401


async def test_sign_out_revokes_the_refresh_token(settings, stack):
    auth, _ = stack
    admin = await make_company_admin(settings)
    session = await (await _sign_in(auth, admin.email)).json()
    out = await auth.post("/api/v1/auth/sign-out", json={"refreshToken": session["refreshToken"]})
    assert out.status == 200
    again = await auth.post("/api/v1/auth/refresh",
                            json={"refreshToken": session["refreshToken"]})
    assert again.status == 401


async def test_tokens_signed_before_a_key_rotation_stay_valid(settings, stack):
    auth, gateway = stack
    admin = await make_company_admin(settings)
    old = (await (await _sign_in(gateway, admin.email)).json())["token"]
    await auth.app[KEYRING].rotate()
    new = (await (await _sign_in(gateway, admin.email)).json())["token"]
    assert jwt.get_unverified_header(old)["kid"] != jwt.get_unverified_header(new)["kid"]
    jwks = await (await gateway.get("/.well-known/jwks.json")).json()
    kids = {k["kid"] for k in jwks["keys"]}
    assert {jwt.get_unverified_header(t)["kid"] for t in (old, new)} <= kids
    for token in (old, new):
        resp = await gateway.get("/api/v1/admin/users",
                                 headers={"Authorization": f"Bearer {token}"})
        assert resp.status == 200, await resp.text()


def _forge(claims: dict, *, alg: str = "EdDSA", kid: str = "k_x", key=None) -> str:
    if alg == "none":
        head = base64.urlsafe_b64encode(orjson.dumps({"alg": "none", "typ": "JWT", "kid": kid}))
        body = base64.urlsafe_b64encode(orjson.dumps(claims))
        return f"{head.decode().rstrip('=')}.{body.decode().rstrip('=')}."
    return jwt.encode(claims, key or Ed25519PrivateKey.generate(), algorithm=alg,
                      headers={"kid": kid})


@pytest.mark.parametrize("case", ["tampered", "expired", "alg_none", "wrong_key", "hs256",
                                  "garbage"])
async def test_bad_access_tokens_are_refused_with_401(settings, stack, case):
    _, gateway = stack
    admin = await make_company_admin(settings)
    good = (await (await _sign_in(gateway, admin.email)).json())["token"]
    header = jwt.get_unverified_header(good)
    claims = jwt.decode(good, options={"verify_signature": False})
    if case == "tampered":
        head, body, sig = good.split(".")
        evil = {**claims, "role": "SUPER"}
        token = f"{head}.{base64.urlsafe_b64encode(orjson.dumps(evil)).decode().rstrip('=')}.{sig}"
    elif case == "expired":
        ring_key = await _private_key(settings, header["kid"])
        token = jwt.encode({**claims, "exp": int(time.time()) - 10}, ring_key, algorithm="EdDSA",
                           headers={"kid": header["kid"]})
    elif case == "alg_none":
        token = _forge({**claims, "role": "SUPER"}, alg="none", kid=header["kid"])
    elif case == "wrong_key":
        token = _forge(claims, kid=header["kid"])
    elif case == "hs256":
        token = jwt.encode(claims, "x" * 32, algorithm="HS256", headers={"kid": header["kid"]})
    else:
        token = "not.a.token"
    resp = await gateway.get("/api/v1/admin/users", headers={"Authorization": f"Bearer {token}"})
    assert resp.status == 401, await resp.text()
    assert (await resp.json())["error"]["code"] == "invalid_access_token"


async def _private_key(settings, kid: str):
    """The real signing key, to show that expiry alone is enough to refuse a token."""
    from cryptography.hazmat.primitives import serialization

    from shared.crypto import SecretBox

    conn = await asyncpg.connect(settings.dsn_of("auth"))
    try:
        sealed = await conn.fetchval("SELECT private_key FROM signing_keys WHERE kid = $1", kid)
    finally:
        await conn.close()
    pem = SecretBox(settings, "jwt-signing-key").open(sealed)
    return serialization.load_pem_private_key(pem.encode(), password=None)
