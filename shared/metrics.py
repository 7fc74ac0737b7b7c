"""Prometheus metrics shared by every service (one process serves one service)."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

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


_children: dict[tuple, tuple] = {}


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


def render() -> tuple[bytes, str]:
    return generate_latest(), CONTENT_TYPE_LATEST
