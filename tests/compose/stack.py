"""A running `docker compose` stack as deploy/compose/compose-test.sh describes it, with
what the tests need: its published gateway, its mail directory (the shape
tests/support/onboarding.py reads, as a `make run` stack's), and compose itself."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class ComposeStack:
    project: str
    compose_cmd: list[str]
    compose_env: dict[str, str]
    gateway: str
    mailsink: str
    rabbitmq_ui: str
    super_password: str
    gateways: list[str]  # every published gateway (two with replicas.yml)
    postgres: str  # the superuser's DSN on the published port: checks read every schema
    env: dict[str, str] = field(default_factory=dict)  # NORGATE_MAIL_DIR, for onboarding

    def _environ(self) -> dict[str, str]:
        return {**os.environ, **self.compose_env}

    def compose(self, *args: str, timeout: float = 120) -> str:
        """Run `docker compose <args>` on this project; its stdout."""
        done = subprocess.run([*self.compose_cmd, *args], cwd=ROOT, env=self._environ(),
                              capture_output=True, text=True, timeout=timeout)
        assert done.returncode == 0, (args, done.stdout[-2000:], done.stderr[-2000:])
        return done.stdout

    def docker(self, *args: str, timeout: float = 60) -> str:
        done = subprocess.run(["docker", *args], env=self._environ(), capture_output=True,
                              text=True, timeout=timeout)
        assert done.returncode == 0, (args, done.stderr[-2000:])
        return done.stdout

    def containers(self) -> list[dict]:
        """`compose ps --all` as dicts (Service, Name, State, Health, ExitCode...)."""
        out = self.compose("ps", "--all", "--format", "json")
        # Compose v2 prints one JSON object per line (older ones, one array).
        text = out.strip()
        if text.startswith("["):
            return list(json.loads(text))
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def container(self, service: str, index: int = 1) -> str:
        return f"{self.project}-{service}-{index}"

    def rabbitmqctl(self, *args: str, node: str = "rabbitmq") -> str:
        return self.docker("exec", self.container(node), "rabbitmqctl", "-q", *args)

    def network_gateway(self) -> str:
        """The host's address on the project's network: where containers reach the host."""
        return self.docker("network", "inspect", f"{self.project}_default", "--format",
                           "{{(index .IPAM.Config 0).Gateway}}").strip()


def load_stack(path: str) -> ComposeStack:
    data = json.loads(Path(path).read_text())
    return ComposeStack(project=data["project"], compose_cmd=data["compose"],
                        compose_env=data["env"], gateway=data["gateway"],
                        mailsink=data["mailsink"], rabbitmq_ui=data["rabbitmq_ui"],
                        super_password=data["super_password"],
                        gateways=data["gateways"], postgres=data["postgres"],
                        env={"NORGATE_MAIL_DIR": data["mail_dir"]})
