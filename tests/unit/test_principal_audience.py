"""shared.principal: a principal is signed for one audience, the service it is sent to.

The attack: a service sees the principals sent to it (the gateway forwards a SUPER's to
fees); replayed to another service within their minute, they must not work there."""

from __future__ import annotations

import json
import secrets

import jwt
import pytest

from deploy import service_secrets
from shared.principal import InvalidPrincipal, Principal, key_purpose, sign, verify
from shared.secrets import derive
from shared.settings import Settings

SUPER = Principal(kind="user", subject="1", role="SUPER")


@pytest.fixture
def master() -> Settings:
    return Settings(secret_key=secrets.token_hex(32))


def split(master: Settings, service: str) -> Settings:
    """What `service` runs with in a split deployment: its own keys, no master key."""
    keys = service_secrets.service_keys(master, service)
    # secret_key=None: tests/conftest.py's environment carries a master key.
    return Settings(service_keys=keys, secret_key=None)


def test_a_principal_for_fees_is_refused_by_auth(master: Settings) -> None:
    token = sign(SUPER, master, audience="fees")
    assert verify(token, master, audience="fees") == SUPER
    with pytest.raises(InvalidPrincipal, match="for 'fees'"):
        verify(token, master, audience="auth")
    # ...also by a verifier that does not say who it is.
    with pytest.raises(InvalidPrincipal):
        verify(token, master)


def test_the_audience_is_bound_by_the_key_too(master: Settings) -> None:
    """Relabelling `aud` breaks the signature: the claim is not the only guard."""
    token = sign(SUPER, master, audience="fees")
    claims = jwt.decode(token, options={"verify_signature": False})
    forged = jwt.encode({**claims, "aud": "auth"},
                        derive(master, key_purpose("fees")), algorithm="HS256")
    with pytest.raises(InvalidPrincipal):
        verify(forged, master, audience="auth")


def test_the_signing_cache_keys_on_the_audience(master: Settings) -> None:
    to_fees, to_auth = sign(SUPER, master, audience="fees"), sign(SUPER, master, audience="auth")
    assert to_fees != to_auth
    assert sign(SUPER, master, audience="fees") == to_fees  # still cached
    assert verify(to_auth, master, audience="auth") == SUPER
    with pytest.raises(InvalidPrincipal):
        verify(to_fees, master, audience="auth")


def test_a_verified_token_is_not_served_from_cache_to_another_audience(
        master: Settings) -> None:
    token = sign(SUPER, master, audience="fees")
    verify(token, master, audience="fees")  # now cached
    with pytest.raises(InvalidPrincipal):
        verify(token, master, audience="auth")


def test_a_service_with_its_own_keys_signs_for_its_callees_only(master: Settings) -> None:
    notifier = split(master, "notifier")
    to_auth = sign(Principal(kind="service", subject="notifier"), notifier, audience="auth")
    assert verify(to_auth, split(master, "auth"), audience="auth").subject == "notifier"
    # The notifier never calls billing: it holds no key to mint principals for it.
    with pytest.raises(RuntimeError, match="internal-principal:billing"):
        sign(SUPER, notifier, audience="billing")
    # Nor the key of tokens without an audience (master key holders only).
    with pytest.raises(RuntimeError, match="'internal-principal'"):
        sign(SUPER, notifier)


def test_a_split_service_refuses_principals_without_an_audience(master: Settings) -> None:
    untargeted = sign(SUPER, master)  # what tests and tools sign under make run
    assert verify(untargeted, master, audience="auth") == SUPER
    with pytest.raises(InvalidPrincipal):
        verify(untargeted, split(master, "auth"), audience="auth")


def test_a_split_service_cannot_read_anothers_secrets(master: Settings) -> None:
    fees = split(master, "fees")
    for purpose in ("secret-box:jwt-signing-key", "secret-box:webhook-secrets",
                    "checkout-csrf", "db-role:norgate:auth"):
        with pytest.raises(RuntimeError, match=purpose):
            derive(fees, purpose)
    assert json.dumps(sorted(service_secrets.service_keys(master, "fees"))) == json.dumps(
        sorted(["internal-principal:fees", "internal-principal:auth"]))
