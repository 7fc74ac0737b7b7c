#!/usr/bin/env bash
# make compose-test (and make compose-chaos): docker-compose.yml for real.
#   compose-test.sh [--replicas] PYTEST_ARGS...
# A Docker engine (ensure-docker.sh: the running one, or one started here), the images
# (images.sh: the registry's, or stand-ins from a local Debian base), a fresh project
# `norgate-test` on free ports with its own secrets, `up --wait`, then pytest drives it
# through the published gateway (tests/compose, COMPOSE_TEST_STACK names the stack's
# description). Always `down -v` after, and the engine stopped if it was started here.
# --replicas adds deploy/compose/replicas.yml: two of every service, three RabbitMQ nodes.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
files=(-f docker-compose.yml -f deploy/compose/test.yml)
project=norgate-test
if [ "${1:-}" = --replicas ]; then
    shift
    files+=(-f deploy/compose/replicas.yml)
    project=norgate-replicas
fi
run=$root/var/compose-test
engine=$run/engine
mkdir -p "$run"
say() { echo "compose-test: $*" >&2; }

compose() { "$NORGATE_COMPOSE" -p "$project" "${files[@]}" "$@"; }

cleanup() {
    rc=$?
    if [ -n "${NORGATE_COMPOSE:-}" ] && [ -f "$run/$project.env" ]; then
        if [ $rc != 0 ]; then
            say "failed: the last lines of every container's log"
            compose logs --no-color --tail 30 >&2 || true
        fi
        say "down -v"
        compose down -v --remove-orphans --timeout 20 >/dev/null 2>&1 || true
    fi
    rm -rf "$run/$project" "$run/$project.env"
    bash deploy/scripts/ensure-docker.sh stop "$engine" || true
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

t0=$SECONDS
bash deploy/scripts/ensure-docker.sh start "$engine"
# shellcheck disable=SC1091
. "$engine/env"
bash deploy/compose/images.sh "$run/images.env"
# shellcheck disable=SC1091
. "$run/images.env"
say "engine and base images ready in $((SECONDS - t0)) s"

# This run's own secrets, mail directory and host ports: nothing shared with a dev stack.
rm -rf "${run:?}/$project"
mkdir -p "$run/$project/mail"
chown 10001:10001 "$run/$project/mail" 2>/dev/null || chmod 777 "$run/$project/mail"
# The gateway's two: consecutive, for replicas.yml's second gateway.
read -r gw_port gw_port_2 mail_port pg_port amqp_port ui_port < <(.venv/bin/python -c '
import socket
def bound(port=0):
    s = socket.socket()
    s.bind(("127.0.0.1", port))
    return s
while True:
    first = bound()
    try:
        pair = [first, bound(first.getsockname()[1] + 1)]
        break
    except OSError:
        first.close()
socks = pair + [bound() for _ in range(4)]
print(*(s.getsockname()[1] for s in socks))')
cat >"$run/$project.env" <<ENV
export NORGATE_COMPOSE_GATEWAY_PORT=$gw_port
export NORGATE_COMPOSE_GATEWAY_PORT_2=$gw_port_2
export NORGATE_COMPOSE_MAILSINK_PORT=$mail_port
export NORGATE_COMPOSE_PG_PORT=$pg_port
export NORGATE_COMPOSE_AMQP_PORT=$amqp_port
export NORGATE_COMPOSE_RABBITMQ_UI_PORT=$ui_port
export NORGATE_COMPOSE_ENV_DIR=$run/$project/env
export NORGATE_COMPOSE_MAIL_DIR=$run/$project/mail
ENV
# shellcheck disable=SC1090
. "$run/$project.env"
super_password=$(.venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(18))')
NORGATE_SECRET_KEY=$(.venv/bin/python -c 'import secrets; print(secrets.token_hex(32))') \
NORGATE_BOOTSTRAP_SUPER_PASSWORD=$super_password \
    .venv/bin/python -m deploy.service_secrets compose "$NORGATE_COMPOSE_ENV_DIR" >/dev/null

t1=$SECONDS
say "build"
compose build --quiet
say "up --wait (project $project)"
compose up -d --wait --wait-timeout 240 --quiet-pull
say "built and up in $((SECONDS - t1)) s"

# What the tests need to drive the stack, and to run compose against it (its variables:
# the tests' conftest clears NORGATE_* from their environment).
COMPOSE_FILES="${files[*]}" PROJECT=$project SUPER_PASSWORD=$super_password \
    .venv/bin/python - "$run/$project/stack.json" <<'PY'
import json, os, sys
env = {k: v for k, v in os.environ.items()
       if k.startswith("NORGATE_COMPOSE") or k == "DOCKER_HOST"}
json.dump({
    "project": os.environ["PROJECT"],
    "compose": [os.environ["NORGATE_COMPOSE"], "-p", os.environ["PROJECT"],
                *os.environ["COMPOSE_FILES"].split()],
    "env": env,
    "gateway": f"http://127.0.0.1:{env['NORGATE_COMPOSE_GATEWAY_PORT']}",
    "gateways": [f"http://127.0.0.1:{env[k]}" for k in
                 ("NORGATE_COMPOSE_GATEWAY_PORT", "NORGATE_COMPOSE_GATEWAY_PORT_2")],
    "postgres": f"postgresql://postgres:postgres@127.0.0.1:{env['NORGATE_COMPOSE_PG_PORT']}"
                "/norgate",
    "mailsink": f"http://127.0.0.1:{env['NORGATE_COMPOSE_MAILSINK_PORT']}",
    "mail_dir": env["NORGATE_COMPOSE_MAIL_DIR"],
    "rabbitmq_ui": f"http://127.0.0.1:{env['NORGATE_COMPOSE_RABBITMQ_UI_PORT']}",
    "super_password": os.environ["SUPER_PASSWORD"],
}, open(sys.argv[1], "w"), indent=1)
PY
COMPOSE_TEST_STACK=$run/$project/stack.json .venv/bin/python -m pytest -p no:cacheprovider "$@"
