"""Admin sign-up and e-mail confirmation against the auth service and the real broker."""

from __future__ import annotations

import re

import asyncpg
import pytest

from services.auth.app import build_spec
from shared.events import Topology
from shared.http.app import create_app
from tests.conftest import serve
from tests.support.broker import EventTap
from tests.support.poll import poll_until


def signup_body(unique: str, **overrides) -> dict:
    body = {
        "firstName": "John", "lastName": "Doe", "email": f"john.doe.{unique}@company.com",
        "password": "SecurePass123!", "companyName": "Tech Solutions Ltd",
        "address": "123 Business St, Harare", "description": "E-commerce platform",
        "phone": "263771234567", "publicEmail": "info@company.com",
        "returnUrl": "https://company.com/return",
        "webServiceUrl": "https://api.company.com/webhook", "website": "www.company.com",
    }
    return {**body, **overrides}


@pytest.fixture
async def auth(settings):
    s = settings.model_copy(update={"public_url": "https://pay.example.com"})
    async with serve(create_app(s, build_spec(s))) as client:
        yield client


async def _count_users(settings, email: str) -> int:
    conn = await asyncpg.connect(settings.dsn_of("auth"))
    try:
        return await conn.fetchval("SELECT count(*) FROM users WHERE lower(email)=lower($1)",
                                   email)
    finally:
        await conn.close()


async def test_sign_up_creates_a_disabled_admin_and_requests_a_confirmation_email(
        settings, auth, unique):
    body = signup_body(unique)
    async with EventTap(settings.amqp_url, Topology(settings.events_namespace),
                        ["email.requested", "company.created"]) as tap:
        resp = await auth.post("/api/v1/auth/admin-sign-up", json=body)
        assert resp.status == 201
        envelope = await resp.json()
        await poll_until(lambda: _has(tap, body["email"]), timeout=10, what="e-mail request")
    assert envelope["statusCode"] == 201 and envelope["status"] == "CREATED"
    assert envelope["message"] == "Successfully created new resource"
    data = envelope["data"]
    assert set(data) == {"id", "firstName", "lastName", "email", "role", "enabled",
                         "companyName"}
    assert (data["role"], data["enabled"], data["companyName"]) == \
        ("ADMIN", False, "Tech Solutions Ltd")
    email = next(e for e in tap.events if e.type == "email.requested")
    link = re.search(r"https://pay\.example\.com/console/confirm-email#token=(\S+)",
                     email.data["text"])
    assert link, email.data["text"]
    assert f"confirmation code: {link.group(1)}" in email.data["text"]
    assert any(e.type == "company.created" for e in tap.events)


async def _has(tap: EventTap, email: str) -> bool:
    return any(e.type == "email.requested" and e.data["to"] == [email] for e in tap.events)


async def _sign_up_and_get_token(settings, auth, body: dict) -> str:
    """Sign up and read the token from the e-mail request as RabbitMQ carries it."""
    async with EventTap(settings.amqp_url, Topology(settings.events_namespace),
                        ["email.requested"]) as tap:
        resp = await auth.post("/api/v1/auth/admin-sign-up", json=body)
        assert resp.status == 201, await resp.text()
        await poll_until(lambda: _has(tap, body["email"]), timeout=10, what="e-mail request")
    [email] = [e for e in tap.events if e.data["to"] == [body["email"]]]
    return re.search(r"token=([A-Za-z0-9_-]+)", email.data["text"]).group(1)


async def test_published_outbox_rows_keep_no_token(settings, auth, unique):
    body = signup_body(unique)
    token = await _sign_up_and_get_token(settings, auth, body)
    conn = await asyncpg.connect(settings.dsn_of("auth"))
    try:
        leftovers = await conn.fetchval(
            "SELECT count(*) FROM outbox WHERE position($1::bytea in payload) > 0",
            token.encode())
    finally:
        await conn.close()
    assert leftovers == 0


async def test_confirmation_link_enables_the_account_once(settings, auth, unique):
    body = signup_body(unique)
    token = await _sign_up_and_get_token(settings, auth, body)
    first = await auth.get(f"/api/v1/auth/confirm-email?token={token}")
    assert first.status == 200
    assert (await first.json())["data"] == {"id": (await first.json())["data"]["id"],
                                             "email": body["email"], "enabled": True}
    again = await auth.post("/api/v1/auth/confirm-email", json={"token": token})
    assert again.status == 400
    assert (await again.json())["error"]["code"] == "invalid_confirmation_token"


async def test_confirmation_code_can_be_posted(settings, auth, unique):
    body = signup_body(unique)
    token = await _sign_up_and_get_token(settings, auth, body)
    resp = await auth.post("/api/v1/auth/confirm-email", json={"token": token})
    assert resp.status == 200 and (await resp.json())["data"]["enabled"] is True


async def test_duplicate_email_in_any_case_is_409_and_writes_nothing(settings, auth, unique):
    body = signup_body(unique)
    assert (await auth.post("/api/v1/auth/admin-sign-up", json=body)).status == 201
    dup = await auth.post("/api/v1/auth/admin-sign-up",
                          json={**body, "email": body["email"].upper()})
    assert dup.status == 409
    assert (await dup.json())["message"] == "An account with this e-mail already exists"
    assert await _count_users(settings, body["email"]) == 1


@pytest.mark.parametrize("overrides,field,fragment", [
    ({"password": "short1!"}, "password", "at least 10 characters"),
    ({"password": "john.doe.{u}@company.com"}, "password", "must not contain your e-mail"),
    ({"email": "not-an-email"}, "email", "valid e-mail"),
    ({"firstName": ""}, "firstName", "at least 1 character"),
    ({"returnUrl": "javascript:alert(1)"}, "returnUrl", "http:// or https://"),
    ({"companyName": "Nul\u0000Corp"}, "", "NUL characters are not allowed"),
])
async def test_bad_sign_up_input_is_400_naming_the_field(auth, unique, overrides, field,
                                                          fragment):
    overrides = {k: v.format(u=unique) for k, v in overrides.items()}
    resp = await auth.post("/api/v1/auth/admin-sign-up", json=signup_body(unique, **overrides))
    assert resp.status == 400
    body = await resp.json()
    assert field in body["message"] and fragment in body["message"], body["message"]


async def test_password_is_stored_only_as_an_argon2id_hash(settings, auth, unique):
    body = signup_body(unique)
    assert (await auth.post("/api/v1/auth/admin-sign-up", json=body)).status == 201
    conn = await asyncpg.connect(settings.dsn_of("auth"))
    try:
        stored = await conn.fetchval("SELECT password_hash FROM users WHERE email=$1",
                                     body["email"])
    finally:
        await conn.close()
    assert stored.startswith("$argon2id$") and "SecurePass123!" not in stored
