"""Private infrastructure for `make chaos`: its own PostgreSQL cluster and its own
RabbitMQ node, so the faults it injects never touch the machine's shared ones.

- PostgreSQL: `initdb` a fresh cluster in a temporary directory (as the `postgres`
  user when we are root, since initdb refuses root), trust auth on 127.0.0.1 only,
  its socket in that directory, on a free port; `pg_ctl` starts and stops it.
- RabbitMQ: a second node (`chaos-<id>@localhost`) with its own ports, data, log,
  config and plugins files, and its own HOME holding a fresh Erlang cookie. With a
  cookie of its own, `rabbitmqctl` as we call it cannot reach the shared node at all,
  whatever a typo in a node name might do; every call also names the node (`-n`).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import signal
import subprocess
from pathlib import Path

from tests.support.net import free_ports  # noqa: F401 (bench/chaos.py takes it from here)

PG_BIN = Path("/usr/lib/postgresql/15/bin")
RABBIT_BIN = Path("/usr/lib/rabbitmq/bin")


async def run(*cmd: str, env: dict[str, str] | None = None, timeout: float = 60,
              check: bool = True) -> str:
    """Run a command without blocking the event loop (the load keeps running)."""
    proc = await asyncio.create_subprocess_exec(
        *cmd, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        stdin=asyncio.subprocess.DEVNULL)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise RuntimeError(f"{cmd[0]} {' '.join(cmd[1:3])}: no answer in {timeout:.0f}s") \
            from None
    except BaseException:  # interrupted: leave no command of ours running
        if proc.returncode is None:
            proc.kill()
        raise
    text = out.decode(errors="replace")
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])} failed ({proc.returncode}): {text[-800:]}")
    return text


def _as_postgres(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


class PrivatePostgres:
    def __init__(self, root: Path, port: int):
        self.dir = root / "pg"
        self.data = self.dir / "data"
        self.log = self.dir / "postgres.log"
        self.port = port
        self.started = False

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _pg_ctl(self, *args: str) -> list[str]:
        return _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), *args])

    async def init(self) -> None:
        if not (PG_BIN / "initdb").exists():
            raise RuntimeError(f"PostgreSQL 15 binaries not found in {PG_BIN}")
        self.dir.mkdir(parents=True)
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        await run(*_as_postgres([str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust",
                                 "-U", "postgres", "-E", "UTF8", "--no-sync"]))
        with open(self.data / "postgresql.auto.conf", "a") as conf:
            conf.write(f"port = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                       f"unix_socket_directories = '{self.dir}'\nmax_connections = 200\n")
        await self.start()

    async def start(self) -> None:
        await run(*self._pg_ctl("-l", str(self.log), "-w", "-t", "60", "start"), timeout=90)
        self.started = True

    async def stop(self) -> None:
        await run(*self._pg_ctl("-m", "fast", "-w", "-t", "60", "stop"), timeout=90)
        self.started = False

    def stop_sync(self) -> None:
        """Cleanup path (also after Ctrl-C): stop the cluster if it runs."""
        if (self.data / "postmaster.pid").exists():
            subprocess.run(self._pg_ctl("-m", "immediate", "-w", "-t", "30", "stop"),
                           capture_output=True, check=False, timeout=60)
        self.started = False


class PrivateRabbit:
    def __init__(self, root: Path, node_port: int, dist_port: int, run_id: str):
        self.dir = root / "rabbit"
        self.node = f"chaos-{run_id}@localhost"
        self.node_port = node_port
        self.dist_port = dist_port
        self.env = {
            **{k: v for k, v in os.environ.items()
               if not k.startswith(("RABBITMQ_", "ERL_"))},
            "HOME": str(self.dir / "home"),
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(node_port),
            "RABBITMQ_DIST_PORT": str(dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.dir / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.dir / "log"),
            "RABBITMQ_CONFIG_FILE": str(self.dir / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.dir / "enabled_plugins"),
            "RABBITMQ_CONF_ENV_FILE": str(self.dir / "rabbitmq-env.conf"),
            "RABBITMQ_PID_FILE": str(self.dir / "rabbit.pid"),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS":
                "-kernel inet_dist_use_interface {127,0,0,1}",
            "ERL_EPMD_ADDRESS": "127.0.0.1",
        }
        self.started = False

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.node_port}/"

    @staticmethod
    def _bin(name: str) -> str:
        path = RABBIT_BIN / name
        if path.exists():  # not the Debian wrapper, which su's to the shared node's user
            return str(path)
        found = shutil.which(name)
        if not found:
            raise RuntimeError(f"{name} not found: is RabbitMQ installed?")
        return found

    async def ctl(self, *args: str, timeout: float = 60) -> str:
        return await run(self._bin("rabbitmqctl"), "-n", self.node, *args, env=self.env,
                         timeout=timeout)

    async def start(self) -> None:
        home = self.dir / "home"
        home.mkdir(parents=True)
        for sub in ("mnesia", "log"):
            (self.dir / sub).mkdir()
        cookie = home / ".erlang.cookie"
        cookie.write_text(secrets.token_hex(20).upper())
        cookie.chmod(0o400)
        (self.dir / "rabbitmq.conf").write_text(
            f"listeners.tcp.local = 127.0.0.1:{self.node_port}\n"
            "vm_memory_high_watermark.relative = 0.2\n")
        (self.dir / "enabled_plugins").write_text("[].\n")
        (self.dir / "rabbitmq-env.conf").write_text("")
        await run(self._bin("rabbitmq-server"), "-detached", env=self.env)
        self.started = True
        # `wait` follows the pid file the node writes, then waits for the app to boot.
        await self.ctl("wait", str(self.dir / "rabbit.pid"), "--timeout", "90", timeout=120)

    async def stop_app(self) -> None:
        await self.ctl("stop_app")

    async def start_app(self) -> None:
        await self.ctl("start_app", timeout=120)

    async def queues(self) -> dict[str, tuple[int, int]]:
        """{queue: (ready, unacknowledged)}."""
        out = await self.ctl("list_queues", "-q", "--no-table-headers", "name",
                             "messages_ready", "messages_unacknowledged")
        depths = {}
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
                depths[parts[0]] = (int(parts[1]), int(parts[2]))
        return depths

    def stop_sync(self) -> None:
        """Cleanup path: halt the node; kill it by its pid file if it does not answer."""
        if not self.started:
            return
        pid_file = self.dir / "rabbit.pid"
        try:
            halted = subprocess.run(
                [self._bin("rabbitmqctl"), "-n", self.node, "stop", str(pid_file)],
                env=self.env, capture_output=True, check=False, timeout=60).returncode == 0
        except subprocess.TimeoutExpired:
            halted = False
        if not halted and pid_file.exists():
            try:
                os.kill(int(pid_file.read_text().strip()), signal.SIGKILL)
            except (ValueError, ProcessLookupError, PermissionError):
                pass
        self.started = False
