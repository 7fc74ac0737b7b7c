#!/bin/sh
# RabbitMQ's own server script as the rabbitmq user: Debian's /usr/sbin/rabbitmq-server
# wrapper does not pass SIGTERM on (docker stop would wait and kill it).
set -eu
chown -R rabbitmq:rabbitmq /var/lib/rabbitmq
if [ -n "${RABBITMQ_ERLANG_COOKIE:-}" ]; then
    # A cluster's nodes share one cookie.
    printf '%s' "$RABBITMQ_ERLANG_COOKIE" >/var/lib/rabbitmq/.erlang.cookie
    chown rabbitmq:rabbitmq /var/lib/rabbitmq/.erlang.cookie
    chmod 400 /var/lib/rabbitmq/.erlang.cookie
fi
exec setpriv --reuid=rabbitmq --regid=rabbitmq --init-groups \
    env HOME=/var/lib/rabbitmq /usr/lib/rabbitmq/bin/rabbitmq-server
