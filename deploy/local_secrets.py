"""`make run`'s own secrets: generated once per checkout, kept in var/secrets.env.

A stack started with `make run` needs a master key (NORGATE_SECRET_KEY) and the first
SUPER user's password (NORGATE_BOOTSTRAP_SUPER_PASSWORD). Settings have no built-in
value for either, since a value in the source is a value everyone has. For each of the
two the environment does not set, `make run` uses this checkout's generated one: made
on first use (mode 0600), then reused, so the database it provisioned keeps working
across runs. `make clean` keeps the file for that reason. Values the operator sets
win and are never written down.

NORGATE_LOCAL_SECRETS_FILE moves the file (tests use a temporary one).
"""

from __future__ import annotations

import os
import secrets
import stat
import sys
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path

FILE_VARIABLE = "NORGATE_LOCAL_SECRETS_FILE"
DEFAULT_FILE = Path("var") / "secrets.env"
GENERATED: dict[str, Callable[[], str]] = {
    "NORGATE_SECRET_KEY": lambda: secrets.token_hex(32),
    # 24 characters of [A-Za-z0-9_-]: typed once, at the first sign-in.
    "NORGATE_BOOTSTRAP_SUPER_PASSWORD": lambda: secrets.token_urlsafe(18),
}
HEADER = ("# norgate: this checkout's generated secrets (deploy/local_secrets.py). `make run`\n"
          "# uses each one the environment does not set. Keep it with the database it keys.\n")


@dataclass(frozen=True)
class Applied:
    path: Path
    filled: frozenset[str] = field(default_factory=frozenset)  # names taken from the file
    created: bool = False  # the file was written just now


def path_of(environ: MutableMapping[str, str]) -> Path:
    return Path(environ.get(FILE_VARIABLE) or DEFAULT_FILE)


def parse(text: str) -> dict[str, str]:
    values = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        name, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[name.strip()] = value
    return values


def _write_new(path: Path, values: dict[str, str], *, replace: bool) -> bool:
    """Write `values` to `path` (0600) in one step; False when another process created
    the file first (and `replace` is off)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(HEADER + "".join(f"{k}={v}\n" for k, v in values.items()))
        if replace:
            os.replace(tmp, path)
            return True
        try:
            os.link(tmp, path)  # fails if it exists: two first runs at once agree
        except FileExistsError:
            return False
        return True
    finally:
        tmp.unlink(missing_ok=True)


def load_or_create(path: Path) -> tuple[dict[str, str], bool]:
    """This checkout's values, generating the file (or a name missing from it)."""
    created = False
    if not path.exists():
        created = _write_new(path, {n: make() for n, make in GENERATED.items()},
                             replace=False)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        path.chmod(0o600)  # readable by others: a secret no longer
        print(f"norgate: {path} was mode {mode:o}; set to 600", file=sys.stderr)
    values = parse(path.read_text())
    missing = [n for n in GENERATED if not values.get(n)]
    if missing:
        values.update({n: GENERATED[n]() for n in missing})
        _write_new(path, values, replace=True)
    return values, created


def apply(environ: MutableMapping[str, str]) -> Applied:
    """Set each of GENERATED the environment lacks from this checkout's file."""
    path = path_of(environ)
    unset = [n for n in GENERATED if not environ.get(n)]
    if not unset:  # the operator set both: read nothing, write nothing
        return Applied(path)
    values, created = load_or_create(path)
    for name in unset:
        environ[name] = values[name]
    if created:
        print(f"norgate: generated {path}: this checkout's secret key and SUPER password "
              "(reused by every make run; make clean keeps it)", file=sys.stderr)
    return Applied(path, frozenset(unset), created)
