"""Sign-in throttling (issue 19 item 5): nobody can lock anyone out.

Failures are throttled per (account, client) pair and per client, the client being
an IPv4 address or an IPv6 /64, with growing delays answered as 429 + Retry-After;
a client with no failures still signs in with the right password. The gateway here
trusts 127.0.0.1 as its proxy, so each request names its client in X-Forwarded-For as
a load balancer would.
"""

from __future__ import annotations

import secrets

import pytest

from tests.support.auth import PASSWORD, make_company_admin, make_super
from tests.support.auth import gateway_in_front_of_auth as auth_gateway
from tests.support.poll import poll_until

WRONG = "Wrong-Password-123"


def gateway_in_front_of_auth(settings, **overrides):
    """Trusting 127.0.0.1's X-Forwarded-For: the tests play clients of many addresses."""
    return auth_gateway(settings, trust_local_proxy=True, **overrides)


@pytest.fixture
async def gateway(settings):
    async with gateway_in_front_of_auth(settings) as client:
        yield client


def ipv4() -> str:
    return f"10.{secrets.randbelow(256)}.{secrets.randbelow(256)}.{1 + secrets.randbelow(254)}"


def ipv6_64() -> str:
    """A random /64 prefix (four groups)."""
    return "2001:db8:" + ":".join(secrets.token_hex(2) for _ in range(2))


async def sign_in(gateway, email: str, password: str, client: str):
    return await gateway.post("/api/v1/auth/sign-in", json={"email": email, "password": password},
                              headers={"X-Forwarded-For": client})


async def statuses(gateway, email, clients):
    answers = [await sign_in(gateway, email, WRONG, c) for c in clients]
    return [a.status for a in answers], answers


async def test_twenty_bad_passwords_from_one_address_do_not_lock_out_super(settings, gateway):
    boss = await make_super(settings)
    attacker = ipv4()
    codes, answers = await statuses(gateway, boss.email, [attacker] * 20)
    free = settings.sign_in_max_failures
    assert codes == [401] * free + [429] * (20 - free)
    for refused in answers[free:]:
        assert int(refused.headers["Retry-After"]) >= 1
        assert (await refused.json())["error"]["code"] == "too_many_sign_ins"
    # The real SUPER, from anywhere else, at once.
    real = await sign_in(gateway, boss.email, PASSWORD, ipv4())
    assert real.status == 200, await real.text()
    assert (await real.json())["role"] == "SUPER"


async def test_twenty_addresses_of_one_ipv6_64_count_as_one_client(settings, gateway):
    boss = await make_super(settings)
    prefix = ipv6_64()
    rotating = [f"{prefix}:{secrets.token_hex(2)}:{i:x}:0:{i + 1:x}" for i in range(20)]
    codes, _ = await statuses(gateway, boss.email, rotating)
    free = settings.sign_in_max_failures
    assert codes == [401] * free + [429] * (20 - free)
    # Another /64, and an IPv4 client, sign in at once.
    assert (await sign_in(gateway, boss.email, PASSWORD, f"{ipv6_64()}::1")).status == 200
    assert (await sign_in(gateway, boss.email, PASSWORD, ipv4())).status == 200


async def test_the_delay_of_a_client_that_keeps_failing_grows(settings, gateway):
    admin = await make_company_admin(settings)
    attacker = ipv4()
    codes, _ = await statuses(gateway, admin.email, [attacker] * settings.sign_in_max_failures)
    assert codes == [401] * settings.sign_in_max_failures
    waits = []
    for _ in range(3):
        refused = await sign_in(gateway, admin.email, WRONG, attacker)
        assert refused.status == 429
        wait = int(refused.headers["Retry-After"])
        waits.append(wait)

        async def checked_again() -> bool:
            return (await sign_in(gateway, admin.email, WRONG, attacker)).status == 401

        # Refused attempts are not checked and do not count; once the delay has run
        # out the next guess is checked (and fails), and the delay doubles.
        await poll_until(checked_again, timeout=wait + 2, interval=0.25, what="delay over")
    assert waits == [1, 2, 4]
    # Held back (8 s now), even the right password is not checked from that client.
    held = await sign_in(gateway, admin.email, PASSWORD, attacker)
    assert (held.status, held.headers["Retry-After"]) == (429, "8")
    assert (await sign_in(gateway, admin.email, PASSWORD, ipv4())).status == 200


async def test_a_success_clears_the_clients_failures_on_that_account(settings, gateway):
    admin = await make_company_admin(settings)
    client = ipv4()
    free = settings.sign_in_max_failures
    for _ in range(2):  # a typo or four, then the right password: never a delay
        codes, _ = await statuses(gateway, admin.email, [client] * (free - 1))
        assert codes == [401] * (free - 1)
        assert (await sign_in(gateway, admin.email, PASSWORD, client)).status == 200


async def test_unknown_addresses_are_throttled_like_real_ones(settings, gateway):
    """No timing or status tells whether an account exists."""
    client = ipv4()
    free = settings.sign_in_max_failures
    codes, _ = await statuses(gateway, f"nobody.{secrets.token_hex(4)}@example.com",
                              [client] * (free + 2))
    assert codes == [401] * free + [429, 429]


async def test_one_client_guessing_many_accounts_is_slowed(settings):
    async with gateway_in_front_of_auth(settings, sign_in_max_failures_per_ip=3) as gateway:
        client = f"{ipv6_64()}::7"
        emails = [(await make_company_admin(settings)).email for _ in range(5)]
        codes = [(await sign_in(gateway, e, WRONG, client)).status for e in emails]
        assert codes == [401, 401, 401, 429, 429]
        assert (await sign_in(gateway, emails[-1], PASSWORD, ipv4())).status == 200


async def test_distributed_guessing_is_spaced_out_not_locked(settings):
    """Past the account-wide ceiling, clients new to the account get one password check
    per NORGATE_SIGN_IN_ACCOUNT_INTERVAL_SECONDS between them; a client that signed in to
    the account before is not held back at all."""
    async with gateway_in_front_of_auth(settings, sign_in_account_max_failures=3,
                                        sign_in_account_interval_seconds=2) as gateway:
        boss = await make_super(settings)
        home = ipv4()
        assert (await sign_in(gateway, boss.email, PASSWORD, home)).status == 200
        botnet = [f"{ipv6_64()}::1" for _ in range(6)]
        codes, answers = await statuses(gateway, boss.email, botnet)
        assert codes[:3] == [401, 401, 401] and codes[3] == 429
        assert 1 <= int(answers[3].headers["Retry-After"]) <= 2
        # The owner's usual client signs in while the botnet waits.
        assert (await sign_in(gateway, boss.email, PASSWORD, home)).status == 200

        async def a_new_client_gets_its_turn() -> bool:
            return (await sign_in(gateway, boss.email, WRONG, f"{ipv6_64()}::1")).status == 401

        await poll_until(a_new_client_gets_its_turn, timeout=4, interval=0.25,
                         what="the next spaced check")
        assert (await sign_in(gateway, boss.email, WRONG, f"{ipv6_64()}::1")).status == 429
