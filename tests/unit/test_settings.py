"""shared.settings: defaults, start-up validation (exit 2 naming the variable), derived DSNs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from shared.secrets import MissingSecret, derive
from shared.settings import (
    DEFAULT_PORTS,
    PUBLIC_SECRETS,
    SERVICES,
    Settings,
    load_settings,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
GOOD_KEY = "k" * 32 + "-unit-test-secret"
OTHER_KEY = "o" * 32 + "-another-unit-secret"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Start every test with no NORGATE_* variable (tests/conftest.py sets several)."""
    for key in [k for k in os.environ if k.startswith("NORGATE_")]:
        monkeypatch.delenv(key)


def setenv(monkeypatch: pytest.MonkeyPatch, **values: str) -> None:
    for key, value in values.items():
        monkeypatch.setenv(key, value)


def fails_naming(capsys: pytest.CaptureFixture[str], variable: str) -> str:
    """load_settings() must exit(2) and name `variable` on stderr; returns stderr."""
    with pytest.raises(SystemExit) as exc_info:
        load_settings()
    assert exc_info.value.code == 2
    err = capsys.readouterr().err
    assert variable in err
    return err


# --- defaults ---------------------------------------------------------------------


def test_defaults_load_without_any_variable() -> None:
    s = load_settings()
    assert s.env == "dev"
    assert s.database_url == "postgresql://postgres@127.0.0.1:5432/norgate"
    assert s.amqp_url == "amqp://guest:guest@127.0.0.1:5672/"
    assert s.events_namespace == "norgate"
    # No built-in secret: a value in the source would be a key everyone has.
    assert s.secret_key is None
    assert s.bootstrap_super_password is None
    assert s.service_keys == {}
    assert s.smtp_url is None
    assert s.service_database_url is None
    assert s.max_body_bytes == 1_048_576
    assert s.db_pool_min <= s.db_pool_max
    assert s.consumer_retry_delays == (1, 5, 30, 120, 600, 1800, 3600)
    for service in SERVICES:
        assert s.port_of(service) == DEFAULT_PORTS[service]


def test_default_load_writes_nothing_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    load_settings()
    assert capsys.readouterr().err == ""


def test_variables_override_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    setenv(monkeypatch, NORGATE_ENV="test", NORGATE_GATEWAY_PORT="9090",
           NORGATE_EVENTS_NAMESPACE="t_abc123", NORGATE_CONSUMER_RETRY_DELAYS="[0.2, 0.5, 1]",
           NORGATE_SECRET_KEY=GOOD_KEY)
    s = load_settings()
    assert s.env == "test"
    assert s.gateway_port == 9090
    assert s.events_namespace == "t_abc123"
    assert s.consumer_retry_delays == (0.2, 0.5, 1)
    assert s.secret_key.get_secret_value() == GOOD_KEY


def test_settings_are_frozen() -> None:
    s = load_settings()
    with pytest.raises(ValueError):
        s.gateway_port = 1  # type: ignore[misc]


def test_production_starts_with_its_own_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    setenv(monkeypatch, NORGATE_ENV="prod", NORGATE_SECRET_KEY=GOOD_KEY,
           NORGATE_BOOTSTRAP_SUPER_PASSWORD="a-real-production-password")
    assert load_settings().env == "prod"


def test_secret_key_of_exactly_32_characters_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    setenv(monkeypatch, NORGATE_SECRET_KEY="x" * 32)
    assert load_settings().secret_key.get_secret_value() == "x" * 32


def test_pool_min_equal_to_max_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    setenv(monkeypatch, NORGATE_DB_POOL_MIN="5", NORGATE_DB_POOL_MAX="5")
    s = load_settings()
    assert (s.db_pool_min, s.db_pool_max) == (5, 5)


@pytest.mark.parametrize("url", ["postgresql://h/db", "postgres://u:p@h:5433/db?sslmode=require"])
def test_both_postgres_schemes_are_accepted(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    setenv(monkeypatch, NORGATE_DATABASE_URL=url)
    assert load_settings().database_url == url


@pytest.mark.parametrize("port", ["1", "65535"])
def test_port_bounds_are_accepted(monkeypatch: pytest.MonkeyPatch, port: str) -> None:
    setenv(monkeypatch, NORGATE_AUTH_PORT=port)
    assert load_settings().auth_port == int(port)


# --- bad values: exit 2 naming the variable ----------------------------------------

BAD_VALUES = [
    pytest.param({"NORGATE_GATEWAY_PORT": "abc"}, "NORGATE_GATEWAY_PORT", id="port-not-int"),
    pytest.param({"NORGATE_GATEWAY_PORT": "0"}, "NORGATE_GATEWAY_PORT", id="port-zero"),
    pytest.param({"NORGATE_FEES_PORT": "65536"}, "NORGATE_FEES_PORT", id="port-too-big"),
    pytest.param({"NORGATE_AMQP_URL": "http://x"}, "NORGATE_AMQP_URL", id="amqp-scheme"),
    pytest.param({"NORGATE_DATABASE_URL": "mysql://root@127.0.0.1:3306/norgate"},
                 "NORGATE_DATABASE_URL", id="database-scheme"),
    pytest.param({"NORGATE_DATABASE_URL": "postgresql://postgres@127.0.0.1:5432"},
                 "NORGATE_DATABASE_URL", id="database-no-name"),
    pytest.param({"NORGATE_DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/"},
                 "NORGATE_DATABASE_URL", id="database-empty-name"),
    pytest.param({"NORGATE_SERVICE_DATABASE_URL": "mysql://h/db"},
                 "NORGATE_SERVICE_DATABASE_URL", id="service-database-scheme"),
    pytest.param({"NORGATE_SERVICE_DATABASE_URL": "postgresql://h:5432"},
                 "NORGATE_SERVICE_DATABASE_URL", id="service-database-no-name"),
    pytest.param({"NORGATE_SMTP_URL": "http://mail"}, "NORGATE_SMTP_URL", id="smtp-scheme"),
    pytest.param({"NORGATE_PUBLIC_URL": "ftp://x"}, "NORGATE_PUBLIC_URL", id="public-url"),
    pytest.param({"NORGATE_AUTH_URL": "auth:8081"}, "NORGATE_AUTH_URL", id="service-url"),
    pytest.param({"NORGATE_SECRET_KEY": "x" * 31}, "NORGATE_SECRET_KEY", id="short-secret"),
    # The old built-in values and the example Secret's placeholders, in any environment.
    pytest.param({"NORGATE_SECRET_KEY": "dev-only-secret-key-change-me-in-production"},
                 "NORGATE_SECRET_KEY", id="old-public-secret"),
    pytest.param({"NORGATE_ENV": "dev", "NORGATE_BOOTSTRAP_SUPER_PASSWORD": "Norgate-dev-super-1"},
                 "NORGATE_BOOTSTRAP_SUPER_PASSWORD", id="old-public-super-password"),
    pytest.param({"NORGATE_ENV": "prod",
                  "NORGATE_SECRET_KEY": "REPLACE-WITH-AT-LEAST-32-RANDOM-CHARACTERS"},
                 "NORGATE_SECRET_KEY", id="placeholder-secret"),
    pytest.param({"NORGATE_SERVICE_KEYS": "REPLACE-WITH-deploy.service_secrets"},
                 "NORGATE_SERVICE_KEYS", id="service-keys-not-json"),
    pytest.param({"NORGATE_SERVICE_KEYS": '{"internal-principal:auth": "short"}'},
                 "NORGATE_SERVICE_KEYS", id="service-key-not-hex"),
    pytest.param({"NORGATE_SERVICE_KEYS": '{"No Purpose": "' + "a" * 64 + '"}'},
                 "NORGATE_SERVICE_KEYS", id="service-key-bad-purpose"),
    pytest.param({"NORGATE_DB_POOL_MIN": "11", "NORGATE_DB_POOL_MAX": "10"},
                 "NORGATE_DB_POOL_MIN", id="pool-min-above-max"),
    pytest.param({"NORGATE_EVENTS_NAMESPACE": "Norgate"}, "NORGATE_EVENTS_NAMESPACE",
                 id="namespace-upper-case"),
    pytest.param({"NORGATE_EVENTS_NAMESPACE": "1abc"}, "NORGATE_EVENTS_NAMESPACE",
                 id="namespace-leading-digit"),
    pytest.param({"NORGATE_ENV": "production"}, "NORGATE_ENV", id="env-unknown"),
    pytest.param({"NORGATE_LOG_LEVEL": "verbose"}, "NORGATE_LOG_LEVEL", id="log-level"),
    pytest.param({"NORGATE_MAX_BODY_BYTES": "100"}, "NORGATE_MAX_BODY_BYTES", id="body-limit"),
    pytest.param({"NORGATE_UPSTREAM_TIMEOUT_SECONDS": "0"}, "NORGATE_UPSTREAM_TIMEOUT_SECONDS",
                 id="timeout-zero"),
    pytest.param({"NORGATE_CONSUMER_MAX_ATTEMPTS": "21"}, "NORGATE_CONSUMER_MAX_ATTEMPTS",
                 id="max-attempts"),
    pytest.param({"NORGATE_CONSUMER_RETRY_DELAYS": '["soon"]'}, "NORGATE_CONSUMER_RETRY_DELAYS",
                 id="retry-delays-not-numbers"),
    pytest.param({"NORGATE_CONSUMER_RETRY_DELAYS": "soon"}, "NORGATE_CONSUMER_RETRY_DELAYS",
                 id="retry-delays-not-json"),
]


@pytest.mark.parametrize(("env", "variable"), BAD_VALUES)
def test_bad_value_exits_2_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    env: dict[str, str], variable: str,
) -> None:
    setenv(monkeypatch, **env)
    err = fails_naming(capsys, variable)
    assert err.startswith("norgate: invalid configuration\n")
    assert "Traceback" not in err


def test_every_bad_variable_is_reported_at_once(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    setenv(monkeypatch, NORGATE_GATEWAY_PORT="abc", NORGATE_AMQP_URL="http://x",
           NORGATE_EVENTS_NAMESPACE="UPPER")
    err = fails_naming(capsys, "NORGATE_GATEWAY_PORT")
    assert "NORGATE_AMQP_URL" in err
    assert "NORGATE_EVENTS_NAMESPACE" in err


def test_url_error_says_what_scheme_is_expected(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    setenv(monkeypatch, NORGATE_AMQP_URL="http://x")
    err = fails_naming(capsys, "NORGATE_AMQP_URL")
    assert "amqp://" in err


def test_database_url_without_name_says_a_database_must_be_named(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    setenv(monkeypatch, NORGATE_DATABASE_URL="postgresql://postgres@127.0.0.1:5432")
    err = fails_naming(capsys, "NORGATE_DATABASE_URL")
    assert "database" in err.lower()


@pytest.mark.parametrize("url", ["postgresql://h:abc/db", "postgresql://h:99999/db"])
def test_database_url_with_bad_port_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], url: str
) -> None:
    setenv(monkeypatch, NORGATE_DATABASE_URL=url)
    fails_naming(capsys, "NORGATE_DATABASE_URL")


# --- the secret key never leaks -------------------------------------------------------


def test_secret_key_is_not_in_repr_or_str(monkeypatch: pytest.MonkeyPatch) -> None:
    setenv(monkeypatch, NORGATE_SECRET_KEY=GOOD_KEY,
           NORGATE_BOOTSTRAP_SUPER_PASSWORD="super-secret-bootstrap-pw")
    s = load_settings()
    for text in (repr(s), str(s)):
        assert GOOD_KEY not in text
        assert "super-secret-bootstrap-pw" not in text


def test_short_secret_key_is_not_echoed_in_the_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    short = "Zq9-short-secret-value-31-chars"
    assert len(short) == 31
    setenv(monkeypatch, NORGATE_SECRET_KEY=short)
    err = fails_naming(capsys, "NORGATE_SECRET_KEY")
    assert short not in err


def test_secret_key_is_not_echoed_when_another_variable_is_bad(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    setenv(monkeypatch, NORGATE_SECRET_KEY=GOOD_KEY, NORGATE_ENV="prod",
           NORGATE_GATEWAY_PORT="abc")
    captured_err = fails_naming(capsys, "NORGATE_GATEWAY_PORT")
    assert GOOD_KEY not in captured_err


def test_secrets_are_not_echoed_by_the_public_value_checks(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    [password] = [v for v in PUBLIC_SECRETS if len(v) < 32]
    setenv(monkeypatch, NORGATE_SECRET_KEY=GOOD_KEY, NORGATE_ENV="prod",
           NORGATE_BOOTSTRAP_SUPER_PASSWORD=password)
    err = fails_naming(capsys, "NORGATE_BOOTSTRAP_SUPER_PASSWORD")
    assert GOOD_KEY not in err
    assert password not in err


def test_a_service_key_is_not_echoed_when_malformed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    almost = "f" * 63 + "X"
    setenv(monkeypatch, NORGATE_SERVICE_KEYS=json.dumps({"secret-box:account-secrets": almost}))
    err = fails_naming(capsys, "NORGATE_SERVICE_KEYS")
    assert "secret-box:account-secrets" in err
    assert almost not in err


def test_production_without_any_secret_loads_for_processes_that_need_none(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The mail sink, or a service of a split deployment reading its keys from
    NORGATE_SERVICE_KEYS: prod alone demands nothing, every use of a missing secret
    fails instead (below)."""
    setenv(monkeypatch, NORGATE_ENV="prod")
    s = load_settings()
    assert (s.secret_key, s.bootstrap_super_password) == (None, None)
    with pytest.raises(MissingSecret, match="NORGATE_SECRET_KEY"):
        derive(s, "internal-principal:auth")
    with pytest.raises(MissingSecret):
        s.role_password("auth")


def test_service_keys_stand_in_for_the_master_key_purpose_by_purpose(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    master = load_settings(secret_key=GOOD_KEY)
    given = {"secret-box:account-secrets": derive(master, "secret-box:account-secrets")}
    setenv(monkeypatch, NORGATE_SERVICE_KEYS=json.dumps(given))
    s = load_settings()
    assert s.secret_key is None
    assert derive(s, "secret-box:account-secrets") == given["secret-box:account-secrets"]
    with pytest.raises(MissingSecret, match="secret-box:webhook-secrets"):
        derive(s, "secret-box:webhook-secrets")
    assert GOOD_KEY not in repr(s) and given["secret-box:account-secrets"] not in repr(s)


# --- derived values: roles, DSNs, URLs ------------------------------------------------


def test_dsn_of_uses_the_services_own_role_and_password(monkeypatch: pytest.MonkeyPatch) -> None:
    setenv(monkeypatch, NORGATE_SECRET_KEY=GOOD_KEY,
           NORGATE_DATABASE_URL="postgresql://admin:adminpw@db.example:6543/norgate"
                                "?sslmode=require")
    s = load_settings()
    dsn = urlsplit(s.dsn_of("billing"))
    assert dsn.scheme == "postgresql"
    assert dsn.username == "norgate_billing" == s.role_of("billing")
    assert dsn.password == s.role_password("billing")
    assert dsn.hostname == "db.example"
    assert dsn.port == 6543
    assert dsn.path == "/norgate"
    assert parse_qs(dsn.query) == {"sslmode": ["require"]}
    assert "admin" not in dsn.netloc


def test_role_names_combine_database_and_service(monkeypatch: pytest.MonkeyPatch) -> None:
    setenv(monkeypatch, NORGATE_DATABASE_URL="postgresql://postgres@h/norgate_t_1a2b")
    s = load_settings()
    assert s.database_name == "norgate_t_1a2b"
    assert [s.role_of(svc) for svc in ("auth", "fees")] == ["norgate_t_1a2b_auth",
                                                            "norgate_t_1a2b_fees"]


def test_role_password_is_stable_and_never_the_secret_key(monkeypatch: pytest.MonkeyPatch) -> None:
    setenv(monkeypatch, NORGATE_SECRET_KEY=GOOD_KEY)
    first, second = load_settings(), load_settings()
    password = first.role_password("auth")
    assert password == second.role_password("auth")
    assert len(password) >= 32
    assert GOOD_KEY not in password
    assert GOOD_KEY not in first.dsn_of("auth")


def test_role_passwords_differ_per_service(monkeypatch: pytest.MonkeyPatch) -> None:
    setenv(monkeypatch, NORGATE_SECRET_KEY=GOOD_KEY)
    s = load_settings()
    passwords = {s.role_password(service) for service in SERVICES}
    assert len(passwords) == len(SERVICES)


def test_role_password_depends_on_secret_key_and_database() -> None:
    base = load_settings(secret_key=GOOD_KEY, database_url="postgresql://h/norgate")
    other_key = load_settings(secret_key=OTHER_KEY, database_url="postgresql://h/norgate")
    other_db = load_settings(secret_key=GOOD_KEY, database_url="postgresql://h/norgate_b")
    assert base.role_password("auth") != other_key.role_password("auth")
    assert base.role_password("auth") != other_db.role_password("auth")


def test_dsn_of_keeps_an_ipv6_host_bracketed() -> None:
    s = load_settings(database_url="postgresql://postgres@[::1]:5432/norgate",
                      secret_key=GOOD_KEY)
    dsn = urlsplit(s.dsn_of("auth"))
    assert dsn.hostname == "::1"
    assert dsn.port == 5432
    assert dsn.username == "norgate_auth"


def test_dsn_of_without_port_leaves_the_port_out() -> None:
    s = load_settings(database_url="postgresql://postgres@db/norgate", secret_key=GOOD_KEY)
    dsn = urlsplit(s.dsn_of("fees"))
    assert dsn.hostname == "db"
    assert dsn.port is None


def test_dsn_of_keeps_a_unix_socket_url_on_its_socket() -> None:
    """No host in the URL and a `host` query: the services connect over that socket
    directory as well (asyncpg takes the query's host only when the URL has none)."""
    s = load_settings(database_url="postgresql://postgres@/norgate?host=/run/postgresql",
                      secret_key=GOOD_KEY)
    dsn = urlsplit(s.dsn_of("checkout"))
    assert dsn.hostname is None
    assert parse_qs(dsn.query) == {"host": ["/run/postgresql"]}
    assert (dsn.username, dsn.path) == ("norgate_checkout", "/norgate")
    # Without either, the default stays loopback TCP.
    assert urlsplit(load_settings(database_url="postgresql:///norgate",
                                  secret_key=GOOD_KEY).dsn_of("auth")).hostname == "127.0.0.1"


def test_service_database_url_overrides_the_derived_dsn(monkeypatch: pytest.MonkeyPatch) -> None:
    explicit = "postgresql://app:pw@pgbouncer:6432/norgate"
    setenv(monkeypatch, NORGATE_SERVICE_DATABASE_URL=explicit)
    s = load_settings()
    assert s.dsn_of("auth") == explicit
    assert s.dsn_of("billing") == explicit


def test_url_of_defaults_to_loopback_and_the_services_port(monkeypatch: pytest.MonkeyPatch) -> None:
    setenv(monkeypatch, NORGATE_CHECKOUT_PORT="9182")
    s = load_settings()
    assert s.url_of("checkout") == "http://127.0.0.1:9182"
    assert s.url_of("auth") == "http://127.0.0.1:8081"
    assert s.url_of("gateway") == "http://127.0.0.1:8080"


def test_url_of_uses_the_explicit_variable_without_trailing_slash(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    setenv(monkeypatch, NORGATE_AUTH_URL="http://auth.internal:9000/", NORGATE_AUTH_PORT="9999")
    s = load_settings()
    assert s.url_of("auth") == "http://auth.internal:9000"
    assert s.url_of("billing") == "http://127.0.0.1:8083"


def test_load_settings_accepts_keyword_overrides() -> None:
    s = load_settings(gateway_port=18080, secret_key=GOOD_KEY)
    assert s.port_of("gateway") == 18080
    assert isinstance(s, Settings)


# --- a service process stops on bad configuration -------------------------------------


def test_service_process_exits_2_on_bad_configuration_before_connecting() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NORGATE_")}
    env["NORGATE_GATEWAY_PORT"] = "abc"
    # Nothing listens here: if the process got as far as connecting it would fail differently.
    env["NORGATE_DATABASE_URL"] = "postgresql://postgres@127.0.0.1:1/norgate"
    env["NORGATE_AMQP_URL"] = "amqp://guest:guest@127.0.0.1:1/"
    proc = subprocess.run([sys.executable, "-m", "services.auth"], check=False, cwd=REPO_ROOT,
                          env=env, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2, proc.stderr
    assert "NORGATE_GATEWAY_PORT" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert "service_starting" not in proc.stdout
