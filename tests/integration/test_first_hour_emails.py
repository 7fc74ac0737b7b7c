"""The merchant's first e-mails (issue 23 item 7): the confirmation and invitation mails
link the console's pages, with the token after `#` (never sent to a server), the code
as a fallback and the expiry; the token those links carry is the one the API takes.

The auth service against the real database and broker; the e-mails as RabbitMQ carries
them (`email.requested`). The pages themselves are driven in a browser by
tests/browser/test_console_first_hour.py.
"""

from __future__ import annotations

import re

import pytest

from shared.events import Topology
from tests.support.auth import PASSWORD, auth_client, make_company_admin
from tests.support.broker import EventTap
from tests.support.poll import poll_until

PUBLIC_URL = "https://pay.example.com"


@pytest.fixture(scope="module")
async def auth(settings):
    async with auth_client(settings, public_url=PUBLIC_URL) as client:
        yield client


async def _mail(settings, send, address: str) -> str:
    """The text of the e-mail `send()` makes auth request for `address`."""
    async with EventTap(settings.amqp_url, Topology(settings.events_namespace),
                        ["email.requested"]) as tap:
        await send()

        def mailed():
            return [e for e in tap.events if e.data.get("to") == [address]]
        [mail] = await poll_until(mailed, timeout=10, what=f"e-mail to {address}")
    return mail.data["text"]


async def test_the_confirmation_mail_links_the_console_page_and_its_token_confirms(
        settings, auth, unique):
    email = f"first.hour.{unique}@example.com"

    async def sign_up():
        resp = await auth.post("/api/v1/auth/admin-sign-up", json={
            "firstName": "Ada", "lastName": "Owner", "email": email,
            "password": "Analytical-Engine-1843", "companyName": "Engines Ltd"})
        assert resp.status == 201, await resp.text()
    text = await _mail(settings, sign_up, email)

    lines = [line for line in text.splitlines() if line]
    # The link comes first, right after the greeting and the one line saying what it does.
    assert lines[:2] == ["Hello Ada,", "Confirm your norgate account by opening this link:"]
    link = re.fullmatch(re.escape(PUBLIC_URL) + r"/console/confirm-email#token=([\w-]+)",
                        lines[2])
    assert link, text
    token = link.group(1)
    assert (f"go to {PUBLIC_URL}/console/confirm-email and enter this "
            f"confirmation code: {token}") in text
    assert "expire in 24 hours" in text and f"sign in with {email}" in text
    # Nothing in the mail sends the reader to the raw API any more.
    assert "/api/" not in text and "JSON" not in text

    # Not confirmed yet; the page posts the link's token, which confirms once.
    creds = {"email": email, "password": "Analytical-Engine-1843"}
    assert (await auth.post("/api/v1/auth/sign-in", json=creds)).status == 403
    resp = await auth.post("/api/v1/auth/confirm-email", json={"token": token})
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["data"]["email"] == email
    assert (await auth.post("/api/v1/auth/sign-in", json=creds)).status == 200
    again = await auth.post("/api/v1/auth/confirm-email", json={"token": token})
    assert again.status == 400
    assert (await again.json())["error"]["code"] == "invalid_confirmation_token"


async def test_the_invitation_mail_links_the_console_page_and_its_token_sets_the_password(
        settings, auth, unique):
    admin = await make_company_admin(settings)
    email = f"invited.{unique}@shop.example.com"

    async def create():
        resp = await auth.post("/api/v1/admin/create-merchant-account", json={
            "merchantName": "Corner Shop", "merchantEmail": email},
            headers=admin.headers(settings))
        assert resp.status == 201, await resp.text()
    text = await _mail(settings, create, email)

    lines = [line for line in text.splitlines() if line]
    assert lines[:3] == ["Hello Corner Shop,", "A norgate merchant account was created for you.",
                         "Choose your password by opening this link:"]
    link = re.fullmatch(re.escape(PUBLIC_URL) + r"/console/accept-invitation#token=([\w-]+)",
                        lines[3])
    assert link, text
    token = link.group(1)
    assert f"Invitation code: {token}" in text
    assert "expire in 7 days" in text and f"sign in with {email}" in text
    assert "/api/" not in text and "POST" not in text and "JSON" not in text

    # The page's two refusals, each naming its field, then the password is set.
    short = await auth.post("/api/v1/auth/accept-invitation",
                            json={"token": token, "password": "short"})
    assert short.status == 400
    assert (await short.json())["error"]["field"] == "password"
    wrong = await auth.post("/api/v1/auth/accept-invitation",
                            json={"token": token[::-1], "password": PASSWORD})
    assert wrong.status == 400
    assert (await wrong.json())["error"]["field"] == "token"
    accepted = await auth.post("/api/v1/auth/accept-invitation",
                               json={"token": token, "password": PASSWORD})
    assert accepted.status == 200, await accepted.text()
    session = await auth.post("/api/v1/auth/sign-in",
                              json={"email": email, "password": PASSWORD})
    assert session.status == 200 and (await session.json())["role"] == "MERCHANT"
