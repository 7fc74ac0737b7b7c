"""One app factory for every service.

`create_app(settings, spec)` wires, as cleanup contexts and in this order: the
database pool (migrations applied first), the broker connection, the outbox
relay and the consumers. Nothing connects at import time. `run_service`
serves it with uvloop and stops cleanly on SIGTERM: aiohttp stops accepting,
waits for in-flight requests, then the cleanup contexts drain consumers and
close the relay, the channel and the pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
from aio_pika.abc import AbstractConnection
from aiohttp import web
from aiohttp.typedefs import Middleware

from shared import metrics
from shared.db import apply_migrations, create_pool, discover
from shared.events import Consumer, Event, Handler, OutboxRelay, Topology, catalog
from shared.events.broker import Broker
from shared.http import envelopes
from shared.http.answers import answer_checker
from shared.http.middleware import SERVICE_NAME, SETTINGS, context_middleware, principal_middleware
from shared.http.openapi import RouteDoc, build_spec
from shared.logging import configure_logging, get_logger
from shared.secrets import MissingSecret
from shared.settings import Settings, load_settings

log = get_logger(__name__)

POOL = web.AppKey("pool", asyncpg.Pool)
BROKER = web.AppKey("broker", Broker)
RELAY = web.AppKey("relay", OutboxRelay)
TOPOLOGY = web.AppKey("topology", Topology)
CONSUMERS: web.AppKey[list[Consumer]] = web.AppKey("consumers", list)


@dataclass
class ConsumerSpec:
    purpose: str
    handlers: dict[str, Handler]
    # False when a handler acts outside the database (see shared/events/consumer.py).
    batch: bool = True
    # Which events the handlers act on at all; the others are acked untouched.
    wants: Callable[[Event], bool] | None = None


@dataclass
class ServiceSpec:
    """What a service plugs into the factory."""

    name: str
    setup_routes: Callable[[web.Application], None] = lambda app: None
    migrations: Path | None = None  # the service's migrations/ folder
    consumers: list[ConsumerSpec] = field(default_factory=list)
    docs: list[RouteDoc] = field(default_factory=list)
    on_ready: list[Callable[[web.Application], Awaitable[None]]] = field(default_factory=list)
    uses_database: bool = True
    uses_broker: bool = True
    # The gateway serves a merged document instead of its own.
    openapi: Callable[[web.Request], Awaitable[web.StreamResponse]] | None = None
    cleanup_ctx: list[Callable[[web.Application], AsyncIterator[None]]] = field(
        default_factory=list)
    # Who the caller is. Services trust only the gateway's signed principal;
    # the gateway replaces this with its own authentication of public requests.
    identity_middleware: Middleware = principal_middleware
    # Plan every statement for its arguments (shared.db.create_pool).
    custom_plans: bool = False
    # More of /readyz: each answers {check: "up" | anything else}; ready when all are up.
    readiness: list[Callable[[web.Application], Awaitable[dict[str, str]]]] = field(
        default_factory=list)


SPEC = web.AppKey("spec", ServiceSpec)


async def healthz(request: web.Request) -> web.Response:
    return envelopes.json_response({"status": "ok", "service": request.app[SERVICE_NAME]})


async def readyz(request: web.Request) -> web.Response:
    app = request.app
    spec: ServiceSpec = app[SPEC]
    checks: dict[str, str] = {}
    if spec.uses_database:
        checks["database"] = await _check_database(app)
    if spec.uses_broker:
        broker = app.get(BROKER)
        checks["broker"] = "up" if broker is not None and broker.is_up else "down"
        relay = app.get(RELAY)
        if relay is not None and not relay.is_running:
            checks["outbox_relay"] = "down"
        consumers = app.get(CONSUMERS, [])
        if consumers:
            checks["consumers"] = "up" if all(c.is_consuming for c in consumers) else "down"
    for more in spec.readiness:
        checks.update(await more(app))
    waiting = [name for name, state in checks.items() if state != "up"]
    body: dict[str, object] = {"status": "not_ready" if waiting else "ready",
                  "service": app[SERVICE_NAME], "checks": checks}
    if waiting:
        body["waitingFor"] = waiting
    return envelopes.json_response(body, status=503 if waiting else 200)


async def _check_database(app: web.Application) -> str:
    pool = app.get(POOL)
    if pool is None:
        return "down"
    try:
        async with asyncio.timeout(2):
            async with pool.acquire() as conn:
                await conn.fetchval("SELECT 1")
        return "up"
    except Exception:
        return "down"


HSTS = "max-age=31536000; includeSubDomains"
# What an answer that sets no policy of its own gets: it is not a page (nothing loads
# in it, nothing frames it). Pages (checkout, /docs, the console) set their own.
DEFAULT_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"


def add_security_headers(app: web.Application, settings: Settings) -> None:
    """On every answer of `app`: `X-Content-Type-Options: nosniff`; unless the handler
    set its own, `Cache-Control: no-store` (tokens, keys and secrets travel in API
    answers: what may be cached says so) and DEFAULT_CSP; HSTS when the public URL is
    https. Defaults only fill gaps, so the gateway keeps what a service sent."""
    defaults = [("Cache-Control", "no-store"), ("Content-Security-Policy", DEFAULT_CSP)]
    if urlsplit(settings.public_url).scheme == "https":
        defaults.append(("Strict-Transport-Security", HSTS))

    async def on_prepare(_request: web.Request, response: web.StreamResponse) -> None:
        headers = response.headers
        headers["X-Content-Type-Options"] = "nosniff"
        for name, value in defaults:
            if name not in headers:
                headers[name] = value

    app.on_response_prepare.append(on_prepare)


async def metrics_handler(_request: web.Request) -> web.Response:
    body, content_type = metrics.render()
    return web.Response(body=body, headers={"Content-Type": content_type})


async def openapi_handler(request: web.Request) -> web.Response:
    spec: ServiceSpec = request.app[SPEC]
    return envelopes.json_response(build_spec(f"norgate {spec.name}", spec.docs))


async def _database_ctx(app: web.Application) -> AsyncIterator[None]:
    settings: Settings = app[SETTINGS]
    spec: ServiceSpec = app[SPEC]
    dsn = settings.dsn_of(spec.name)
    conn = await asyncpg.connect(dsn)
    try:
        await apply_migrations(conn, spec.name, discover(spec.migrations or Path("/nonexistent")))
    finally:
        await conn.close()
    pool = await create_pool(dsn, schema=spec.name, application_name=f"norgate-{spec.name}",
                             min_size=settings.db_pool_min, max_size=settings.db_pool_max,
                             custom_plans=spec.custom_plans)
    app[POOL] = pool
    try:
        yield
    finally:
        await pool.close()


async def _events_ctx(app: web.Application) -> AsyncIterator[None]:
    settings: Settings = app[SETTINGS]
    spec: ServiceSpec = app[SPEC]
    topology = Topology(settings.events_namespace)
    broker = Broker(settings.amqp_url, name=f"norgate-{spec.name}")
    app[TOPOLOGY] = topology
    app[BROKER] = broker
    await broker.start()

    async def declare_catalog(connection: AbstractConnection) -> None:
        channel = await connection.channel()
        try:
            for (service, purpose), keys in catalog.QUEUES.items():
                await topology.declare_consumer_queue(channel, service, purpose, list(keys))
        finally:
            await channel.close()

    broker.on_connect(declare_catalog)
    relay = None
    relay_pool = None
    consumers: list[Consumer] = []
    if spec.uses_database:
        # The relay gets a connection of its own: from the request pool it would wait
        # behind every request in line, and under load the outbox would fill up.
        relay_pool = await create_pool(
            settings.dsn_of(spec.name), schema=spec.name, min_size=1, max_size=1,
            application_name=f"norgate-{spec.name}-relay")
        relay = OutboxRelay(relay_pool, broker, topology, service=spec.name,
                            batch_size=settings.relay_batch_size,
                            poll_seconds=settings.relay_poll_seconds,
                            linger_seconds=settings.relay_linger_seconds)
        app[RELAY] = relay
        await relay.start()
        for c in spec.consumers:
            if tuple(sorted(c.handlers)) != tuple(sorted(
                    catalog.QUEUES.get((spec.name, c.purpose), ()))):
                raise RuntimeError(
                    f"consumer {spec.name}.{c.purpose} handles {sorted(c.handlers)}; "
                    "shared/events/catalog.py must list exactly those event types")
            consumer = Consumer(
                pool=app[POOL], broker=broker, topology=topology, service=spec.name,
                purpose=c.purpose, handlers=c.handlers, relay=relay,
                # One-by-one, each message in flight holds a pooled connection for its
                # transaction: leave some for requests and /readyz. A batch holds one.
                prefetch=settings.consumer_prefetch if c.batch else max(
                    1, min(settings.consumer_prefetch, settings.db_pool_max - 2)),
                max_attempts=settings.consumer_max_attempts,
                retry_delays=settings.consumer_retry_delays, batch=c.batch,
                linger=settings.consumer_linger_seconds, wants=c.wants)
            await consumer.start()
            consumers.append(consumer)
    app[CONSUMERS] = consumers
    try:
        yield
    finally:
        # Let handlers that are mid-transaction finish, then flush the outbox once.
        for consumer in consumers:
            await consumer.drain(settings.shutdown_grace_seconds)
        if relay is not None:
            await relay.stop()
            if broker.is_up:
                try:
                    async with asyncio.timeout(settings.shutdown_grace_seconds):
                        await relay.publish_batch()
                except Exception as exc:
                    log.warning("outbox_final_flush_failed", error=str(exc))
        await broker.stop()
        if relay_pool is not None:
            await relay_pool.close()


async def _ready_hooks_ctx(app: web.Application) -> AsyncIterator[None]:
    for hook in app[SPEC].on_ready:
        await hook(app)
    yield


def create_app(settings: Settings, spec: ServiceSpec) -> web.Application:
    checks = [answer_checker(spec.docs)] if settings.check_answers else []
    app = web.Application(middlewares=[context_middleware, spec.identity_middleware, *checks],
                          client_max_size=settings.max_body_bytes)
    app[SETTINGS] = settings
    app[SERVICE_NAME] = spec.name
    app[SPEC] = spec
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_handler)
    app.router.add_get("/openapi.json", spec.openapi or openapi_handler)
    spec.setup_routes(app)
    # After the service's routes: a signal they add sees the answer first.
    add_security_headers(app, settings)
    if spec.uses_database:
        app.cleanup_ctx.append(_database_ctx)
    if spec.uses_broker:
        app.cleanup_ctx.append(_events_ctx)
    app.cleanup_ctx.extend(spec.cleanup_ctx)
    app.cleanup_ctx.append(_ready_hooks_ctx)
    return app


def run_service(spec_factory: Callable[[Settings], ServiceSpec]) -> None:
    """Entry point of `python -m services.<name>`."""
    try:
        _run_service(spec_factory)
    except MissingSecret as exc:  # a secret this process was not given: say which
        print(str(exc), file=sys.stderr, flush=True)
        raise SystemExit(2) from None


def _run_service(spec_factory: Callable[[Settings], ServiceSpec]) -> None:
    settings = load_settings()
    spec = spec_factory(settings)
    configure_logging(spec.name, settings.log_level)
    try:
        import uvloop
        uvloop.install()
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        pass
    # Several workers: /metrics sums them all, whichever one answers.
    samples = metrics.use_multiprocess() if settings.workers > 1 else None
    children = _fork_workers(settings.workers)
    app = create_app(settings, spec)
    _tune_gc()
    log.info("service_starting", port=settings.port_of(spec.name), host=settings.bind_host,
             worker=len(children) if children is not None else 0)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(_serve(app, settings, spec.name))
        _finish_tasks(loop, settings.shutdown_grace_seconds)
    finally:
        loop.close()
    if children:  # the first process stops its workers and waits for them
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        for pid in children:
            os.waitpid(pid, 0)
    if children and samples is not None:
        metrics.remove_multiprocess(samples)
    log.info("service_stopped")
    if children is not None and not children:
        os._exit(0)  # a forked worker: leave without running the parent's exit handlers


def _tune_gc() -> None:
    """What is loaded by now (modules, the app) lives as long as the process: frozen,
    the cyclic collector no longer walks it. Requests make short-lived containers by
    the thousand, nearly all freed by reference counting: a first generation of 10,000
    instead of 700 runs the young collections 14 times less often (py-spy showed the
    collector at 3 % of a consumer's CPU), for a few MB more between them."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)


async def _serve(app: web.Application, settings: Settings, name: str) -> None:
    """Serve until SIGTERM/SIGINT, then shut down gracefully: stop accepting, let
    in-flight requests finish (up to the grace period), run the cleanup contexts."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    runner = web.AppRunner(app, access_log=None, handle_signals=False,
                           shutdown_timeout=settings.shutdown_grace_seconds)
    try:
        await runner.setup()
        if not stop.is_set():  # a signal during start-up skips straight to cleanup
            await web.TCPSite(runner, settings.bind_host, settings.port_of(name),
                              reuse_port=settings.workers > 1).start()
            await stop.wait()
    finally:
        await runner.cleanup()


def _finish_tasks(loop: asyncio.AbstractEventLoop, grace: float) -> None:
    """Cancel what is left and wait a bounded time: a task that ignores cancellation
    (some client libraries swallow it) is logged and abandoned, never waited on
    forever; the process exits either way."""
    pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for _ in range(3):
        if not pending:
            return
        for task in pending:
            task.cancel()
        loop.run_until_complete(asyncio.wait(pending, timeout=max(grace, 1) / 3))
        pending = [t for t in pending if not t.done()]
    if pending:
        log.warning("tasks_abandoned_at_exit", tasks=[t.get_name() for t in pending])


def _fork_workers(count: int) -> list[int] | None:
    """NORGATE_WORKERS > 1: fork count-1 more processes serving the same port
    (SO_REUSEPORT; the kernel spreads connections). Each is a full replica with
    its own pool, broker connection, relay and consumers, safe as replicas are.
    Returns the workers' pids in the first process, [] in a worker, None when
    single. A worker dies with the first process (PR_SET_PDEATHSIG)."""
    if count <= 1:
        return None
    pids = []
    for _ in range(count - 1):
        pid = os.fork()
        if pid == 0:
            with contextlib.suppress(OSError):
                ctypes.CDLL("libc.so.6").prctl(1, signal.SIGTERM)
            return []
        pids.append(pid)
    return pids
