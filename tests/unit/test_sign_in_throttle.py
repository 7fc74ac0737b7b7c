"""The throttle's maths: who counts as one client, and how delays grow."""

from __future__ import annotations

import pytest

from services.auth.domain import Backoff, sign_in_client


@pytest.mark.parametrize(("address", "client"), [
    ("203.0.113.7", "203.0.113.7"),
    ("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"),
    ("2001:db8:1:2::1", "2001:db8:1:2::/64"),
    ("2001:DB8:1:2:0:0:0:FFFF", "2001:db8:1:2::/64"),
    ("fe80::1%eth0", "fe80::/64"),
    ("::ffff:198.51.100.9", "198.51.100.9"),
    ("", "unknown"),
    (None, "unknown"),
    ("not an address", "unknown"),
])
def test_a_client_is_an_ipv4_address_or_an_ipv6_64(address, client):
    assert sign_in_client(address) == client


def test_neighbouring_64s_are_different_clients():
    assert sign_in_client("2001:db8:1:2::1") != sign_in_client("2001:db8:1:3::1")


def test_delays_start_after_the_free_attempts_and_double_up_to_the_cap():
    backoff = Backoff(free=5, first=1, factor=2, cap=900)
    assert [backoff.delay(n) for n in range(1, 16)] == [
        0, 0, 0, 0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900]
    assert backoff.delay(10**9) == 900  # no overflow however long it goes on


def test_a_ceiling_spaces_attempts_evenly():
    spacing = Backoff(free=100, first=10, factor=1, cap=10)
    assert [spacing.delay(n) for n in (99, 100, 101, 5000)] == [0, 10, 10, 10]
