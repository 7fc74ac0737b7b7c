"""Access tokens die with their session (issue 19 item 6), through the public gateway.

A signed-in ADMIN's access token must be refused within NORGATE_SESSION_CHECK_SECONDS
of its sign-out, its account being disabled or deleted, or its role changing; its
refresh token at once after a disable or delete. The gateway hears of these at once
by broadcast events, and re-checks every session with auth at least that often in
case an event is missed.
"""

from __future__ import annotations

import asyncpg
import pytest

from tests.support.auth import PASSWORD, gateway_in_front_of_auth, make_company_admin, make_super
from tests.support.poll import poll_until


@pytest.fixture
async def gateway(settings):
    async with gateway_in_front_of_auth(settings) as client:
        yield client


async def session(gateway, email: str) -> dict:
    resp = await gateway.post("/api/v1/auth/sign-in", json={"email": email, "password": PASSWORD})
    assert resp.status == 200, await resp.text()
    return await resp.json()


def bearer(s: dict) -> dict[str, str]:
    return {"Authorization": f"Bearer {s['token']}"}


async def status_with(gateway, s: dict) -> int:
    return (await gateway.get("/api/v1/admin/users", headers=bearer(s))).status


async def refused_within(gateway, s: dict, bound: float) -> None:
    """The token is refused (401 invalid_access_token) before `bound` seconds pass."""
    async def refused() -> bool:
        return await status_with(gateway, s) == 401

    await poll_until(refused, timeout=bound, interval=0.05, what="the token refused")
    resp = await gateway.get("/api/v1/admin/users", headers=bearer(s))
    assert (await resp.json())["error"]["code"] == "invalid_access_token"


async def refresh_status(gateway, s: dict) -> int:
    return (await gateway.post("/api/v1/auth/refresh",
                               json={"refreshToken": s["refreshToken"]})).status


@pytest.fixture
async def people(settings, gateway):
    boss, admin = await make_super(settings), await make_company_admin(settings)
    s_boss, s_admin = await session(gateway, boss.email), await session(gateway, admin.email)
    assert await status_with(gateway, s_admin) == 200  # checked, and cached, before
    return admin, s_boss, s_admin


async def test_a_token_dies_with_its_sign_out(settings, gateway, people):
    admin, s_boss, s_admin = people
    other = await session(gateway, admin.email)  # the same user's other session
    out = await gateway.post("/api/v1/auth/sign-out",
                             json={"refreshToken": s_admin["refreshToken"]})
    assert out.status == 200
    await refused_within(gateway, s_admin, settings.session_check_seconds)
    assert await status_with(gateway, other) == 200  # only that session ended
    assert await status_with(gateway, s_boss) == 200


async def test_a_token_dies_when_super_disables_its_user(settings, gateway, people):
    admin, s_boss, s_admin = people
    resp = await gateway.put(f"/api/v1/admin/users/{admin.user_id}", json={"status": False},
                             headers=bearer(s_boss))
    assert resp.status == 200, await resp.text()
    assert await refresh_status(gateway, s_admin) == 401  # at once
    await refused_within(gateway, s_admin, settings.session_check_seconds)
    assert await status_with(gateway, s_boss) == 200


async def test_a_token_dies_when_super_deletes_its_user(settings, gateway, people):
    admin, s_boss, s_admin = people
    resp = await gateway.delete(f"/api/v1/admin/users/{admin.user_id}", headers=bearer(s_boss))
    assert resp.status == 200, await resp.text()
    assert await refresh_status(gateway, s_admin) == 401  # at once
    await refused_within(gateway, s_admin, settings.session_check_seconds)


async def test_a_token_dies_when_its_role_changes(settings, gateway, people):
    admin, s_boss, s_admin = people
    url = f"/api/v1/admin/users/{admin.user_id}"
    resp = await gateway.put(url, json={"role": "SUPER"}, headers=bearer(s_boss))
    assert resp.status == 200, await resp.text()
    await refused_within(gateway, s_admin, settings.session_check_seconds)  # says ADMIN
    promoted = await session(gateway, admin.email)
    assert promoted["role"] == "SUPER" and await status_with(gateway, promoted) == 200
    resp = await gateway.put(url, json={"role": "ADMIN"}, headers=bearer(s_boss))  # demoted
    assert resp.status == 200, await resp.text()
    await refused_within(gateway, promoted, settings.session_check_seconds)  # says SUPER
    # The session itself lives on: a refresh gives a token of the role it has now.
    again = await gateway.post("/api/v1/auth/refresh",
                               json={"refreshToken": promoted["refreshToken"]})
    assert again.status == 200
    renewed = await again.json()
    assert renewed["role"] == "ADMIN" and await status_with(gateway, renewed) == 200


async def test_the_bound_holds_when_no_event_tells_the_gateway(settings):
    """Sessions ended behind auth's back (no event): the periodic check still ends them."""
    async with gateway_in_front_of_auth(settings, session_check_seconds=1) as gateway:
        admin = await make_company_admin(settings)
        s = await session(gateway, admin.email)
        assert await status_with(gateway, s) == 200
        conn = await asyncpg.connect(settings.dsn_of("auth"))
        try:
            await conn.execute("UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = $1",
                               admin.user_id)
        finally:
            await conn.close()
        await refused_within(gateway, s, 1 + 0.5)  # the bound, and a request's time


async def test_events_end_sessions_long_before_the_check_would(settings):
    async with gateway_in_front_of_auth(settings, session_check_seconds=60) as gateway:
        admin = await make_company_admin(settings)
        s = await session(gateway, admin.email)
        assert await status_with(gateway, s) == 200
        out = await gateway.post("/api/v1/auth/sign-out", json={"refreshToken": s["refreshToken"]})
        assert out.status == 200
        await refused_within(gateway, s, 5)
