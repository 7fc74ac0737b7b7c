#!/usr/bin/env bash
# ensure-chromium.sh - make Debian's Chromium and ChromeDriver available for the browser tests
# (tests/browser, run by `make test`). The tests launch /usr/bin/chromium through Playwright's
# executable_path; no test tool ever downloads a browser of its own.
#
#   a) /usr/bin/chromium (or $NORGATE_CHROMIUM) already runs     -> nothing to do (fast)
#   b) root and apt-get exist                                    -> apt-get install chromium chromium-driver
#   c) not root, password-less sudo and apt-get exist            -> the same through sudo -n
#   d) otherwise exit 1, saying what is missing and how to provide it
# Non-interactive (no prompts, stdin unused), quiet, idempotent.
#
# Environment:
#   NORGATE_CHROMIUM      the browser binary the tests use (default /usr/bin/chromium)
#   NORGATE_BROWSER_TESTS=0  skip this step entirely (the browser tests then skip themselves)
set -euo pipefail
exec </dev/null

CHROMIUM="${NORGATE_CHROMIUM:-/usr/bin/chromium}"

say() { printf 'ensure-chromium: %s\n' "$*"; }
err() { printf 'ensure-chromium: %s\n' "$*" >&2; }
have() { command -v "$1" >/dev/null 2>&1; }

if [ "${NORGATE_BROWSER_TESTS:-1}" = 0 ]; then
    say "NORGATE_BROWSER_TESTS=0: not checking for Chromium"
    exit 0
fi

works() { [ -x "$CHROMIUM" ] && "$CHROMIUM" --version >/dev/null 2>&1; }

if works; then
    exit 0
fi

if [ "$CHROMIUM" != /usr/bin/chromium ]; then
    err "NORGATE_CHROMIUM=$CHROMIUM is not an executable browser; fix the path or unset it."
    exit 1
fi

if ! have apt-get; then
    err "Chromium is missing ($CHROMIUM) and apt-get is not available to install it."
    err "  Fix: install Chromium and ChromeDriver with your OS package manager so that"
    err "  /usr/bin/chromium exists, or set NORGATE_CHROMIUM to a Chromium binary."
    exit 1
fi

if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif have sudo && sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
else
    err "Chromium is missing ($CHROMIUM); installing it needs root, and password-less sudo is not available."
    err "  Fix: run as root: apt-get install chromium chromium-driver"
    exit 1
fi

say "Chromium not found; installing Debian's chromium and chromium-driver (apt-get)"
export DEBIAN_FRONTEND=noninteractive
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
if ! "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 update -qq >"$log" 2>&1 \
    || ! "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq \
        --no-install-recommends chromium chromium-driver >>"$log" 2>&1; then
    tail -n 20 "$log" >&2
    err "apt-get could not install chromium and chromium-driver (see above)."
    err "  Fix: make Debian's package archive reachable, or install them by hand."
    exit 1
fi

if ! works; then
    err "chromium was installed but $CHROMIUM --version does not run."
    exit 1
fi
say "installed $("$CHROMIUM" --version 2>/dev/null | head -1)"
