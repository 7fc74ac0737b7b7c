#!/usr/bin/env bash
# ensure-infra.sh - make PostgreSQL and RabbitMQ reachable for `make run` / `make test`.
#
# For each server (PostgreSQL from NORGATE_DATABASE_URL, RabbitMQ from NORGATE_AMQP_URL)
# the first path that applies is taken, and one line says which:
#   a) it already answers (pg_isready / TCP connect)            -> use it
#   b) the host is local and the server is installed            -> start it
#   c) the host is local, we are root and apt-get exists        -> install it, then start it
#      (a PostgreSQL installed here gets `trust` for 127.0.0.1/::1 in pg_hba.conf so the
#       passwordless default DSN works; clusters this script did not install are untouched)
#   d) the host is local and `docker info` works                -> docker compose up -d <svc>
#   e) otherwise exit 1, saying what is missing and how to provide it
# Only 127.0.0.1, localhost and ::1 count as local; a remote server is never installed.
# Non-interactive (no prompts, stdin unused) and idempotent: a fast no-op when both answer.
#
# Environment:
#   NORGATE_DATABASE_URL        default postgresql://postgres@127.0.0.1:5432/norgate
#   NORGATE_AMQP_URL            default amqp://guest:guest@127.0.0.1:5672/
#   NORGATE_INFRA_WAIT_SECONDS  readiness deadline for both servers (default: 60 s for
#                               PostgreSQL, 90 s for RabbitMQ); tests use small values
#   NORGATE_INFRA_AUTOSTART=0   only check; never start, install or use docker (paths b-d)
#   NORGATE_INFRA_DRY_RUN=1     print what would be run instead of running it; no waiting
set -euo pipefail
exec </dev/null

DB_URL="${NORGATE_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/norgate}"
AMQP_URL="${NORGATE_AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/}"
PG_WAIT="${NORGATE_INFRA_WAIT_SECONDS:-60}"
MQ_WAIT="${NORGATE_INFRA_WAIT_SECONDS:-90}"
AUTOSTART="${NORGATE_INFRA_AUTOSTART:-1}"
DRY_RUN="${NORGATE_INFRA_DRY_RUN:-0}"
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
APT_UPDATED=0
FAILED=0

say() { printf 'ensure-infra: %s\n' "$*"; }
err() { printf 'ensure-infra: %s\n' "$*" >&2; }
have() { command -v "$1" >/dev/null 2>&1; }
is_root() { [ "$(id -u)" -eq 0 ]; }
is_local() { case "$1" in 127.0.0.1 | localhost | ::1) return 0 ;; *) return 1 ;; esac; }

# run CMD...: execute, or only print it in dry-run mode.
run() {
    if [ "$DRY_RUN" = 1 ]; then
        say "  would run: $*"
    else
        "$@"
    fi
}

# parse_url URL DEFAULT_PORT -> sets HOST and PORT (handles user:pass@ and [v6]).
parse_url() {
    local rest="${1#*://}"
    rest="${rest%%/*}"
    rest="${rest%%\?*}"
    rest="${rest##*@}"
    if [[ "$rest" == \[* ]]; then
        HOST="${rest#\[}"
        HOST="${HOST%%\]*}"
        local after="${rest#*\]}"
        PORT="${after#:}"
    elif [[ "$rest" == *:* ]]; then
        HOST="${rest%%:*}"
        PORT="${rest##*:}"
    else
        HOST="$rest"
        PORT=""
    fi
    HOST="${HOST:-127.0.0.1}"
    PORT="${PORT:-$2}"
}

url_has_password() {
    local rest="${1#*://}"
    rest="${rest%%/*}"
    [[ "$rest" == *@* ]] || return 1
    [[ "${rest%@*}" == *:* ]]
}

# tcp_open HOST PORT: a TCP connect succeeds (bash /dev/tcp; bounded by `timeout` when present).
tcp_open() {
    # shellcheck disable=SC2016  # $0/$1 expand in the child shell, on purpose
    local probe=(bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2")
    if have timeout; then probe=(timeout 2 "${probe[@]}"); fi
    "${probe[@]}" >/dev/null 2>&1
}

# as_admin CMD...: run CMD as root (directly, or through password-less sudo when available).
as_admin() {
    if ! is_root && have sudo && sudo -n true 2>/dev/null; then
        run sudo -n "$@"
    else
        run "$@"
    fi
}

pg_up() {
    if have pg_isready; then
        pg_isready -q -h "$1" -p "$2" -t 2 >/dev/null 2>&1
    else
        tcp_open "$1" "$2"
    fi
}

# shellcheck disable=SC2329  # called through wait_for
mq_ready() {
    tcp_open "$1" "$2" || return 1
    if [ "${MQ_DIAGNOSTICS:-0}" = 1 ] && have rabbitmq-diagnostics; then
        timeout 20 rabbitmq-diagnostics -q check_port_connectivity >/dev/null 2>&1
    fi
}

# wait_for SECONDS CHECK ARGS...: poll CHECK once a second until it succeeds or time is up.
wait_for() {
    local seconds="$1"
    shift
    [ "$DRY_RUN" = 1 ] && return 0
    local deadline=$((SECONDS + seconds))
    until "$@"; do
        [ "$SECONDS" -ge "$deadline" ] && return 1
        sleep 1
    done
}

apt_install() {
    export DEBIAN_FRONTEND=noninteractive
    if [ "$APT_UPDATED" = 0 ]; then
        run apt-get update -qq
        APT_UPDATED=1
    fi
    run apt-get install -y -qq "$@"
}

docker_ok() { have docker && docker info >/dev/null 2>&1 && docker compose version >/dev/null 2>&1; }

# shellcheck disable=SC2012  # cluster versions are plain numbers (15, 16, ...)
pg_version() { ls /etc/postgresql 2>/dev/null | sort -V | tail -1; }
pg_installed() { have pg_ctlcluster && [ -n "$(pg_version)" ]; }

pg_start_cluster() {
    local v
    v="$(pg_version)"
    [ -n "$v" ] || v="<version>"
    if [ "$DRY_RUN" != 1 ] && pg_ctlcluster "$v" main status >/dev/null 2>&1; then
        return 0
    fi
    as_admin pg_ctlcluster --skip-systemctl-redirect "$v" main start || true
}

# Only for a cluster this script has just installed: allow passwordless local TCP logins.
pg_trust_local() {
    local v hba marker="# added by norgate ensure-infra.sh (cluster installed for development)"
    v="$(pg_version)"
    hba="/etc/postgresql/${v:-<version>}/main/pg_hba.conf"
    say "postgres: adding 'host all all 127.0.0.1/32 trust' and '::1/128 trust' to $hba"
    [ "$DRY_RUN" = 1 ] && return 0
    if ! grep -qF "$marker" "$hba"; then
        local tmp
        tmp="$(mktemp)"
        printf '%s\nhost all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\n' "$marker" >"$tmp"
        cat "$hba" >>"$tmp"
        cat "$tmp" >"$hba"
        rm -f "$tmp"
    fi
    if pg_ctlcluster "$v" main status >/dev/null 2>&1; then
        pg_ctlcluster --skip-systemctl-redirect "$v" main reload
    fi
}

fail_pg() {
    err "postgres: MISSING - no PostgreSQL answers at $HOST:$PORT (NORGATE_DATABASE_URL) and $1."
    err "  Fix: set NORGATE_DATABASE_URL to a reachable server" \
        "(postgresql://USER:PASS@HOST:PORT/norgate), or install PostgreSQL" \
        "(apt-get install postgresql), or start Docker and run: docker compose up -d postgres"
    FAILED=1
}

fail_mq() {
    err "rabbitmq: MISSING - no RabbitMQ answers at $HOST:$PORT (NORGATE_AMQP_URL) and $1."
    err "  Fix: set NORGATE_AMQP_URL to a reachable server (amqp://USER:PASS@HOST:PORT/)," \
        "or install RabbitMQ (apt-get install rabbitmq-server), or start Docker and run:" \
        "docker compose up -d rabbitmq"
    FAILED=1
}

pg_wait_or_fail() {
    if wait_for "$PG_WAIT" pg_up "$HOST" "$PORT"; then
        [ "$DRY_RUN" = 1 ] || say "postgres: ready at $HOST:$PORT"
    else
        fail_pg "it did not become ready within ${PG_WAIT}s after: $1"
    fi
}

ensure_postgres() {
    parse_url "$DB_URL" 5432
    if pg_up "$HOST" "$PORT"; then
        say "postgres: using running server at $HOST:$PORT"
    elif tcp_open "$HOST" "$PORT"; then
        say "postgres: server at $HOST:$PORT is starting up; waiting"
        pg_wait_or_fail "waiting for the starting server"
    elif ! is_local "$HOST"; then
        fail_pg "the host is not local, so nothing can be started or installed for it"
    elif [ "$AUTOSTART" = 0 ]; then
        fail_pg "NORGATE_INFRA_AUTOSTART=0 forbids starting or installing one"
    elif pg_installed; then
        say "postgres: starting installed PostgreSQL $(pg_version) (pg_ctlcluster)"
        pg_start_cluster
        pg_wait_or_fail "pg_ctlcluster start (is the cluster configured for port $PORT?)"
    elif is_root && have apt-get; then
        say "postgres: not installed; installing from OS packages (apt-get install postgresql)"
        apt_install postgresql
        pg_trust_local
        pg_start_cluster
        pg_wait_or_fail "installing and starting PostgreSQL"
    elif docker_ok; then
        local auth=scram-sha-256
        url_has_password "$DB_URL" || auth=trust
        say "postgres: starting the docker compose 'postgres' service (host auth: $auth)"
        (cd "$REPO_ROOT" && export NORGATE_COMPOSE_PG_AUTH="$auth" && run docker compose up -d postgres)
        pg_wait_or_fail "docker compose up -d postgres"
    else
        fail_pg "it is not installed here, and neither apt-get as root nor a Docker engine is available to provide one"
    fi
}

ensure_rabbitmq() {
    parse_url "$AMQP_URL" 5672
    MQ_DIAGNOSTICS=0
    if tcp_open "$HOST" "$PORT"; then
        say "rabbitmq: using running server at $HOST:$PORT"
        return 0
    elif ! is_local "$HOST"; then
        fail_mq "the host is not local, so nothing can be started or installed for it"
        return 0
    elif [ "$AUTOSTART" = 0 ]; then
        fail_mq "NORGATE_INFRA_AUTOSTART=0 forbids starting or installing one"
        return 0
    elif have rabbitmq-server; then
        say "rabbitmq: starting installed RabbitMQ (rabbitmq-server -detached)"
        as_admin rabbitmq-server -detached || true
        MQ_DIAGNOSTICS=1
    elif is_root && have apt-get; then
        say "rabbitmq: not installed; installing from OS packages (apt-get install rabbitmq-server)"
        apt_install rabbitmq-server
        # The package may have started the broker already.
        if [ "$DRY_RUN" = 1 ] || ! tcp_open "$HOST" "$PORT"; then
            run rabbitmq-server -detached || true
        fi
        MQ_DIAGNOSTICS=1
    elif docker_ok; then
        say "rabbitmq: starting the docker compose 'rabbitmq' service"
        (cd "$REPO_ROOT" && run docker compose up -d rabbitmq)
    else
        fail_mq "it is not installed here, and neither apt-get as root nor a Docker engine is available to provide one"
        return 0
    fi
    if wait_for "$MQ_WAIT" mq_ready "$HOST" "$PORT"; then
        [ "$DRY_RUN" = 1 ] || say "rabbitmq: ready at $HOST:$PORT"
    else
        fail_mq "it did not become ready within ${MQ_WAIT}s after being started"
    fi
}

ensure_postgres
ensure_rabbitmq
exit "$FAILED"
