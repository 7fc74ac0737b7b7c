"""Local runner: starts the six services (and a mail sink) as child processes.

`python -m deploy.run` is what `make run` ends with. It runs in the foreground;
Ctrl-C or SIGTERM stops every process it started (SIGTERM first, so services
drain; SIGKILL after the grace period). If one service dies, the runner stops
the rest and exits non-zero rather than leave a half-working stack.
The e2e tests drive the same `Stack` class.

Secrets: whatever of NORGATE_SECRET_KEY and NORGATE_BOOTSTRAP_SUPER_PASSWORD the
environment lacks comes from this checkout's var/secrets.env (deploy/local_secrets.py),
and the banner prints the SUPER password when it came from there.
`Stack(split=True)` starts each service with only its own secrets, the way compose
and Kubernetes do (deploy/service_secrets.py).
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import signal
import sys
import time
from pathlib import Path

import aiohttp

from deploy import local_secrets, service_secrets
from shared.settings import SERVICES, Settings, load_settings

READY_TIMEOUT = 60.0


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM it when the runner dies, even by SIGKILL,
    so no service outlives the runner holding its port (Linux only)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class Stack:
    def __init__(self, env: dict[str, str], *, log_dir: Path | None = None,
                 echo: bool = False, services: tuple[str, ...] = SERVICES,
                 split: bool = False):
        self.env = dict(env)
        self.log_dir = log_dir
        self.echo = echo
        self.services = services
        self.split = split
        self.procs: dict[str, asyncio.subprocess.Process] = {}
        self._pumps: list[asyncio.Task] = []
        self.settings = self._settings()

    def _settings(self) -> Settings:
        saved = dict(os.environ)
        try:
            os.environ.clear()
            os.environ.update(self.env)
            return load_settings()
        finally:
            os.environ.clear()
            os.environ.update(saved)

    def env_of(self, name: str) -> dict[str, str]:
        """The environment process `name` starts with: all of it, or (split) its own
        secrets only."""
        if not self.split:
            return self.env
        return service_secrets.split_env(self.env, self.settings, name)

    async def _spawn(self, name: str, module: str) -> None:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", module, env=self.env_of(name),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT, start_new_session=True,
            preexec_fn=_die_with_parent)
        self.procs[name] = proc
        self._pumps.append(asyncio.create_task(self._pump(name, proc)))

    async def _pump(self, name: str, proc: asyncio.subprocess.Process) -> None:
        sink = open(self.log_dir / f"{name}.log", "ab") if self.log_dir else None
        try:
            assert proc.stdout is not None
            async for line in proc.stdout:
                if sink:
                    sink.write(line)
                    sink.flush()
                if self.echo:
                    sys.stdout.buffer.write(line)
                    sys.stdout.flush()
        finally:
            if sink:
                sink.close()

    async def start(self) -> None:
        if self.log_dir:
            self.log_dir.mkdir(parents=True, exist_ok=True)
        if not self.env.get("NORGATE_SMTP_URL"):
            await self._spawn("mailsink", "deploy.mailsink")
            self.env["NORGATE_SMTP_URL"] = \
                f"smtp://127.0.0.1:{self.settings.mailsink_smtp_port}"
            self.settings = self._settings()
        for name in self.services:
            await self._spawn(name, f"services.{name}")

    async def wait_ready(self, timeout: float = READY_TIMEOUT) -> dict[str, float]:
        """Poll every service's /readyz until 200; returns seconds to ready per service."""
        started = time.monotonic()
        ready: dict[str, float] = {}
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            while len(ready) < len(self.services):
                for name in self.services:
                    if name in ready:
                        continue
                    proc = self.procs[name]
                    if proc.returncode is not None:
                        raise RuntimeError(f"{name} exited with code {proc.returncode}")
                    try:
                        url = f"http://127.0.0.1:{self.settings.port_of(name)}/readyz"
                        async with http.get(url) as resp:
                            if resp.status == 200:
                                ready[name] = round(time.monotonic() - started, 2)
                    except (TimeoutError, aiohttp.ClientError):
                        pass
                if time.monotonic() - started > timeout:
                    missing = sorted(set(self.services) - set(ready))
                    raise TimeoutError(f"not ready after {timeout:.0f}s: {', '.join(missing)}")
                await asyncio.sleep(0.2)
        return ready

    async def wait_any_exit(self) -> tuple[str, int]:
        waits = {asyncio.ensure_future(p.wait()): n for n, p in self.procs.items()}
        done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        task = done.pop()
        for other in waits:
            if other is not task:
                other.cancel()
        return waits[task], task.result()

    async def stop(self, grace: float | None = None) -> dict[str, int]:
        grace = self.settings.shutdown_grace_seconds + 5 if grace is None else grace
        for proc in self.procs.values():
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
        codes: dict[str, int] = {}
        for name, proc in self.procs.items():
            try:
                codes[name] = await asyncio.wait_for(proc.wait(), grace)
            except TimeoutError:
                proc.kill()
                codes[name] = await proc.wait()
        await asyncio.gather(*self._pumps, return_exceptions=True)
        return codes


def banner(settings: Settings, ready: dict[str, float], mailsink: bool,
           local: local_secrets.Applied | None = None) -> str:
    gateway = f"http://127.0.0.1:{settings.gateway_port}"
    lines = [
        "",
        "norgate is up "
        f"({', '.join(f'{k} {v}s' for k, v in ready.items())})",
        f"  gateway      {gateway}   (public URL {settings.public_url})",
        f"  API docs     {gateway}/docs",
        f"  console      {gateway}/console/",
        f"  OpenAPI      {gateway}/openapi.json",
    ]
    if mailsink:
        lines.append(f"  mail sink    http://127.0.0.1:{settings.mailsink_http_port}   "
                     f"(messages also in {settings.mail_dir}/)")
    # The generated password is printed: it is how the operator signs in the first
    # time. One the operator set is theirs to know, and stays off the terminal.
    if settings.bootstrap_super_password is None:
        shown = "(none: NORGATE_BOOTSTRAP_SUPER_PASSWORD is unset)"
    elif local is not None and "NORGATE_BOOTSTRAP_SUPER_PASSWORD" in local.filled:
        shown = (f"{settings.bootstrap_super_password.get_secret_value()}   "
                 f"(generated for this checkout, kept in {local.path})")
    else:
        shown = "(the NORGATE_BOOTSTRAP_SUPER_PASSWORD you set)"
    lines += [
        f"  SUPER login  {settings.bootstrap_super_email} / {shown}",
        "Ctrl-C stops everything.",
        "",
    ]
    return "\n".join(lines)


async def main() -> int:
    applied = local_secrets.apply(os.environ)
    load_settings()  # fail fast, naming the bad variable
    stack = Stack(dict(os.environ), echo=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    # SIGHUP too: a closed terminal must not leave the services running.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(sig, stop.set)
    mailsink = not os.environ.get("NORGATE_SMTP_URL")
    try:
        await stack.start()
        ready_task = asyncio.create_task(stack.wait_ready())
        stop_task = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait({ready_task, stop_task},
                                     return_when=asyncio.FIRST_COMPLETED)
        if stop_task in done:
            ready_task.cancel()
            return 0
        ready = ready_task.result()
        print(banner(stack.settings, ready, mailsink, applied), flush=True)
        exit_task = asyncio.create_task(stack.wait_any_exit())
        done, _ = await asyncio.wait({exit_task, stop_task},
                                     return_when=asyncio.FIRST_COMPLETED)
        if exit_task in done:
            name, code = exit_task.result()
            print(f"norgate: {name} exited with code {code}; stopping the stack",
                  file=sys.stderr, flush=True)
            return 1
        return 0
    except (RuntimeError, TimeoutError) as exc:
        print(f"norgate: {exc}; stopping the stack", file=sys.stderr, flush=True)
        return 1
    finally:
        codes = await stack.stop()
        print(f"norgate: stopped ({', '.join(f'{k}={v}' for k, v in codes.items())})",
              file=sys.stderr, flush=True)


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
