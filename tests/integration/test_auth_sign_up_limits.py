"""Unauthenticated writes have budgets (issue 19 item 8): sign-up costs an argon2 hash,
an e-mail to any address and a company, so it is limited per client (an IPv4 address
or an IPv6 /64, the address the gateway signed into the principal) and platform-wide;
accept-invitation (a hash) per client. Counted in auth's schema, so every replica
shares the count. The gateway here trusts 127.0.0.1 as its proxy, so each request names
its client in X-Forwarded-For as a load balancer would.
"""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime

import asyncpg

from tests.support.auth import gateway_in_front_of_auth as auth_gateway
from tests.support.poll import poll_until

GENEROUS = 100_000  # a budget a test does not mean to reach


def gateway_in_front_of_auth(settings, **limits):
    """The gateway before auth, trusting 127.0.0.1's X-Forwarded-For (the tests play
    clients of many addresses), with budgets no test means to reach but `limits`."""
    return auth_gateway(settings, trust_local_proxy=True,
                        **{"sign_ups_per_client_per_hour": GENEROUS,
                           "sign_ups_per_minute": GENEROUS, **limits})


def ipv4() -> str:
    return f"10.{secrets.randbelow(256)}.{secrets.randbelow(256)}.{1 + secrets.randbelow(254)}"


def ipv6_64() -> str:
    return "2001:db8:" + ":".join(secrets.token_hex(2) for _ in range(2))


def body() -> dict:
    tag = secrets.token_hex(5)
    return {"firstName": "Eve", "lastName": "Signup", "email": f"eve.{tag}@example.com",
            "password": "Long-enough-pass-1", "companyName": f"Eve Ltd {tag}"}


async def sign_up(gateway, client: str, payload: dict | None = None):
    return await gateway.post("/api/v1/auth/admin-sign-up", json=payload or body(),
                              headers={"X-Forwarded-For": client})


async def users_named(settings, emails: list[str]) -> int:
    conn = await asyncpg.connect(settings.dsn_of("auth"))
    try:
        return await conn.fetchval("SELECT count(*) FROM users WHERE email = ANY($1)", emails)
    finally:
        await conn.close()


async def test_thirty_sign_ups_from_one_address_are_held_back_and_others_still_sign_up(
        settings):
    async with gateway_in_front_of_auth(settings, sign_ups_per_client_per_hour=10) as gateway:
        attacker = ipv4()
        bodies = [body() for _ in range(30)]
        answers = await asyncio.gather(*(sign_up(gateway, attacker, b) for b in bodies))
        codes = [a.status for a in answers]
        assert codes.count(201) == 10 and codes.count(429) == 20, codes
        assert await users_named(settings, [b["email"] for b in bodies]) == 10
        refused = next(a for a in answers if a.status == 429)
        envelope = await refused.json()
        assert (envelope["statusCode"], envelope["status"], envelope["data"]) == \
            (429, "TOO_MANY_REQUESTS", None)
        assert envelope["error"]["code"] == "too_many_sign_ups"
        assert refused.headers["X-Error-Code"] == "too_many_sign_ups"
        assert "address" in envelope["message"]
        assert 1 <= int(refused.headers["Retry-After"]) <= 3600
        # Someone else, at once.
        assert (await sign_up(gateway, ipv4())).status == 201
        assert (await sign_up(gateway, f"{ipv6_64()}::1")).status == 201


async def test_the_addresses_of_one_ipv6_64_are_one_client(settings):
    async with gateway_in_front_of_auth(settings, sign_ups_per_client_per_hour=3) as gateway:
        prefix = ipv6_64()
        codes = [(await sign_up(gateway, f"{prefix}:{i:x}:0:0:{i + 1:x}")).status
                 for i in range(5)]
        assert codes == [201, 201, 201, 429, 429]
        # The same host as IPv4-mapped IPv6 is its IPv4 address.
        v4 = ipv4()
        assert [(await sign_up(gateway, c)).status for c in (v4, f"::ffff:{v4}", v4, v4)] \
            == [201, 201, 201, 429]


async def _platform_count(settings) -> int:
    conn = await asyncpg.connect(settings.dsn_of("auth"))
    try:
        return await conn.fetchval(
            """SELECT coalesce(max(count), 0) FROM public_write_counters
               WHERE key = 'sign-up:platform' AND window_start > now() - interval '1 minute'""")
    finally:
        await conn.close()


async def test_the_platform_wide_ceiling_holds_across_many_addresses(settings):
    # Fixed UTC minute windows: start well inside one, so the burst is one window.
    await poll_until(lambda: datetime.now(UTC).second < 40, timeout=25, interval=0.2,
                     what="the start of a minute window")
    ceiling = await _platform_count(settings) + 5  # earlier tests of this run count too
    async with gateway_in_front_of_auth(settings, sign_ups_per_minute=ceiling) as gateway:
        bodies = [body() for _ in range(20)]
        answers = await asyncio.gather(*(sign_up(gateway, ipv4(), b) for b in bodies))
        codes = [a.status for a in answers]
        assert codes.count(201) == 5 and codes.count(429) == 15, codes
        assert await users_named(settings, [b["email"] for b in bodies]) == 5
        refused = next(a for a in answers if a.status == 429)
        assert (await refused.json())["error"]["code"] == "too_many_sign_ups"
        assert 1 <= int(refused.headers["Retry-After"]) <= 60


async def test_refused_attempts_of_one_client_do_not_spend_the_platform_budget(settings):
    """A flood from one address stops at its own budget: the platform's ceiling counts
    only the sign-ups it let through, so one client cannot close sign-up for everyone."""
    await poll_until(lambda: datetime.now(UTC).second < 40, timeout=25, interval=0.2,
                     what="the start of a minute window")
    ceiling = await _platform_count(settings) + 4
    async with gateway_in_front_of_auth(settings, sign_ups_per_client_per_hour=2,
                                        sign_ups_per_minute=ceiling) as gateway:
        flood = ipv4()
        codes = [(await sign_up(gateway, flood)).status for _ in range(12)]
        assert codes == [201, 201] + [429] * 10
        assert [(await sign_up(gateway, ipv4())).status for _ in range(2)] == [201, 201]


async def test_accept_invitation_is_limited_per_client(settings):
    async with gateway_in_front_of_auth(settings,
                                        invitation_accepts_per_client_per_hour=3) as gateway:
        client = ipv4()

        async def accept(who: str):
            return await gateway.post(
                "/api/v1/auth/accept-invitation", headers={"X-Forwarded-For": who},
                json={"token": secrets.token_urlsafe(32), "password": "Long-enough-pass-1"})

        answers = [await accept(client) for _ in range(5)]
        assert [a.status for a in answers] == [400, 400, 400, 429, 429]
        refused = await answers[-1].json()
        assert refused["error"]["code"] == "rate_limited"
        assert int(answers[-1].headers["Retry-After"]) >= 1
        assert (await accept(ipv4())).status == 400  # another client: checked as usual
