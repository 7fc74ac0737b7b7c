#!/usr/bin/env bash
# Create the virtualenv with a Python >= 3.11, installing Debian's python3-venv
# when it is missing and we are root. Usage: ensure-python.sh [PYTHON] [VENV]
#
# Without PYTHON, the operating system's own /usr/bin/python3 is preferred when it is
# 3.11 or newer, then python3 on PATH. Distributions build their interpreter with
# profile-guided and link-time optimization; a default pyenv or source build has
# neither, and runs norgate's code about a quarter slower (docs/benchmarks.md, sixth
# pass). An existing virtualenv is kept as it is.
set -euo pipefail
python=${1:-}
venv=${2:-.venv}

supported() {
  command -v "$1" >/dev/null 2>&1 \
    && "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null
}
if [ -z "$python" ]; then
  for candidate in /usr/bin/python3 python3; do
    if supported "$candidate"; then
      python=$candidate
      break
    fi
  done
  python=${python:-python3}
fi

if ! command -v "$python" >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "norgate: installing python3 from the OS packages"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv >/dev/null
  else
    echo "norgate: $python not found; install Python 3.11 or newer (or set PYTHON=...)" >&2
    exit 1
  fi
fi
if ! supported "$python"; then
  echo "norgate: $python is $("$python" -V 2>&1); norgate needs Python 3.11 or newer" >&2
  exit 1
fi
if [ -x "$venv/bin/python" ]; then
  exit 0
fi
if ! "$python" -m venv "$venv" 2>/dev/null; then
  rm -rf "$venv"
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    ver=$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
    echo "norgate: installing python$ver-venv from the OS packages"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "python$ver-venv" >/dev/null \
      || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    "$python" -m venv "$venv"
  else
    echo "norgate: '$python -m venv' failed; install the venv module (Debian: python3-venv)" >&2
    exit 1
  fi
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
