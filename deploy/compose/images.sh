#!/usr/bin/env bash
# The base images compose-test runs on, written as NORGATE_COMPOSE_*_IMAGE lines to
# OUT_ENV (to source): the registry's (docker-compose.yml's defaults) when it answers,
# else stand-ins built here from a locally made Debian base, no registry needed:
#   debootstrap --variant=minbase bookworm (cached as var/cache/compose/debian-bookworm.tar)
#   -> docker import local/debian:bookworm -> deploy/compose/{python,postgres,rabbitmq}.
# Also copies the host's CA bundle into the build context for pip (egress through a
# TLS-inspecting proxy the host trusts). Needs DOCKER_HOST set (ensure-docker.sh).
#   images.sh OUT_ENV        NORGATE_COMPOSE_REGISTRY=0 skips the registry probe
set -euo pipefail
out=${1:?usage: images.sh OUT_ENV}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cache=$root/var/cache/compose
say() { echo "compose images: $*" >&2; }

mkdir -p "$here/build"
: >"$here/build/pip-ca.pem"
for bundle in /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt; do
    if [ -s "$bundle" ]; then cp "$bundle" "$here/build/pip-ca.pem"; break; fi
done
{
    if [ -s "$here/build/pip-ca.pem" ]; then
        echo "export NORGATE_COMPOSE_PIP_CA=deploy/compose/build/pip-ca.pem"
    fi
} >"$out"

if [ "${NORGATE_COMPOSE_REGISTRY:-1}" != 0 ] &&
        timeout 60 docker pull -q python:3.11-slim >/dev/null 2>&1 &&
        timeout 120 docker pull -q postgres:15 >/dev/null 2>&1 &&
        timeout 120 docker pull -q rabbitmq:3.12-management >/dev/null 2>&1; then
    say "the registry answers: docker-compose.yml's default images"
    exit 0
fi

if ! docker image inspect local/debian:bookworm >/dev/null 2>&1; then
    tarball=$cache/debian-bookworm.tar
    if [ ! -s "$tarball" ]; then
        command -v debootstrap >/dev/null || {
            say "installing debootstrap"
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
                debootstrap >/dev/null
        }
        # The mirror apt itself uses here (a deb822 or a one-line source).
        mirror=$( (grep -rhoE '^(URIs:|deb) +[^ ]+/debian/?$' /etc/apt/sources.list.d \
                   /etc/apt/sources.list 2>/dev/null || true) | head -1 | awk '{print $2}')
        mirror=${mirror:-http://deb.debian.org/debian}
        security=${mirror%/debian}/debian-security
        say "debootstrap bookworm from $mirror (cached in $tarball)"
        tmp=$(mktemp -d)
        trap 'rm -rf "$tmp"' EXIT
        debootstrap --variant=minbase bookworm "$tmp/root" "$mirror" >"$tmp/log" 2>&1 || {
            tail -20 "$tmp/log" >&2; exit 1; }
        cat >"$tmp/root/etc/apt/sources.list" <<SOURCES
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb $security bookworm-security main
SOURCES
        # Package scripts must not try to start services in a build.
        printf '#!/bin/sh\nexit 101\n' >"$tmp/root/usr/sbin/policy-rc.d"
        chmod +x "$tmp/root/usr/sbin/policy-rc.d"
        rm -rf "$tmp/root/var/cache/apt/archives/"*.deb "$tmp/root/var/lib/apt/lists/"*
        mkdir -p "$cache"
        tar -C "$tmp/root" -cf "$tarball.part" . && mv "$tarball.part" "$tarball"
        rm -rf "$tmp"
        trap - EXIT
    fi
    say "docker import local/debian:bookworm"
    docker import "$tarball" local/debian:bookworm >/dev/null
fi

mkdir -p "$cache"
for image in python postgres rabbitmq; do
    say "building local/norgate-$image (stand-in)"
    # Its output only on failure (the classic builder warns that it is deprecated).
    docker build -q -t "local/norgate-$image:bookworm" "$here/$image" \
        >"$cache/build-$image.log" 2>&1 || { tail -30 "$cache/build-$image.log" >&2; exit 1; }
done
cat >>"$out" <<ENV
export NORGATE_COMPOSE_PYTHON_IMAGE=local/norgate-python:bookworm
export NORGATE_COMPOSE_POSTGRES_IMAGE=local/norgate-postgres:bookworm
export NORGATE_COMPOSE_RABBITMQ_IMAGE=local/norgate-rabbitmq:bookworm
ENV
