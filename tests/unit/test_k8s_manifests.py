"""deploy/k8s/ is valid Kubernetes and wires the six services the way docs/scaling.md says.

Every manifest, as written and as `kubectl kustomize` renders it, is checked against the
official OpenAPI-derived JSON schemas bundled by `kubernetes-validate` (offline, strict:
unknown fields are errors), for the newest Kubernetes it knows and for the oldest
version we support. Our own checks then cover what a schema cannot: probes on the right
paths and ports, resources, selectors that match, settings that load, an identity, a
Secret, an HPA and a PDB per service, and NetworkPolicies that allow exactly the
connections the code makes (read from the code, so a new call fails here until a
policy allows it).
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from deploy import service_secrets
from services.gateway.routing import ROUTES
from shared.secrets import derive
from shared.settings import DEFAULT_PORTS, SERVICES, Settings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
PORTS = DEFAULT_PORTS  # the manifests must agree with the settings' defaults
GATEWAY_METRICS = 8090  # NORGATE_GATEWAY_METRICS_PORT in gateway.yaml
INTERNAL = tuple(s for s in SERVICES if s != "gateway")
# Every service is stateless (docs/scaling.md): each scales on CPU and keeps a pod
# through drains.
AUTOSCALED = set(SERVICES)
# The oldest Kubernetes minor still supported by the main managed offerings, and the
# newest one the bundled schemas know.
K8S_VERSIONS = ("1.29.0", kubernetes_validate.latest_version())
# One Secret per process, each with that process's own secrets only (blast radius).
_SERVICE_SECRET = {"NORGATE_SERVICE_DATABASE_URL", "NORGATE_AMQP_URL", "NORGATE_SERVICE_KEYS"}
SECRET_KEYS = {
    "norgate-provision": {"NORGATE_DATABASE_URL", "NORGATE_SECRET_KEY"},
    **{f"norgate-{s}": set(_SERVICE_SECRET) for s in SERVICES},
}
SECRET_KEYS["norgate-auth"].add("NORGATE_BOOTSTRAP_SUPER_PASSWORD")
SECRET_KEYS["norgate-notifier"].add("NORGATE_SMTP_URL")


def _load() -> dict[str, list[dict]]:
    return {
        p.name: [d for d in yaml.safe_load_all(p.read_text()) if d]
        for p in sorted(K8S.glob("*.yaml"))
    }


DOCS = _load()
RESOURCES = [
    (name, i, doc)
    for name, docs in DOCS.items()
    if name != "kustomization.yaml"
    for i, doc in enumerate(docs)
]


def _kinds(kind: str) -> dict[str, dict]:
    return {
        d["metadata"]["name"]: d for ds in DOCS.values() for d in ds if d.get("kind") == kind
    }


def _container(dep: dict) -> dict:
    [c] = dep["spec"]["template"]["spec"]["containers"]
    return c


def _matches(selector: dict, labels: dict) -> bool:
    """Kubernetes label-selector semantics (matchLabels + matchExpressions In/NotIn)."""
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expr in selector.get("matchExpressions", []):
        value, op = labels.get(expr["key"]), expr["operator"]
        if op == "In" and value not in expr["values"]:
            return False
        if op == "NotIn" and value in expr["values"]:
            return False
        if op == "Exists" and value is None:
            return False
    return True


# --- schema validation -----------------------------------------------------------------


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize(
    "name,index,doc", RESOURCES, ids=[f"{n}#{i}:{d['kind']}" for n, i, d in RESOURCES]
)
def test_manifest_matches_the_kubernetes_schema(name, index, doc, version):
    try:
        kubernetes_validate.validate(doc, version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        path = "/".join(str(p) for p in exc.path)
        pytest.fail(f"{name} document {index} ({doc['kind']}) at {path}: {exc.message}")


def test_the_schema_check_rejects_a_broken_manifest():
    """The check above can fail: a typo'd field and a wrong type are both errors."""
    dep = yaml.safe_load((K8S / "auth.yaml").read_text().split("---")[0])
    _container(dep)["readinesProbe"] = _container(dep).pop("readinessProbe")  # typo
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(dep, K8S_VERSIONS[-1], strict=True)
    dep = yaml.safe_load((K8S / "auth.yaml").read_text().split("---")[0])
    dep["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(dep, K8S_VERSIONS[-1], strict=True)


# --- kustomization, ConfigMap, Secret ------------------------------------------------------


def test_kustomization_lists_every_file_but_the_example_secret():
    [kust] = DOCS["kustomization.yaml"]
    assert kust["kind"] == "Kustomization"
    resources = kust["resources"]
    assert len(resources) == len(set(resources))
    on_disk = {n for n in DOCS if n not in ("kustomization.yaml", "secret.example.yaml")}
    assert set(resources) == on_disk
    assert kust["namespace"] == "norgate"
    assert [i["name"] for i in kust["images"]] == ["norgate"]
    # The namespace enforces the restricted Pod Security Standard.
    [ns] = DOCS["namespace.yaml"]
    assert ns["metadata"]["name"] == "norgate"
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def _example_secrets() -> dict[str, dict[str, str]]:
    return {d["metadata"]["name"]: d["stringData"] for d in DOCS["secret.example.yaml"]}


def _operator_settings() -> Settings:
    """What an operator generates the Secrets from (python -m deploy.service_secrets k8s)."""
    return Settings(secret_key="operator-master-key-" + "q" * 40,
                    database_url="postgresql://admin:pw@postgres.example.internal:5432/norgate"
                                 "?sslmode=require",
                    amqp_url="amqps://norgate:pw@rabbitmq.example.internal:5671/norgate",
                    smtp_url="smtps://u:p@smtp.example.com:465",
                    bootstrap_super_password="a-strong-first-password")


def test_configmap_and_example_secret_split_settings_and_secrets():
    config = _kinds("ConfigMap")["norgate-config"]["data"]
    examples = _example_secrets()
    assert {n: set(v) for n, v in examples.items()} == SECRET_KEYS
    assert not set().union(*SECRET_KEYS.values()) & set(config)
    secret = {"stringData": examples["norgate-provision"] | examples["norgate-auth"]}
    assert config["NORGATE_ENV"] == "prod"
    assert config["NORGATE_BIND_HOST"] == "0.0.0.0"
    # Behind the ingress controller: its pods' network is trusted to name the client.
    assert "NORGATE_TRUSTED_PROXY_HOPS" not in config
    assert Settings(trusted_proxies=config["NORGATE_TRUSTED_PROXIES"]).trusted_proxies
    for other in INTERNAL:
        assert config[f"NORGATE_{other.upper()}_URL"] == f"http://{other}:{PORTS[other]}"
    # PostgreSQL and RabbitMQ are external: no in-cluster host names.
    assert "example.internal" in secret["stringData"]["NORGATE_DATABASE_URL"]
    assert secret["stringData"]["NORGATE_AMQP_URL"].startswith("amqps://")


def test_the_generated_secrets_are_the_ones_the_manifests_read():
    generated = {s["metadata"]["name"]: s["stringData"]
                 for s in service_secrets.k8s_secrets(_operator_settings())}
    assert {n: set(v) for n, v in generated.items()} == SECRET_KEYS


def test_the_example_placeholders_refuse_to_start(monkeypatch):
    """Applied unedited, the example must stop the pods, not run on public values."""
    for key in list(os.environ):
        if key.startswith("NORGATE_"):
            monkeypatch.delenv(key)
    for data in _example_secrets().values():
        for key, value in data.items():
            monkeypatch.setenv(key, value)
        with pytest.raises(Exception):  # noqa: B017 - pydantic's or ours, either refuses
            Settings()
        for key in data:
            monkeypatch.delenv(key)


@pytest.mark.parametrize("name", ("provision", *SERVICES))
def test_every_key_is_a_real_setting_and_together_they_load(monkeypatch, name):
    """A typo'd key would be silently ignored by pydantic-settings: refuse it here.
    The ConfigMap plus a process's generated Secret validate as production settings,
    and give it every secret its code derives (and no master key to a service)."""
    config = _kinds("ConfigMap")["norgate-config"]["data"]
    operator = _operator_settings()
    env = {**config, **service_secrets.service_env(operator, name)}
    fields = {f"NORGATE_{f.upper()}" for f in Settings.model_fields}
    assert set(env) <= fields, sorted(set(env) - fields)
    assert set(_example_secrets()[f"norgate-{name}"]) <= fields
    for key in list(os.environ):
        if key.startswith("NORGATE_"):
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = Settings()
    assert settings.env == "prod"
    assert settings.url_of("fees") == "http://fees:8084"
    if name == "provision":
        assert settings.secret_key is not None
    else:
        assert settings.secret_key is None
        assert settings.dsn_of(name) == operator.dsn_of(name)
        for purpose in service_secrets.purposes_of(name):
            assert derive(settings, purpose) == derive(operator, purpose)
    # Pods stop within their grace period: preStop sleep + the service's own drain.
    grace = {
        d["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        for d in _kinds("Deployment").values()
    }
    assert grace == {30}
    assert 5 + settings.shutdown_grace_seconds < 30


# --- Deployments and Services ------------------------------------------------------------


@pytest.mark.parametrize("name", SERVICES)
def test_deployment_runs_the_service_with_probes_resources_and_hardening(name: str):
    dep = _kinds("Deployment")[name]
    spec = dep["spec"]
    pod = spec["template"]["spec"]
    assert _matches(spec["selector"], spec["template"]["metadata"]["labels"])
    # Autoscaled Deployments leave the count to their HPA; the others run one replica.
    assert spec.get("replicas") == (None if name in AUTOSCALED else 1)
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert pod["terminationGracePeriodSeconds"] == 30
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["automountServiceAccountToken"] is False
    assert pod["serviceAccountName"] == name  # its own identity (test_one_identity_...)
    c = _container(dep)
    assert c["image"] == "norgate"
    assert c["args"] == [f"services.{name}"]
    port, *more = c["ports"]
    assert port == {"name": "http", "containerPort": PORTS[name]}
    # The gateway alone has a second port: its metrics (test_gateway_metrics_...).
    assert more == ([{"name": "metrics", "containerPort": GATEWAY_METRICS}]
                    if name == "gateway" else [])
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz"),
                        ("startupProbe", "/healthz")):
        get = c[probe]["httpGet"]
        assert get["path"] == path, probe
        assert get["port"] in ("http", PORTS[name]), probe
    assert c["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", "5"]
    res = c["resources"]
    assert res["requests"]["cpu"] and res["requests"]["memory"]
    assert res["limits"]["cpu"] and res["limits"]["memory"]
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["securityContext"]["allowPrivilegeEscalation"] is False
    assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert {m["mountPath"] for m in c["volumeMounts"]} == {"/tmp"}
    refs = {next(iter(e.values()))["name"] for e in c["envFrom"]}
    assert refs == {"norgate-config", f"norgate-{name}"}  # its own Secret, no other
    # Nothing secret inline either (the gateway sets its metrics port there).
    secret_names = set().union(*SECRET_KEYS.values())
    assert not {e["name"] for e in c.get("env", [])} & secret_names


@pytest.mark.parametrize("name", SERVICES)
def test_service_selects_its_deployment_on_the_container_port(name: str):
    dep, svc = _kinds("Deployment")[name], _kinds("Service")[name]
    assert svc["spec"]["type"] == "ClusterIP"
    labels = dep["spec"]["template"]["metadata"]["labels"]
    assert _matches({"matchLabels": svc["spec"]["selector"]}, labels)
    # ...and no other Deployment's pods.
    for other, d in _kinds("Deployment").items():
        if other != name:
            assert not _matches({"matchLabels": svc["spec"]["selector"]},
                                d["spec"]["template"]["metadata"]["labels"])
    [port] = svc["spec"]["ports"]
    assert port["port"] == PORTS[name]
    named = {p["name"]: p["containerPort"] for p in _container(dep)["ports"]}
    assert port["targetPort"] in named or port["targetPort"] in named.values()


def test_exactly_the_six_services_are_deployed():
    assert set(_kinds("Deployment")) == set(SERVICES)
    assert set(_kinds("Service")) == set(SERVICES)


# --- provision Job, Ingress, HPA, PDB, NetworkPolicy ---------------------------------------


def test_the_migrations_job_provisions_with_the_admin_secret():
    [job] = _kinds("Job").values()
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] in ("OnFailure", "Never")
    c = _container(job)
    assert c["args"] == ["deploy.provision"]
    refs = {next(iter(e.values()))["name"] for e in c["envFrom"]}
    # The admin DSN and the master key: this Job alone.
    assert refs == {"norgate-config", "norgate-provision"}
    assert c["resources"]["limits"]
    assert job["spec"]["backoffLimit"] >= 1 and job["spec"]["activeDeadlineSeconds"]


def test_ingress_exposes_only_the_gateway():
    [ingress] = _kinds("Ingress").values()
    backends = [
        p["backend"]["service"]
        for rule in ingress["spec"]["rules"]
        for p in rule["http"]["paths"]
    ]
    assert backends == [{"name": "gateway", "port": {"name": "http"}}]
    svc_ports = {p["name"] for p in _kinds("Service")["gateway"]["spec"]["ports"]}
    assert "http" in svc_ports
    config = _kinds("ConfigMap")["norgate-config"]["data"]
    assert config["NORGATE_PUBLIC_URL"] == f"https://{ingress['spec']['rules'][0]['host']}"


def test_gateway_metrics_are_scraped_on_their_own_port_and_never_exposed():
    dep = _kinds("Deployment")["gateway"]
    c = _container(dep)
    env = {e["name"]: e["value"] for e in c.get("env", [])}
    assert env["NORGATE_GATEWAY_METRICS_PORT"] == str(GATEWAY_METRICS)
    config = _kinds("ConfigMap")["norgate-config"]["data"]
    assert "NORGATE_GATEWAY_METRICS_PORT" not in config  # the gateway's own setting
    annotations = dep["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(GATEWAY_METRICS)
    assert annotations["prometheus.io/path"] == "/metrics"
    # Not in the Service, so not reachable through the Ingress (which names the Service
    # port `http`) nor from other pods by the Service's name.
    svc_ports = _kinds("Service")["gateway"]["spec"]["ports"]
    assert [p["targetPort"] for p in svc_ports] == ["http"]
    assert all(p["port"] != GATEWAY_METRICS for p in svc_ports)
    settings = Settings(gateway_metrics_port=int(env["NORGATE_GATEWAY_METRICS_PORT"]))
    assert settings.gateway_metrics_port not in {settings.port_of(s) for s in SERVICES}
    # The other services are scraped on their own (internal) ports.
    for name in INTERNAL:
        meta = _kinds("Deployment")[name]["spec"]["template"]["metadata"]
        assert meta["annotations"]["prometheus.io/port"] == str(PORTS[name]), name


def test_one_identity_and_one_secret_per_process():
    """Each Deployment (and the Job) runs as a ServiceAccount of its own, with no token,
    and reads a Secret no other pod reads: one compromised pod holds its own only."""
    accounts = _kinds("ServiceAccount")
    pods = {**{n: d["spec"]["template"]["spec"] for n, d in _kinds("Deployment").items()},
            "provision": _kinds("Job")["norgate-provision"]["spec"]["template"]["spec"]}
    used = {name: pod["serviceAccountName"] for name, pod in pods.items()}
    assert used == {**{s: s for s in SERVICES}, "provision": "norgate-provision"}
    assert set(accounts) == set(used.values())  # no account without a pod, none shared
    for account in accounts.values():
        assert account["automountServiceAccountToken"] is False
    assert not _kinds("RoleBinding") and not _kinds("ClusterRoleBinding")  # no API rights
    secrets = {name: {e["secretRef"]["name"] for e in pod["containers"][0]["envFrom"]
                      if "secretRef" in e}
               for name, pod in pods.items()}
    assert secrets == {name: {f"norgate-{name}"} for name in pods}
    assert set(SECRET_KEYS) == {f"norgate-{name}" for name in pods}


def test_every_service_autoscales_on_cpu():
    hpas = _kinds("HorizontalPodAutoscaler")
    deployments = _kinds("Deployment")
    assert {h["spec"]["scaleTargetRef"]["name"] for h in hpas.values()} == AUTOSCALED
    for hpa in hpas.values():
        ref = hpa["spec"]["scaleTargetRef"]
        assert ref["kind"] == "Deployment" and ref["apiVersion"] == "apps/v1"
        assert ref["name"] in deployments
        assert 2 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]
        [metric] = hpa["spec"]["metrics"]
        assert metric["type"] == "Resource" and metric["resource"]["name"] == "cpu"
        assert metric["resource"]["target"]["type"] == "Utilization"
        # CPU utilisation is computed against requests, so the target needs them.
        assert _container(deployments[ref["name"]])["resources"]["requests"]["cpu"]
    # At the ceilings, the pools stay within what a mid-size managed PostgreSQL allows
    # (docs/scaling.md: replicas x (pool + the relay's own connection)).
    pool = int(_kinds("ConfigMap")["norgate-config"]["data"]["NORGATE_DB_POOL_MAX"])
    ceiling = sum(h["spec"]["maxReplicas"] for h in hpas.values()) * (pool + 1)
    assert ceiling <= 400, ceiling
    assert f"= {ceiling}" in (K8S / "hpa.yaml").read_text()
    assert f"= {ceiling} connections" in (ROOT / "docs" / "scaling.md").read_text()


def test_every_deployment_has_a_pdb_that_never_blocks_a_drain():
    pdbs = _kinds("PodDisruptionBudget")
    deployments = _kinds("Deployment")
    assert set(pdbs) == set(deployments)
    for name, pdb in pdbs.items():
        hpa = _kinds("HorizontalPodAutoscaler")[name]
        # minAvailable below the HPA floor, or drains would block forever.
        assert pdb["spec"]["minAvailable"] < hpa["spec"]["minReplicas"]
        selected = [d for d, dep in deployments.items()
                    if _matches(pdb["spec"]["selector"],
                                dep["spec"]["template"]["metadata"]["labels"])]
        assert selected == [name]


# --- NetworkPolicy: evaluated as Kubernetes does, against the calls in the code -----------

NAMESPACE = {"kubernetes.io/metadata.name": "norgate"}
PROMETHEUS = ({"kubernetes.io/metadata.name": "monitoring"},
              {"app.kubernetes.io/name": "prometheus"})
OTHER_POD = ({"kubernetes.io/metadata.name": "default"}, {"app": "anything"})
PUBLIC_IP, PRIVATE_IP = "93.184.216.34", "10.20.30.40"  # a website, a cluster address
DB, AMQP, AMQPS, DNS = 5432, 5672, 5671, 53
SMTP = (25, 465, 587)

# Where the code calls another service: InternalClient's request()/get_json(), a
# principal signed for an audience, the gateway's routes (tests/unit/test_service_secrets.py
# scans the same way for the principal keys).
_CALL = re.compile(r'\.(?:request|get_json)\(\s*"([a-z]+)"')
_AUDIENCE = re.compile(r'audience="([a-z]+)"')


def _code(service: str) -> str:
    return "\n".join(p.read_text() for p in sorted((ROOT / "services" / service).rglob("*.py")))


def _calls_in_code() -> set[tuple[str, str]]:
    edges = set()
    for service in SERVICES:
        code = _code(service)
        called = set(_CALL.findall(code)) | set(_AUDIENCE.findall(code))
        if service == "gateway":
            called |= {target for _, target in ROUTES}
        edges |= {(service, target) for target in called & set(SERVICES)}
    return edges


def _reaches_the_internet(service: str) -> bool:
    """Outbound calls to merchants' URLs go through the address policy (SSRF guard)."""
    return "shared.outbound" in _code(service)


def _sends_mail(service: str) -> bool:
    return "smtp_url" in _code(service)


Peer = tuple[dict, dict] | str  # (namespace labels, pod labels) or an IP address


def _pod(name: str) -> tuple[dict, dict]:
    if name == "provision":
        return NAMESPACE, _kinds("Job")["norgate-provision"]["spec"]["template"]["metadata"][
            "labels"]
    return NAMESPACE, _kinds("Deployment")[name]["spec"]["template"]["metadata"]["labels"]


def _peer_matches(selector: dict, peer: Peer) -> bool:
    if isinstance(peer, str):
        if "ipBlock" not in selector:
            return False
        block = selector["ipBlock"]
        ip = ipaddress.ip_address(peer)
        net = ipaddress.ip_network(block["cidr"])
        return ip.version == net.version and ip in net and not any(
            ip in ipaddress.ip_network(e) for e in block.get("except", []))
    if "ipBlock" in selector:
        return False  # pod traffic is matched by pod selectors (pod IPs vary)
    ns_labels, pod_labels = peer
    ns = selector.get("namespaceSelector")
    if ns is None and ns_labels != NAMESPACE:
        return False  # a bare podSelector means this namespace
    if ns is not None and not _matches(ns, ns_labels):
        return False
    return _matches(selector.get("podSelector", {}), pod_labels)


def _allowed(direction: str, subject: tuple[dict, dict], peer: Peer, port: int,
             protocol: str = "TCP") -> bool:
    """Whether NetworkPolicies let `subject` (a pod of ours) send (Egress) to, or receive
    (Ingress) from, `peer` on `port`: isolated by any policy naming that direction, then
    allowed by any of their rules."""
    key = "to" if direction == "Egress" else "from"
    policies = [p["spec"] for p in _kinds("NetworkPolicy").values()
                if _matches(p["spec"]["podSelector"], subject[1])
                and direction in p["spec"]["policyTypes"]]
    if not policies:
        return True
    for rule in (r for p in policies for r in p.get(direction.lower(), [])):
        peers = rule.get(key)
        if peers and not any(_peer_matches(sel, peer) for sel in peers):
            continue
        ports = rule.get("ports")
        if ports and not any(p["port"] == port and p.get("protocol", "TCP") == protocol
                             for p in ports):
            continue
        return True
    return False


def _connects(src: str, dst: str, port: int) -> bool:
    """Both ends agree: the source may send and the destination may receive."""
    return (_allowed("Egress", _pod(src), _pod(dst), port)
            and _allowed("Ingress", _pod(dst), _pod(src), port))


def test_the_code_scan_finds_the_calls():
    """The scan above sees what it is for (or the edge test would pass on nothing)."""
    assert _CALL.findall('await request.app[CLIENT].request(\n    "fees", "POST", "/q")') == [
        "fees"]
    edges = _calls_in_code()
    assert {("gateway", s) for s in INTERNAL} <= edges
    assert ("fees", "auth") in edges and ("auth", "fees") not in edges
    assert _reaches_the_internet("notifier") and _sends_mail("notifier")
    assert not _reaches_the_internet("auth") and not _sends_mail("gateway")


def test_network_policies_allow_exactly_the_calls_the_code_makes():
    allowed = {(src, dst) for src in SERVICES for dst in SERVICES
               if _connects(src, dst, PORTS[dst])}
    assert allowed == _calls_in_code(), (
        f"missing: {sorted(_calls_in_code() - allowed)}, "
        f"not in the code: {sorted(allowed - _calls_in_code())}")
    # ...and on no other port of a service (say, another's port on its pods).
    for src in SERVICES:
        for dst in SERVICES:
            for port in set(PORTS.values()) - {PORTS[dst]}:
                assert not _connects(src, dst, port), (src, dst, port)
    # Nothing connects to the migrations Job.
    assert not any(_connects(src, "provision", p) for src in SERVICES for p in PORTS.values())


def test_only_the_gateway_is_reached_from_outside_and_metrics_by_prometheus_only():
    gateway = _pod("gateway")
    for outsider in (PUBLIC_IP, PRIVATE_IP, OTHER_POD):
        assert _allowed("Ingress", gateway, outsider, PORTS["gateway"]), outsider
        assert not _allowed("Ingress", gateway, outsider, GATEWAY_METRICS), outsider
        for name in INTERNAL:
            assert not _allowed("Ingress", _pod(name), outsider, PORTS[name]), (name, outsider)
    assert _allowed("Ingress", gateway, PROMETHEUS, GATEWAY_METRICS)
    assert not _allowed("Ingress", gateway, _pod("auth"), GATEWAY_METRICS)
    for name in INTERNAL:  # their /metrics is on their service port
        assert _allowed("Ingress", _pod(name), PROMETHEUS, PORTS[name]), name


def test_egress_is_the_database_the_broker_dns_and_what_each_service_sends_out():
    for name in SERVICES:
        pod = _pod(name)
        for port in (DB, AMQP, AMQPS):
            assert _allowed("Egress", pod, PRIVATE_IP, port), (name, port)
        assert _allowed("Egress", pod, PRIVATE_IP, DNS, "UDP"), name
        # Webhooks and triggers to merchants' public URLs; never to a private address.
        for port in (80, 443):
            assert _allowed("Egress", pod, PUBLIC_IP, port) == _reaches_the_internet(name), name
            assert not _allowed("Egress", pod, PRIVATE_IP, port), name
            assert not _allowed("Egress", pod, "fd00::1", port), name
        for port in SMTP:
            assert _allowed("Egress", pod, PRIVATE_IP, port) == _sends_mail(name), (name, port)
        assert not _allowed("Egress", pod, PUBLIC_IP, 22), name
        assert not _allowed("Egress", pod, OTHER_POD, 8080), name
    job = _pod("provision")
    assert _allowed("Egress", job, PRIVATE_IP, DB)
    assert _allowed("Egress", job, PRIVATE_IP, DNS, "UDP")
    for port in (AMQP, AMQPS, 80, 443, *SMTP, *PORTS.values()):
        assert not _allowed("Egress", job, PRIVATE_IP, port), port
    assert not any(_allowed("Ingress", job, peer, p)
                   for peer in (PUBLIC_IP, OTHER_POD) for p in (8080, 80))


def test_the_public_egress_ports_are_the_ones_the_code_may_call():
    """In prod outbound calls go only to NORGATE_WEBHOOK_ALLOWED_PORTS: the policies open
    exactly those, no more (widen both together)."""
    allowed = Settings().webhook_allowed_ports
    config = _kinds("ConfigMap")["norgate-config"]["data"]
    assert "NORGATE_WEBHOOK_ALLOWED_PORTS" not in config  # the default, (80, 443)
    for name in SERVICES:
        if _reaches_the_internet(name):
            opened = {port for port in range(1, 10000)
                      if _allowed("Egress", _pod(name), PUBLIC_IP, port)}
            assert opened == {*allowed, DB, AMQP, AMQPS, DNS, *(SMTP if _sends_mail(name)
                                                               else ())}, name


def test_the_policy_evaluation_can_refuse():
    """The evaluator above is not vacuous: default-deny isolates every pod both ways."""
    [deny] = [p for p in _kinds("NetworkPolicy").values() if p["spec"]["podSelector"] == {}]
    assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    assert not _connects("auth", "gateway", PORTS["gateway"])  # egress: auth calls no one
    assert not _connects("notifier", "billing", PORTS["billing"])


def test_the_ingress_never_routes_to_metrics():
    """Every Ingress path goes to the gateway's public port, whose /metrics is a 404
    (tests/integration/test_security_headers.py); the metrics port is in no Service."""
    svc = _kinds("Service")["gateway"]
    http = next(p for p in svc["spec"]["ports"] if p["name"] == "http")
    assert http["targetPort"] == "http"
    gateway = _container(_kinds("Deployment")["gateway"])
    named = {p["name"]: p["containerPort"] for p in gateway["ports"]}
    assert named["http"] != GATEWAY_METRICS
    for ingress in _kinds("Ingress").values():
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                assert path["backend"]["service"] == {"name": "gateway", "port": {"name": "http"}}
                assert not path["path"].startswith("/metrics")
    for name in SERVICES:
        for port in _kinds("Service")[name]["spec"]["ports"]:
            assert port["port"] != GATEWAY_METRICS and port["targetPort"] != "metrics"


@pytest.fixture(scope="module")
def rendered() -> list[dict]:
    kubectl = shutil.which("kubectl")
    if not kubectl:
        pytest.skip("kubectl is not installed (Debian: apt-get install kubernetes-client)")
    result = subprocess.run(
        check=False,
        args=[kubectl, "kustomize", str(K8S)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d]


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_every_rendered_manifest_matches_the_kubernetes_schema(rendered, version):
    """What `kubectl apply -k` sends (namespace, labels and image tag set by the
    kustomization), strictly: an unknown or misplaced field is an error."""
    for doc in rendered:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = "/".join(str(p) for p in exc.path)
            pytest.fail(f"{doc['kind']}/{doc['metadata']['name']} at {path}: {exc.message}")


def test_kustomize_renders_every_resource_in_the_namespace(rendered):
    docs = rendered
    kinds = [d["kind"] for d in docs]
    assert kinds.count("Deployment") == 6 and kinds.count("Service") == 6
    assert kinds.count("ServiceAccount") == 7 and kinds.count("NetworkPolicy") == 8
    assert kinds.count("HorizontalPodAutoscaler") == 6
    assert kinds.count("PodDisruptionBudget") == 6
    assert "Secret" not in kinds
    # The same documents as the files (the schema test above checks both).
    assert len(docs) == len(RESOURCES) - len(DOCS["secret.example.yaml"])
    for doc in docs:
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == "norgate"


def test_the_limits_note_quotes_the_measured_figures():
    """deploy/README.md's limits note cites `make bench`: each figure it gives is one
    docs/benchmarks.md reports, so the note cannot drift from what was measured."""
    readme = (ROOT / "deploy" / "README.md").read_text()
    note = readme.split("### Limits: one PostgreSQL primary", 1)[1].split("When one", 1)[0]
    bench = (ROOT / "docs" / "benchmarks.md").read_text()
    figures = re.findall(r"\d+(?:[,.]\d+)+", note)
    assert len(figures) >= 8, figures
    assert [f for f in figures if f not in bench] == []
    # ...and names what to split first, with the setting that does it.
    rest = readme.split("### Limits: one PostgreSQL primary", 1)[1]
    assert "NORGATE_SERVICE_DATABASE_URL" in rest and "Read replicas" in rest
    for name in ("serviceaccount.yaml", "networkpolicy.yaml", "hpa.yaml", "pdb.yaml"):
        assert f"`{name}`" in readme, name
