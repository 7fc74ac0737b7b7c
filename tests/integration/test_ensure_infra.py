"""deploy/scripts/ensure-infra.sh: uses running servers, and explains what is missing.

The paths that start or install servers are exercised in dry-run mode with a PATH that
holds only the tools a test wants the script to see, so nothing is started or installed.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "deploy" / "scripts" / "ensure-infra.sh"
BASH = shutil.which("bash") or "/bin/bash"
DB_URL = os.environ.get("NORGATE_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/norgate")
AMQP_URL = os.environ.get("NORGATE_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
# Just what the script needs from the system besides the tools under test.
BASIC_TOOLS = (
    "bash",
    "timeout",
    "sleep",
    "id",
    "ls",
    "sort",
    "tail",
    "dirname",
    "grep",
    "cat",
    "mktemp",
    "rm",
    "env",
)
UNREACHABLE_LOCAL = {
    "NORGATE_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/norgate",
    "NORGATE_AMQP_URL": "amqp://guest:guest@localhost:1/",
}


def _answers(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or default_port), timeout=2
        ):
            return True
    except OSError:
        return False


def _run(env: dict[str, str], timeout: float = 30) -> tuple[subprocess.CompletedProcess, float]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("NORGATE_")}
    started = time.monotonic()
    result = subprocess.run(
        check=False,
        args=[BASH, str(SCRIPT)],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    return result, time.monotonic() - started


def _bin_dir(tmp_path: Path, fakes: dict[str, str] | None = None) -> str:
    """A PATH directory with the basic tools plus fake commands (name -> exit code)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in BASIC_TOOLS:
        found = shutil.which(tool)
        if found:
            (bin_dir / tool).symlink_to(found)
    for name, code in (fakes or {}).items():
        fake = bin_dir / name
        fake.write_text(f"#!{BASH}\nexit {code}\n")
        fake.chmod(0o755)
    return str(bin_dir)


def test_script_is_valid_bash():
    assert os.access(SCRIPT, os.X_OK)
    result = subprocess.run(
        check=False, args=[BASH, "-n", str(SCRIPT)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_uses_running_servers():
    if not (_answers(DB_URL, 5432) and _answers(AMQP_URL, 5672)):
        pytest.skip("PostgreSQL and RabbitMQ are not both running here")
    env = {"NORGATE_DATABASE_URL": DB_URL, "NORGATE_AMQP_URL": AMQP_URL}
    result, elapsed = _run(env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "postgres: using running server at" in result.stdout
    assert "rabbitmq: using running server at" in result.stdout
    assert elapsed < 10
    # Idempotent: a second run takes the same path.
    again, _ = _run(env)
    assert again.returncode == 0 and again.stdout == result.stdout


def test_unreachable_remote_host_fails_fast_without_installing():
    env = {
        "NORGATE_DATABASE_URL": "postgresql://u:p@127.0.0.2:1/norgate",
        "NORGATE_AMQP_URL": "amqp://guest:guest@127.0.0.2:1/",
        "NORGATE_INFRA_WAIT_SECONDS": "2",
    }
    result, elapsed = _run(env, timeout=15)
    assert result.returncode == 1
    assert elapsed < 10
    err = result.stderr
    assert "PostgreSQL" in err and "127.0.0.2:1" in err and "NORGATE_DATABASE_URL" in err
    assert "RabbitMQ" in err and "NORGATE_AMQP_URL" in err
    assert "not local" in err
    assert "would run" not in result.stdout and "installing" not in result.stdout


def test_local_host_with_nothing_available_says_what_is_missing(tmp_path: Path):
    env = {**UNREACHABLE_LOCAL, "PATH": _bin_dir(tmp_path), "NORGATE_INFRA_WAIT_SECONDS": "2"}
    result, elapsed = _run(env, timeout=15)
    assert result.returncode == 1, result.stdout
    assert elapsed < 10
    assert "MISSING - no PostgreSQL answers at 127.0.0.1:1" in result.stderr
    assert "MISSING - no RabbitMQ answers at localhost:1" in result.stderr
    assert "not installed here" in result.stderr
    assert "apt-get install postgresql" in result.stderr
    assert "docker compose up -d rabbitmq" in result.stderr


def test_autostart_off_only_checks(tmp_path: Path):
    env = {**UNREACHABLE_LOCAL, "NORGATE_INFRA_AUTOSTART": "0"}
    result, elapsed = _run(env, timeout=15)
    assert result.returncode == 1
    assert elapsed < 10
    assert result.stderr.count("NORGATE_INFRA_AUTOSTART=0") == 2


def test_dry_run_starts_an_installed_rabbitmq(tmp_path: Path):
    env = {
        **UNREACHABLE_LOCAL,
        "NORGATE_INFRA_DRY_RUN": "1",
        "PATH": _bin_dir(tmp_path, {"rabbitmq-server": 0}),
    }
    result, elapsed = _run(env, timeout=15)
    assert elapsed < 10
    assert "rabbitmq: starting installed RabbitMQ" in result.stdout
    assert "would run: rabbitmq-server -detached" in result.stdout


def test_dry_run_uses_docker_compose_when_the_engine_answers(tmp_path: Path):
    env = {
        **UNREACHABLE_LOCAL,
        "NORGATE_INFRA_DRY_RUN": "1",
        "PATH": _bin_dir(tmp_path, {"docker": 0}),
    }
    result, elapsed = _run(env, timeout=15)
    assert result.returncode == 0, result.stderr
    assert elapsed < 10
    assert (
        "postgres: starting the docker compose 'postgres' service (host auth: trust)"
        in result.stdout
    )
    assert "would run: docker compose up -d postgres" in result.stdout
    assert "would run: docker compose up -d rabbitmq" in result.stdout


def test_dry_run_installs_from_os_packages_as_root(tmp_path: Path):
    if os.geteuid() != 0:
        pytest.skip("the install path needs root")
    env = {
        **UNREACHABLE_LOCAL,
        "NORGATE_INFRA_DRY_RUN": "1",
        "PATH": _bin_dir(tmp_path, {"apt-get": 0, "docker": 0}),
    }
    result, elapsed = _run(env, timeout=15)
    assert result.returncode == 0, result.stderr
    assert elapsed < 10
    out = result.stdout
    assert "postgres: not installed; installing from OS packages" in out
    assert "would run: apt-get install -y -qq postgresql" in out
    assert "'host all all 127.0.0.1/32 trust'" in out
    assert "would run: apt-get install -y -qq rabbitmq-server" in out
    assert out.count("would run: apt-get update -qq") == 1
    assert "docker compose" not in out
