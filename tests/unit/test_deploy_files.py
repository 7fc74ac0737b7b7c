"""docker-compose.yml and deploy/k8s/ describe the same six services consistently."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from shared.settings import DEFAULT_PORTS, SERVICES

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
PORTS = DEFAULT_PORTS  # the ops files must agree with the settings' defaults
INTERNAL = tuple(s for s in SERVICES if s != "gateway")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def k8s_docs() -> dict[str, list[dict]]:
    return {
        p.name: [d for d in yaml.safe_load_all(p.read_text()) if d]
        for p in sorted(K8S.glob("*.yaml"))
    }


def _published(svc: dict) -> list[str]:
    return [str(p) for p in svc.get("ports", [])]


def _kinds(docs: dict[str, list[dict]], kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for ds in docs.values() for d in ds if d["kind"] == kind}


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


# --- Kubernetes --------------------------------------------------------------------


def test_every_k8s_file_parses(k8s_docs: dict[str, list[dict]]):
    assert k8s_docs
    for name, docs in k8s_docs.items():
        assert docs, name
        for doc in docs:
            assert doc.get("apiVersion") and doc.get("kind"), name


def test_kustomization_lists_everything_but_the_example_secret(k8s_docs):
    [kust] = k8s_docs["kustomization.yaml"]
    resources = set(kust["resources"])
    assert "secret.example.yaml" not in resources
    on_disk = {n for n in k8s_docs if n not in ("kustomization.yaml", "secret.example.yaml")}
    assert resources == on_disk
    assert kust["namespace"] == "norgate"
    [secret] = k8s_docs["secret.example.yaml"]
    assert secret["metadata"]["name"] == "norgate-secrets"
    assert set(secret["stringData"]) == {
        "NORGATE_DATABASE_URL",
        "NORGATE_AMQP_URL",
        "NORGATE_SECRET_KEY",
        "NORGATE_BOOTSTRAP_SUPER_PASSWORD",
        "NORGATE_SMTP_URL",
    }


@pytest.mark.parametrize("name", PORTS)
def test_k8s_deployment(k8s_docs, name: str):
    dep = _kinds(k8s_docs, "Deployment")[name]
    spec = dep["spec"]
    assert spec["replicas"] == (2 if name in ("gateway", "checkout", "notifier") else 1)
    pod = spec["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] == 30
    assert pod["securityContext"]["runAsNonRoot"] is True
    [c] = pod["containers"]
    assert c["args"] == [f"services.{name}"]
    assert c["ports"][0]["containerPort"] == PORTS[name]
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", "5"]
    assert c["resources"]["requests"] == {"cpu": "100m", "memory": "128Mi"}
    assert c["resources"]["limits"] == {"cpu": "1", "memory": "256Mi"}
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    refs = {next(iter(e.values()))["name"] for e in c["envFrom"]}
    assert refs == {"norgate-config", "norgate-secrets"}
    svc = _kinds(k8s_docs, "Service")[name]
    assert svc["spec"]["type"] == "ClusterIP"
    assert svc["spec"]["ports"][0]["port"] == PORTS[name]
    assert svc["spec"]["selector"] == spec["selector"]["matchLabels"]


def test_k8s_every_deployment_has_probes_and_limits(k8s_docs):
    deployments = _kinds(k8s_docs, "Deployment")
    assert set(deployments) == set(PORTS)
    for name, dep in deployments.items():
        for c in dep["spec"]["template"]["spec"]["containers"]:
            assert c.get("readinessProbe") and c.get("livenessProbe"), name
            assert c["resources"]["limits"]["cpu"] and c["resources"]["limits"]["memory"], name


def test_k8s_provision_ingress_hpa_pdb(k8s_docs):
    [job] = _kinds(k8s_docs, "Job").values()
    [c] = job["spec"]["template"]["spec"]["containers"]
    assert c["args"] == ["deploy.provision"]
    [ingress] = _kinds(k8s_docs, "Ingress").values()
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == "gateway"
    hpas = _kinds(k8s_docs, "HorizontalPodAutoscaler")
    assert {h["spec"]["scaleTargetRef"]["name"] for h in hpas.values()} == {"gateway", "checkout"}
    pdbs = _kinds(k8s_docs, "PodDisruptionBudget")
    assert set(pdbs) == {"gateway", "checkout", "notifier"}
    config = _kinds(k8s_docs, "ConfigMap")["norgate-config"]["data"]
    assert config["NORGATE_BIND_HOST"] == "0.0.0.0"
    for other in INTERNAL:
        assert config[f"NORGATE_{other.upper()}_URL"] == f"http://{other}:{PORTS[other]}"
    secret_keys = {
        "NORGATE_DATABASE_URL",
        "NORGATE_AMQP_URL",
        "NORGATE_SMTP_URL",
        "NORGATE_SECRET_KEY",
        "NORGATE_BOOTSTRAP_SUPER_PASSWORD",
    }
    assert not secret_keys & set(config)


def test_kustomize_build_when_available():
    kubectl = shutil.which("kubectl")
    if not kubectl:
        pytest.skip("kubectl is not installed")
    result = subprocess.run(
        check=False,
        args=[kubectl, "kustomize", str(K8S)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    kinds = [d["kind"] for d in yaml.safe_load_all(result.stdout) if d]
    assert kinds.count("Deployment") == 6 and kinds.count("Service") == 6
    assert "Secret" not in kinds
