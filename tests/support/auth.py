"""Accounts for tests: real rows through the auth service's own store, and the
signed principal header the gateway would send for them."""

from __future__ import annotations

import secrets
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Literal

import asyncpg

from services.auth import store
from services.auth.domain import AdminSignUp
from services.auth.passwords import hash_password
from shared.crypto import SecretBox, random_secret
from shared.principal import HEADER, Principal, sign
from shared.settings import Settings

PASSWORD = "Correct-Horse-Battery-9"


@dataclass
class Account:
    user_id: int
    email: str
    role: str
    company_id: int | None
    merchant_id: int | None = None

    def principal(self, mode: Literal["test", "live"] = "test") -> Principal:
        """`mode`: what the gateway would set from the key or session (docs/modes.md)."""
        return Principal(kind="user", subject=str(self.user_id), role=self.role,
                         company_id=str(self.company_id) if self.company_id else None,
                         merchant_id=str(self.merchant_id) if self.merchant_id else None,
                         mode=mode)

    def headers(self, settings: Settings,
                mode: Literal["test", "live"] = "test") -> dict[str, str]:
        return {HEADER: sign(self.principal(mode), settings)}


async def make_company_admin(settings: Settings, *, enabled: bool = True,
                             company: str = "Acme Ltd") -> Account:
    tag = secrets.token_hex(4)
    body = AdminSignUp.model_validate({
        "firstName": "Ada", "lastName": f"Admin{tag}", "email": f"admin.{tag}@example.com",
        "password": PASSWORD, "companyName": f"{company} {tag}"})
    box = SecretBox(settings, "account-secrets")
    conn = await asyncpg.connect(settings.dsn_of("auth"))
    try:
        async with conn.transaction():
            user = await store.create_company_with_admin(
                conn, body, await hash_password(PASSWORD), box.seal(random_secret()))
            if enabled:
                await conn.execute(
                    "UPDATE users SET enabled = true, confirmed_at = now() WHERE id = $1",
                    user["id"])
    finally:
        await conn.close()
    return Account(user["id"], body.email, "ADMIN", user["company_id"])


async def make_super(settings: Settings) -> Account:
    tag = secrets.token_hex(4)
    email = f"super.{tag}@example.com"
    conn = await asyncpg.connect(settings.dsn_of("auth"))
    try:
        user_id = await store.create_user(
            conn, role="SUPER", email=email, password_hash=await hash_password(PASSWORD),
            first_name="Sue", last_name="Per", enabled=True,
            sealed_secret=SecretBox(settings, "account-secrets").seal(random_secret()))
    finally:
        await conn.close()
    return Account(user_id, email, "SUPER", None)


# Merchants, service callers and an in-process auth app --------------------------

async def make_merchant(settings: Settings, admin: Account, *, name: str = "Shop",
                        country: str | None = None, city: str | None = None,
                        status: str = "DEVELOPMENT") -> Account:
    """A merchant of `admin`'s company and its enabled MERCHANT login."""
    from services.auth import merchants_store
    from services.auth.merchants_domain import CreateMerchant, split_name

    tag = secrets.token_hex(4)
    body = CreateMerchant.model_validate({
        "merchantName": f"{name} {tag}", "merchantEmail": f"merchant.{tag}@example.com",
        "merchantCountry": country, "merchantCity": city})
    box = SecretBox(settings, "account-secrets")
    conn = await asyncpg.connect(settings.dsn_of("auth"))
    try:
        async with conn.transaction():
            merchant = await merchants_store.create_merchant(
                conn, body, company_id=admin.company_id, sealed_secret=box.seal(random_secret()))
            if status != "DEVELOPMENT":
                await merchants_store.set_merchant_status(conn, merchant["id"], status)
            first, last = split_name(body.merchant_name)
            user_id = await store.create_user(
                conn, role="MERCHANT", email=body.merchant_email,
                password_hash=await hash_password(PASSWORD), first_name=first, last_name=last,
                company_id=admin.company_id, merchant_id=merchant["id"], enabled=True,
                sealed_secret=box.seal(random_secret()))
    finally:
        await conn.close()
    return Account(user_id, body.merchant_email, "MERCHANT", admin.company_id, merchant["id"])


def service_headers(settings: Settings, name: str = "gateway") -> dict[str, str]:
    """The principal of an internal caller (what shared/http/client.py signs)."""
    return {HEADER: sign(Principal(kind="service", subject=name), settings)}


@asynccontextmanager
async def auth_client(settings: Settings, **overrides):
    """The auth service in-process (a TestClient); `overrides` change settings."""
    from services.auth.app import build_spec
    from shared.http.app import create_app
    from tests.conftest import serve

    s = settings.model_copy(update=overrides) if overrides else settings
    async with serve(create_app(s, build_spec(s))) as client:
        yield client


@asynccontextmanager
async def gateway_in_front_of_auth(settings: Settings, *, trust_local_proxy: bool = False,
                                   **overrides):
    """The real auth service (with `overrides`) behind a gateway whose other upstreams
    are down; with `trust_local_proxy` the gateway believes X-Forwarded-For from
    127.0.0.1, so a test can play clients of many addresses."""
    from services.auth.app import build_spec as auth_spec
    from services.gateway.app import build_spec as gateway_spec
    from shared.http.app import create_app
    from tests.conftest import serve
    from tests.support.net import free_port

    s = settings.model_copy(update=overrides)
    async with serve(create_app(s, auth_spec(s))) as auth:
        down = f"http://127.0.0.1:{free_port()}"
        g = s.model_copy(update={
            "auth_url": f"http://127.0.0.1:{auth.server.port}", "checkout_url": down,
            "billing_url": down, "fees_url": down, "notifier_url": down,
            **({"trusted_proxies": ("127.0.0.1/32",)} if trust_local_proxy else {})})
        async with serve(create_app(g, gateway_spec(g))) as gateway:
            yield gateway
