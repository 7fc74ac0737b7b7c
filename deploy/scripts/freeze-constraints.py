"""Write constraints.txt from the environment the suite passed in.

    .venv/bin/python deploy/scripts/freeze-constraints.py > constraints.txt

Lists every distribution norgate[dev] and the Python SDK need, directly or through
another, at the version installed here: the closure of their requirements, not
`pip freeze` (which would also pin whatever else someone installed into the venv).
`make` installs with `-c constraints.txt`, so a fresh clone gets what was tested;
pyproject.toml keeps the floors (the oldest versions we accept, none with a known
advisory).
"""

from __future__ import annotations

import sys
from importlib import metadata

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOTS = (("norgate", ("dev",)), ("norchain", ()))
# Our own packages, installed editable from this checkout.
OWN = {"norgate", "norchain"}


def closure() -> dict[str, str]:
    """{distribution name: installed version} for everything ROOTS require."""
    found: dict[str, str] = {}
    todo: list[tuple[str, tuple[str, ...]]] = list(ROOTS)
    seen: set[tuple[str, tuple[str, ...]]] = set()
    while todo:
        name, extras = todo.pop()
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        dist = metadata.distribution(name)
        key = canonicalize_name(dist.metadata["Name"])
        if key not in OWN:
            found[key] = dist.version
        for line in dist.requires or ():
            req = Requirement(line)
            wanted = [{"extra": ""}] + [{"extra": e} for e in extras]
            if req.marker is not None and not any(req.marker.evaluate(w) for w in wanted):
                continue
            todo.append((req.name, tuple(sorted(req.extras))))
    return found


def main() -> None:
    pins = closure()
    out = sys.stdout
    out.write("# Versions the test suite passed with (deploy/scripts/freeze-constraints.py).\n"
              "# make and deploy/Dockerfile install with -c constraints.txt; raise a floor in\n"
              "# pyproject.toml, upgrade, run the tests, then regenerate this file.\n")
    for name in sorted(pins):
        out.write(f"{name}=={pins[name]}\n")


if __name__ == "__main__":
    main()
