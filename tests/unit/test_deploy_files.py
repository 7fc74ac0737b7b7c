"""docker-compose.yml and the Dockerfile describe the six services consistently.

The Kubernetes manifests have their own checks: tests/unit/test_k8s_manifests.py."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.version import Version

from deploy import service_secrets
from shared.settings import DEFAULT_PORTS, SERVICES

ROOT = Path(__file__).resolve().parents[2]
PORTS = DEFAULT_PORTS  # the ops files must agree with the settings' defaults
INTERNAL = tuple(s for s in SERVICES if s != "gateway")
# Secrets, each of which only its own process's env file may carry.
SECRETS = {"NORGATE_DATABASE_URL", "NORGATE_SECRET_KEY", "NORGATE_SERVICE_DATABASE_URL",
           "NORGATE_SERVICE_KEYS", "NORGATE_AMQP_URL", "NORGATE_SMTP_URL",
           "NORGATE_BOOTSTRAP_SUPER_PASSWORD"}


# `${NAME:-default}`: images and published ports are variables (deploy/README.md).
VARIABLE = re.compile(r"\$\{(\w+):-([^}]*)\}")


@pytest.fixture(scope="module")
def compose() -> dict:
    """docker-compose.yml as it runs with no variable set: each one's default."""
    text = (ROOT / "docker-compose.yml").read_text()
    return yaml.safe_load(VARIABLE.sub(lambda m: m.group(2), text))


def test_compose_images_and_ports_are_variables_with_todays_defaults():
    found = dict(VARIABLE.findall((ROOT / "docker-compose.yml").read_text()))
    assert found["NORGATE_COMPOSE_PYTHON_IMAGE"] == "python:3.11-slim"
    assert found["NORGATE_COMPOSE_POSTGRES_IMAGE"] == "postgres:15"
    assert found["NORGATE_COMPOSE_RABBITMQ_IMAGE"] == "rabbitmq:3.12-management"
    assert {k: v for k, v in found.items() if k.endswith("_PORT")} == {
        "NORGATE_COMPOSE_GATEWAY_PORT": "8080", "NORGATE_COMPOSE_MAILSINK_PORT": "8025",
        "NORGATE_COMPOSE_PG_PORT": "5432", "NORGATE_COMPOSE_AMQP_PORT": "5672",
        "NORGATE_COMPOSE_RABBITMQ_UI_PORT": "15672"}


def _published(svc: dict) -> list[str]:
    return [str(p) for p in svc.get("ports", [])]


# --- docker compose ------------------------------------------------------------------


@pytest.mark.parametrize("name", PORTS)
def test_compose_service(compose: dict, name: str):
    svc = compose["services"][name]
    port = PORTS[name]
    assert svc["command"] == [f"services.{name}"]
    assert svc["image"] == "norgate:latest"
    assert svc["build"] == {"context": ".", "dockerfile": "deploy/Dockerfile", "args": {
        "PYTHON_IMAGE": "python:3.11-slim", "PIP_CA": None}}
    env = svc["environment"]
    # Its secrets come from its own file (make compose-secrets), none from the shared env.
    assert not SECRETS & set(env), sorted(SECRETS & set(env))
    assert svc["env_file"] == [{"path": f"var/compose/{name}.env", "required": False}]
    assert "NORGATE_ENV" not in env  # the image's prod
    assert env["NORGATE_BIND_HOST"] == "0.0.0.0"
    assert env["NORGATE_PUBLIC_URL"] == "http://localhost:8080"
    for other in INTERNAL:
        assert env[f"NORGATE_{other.upper()}_URL"] == f"http://{other}:{PORTS[other]}"
    assert svc["depends_on"]["provision"]["condition"] == "service_completed_successfully"
    assert svc["depends_on"]["rabbitmq"]["condition"] == "service_healthy"
    test = svc["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"]
    assert f"http://127.0.0.1:{port}/readyz" in test[3] and "urllib" in test[3]
    assert svc["stop_grace_period"] == "15s"


def test_compose_infra_and_provision(compose: dict):
    services = compose["services"]
    assert set(PORTS) | {"postgres", "rabbitmq", "mailsink", "provision"} == set(services)
    pg, mq = services["postgres"], services["rabbitmq"]
    assert pg["image"] == "postgres:15"
    assert "pg_isready" in " ".join(pg["healthcheck"]["test"])
    assert pg["environment"]["POSTGRES_PASSWORD"]
    assert mq["image"] == "rabbitmq:3.12-management"
    assert mq["healthcheck"]["test"] == ["CMD", "rabbitmq-diagnostics", "-q", "ping"]
    prov = services["provision"]
    assert prov["command"] == ["deploy.provision"]
    assert prov["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert prov["restart"] == "no"
    assert prov["env_file"] == [{"path": "var/compose/provision.env", "required": False}]
    assert not SECRETS & set(prov["environment"])
    # The env files' addresses are this compose network's.
    assert service_secrets.COMPOSE["NORGATE_DATABASE_URL"] == (
        f"postgresql://postgres:{pg['environment']['POSTGRES_PASSWORD']}@postgres:5432/norgate")
    assert "@rabbitmq:5672/" in service_secrets.COMPOSE["NORGATE_AMQP_URL"]
    assert service_secrets.COMPOSE["NORGATE_SMTP_URL"] == "smtp://mailsink:1025"
    sink = services["mailsink"]
    assert sink["command"] == ["deploy.mailsink"]
    assert sink["environment"]["NORGATE_BIND_HOST"] == "0.0.0.0"


def test_compose_publishes_on_loopback_only(compose: dict):
    """Nothing is reachable from the network the host is on: a demo stack's gateway and
    mail sink (which shows every e-mail, sign-up links included) are for this host."""
    public = {name: [spec for spec in _published(svc) if not spec.startswith("127.0.0.1:")]
              for name, svc in compose["services"].items()}
    assert not any(public.values()), public
    assert _published(compose["services"]["gateway"]) == ["127.0.0.1:8080:8080"]
    assert _published(compose["services"]["mailsink"]) == ["127.0.0.1:8025:8025"]
    for name in (*INTERNAL, "provision"):
        assert not _published(compose["services"][name]), name
    # Infrastructure is reachable from the host's loopback only (ensure-infra, make run).
    assert "127.0.0.1:15672:15672" in _published(compose["services"]["rabbitmq"])
    assert "127.0.0.1:5672:5672" in _published(compose["services"]["rabbitmq"])


def test_compose_gateway_metrics_port_is_internal(compose: dict):
    gateway = compose["services"]["gateway"]
    port = gateway["environment"]["NORGATE_GATEWAY_METRICS_PORT"]
    assert int(port) not in PORTS.values()
    assert not any(port in spec for spec in _published(gateway))  # not published
    for name in INTERNAL:  # the gateway's setting only
        assert "NORGATE_GATEWAY_METRICS_PORT" not in compose["services"][name]["environment"]


def test_docker_compose_config_is_valid():
    docker = shutil.which("docker")
    if (
        not docker
        or subprocess.run(
            check=False, args=[docker, "compose", "version"], capture_output=True, timeout=30
        ).returncode
        != 0
    ):
        pytest.skip("`docker compose` is not available on this machine")
    result = subprocess.run(
        check=False,
        args=[docker, "compose", "-f", "docker-compose.yml", "config", "-q"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_dockerfile_and_dockerignore():
    text = (ROOT / "deploy" / "Dockerfile").read_text()
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in text  # a build argument, today's default
    assert text.count("FROM ${PYTHON_IMAGE}") == 2
    assert 'ENTRYPOINT ["python", "-m"]' in text
    assert 'CMD ["services.gateway"]' in text
    assert "pip install" in text and "USER 10001" in text
    # prod in the image: a container never falls back to development behaviour.
    assert re.search(r"^\s*NORGATE_ENV=prod\b", text, re.M)
    # The tested versions (constraints.txt), as make installs them.
    assert "COPY pyproject.toml constraints.txt ./" in text
    assert re.search(r"pip install .*-c constraints\.txt", text)
    ignored = (ROOT / ".dockerignore").read_text().split()
    for entry in (".venv", ".git", "var", ".pytest_cache"):
        assert entry in ignored


# --- dependencies: floors, constraints, make -----------------------------------------

# The first releases past the advisories known when the floors were raised (pyproject.toml).
FLOORS = {"aiohttp": "3.14.3", "jinja2": "3.1.6", "pyjwt": "2.12", "cryptography": "50",
          "aiosmtpd": "1.4.6", "orjson": "3.9.15", "requests": "2.32.4"}


def _requirements() -> dict[str, Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = [Requirement(r) for r in project["dependencies"]
            + project["optional-dependencies"]["dev"]]
    return {r.name.lower(): r for r in reqs}


def _constraints() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"constraints.txt pins exact versions: {line!r}"
            pins[name.lower()] = version
    return pins


@pytest.mark.parametrize("name", FLOORS)
def test_floors_admit_no_version_with_a_known_advisory(name: str):
    spec = _requirements()[name].specifier
    floor = Version(FLOORS[name])
    assert spec.contains(floor)
    # Releases with advisories (the ones just below each floor, and older fixes').
    known = ("3.14.2", "3.13.5", "3.12.13", "3.9.0", "3.1.5", "3.1.4", "2.11.0", "2.10.0",
             "2.8.0", "49.0.0", "46.0.4", "44.0.0", "42.0.0", "1.4.5", "1.4.0", "3.9.14",
             "2.32.3", "2.31.0")
    for version in (v for v in known if Version(v) < floor):
        assert not spec.contains(version), f"{name} {spec} admits {version}"
    assert spec.contains(_constraints()[name])


def test_constraints_pin_every_requirement_within_its_range():
    pins = _constraints()
    for name, req in _requirements().items():
        if req.marker is not None and not req.marker.evaluate():
            continue
        assert name in pins, f"constraints.txt does not pin {name}"
        assert req.specifier.contains(pins[name], prereleases=True), (name, pins[name])
    assert "norgate" not in pins and "norchain" not in pins  # ours, installed editable


def test_make_installs_the_constraints_and_reinstalls_when_they_change():
    makefile = (ROOT / "Makefile").read_text()
    rule = re.search(r"^\$\(STAMP\):(.*)$", makefile, re.M)
    assert rule and "$(CONSTRAINTS)" in rule.group(1)
    assert re.search(r"^CONSTRAINTS := constraints\.txt$", makefile, re.M)
    assert re.search(r"pip install .*-c \$\(CONSTRAINTS\)", makefile)


def test_make_clean_keeps_the_generated_secrets(tmp_path: Path):
    """var/secrets.env keys a database that outlives `make clean`."""
    make = shutil.which("make")
    if not make:
        pytest.skip("make is not installed")
    (tmp_path / "var" / "mail").mkdir(parents=True)
    (tmp_path / "var" / "secrets.env").write_text("NORGATE_SECRET_KEY=x\n")
    (tmp_path / "var" / "compose").mkdir()
    (tmp_path / "Makefile").write_text((ROOT / "Makefile").read_text())
    result = subprocess.run([make, "-s", "clean"], cwd=tmp_path, capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert [p.name for p in (tmp_path / "var").iterdir()] == ["secrets.env"]
