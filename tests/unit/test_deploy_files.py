"""docker-compose.yml and the Dockerfile describe the six services consistently.

The Kubernetes manifests have their own checks: tests/unit/test_k8s_manifests.py."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from shared.settings import DEFAULT_PORTS, SERVICES

ROOT = Path(__file__).resolve().parents[2]
PORTS = DEFAULT_PORTS  # the ops files must agree with the settings' defaults
INTERNAL = tuple(s for s in SERVICES if s != "gateway")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _published(svc: dict) -> list[str]:
    return [str(p) for p in svc.get("ports", [])]


# --- docker compose ------------------------------------------------------------------


@pytest.mark.parametrize("name", PORTS)
def test_compose_service(compose: dict, name: str):
    svc = compose["services"][name]
    port = PORTS[name]
    assert svc["command"] == [f"services.{name}"]
    assert svc["image"] == "norgate:latest"
    assert svc["build"] == {"context": ".", "dockerfile": "deploy/Dockerfile"}
    env = svc["environment"]
    assert env["NORGATE_DATABASE_URL"] == "postgresql://postgres:postgres@postgres:5432/norgate"
    assert env["NORGATE_AMQP_URL"] == "amqp://guest:guest@rabbitmq:5672/"
    assert env["NORGATE_SMTP_URL"] == "smtp://mailsink:1025"
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
    assert prov["environment"]["NORGATE_DATABASE_URL"].startswith("postgresql://postgres:")
    sink = services["mailsink"]
    assert sink["command"] == ["deploy.mailsink"]
    assert sink["environment"]["NORGATE_BIND_HOST"] == "0.0.0.0"


def test_compose_only_gateway_and_mailsink_are_public(compose: dict):
    public = {}
    for name, svc in compose["services"].items():
        for spec in _published(svc):
            if not spec.startswith("127.0.0.1:"):
                public.setdefault(name, []).append(spec)
    assert public == {"gateway": ["8080:8080"], "mailsink": ["8025:8025"]}
    for name in (*INTERNAL, "provision"):
        assert not _published(compose["services"][name]), name
    # Infrastructure is reachable from the host's loopback only (ensure-infra, make run).
    assert "127.0.0.1:15672:15672" in _published(compose["services"]["rabbitmq"])
    assert "127.0.0.1:5672:5672" in _published(compose["services"]["rabbitmq"])


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
    assert "FROM python:3.11-slim" in text
    assert 'ENTRYPOINT ["python", "-m"]' in text
    assert 'CMD ["services.gateway"]' in text
    assert "pip install" in text and "USER 10001" in text
    ignored = (ROOT / ".dockerignore").read_text().split()
    for entry in (".venv", ".git", "var", ".pytest_cache"):
        assert entry in ignored
