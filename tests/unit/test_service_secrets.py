"""deploy/service_secrets.py hands each service what its code uses, and no more; and
deploy/local_secrets.py keeps `make run`'s generated secrets.

The tables of purposes and calls are read against the code: a new derive() label or a
new internal call must be added there, or the service would fail in a split deployment
(compose, Kubernetes) while working under `make run`."""

from __future__ import annotations

import json
import os
import re
import stat
import threading
from pathlib import Path

import pytest
import yaml

from deploy import local_secrets, service_secrets
from services.gateway.routing import ROUTES
from shared.principal import key_purpose
from shared.secrets import derive
from shared.settings import PUBLIC_SECRETS, SERVICES, Settings

ROOT = Path(__file__).resolve().parents[2]

def master() -> Settings:
    return Settings(secret_key="m" * 40,
                    database_url="postgresql://admin:adminpw@db.example:5432/norgate"
                                 "?sslmode=require",
                    amqp_url="amqps://mq:pw@mq.example:5671/norgate",
                    smtp_url="smtps://u:p@smtp.example:465",
                    bootstrap_super_password="a-first-super-password")


def _code(service: str) -> str:
    return "\n".join(p.read_text() for p in sorted((ROOT / "services" / service).rglob("*.py")))


# derive(settings, "x"), SecretBox(settings, "x") (sealed as "secret-box:x"), and
# checkout's html.csrf(settings, "x", ...) which derives "x".
_LABEL = r'\(\s*[^,()]+?,\s*"([a-z0-9:_-]+)"'
_DERIVES = re.compile(r"\b(?:derive|csrf)" + _LABEL)
_SEALS = re.compile(r"\bSecretBox" + _LABEL)
_CONSTANT = re.compile(r'^[A-Z_]*PURPOSE\s*=\s*"([a-z0-9:_-]+)"', re.M)
_CALLS = re.compile(r'\.(?:request|get_json)\(\s*"([a-z]+)"')
_AUDIENCES = re.compile(r'audience="([a-z]+)"')


@pytest.mark.parametrize("service", SERVICES)
def test_the_purpose_table_is_what_the_code_derives(service: str) -> None:
    code = _code(service)
    used = set(_DERIVES.findall(code)) | set(_CONSTANT.findall(code)) \
        | {f"secret-box:{label}" for label in _SEALS.findall(code)}
    assert used == set(service_secrets.PURPOSES[service]), (
        f"services/{service} derives {sorted(used)}: update PURPOSES in "
        "deploy/service_secrets.py")


@pytest.mark.parametrize("service", SERVICES)
def test_the_call_table_covers_every_internal_call(service: str) -> None:
    code = _code(service)
    called = set(_CALLS.findall(code)) | set(_AUDIENCES.findall(code))
    if service == "gateway":
        called |= {target for _, target in ROUTES}
    called &= set(SERVICES)
    assert called <= set(service_secrets.CALLS[service]), (
        f"services/{service} calls {sorted(called)}: update CALLS in "
        "deploy/service_secrets.py")


def test_the_scan_sees_labels_where_they_are() -> None:
    """The regular expressions above find what they are for (or the two tests above
    would pass on nothing)."""
    assert _SEALS.findall('SecretBox(app[SETTINGS], "trigger-secrets")') == ["trigger-secrets"]
    assert _DERIVES.findall('bytes.fromhex(derive(settings, "idempotency-fingerprint"))') == [
        "idempotency-fingerprint"]
    assert _DERIVES.findall('html.csrf(settings, "checkout-embed", f"{a}")') == [
        "checkout-embed"]
    assert _CALLS.findall('await request.app[CLIENT].request(\n    "fees", "POST", "/q")') == [
        "fees"]
    assert set(service_secrets.PURPOSES["checkout"]) >= {"receipt-links"}


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_gets_its_own_role_keys_and_nothing_of_the_others(service: str) -> None:
    m = master()
    env = service_secrets.service_env(m, service)
    assert "NORGATE_SECRET_KEY" not in env and "NORGATE_DATABASE_URL" not in env
    assert ("NORGATE_BOOTSTRAP_SUPER_PASSWORD" in env) == (service == "auth")
    assert ("NORGATE_SMTP_URL" in env) == (service == "notifier")
    dsn = env["NORGATE_SERVICE_DATABASE_URL"]
    assert dsn == m.dsn_of(service) and "admin" not in dsn and "sslmode=require" in dsn
    keys = json.loads(env["NORGATE_SERVICE_KEYS"])
    assert "m" * 40 not in env["NORGATE_SERVICE_KEYS"]
    assert keys == {p: derive(m, p) for p in service_secrets.purposes_of(service)}
    # Its own audience, always; another's secrets, never.
    assert key_purpose(service) in keys
    others = {p for o in SERVICES if o != service for p in service_secrets.PURPOSES[o]}
    assert not others & set(keys)
    assert key_purpose(None) not in keys  # the untargeted principal key: master only
    # ...and a process given exactly this environment loads and derives all of it.
    own = Settings(secret_key=None, service_keys=keys, service_database_url=dsn)
    for purpose in keys:
        assert derive(own, purpose) == keys[purpose]
    assert own.dsn_of(service) == dsn


def test_provisioning_alone_gets_the_master_key_and_the_admin_dsn() -> None:
    m = master()
    env = service_secrets.service_env(m, "provision")
    assert env == {"NORGATE_DATABASE_URL": m.database_url, "NORGATE_SECRET_KEY": "m" * 40}


def test_k8s_yaml_is_the_secrets_the_manifests_read() -> None:
    docs = list(yaml.safe_load_all(service_secrets.k8s_yaml(master())))
    names = [d["metadata"]["name"] for d in docs]
    assert names == ["norgate-provision", *(f"norgate-{s}" for s in SERVICES)]
    for doc in docs:
        assert doc["kind"] == "Secret" and doc["metadata"]["namespace"] == "norgate"
        name = doc["metadata"]["name"].removeprefix("norgate-")
        assert doc["stringData"] == service_secrets.service_env(master(), name)


def test_compose_env_files_are_private_and_split(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(local_secrets.FILE_VARIABLE, str(tmp_path / "secrets.env"))
    for name in ("NORGATE_SECRET_KEY", "NORGATE_BOOTSTRAP_SUPER_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    written = service_secrets.write_compose(tmp_path / "compose")
    assert sorted(p.name for p in written) == sorted(
        f"{n}.env" for n in ("provision", *SERVICES))
    generated = local_secrets.parse((tmp_path / "secrets.env").read_text())
    for path in written:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        env = local_secrets.parse(path.read_text())
        if path.stem == "provision":
            assert env["NORGATE_SECRET_KEY"] == generated["NORGATE_SECRET_KEY"]
            assert env["NORGATE_DATABASE_URL"] == service_secrets.COMPOSE["NORGATE_DATABASE_URL"]
        else:
            assert generated["NORGATE_SECRET_KEY"] not in path.read_text()
            assert "@postgres:5432/norgate" in env["NORGATE_SERVICE_DATABASE_URL"]
            json.loads(env["NORGATE_SERVICE_KEYS"])
    auth = local_secrets.parse((tmp_path / "compose" / "auth.env").read_text())
    assert auth["NORGATE_BOOTSTRAP_SUPER_PASSWORD"] == \
        generated["NORGATE_BOOTSTRAP_SUPER_PASSWORD"]


# --- make run's generated secrets (deploy/local_secrets.py) ------------------------------


def test_the_first_run_generates_then_every_run_reuses(tmp_path: Path) -> None:
    path = tmp_path / "var" / "secrets.env"
    first = {local_secrets.FILE_VARIABLE: str(path)}
    applied = local_secrets.apply(first)
    assert applied.created and applied.filled == set(local_secrets.GENERATED)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key, password = first["NORGATE_SECRET_KEY"], first["NORGATE_BOOTSTRAP_SUPER_PASSWORD"]
    assert len(key) == 64 and len(password) >= 20
    assert not {key, password} & PUBLIC_SECRETS
    Settings(secret_key=key, bootstrap_super_password=password)  # valid settings
    again = {local_secrets.FILE_VARIABLE: str(path)}
    assert not local_secrets.apply(again).created
    assert (again["NORGATE_SECRET_KEY"], again["NORGATE_BOOTSTRAP_SUPER_PASSWORD"]) == (
        key, password)


def test_values_the_operator_sets_win_and_are_not_written(tmp_path: Path) -> None:
    path = tmp_path / "secrets.env"
    env = {local_secrets.FILE_VARIABLE: str(path), "NORGATE_SECRET_KEY": "o" * 40,
           "NORGATE_BOOTSTRAP_SUPER_PASSWORD": "the-operators-own-pw"}
    assert local_secrets.apply(env).filled == set()
    assert env["NORGATE_SECRET_KEY"] == "o" * 40
    assert not path.exists()
    env = {local_secrets.FILE_VARIABLE: str(path), "NORGATE_SECRET_KEY": "o" * 40}
    applied = local_secrets.apply(env)
    assert applied.filled == {"NORGATE_BOOTSTRAP_SUPER_PASSWORD"}
    assert env["NORGATE_SECRET_KEY"] == "o" * 40
    assert "o" * 40 not in path.read_text()


def test_runs_starting_together_agree_on_one_file(tmp_path: Path) -> None:
    path = tmp_path / "secrets.env"
    envs = [{local_secrets.FILE_VARIABLE: str(path)} for _ in range(8)]
    threads = [threading.Thread(target=local_secrets.apply, args=(e,)) for e in envs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({e["NORGATE_SECRET_KEY"] for e in envs}) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["secrets.env"]  # no temporary left


def test_a_loose_file_is_tightened_and_a_missing_value_added(tmp_path: Path) -> None:
    path = tmp_path / "secrets.env"
    path.write_text("NORGATE_SECRET_KEY='" + "k" * 64 + "'\n")
    os.chmod(path, 0o644)
    env = {local_secrets.FILE_VARIABLE: str(path)}
    local_secrets.apply(env)
    assert env["NORGATE_SECRET_KEY"] == "k" * 64
    assert len(env["NORGATE_BOOTSTRAP_SUPER_PASSWORD"]) >= 20
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert local_secrets.parse(path.read_text())["NORGATE_BOOTSTRAP_SUPER_PASSWORD"] == \
        env["NORGATE_BOOTSTRAP_SUPER_PASSWORD"]
