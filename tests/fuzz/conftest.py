"""One `make run` stack for every fuzz and bad-input test, with a company admin, an
active merchant and its API key, all onboarded through the gateway.

The e2e `stack` fixture is reused as is, only with package scope, so the stack starts
once for this folder.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from email import policy
from email.parser import BytesParser
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from tests.e2e import conftest as e2e
from tests.support.poll import poll_until

stack = pytest.fixture(scope="package", name="stack")(e2e.stack.__wrapped__)

PASSWORD = "Fuzz-Owner-Passw0rd"


@dataclass
class Tenant:
    gateway: str
    admin_token: str
    merchant_id: int
    merchant_uid: str
    api_key: str
    database_url: str  # the admin DSN of the stack's database, to count rows

    @property
    def key_headers(self) -> dict[str, str]:
        return {"X-API-Key": self.api_key}

    @property
    def admin_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_token}"}

    async def count(self, sql: str, *args) -> int:
        conn = await asyncpg.connect(self.database_url)
        try:
            return await conn.fetchval(sql, *args)
        finally:
            await conn.close()


async def _mail_link(stack, address: str) -> str:
    def find():
        for path in sorted(Path(stack.env["NORGATE_MAIL_DIR"]).glob("*.eml")):
            msg = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
            if msg["To"] == address:
                text = msg.get_body(("plain",)).get_content()
                # The mail links the console page (token after #); the API route takes it.
                found = re.search(r"(http://[^/\s]+)/\S*confirm-email\S*?token=(\S+)", text)
                if found is None:
                    return None
                return f"{found.group(1)}/api/v1/auth/confirm-email?token={found.group(2)}"
        return None
    return await poll_until(find, timeout=30, what=f"confirmation mail to {address}")


@pytest.fixture(scope="package")
async def tenant(stack) -> Tenant:
    """Sign-up, confirm, sign in, create + activate a merchant (ENTERPRISE plan, so the
    fuzzer is not rate limited), and an API key: the way a customer starts."""
    await e2e.wait_stack_ready(stack)
    gw = stack.gateway
    tag = secrets.token_hex(3)
    email = f"fuzz.owner.{tag}@example.com"
    async with aiohttp.ClientSession() as http:
        async with http.post(gw + "/api/v1/auth/admin-sign-up", json={
                "firstName": "Fuzz", "lastName": "Owner", "email": email,
                "password": PASSWORD, "companyName": f"Fuzz Ltd {tag}"}) as resp:
            assert resp.status == 201, await resp.text()
        async with http.get(await _mail_link(stack, email)) as resp:
            assert resp.status == 200, await resp.text()
        async with http.post(gw + "/api/v1/auth/sign-in",
                             json={"email": email, "password": PASSWORD}) as resp:
            assert resp.status == 200, await resp.text()
            token = (await resp.json())["token"]
        auth = {"Authorization": f"Bearer {token}"}
        async with http.post(gw + "/api/v1/admin/create-merchant-account", headers=auth, json={
                "merchantName": "Fuzz Shop", "merchantEmail": f"shop.{tag}@example.com",
                "ratePlan": "ENTERPRISE"}) as resp:
            assert resp.status == 201, await resp.text()
            merchant = (await resp.json())["data"]
        async with http.post(gw + f"/api/v1/admin/merchants/{merchant['merchantId']}/activate",
                             headers=auth) as resp:
            assert resp.status == 200, await resp.text()
        async with http.post(gw + "/api/v1/api-keys", headers=auth,
                             json={"merchantId": merchant["merchantId"]}) as resp:
            assert resp.status == 201, await resp.text()
            key = (await resp.json())["data"]["key"]
    return Tenant(gateway=gw, admin_token=token, merchant_id=merchant["merchantId"],
                  merchant_uid=merchant["merchantUid"], api_key=key,
                  database_url=stack.env["NORGATE_DATABASE_URL"])
