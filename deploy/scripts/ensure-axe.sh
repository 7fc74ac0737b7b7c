#!/usr/bin/env bash
# ensure-axe.sh - install axe-core (pinned in tests/browser/axe/package-lock.json) for the
# browser tests' `axe` fixture (tests/browser/conftest.py), which injects its axe.min.js.
#
#   a) node_modules/axe-core at the locked version already there -> nothing to do (fast)
#   b) npm exists                                                  -> npm ci in tests/browser/axe
#   c) npm missing, root (or password-less sudo) and apt-get       -> apt-get install nodejs npm, then b)
#   d) otherwise exit 1, saying what is missing and how to provide it
# Non-interactive (no prompts, stdin unused), quiet, idempotent.
#
# Environment:
#   NORGATE_BROWSER_TESTS=0  skip this step entirely (the browser tests then skip themselves)
set -euo pipefail
exec </dev/null

DIR="$(cd "$(dirname "$0")/../../tests/browser/axe" && pwd)"

say() { printf 'ensure-axe: %s\n' "$*"; }
err() { printf 'ensure-axe: %s\n' "$*" >&2; }
have() { command -v "$1" >/dev/null 2>&1; }

if [ "${NORGATE_BROWSER_TESTS:-1}" = 0 ]; then
    say "NORGATE_BROWSER_TESTS=0: not installing axe-core"
    exit 0
fi

# The version package-lock.json pins and the one installed, read without node (it may be
# missing yet): the lock's "node_modules/axe-core" entry and the installed package.json.
locked() {
    sed -n '/"node_modules\/axe-core"/,/}/s/.*"version": *"\([^"]*\)".*/\1/p' \
        "$DIR/package-lock.json" | head -1
}
installed() {
    [ -f "$DIR/node_modules/axe-core/axe.min.js" ] || return 0
    sed -n 's/^  "version": *"\([^"]*\)".*/\1/p' "$DIR/node_modules/axe-core/package.json" | head -1
}

want="$(locked)"
if [ -n "$want" ] && [ "$(installed)" = "$want" ]; then
    exit 0
fi

if ! have npm; then
    if ! have apt-get; then
        err "npm is missing and apt-get is not available to install it."
        err "  Fix: install Node.js and npm, then run: (cd tests/browser/axe && npm ci)"
        exit 1
    fi
    if [ "$(id -u)" -eq 0 ]; then
        as_root=()
    elif have sudo && sudo -n true 2>/dev/null; then
        as_root=(sudo -n)
    else
        err "npm is missing; installing it needs root, and password-less sudo is not available."
        err "  Fix: run as root: apt-get install nodejs npm"
        exit 1
    fi
    say "npm not found; installing Debian's nodejs and npm (apt-get)"
    log="$(mktemp)"
    trap 'rm -f "$log"' EXIT
    if ! "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 update -qq >"$log" 2>&1 \
        || ! "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq \
            --no-install-recommends nodejs npm >>"$log" 2>&1; then
        tail -n 20 "$log" >&2
        err "apt-get could not install nodejs and npm (see above)."
        exit 1
    fi
fi

say "installing axe-core $want (npm ci in tests/browser/axe)"
if ! (cd "$DIR" && npm ci --no-audit --no-fund --loglevel=error >/dev/null); then
    err "npm ci failed in $DIR (is the npm registry reachable?)"
    exit 1
fi
if [ "$(installed)" != "$want" ]; then
    err "npm ci ran but node_modules/axe-core is not $want"
    exit 1
fi
