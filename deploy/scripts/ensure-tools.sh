#!/usr/bin/env bash
# ensure-tools.sh COMMAND:DEBIAN_PACKAGE ... - make sure each command exists, installing
# its Debian package with apt-get when it is missing and we are root (or have
# password-less sudo). Used by `make test` for the tools the tests call (pdftotext).
# Non-interactive and quiet; exits 1 naming what is missing when it cannot install.
set -euo pipefail
exec </dev/null
missing=()
for spec in "$@"; do
    command -v "${spec%%:*}" >/dev/null 2>&1 || missing+=("${spec#*:}")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-tools: missing ${missing[*]} and no apt-get to install them" >&2
    exit 1
fi
if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
else
    echo "ensure-tools: missing ${missing[*]}; install them (apt-get install ${missing[*]})" >&2
    exit 1
fi
echo "ensure-tools: installing ${missing[*]} from the OS packages"
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 || {
    "${as_root[@]}" apt-get update -qq >/dev/null
    "${as_root[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
}
