"""Prometheus metrics shared by every service (one process serves one service).

With NORGATE_WORKERS > 1 a service is several forked processes on one port, and the
one that answers /metrics would show only its own requests. `use_multiprocess` (called
before the fork) switches to the Prometheus client's multiprocess mode: every process
writes its samples to a file in a directory of its own, and /metrics sums them all.
"""

from __future__ import annotations

import os
import shutil
import tempfile

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)
from prometheus_client.metrics import MetricWrapperBase

HTTP_REQUESTS = Counter(
    "norgate_http_requests_total", "HTTP requests served",
    ["service", "method", "route", "status"])
HTTP_LATENCY = Histogram(
    "norgate_http_request_duration_seconds", "HTTP request latency",
    ["service", "method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
EVENTS_PUBLISHED = Counter(
    "norgate_events_published_total", "Outbox events published to RabbitMQ", ["service"])
OUTBOX_PUBLISH_FAILURES = Counter(
    "norgate_outbox_publish_failures_total",
    "Outbox batches that could not be published (broker away); retried with backoff",
    ["service"])
EVENTS_HANDLED = Counter(
    "norgate_events_handled_total", "Events consumed, by outcome",
    ["service", "queue", "outcome"])
UPSTREAM_ERRORS = Counter(
    "norgate_upstream_errors_total", "Gateway proxy failures by upstream service and kind",
    ["upstream", "kind"])
CLIENTS_GONE = Counter(
    "norgate_clients_gone_total", "Proxied requests whose client hung up before the end "
    "(mid-request or mid-answer), by upstream service", ["upstream"])


_children: dict[tuple[str, str, str, int], tuple[Counter, Histogram]] = {}


def observe_request(service: str, method: str, route: str, status: int, seconds: float) -> None:
    """Count one request; label children are looked up once per label set."""
    key = (service, method, route, status)
    pair = _children.get(key)
    if pair is None:
        pair = (HTTP_REQUESTS.labels(service, method, route, status),
                HTTP_LATENCY.labels(service, method, route))
        _children[key] = pair
    pair[0].inc()
    pair[1].observe(seconds)


MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"  # the Prometheus client's own variable


def use_multiprocess() -> str:
    """Before forking workers: samples go to files in a fresh directory (under $TMPDIR,
    the pods' /tmp emptyDir), which the forked workers inherit. Returns the directory;
    `remove_multiprocess` deletes it when the first process is done."""
    directory = tempfile.mkdtemp(prefix="norgate-metrics-")
    os.environ[MULTIPROC_ENV] = directory
    # The client picks its value class when imported, and ours is imported before the
    # settings say how many workers there are: switch it now. A labelled metric has no
    # sample before its first .labels() call, which then takes the new class; one
    # without labels made its sample at import, so it is made again (at zero, as
    # nothing has been counted before the fork).
    values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]
    _children.clear()
    for collector in list(REGISTRY._collector_to_names):  # the client has no public list
        if isinstance(collector, MetricWrapperBase) and not collector._labelnames:
            collector._metric_init()  # type: ignore[no-untyped-call]
    return directory


def remove_multiprocess(directory: str) -> None:
    shutil.rmtree(directory, ignore_errors=True)


def render() -> tuple[bytes, str]:
    """The exposition text: this process's samples, or every worker's summed."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
