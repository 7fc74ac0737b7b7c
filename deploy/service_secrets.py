"""Each service's own secrets, for deployments that split them (compose, Kubernetes).

Only provisioning holds the master key (NORGATE_SECRET_KEY) and the administrator
DSN. Every service gets instead:

- NORGATE_SERVICE_DATABASE_URL: its own role's DSN (password derived from the master
  key, set by provisioning);
- NORGATE_SERVICE_KEYS: the values derived for the purposes it uses (sealed secrets,
  CSRF and link keys: PURPOSES) and the principal keys of its own audience and of the
  services it calls (CALLS; shared/principal.py), nothing else;
- NORGATE_AMQP_URL; auth alone NORGATE_BOOTSTRAP_SUPER_PASSWORD, the notifier alone
  NORGATE_SMTP_URL.

A derived value reveals nothing about the master key or any other value, so a
compromised service exposes its own schema and secrets and can sign principals only
for the services it already calls.

    python -m deploy.service_secrets env SERVICE   # KEY=VALUE lines (or: provision)
    python -m deploy.service_secrets compose DIR   # DIR/<name>.env for docker-compose.yml
    python -m deploy.service_secrets k8s           # the Secrets deploy/k8s expects, as YAML

`env` and `k8s` read the master key, the administrator DSN, the AMQP and SMTP URLs and
the SUPER password from the NORGATE_* environment. `compose` uses the compose network's
addresses and this checkout's var/secrets.env (deploy/local_secrets.py), so compose
and `make run` share one database's keys.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from shared.principal import key_purpose
from shared.secrets import derive
from shared.settings import SERVICES, Settings, load_settings

# What each service derives from the master key (shared/secrets.derive, SecretBox,
# checkout's html.csrf); tests/unit/test_service_secrets.py reads the code to keep this
# in step.
PURPOSES: dict[str, tuple[str, ...]] = {
    "gateway": ("idempotency-fingerprint", "secret-box:idempotency-response"),
    "auth": ("secret-box:jwt-signing-key", "secret-box:account-secrets"),
    "checkout": ("checkout-csrf", "checkout-embed", "norah-checkout-csrf", "price-checkout-csrf",
                 "receipt-links",
                 "secret-box:trigger-secrets"),
    "billing": ("secret-box:settlement-account",),
    "fees": (),
    "notifier": ("secret-box:webhook-secrets",),
}
# The services each one calls over internal HTTP (shared/http/client.py, the gateway's
# proxy): it signs principals for their audience. Checkout calls itself: the sandbox
# ECOCASH rail's callback, billing the sandbox payout rails'.
CALLS: dict[str, tuple[str, ...]] = {
    "gateway": ("auth", "checkout", "billing", "fees", "notifier"),
    "auth": (),
    "checkout": ("auth", "fees", "checkout"),
    "billing": ("auth", "billing", "checkout", "fees"),
    "fees": ("auth",),
    "notifier": ("auth",),
}
# Settings no service is given in a split deployment (provisioning's, or another's).
MASTER_ONLY = ("NORGATE_SECRET_KEY", "NORGATE_DATABASE_URL")
PER_SERVICE = ("NORGATE_SERVICE_DATABASE_URL", "NORGATE_SERVICE_KEYS", "NORGATE_AMQP_URL",
               "NORGATE_BOOTSTRAP_SUPER_PASSWORD", "NORGATE_SMTP_URL")
PROVISION = "provision"
# docker-compose.yml's network: the DSN, broker and mail sink its services reach.
COMPOSE = {
    "NORGATE_DATABASE_URL": "postgresql://postgres:postgres@postgres:5432/norgate",
    "NORGATE_AMQP_URL": "amqp://guest:guest@rabbitmq:5672/",
    "NORGATE_SMTP_URL": "smtp://mailsink:1025",
}


def purposes_of(service: str) -> tuple[str, ...]:
    """Every derivation label `service` needs, principal keys included."""
    audiences = dict.fromkeys((service, *CALLS[service]))
    return (*PURPOSES[service], *(key_purpose(a) for a in audiences))


def service_keys(settings: Settings, service: str) -> dict[str, str]:
    """NORGATE_SERVICE_KEYS for `service`, from a settings holding the master key."""
    if settings.secret_key is None:
        raise SystemExit("norgate: NORGATE_SECRET_KEY is not set: the service keys are "
                         "derived from it")
    return {purpose: derive(settings, purpose) for purpose in purposes_of(service)}


def service_env(settings: Settings, name: str) -> dict[str, str]:
    """The secret settings of `name` (a service, or "provision") and nothing else."""
    if settings.secret_key is None:
        raise SystemExit("norgate: NORGATE_SECRET_KEY is not set: every service secret is "
                         "derived from it")
    if name == PROVISION:
        return {"NORGATE_DATABASE_URL": settings.database_url,
                "NORGATE_SECRET_KEY": settings.secret_key.get_secret_value()}
    if name not in SERVICES:
        raise SystemExit(f"norgate: no such service {name!r} (one of {', '.join(SERVICES)}, "
                         f"{PROVISION})")
    # The role DSN from the administrator's host, never an inherited override.
    admin = settings.model_copy(update={"service_database_url": None})
    env = {
        "NORGATE_SERVICE_DATABASE_URL": admin.dsn_of(name),
        "NORGATE_SERVICE_KEYS": json.dumps(service_keys(settings, name),
                                           separators=(",", ":")),
        "NORGATE_AMQP_URL": settings.amqp_url,
    }
    if name == "auth":
        if settings.bootstrap_super_password is None:
            raise SystemExit("norgate: NORGATE_BOOTSTRAP_SUPER_PASSWORD is not set: auth "
                             "creates the first SUPER user with it")
        env["NORGATE_BOOTSTRAP_SUPER_PASSWORD"] = \
            settings.bootstrap_super_password.get_secret_value()
    if name == "notifier" and settings.smtp_url:
        env["NORGATE_SMTP_URL"] = settings.smtp_url
    return env


def split_env(base: Mapping[str, str], settings: Settings, name: str) -> dict[str, str]:
    """`base` (a whole stack's environment) as `name` alone would get it: without the
    master key, the administrator DSN and the other services' secrets."""
    env = {k: v for k, v in base.items() if k not in MASTER_ONLY and k not in PER_SERVICE}
    if name in SERVICES:
        env.update(service_env(settings, name))
    return env


def env_file(env: Mapping[str, str]) -> str:
    """KEY='VALUE' lines: single quotes keep compose from interpolating `$`."""
    lines = []
    for key, value in env.items():
        if "'" in value or "\n" in value:
            raise SystemExit(f"norgate: {key} holds a quote or a newline; an env file "
                             "cannot carry it")
        lines.append(f"{key}='{value}'\n")
    return "".join(lines)


def k8s_secrets(settings: Settings, namespace: str = "norgate") -> list[dict]:
    """The Secrets deploy/k8s reads: norgate-provision and norgate-<service>."""
    return [{"apiVersion": "v1", "kind": "Secret",
             "metadata": {"name": f"norgate-{name}", "namespace": namespace,
                          "labels": {"app.kubernetes.io/part-of": "norgate"}},
             "type": "Opaque", "stringData": service_env(settings, name)}
            for name in (PROVISION, *SERVICES)]


def k8s_yaml(settings: Settings) -> str:
    # JSON scalars are valid YAML: no YAML library needed in the image.
    docs = []
    for secret in k8s_secrets(settings):
        meta = secret["metadata"]
        lines = ["---", "apiVersion: v1", "kind: Secret", "metadata:",
                 f"  name: {meta['name']}", f"  namespace: {meta['namespace']}",
                 "  labels:", "    app.kubernetes.io/part-of: norgate", "type: Opaque",
                 "stringData:"]
        lines += [f"  {k}: {json.dumps(v)}" for k, v in secret["stringData"].items()]
        docs.append("\n".join(lines))
    return "\n".join(docs) + "\n"


def write_compose(directory: Path) -> list[Path]:
    from deploy import local_secrets

    environ = dict(os.environ)
    local_secrets.apply(environ)
    environ.update(COMPOSE)
    settings = _settings_from(environ)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name in (PROVISION, *SERVICES):
        path = directory / f"{name}.env"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(env_file(service_env(settings, name)))
        os.chmod(path, 0o600)
        written.append(path)
    return written


def _settings_from(environ: Mapping[str, str]) -> Settings:
    saved = dict(os.environ)
    try:
        os.environ.clear()
        os.environ.update(environ)
        return load_settings()
    finally:
        os.environ.clear()
        os.environ.update(saved)


def main(argv: list[str]) -> int:
    usage = "usage: python -m deploy.service_secrets env NAME | compose DIR | k8s"
    if len(argv) == 2 and argv[0] == "env":
        sys.stdout.write(env_file(service_env(load_settings(), argv[1])))
    elif len(argv) == 2 and argv[0] == "compose":
        for path in write_compose(Path(argv[1])):
            print(f"norgate: wrote {path}", file=sys.stderr)
    elif argv == ["k8s"]:
        sys.stdout.write(k8s_yaml(load_settings()))
    else:
        print(usage, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
