"""Session fixtures: a fresh database and event namespace for each test run.

Every run provisions its own database (`norgate_t_<id>`, with its own service
roles) and its own exchange/queue namespace on the real RabbitMQ, and removes
both at the end, so runs never see each other's data.
"""

from __future__ import annotations

import os
import secrets
from contextlib import asynccontextmanager
from urllib.parse import urlsplit, urlunsplit

import pytest
from aiohttp.test_utils import TestClient, TestServer

RUN_ID = secrets.token_hex(4)
_BASE_DB = os.environ.get("NORGATE_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/norgate")
_BASE_AMQP = os.environ.get("NORGATE_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")


def _with_database(url: str, name: str) -> str:
    p = urlsplit(url)
    return urlunsplit((p.scheme, p.netloc, "/" + name, p.query, ""))


# Tests see only the settings they set, not the developer's shell.
for _key in [k for k in os.environ if k.startswith("NORGATE_")]:
    del os.environ[_key]
TEST_ENV = {
    "NORGATE_ENV": "test",
    "NORGATE_DATABASE_URL": _with_database(_BASE_DB, f"norgate_t_{RUN_ID}"),
    "NORGATE_AMQP_URL": _BASE_AMQP,
    "NORGATE_EVENTS_NAMESPACE": f"t_{RUN_ID}",
    "NORGATE_SECRET_KEY": secrets.token_hex(32),
    # No built-in default (a public one would sign in anywhere): each run has its own.
    "NORGATE_BOOTSTRAP_SUPER_PASSWORD": secrets.token_urlsafe(18),
    "NORGATE_CONSUMER_RETRY_DELAYS": "[0.2, 0.5, 1]",
    "NORGATE_CONSUMER_MAX_ATTEMPTS": "4",
    "NORGATE_RELAY_POLL_SECONDS": "0.2",
    "NORGATE_SHUTDOWN_GRACE_SECONDS": "3",
    # Every documented answer is checked against its model (shared/http/answers.py).
    "NORGATE_CHECK_ANSWERS": "true",
    # The suite signs up many companies from 127.0.0.1 in an hour; the tests of that
    # budget set their own (tests/integration/test_auth_sign_up_limits.py).
    "NORGATE_SIGN_UPS_PER_CLIENT_PER_HOUR": "10000",
}
os.environ.update(TEST_ENV)

# Queues and retry delays declared by tests, deleted with the namespace at the end.
DECLARED_QUEUES: list[str] = []
DECLARED_DELAYS: list[float] = []


@pytest.fixture(scope="session")
async def settings():
    from deploy.provision import drop, provision
    from shared.events import Topology
    from shared.settings import load_settings
    from tests.support.broker import delete_namespace

    s = load_settings()
    await provision(s)
    yield s
    await drop(s)
    from shared.events import catalog

    topology = Topology(s.events_namespace)
    queues = DECLARED_QUEUES + [topology.queue(*key) for key in catalog.QUEUES]
    delays = tuple(sorted(set(s.consumer_retry_delays) | set(DECLARED_DELAYS)))
    await delete_namespace(s.amqp_url, topology, sorted(set(queues)), delays)


@asynccontextmanager
async def serve(app):
    """Run an aiohttp app on a free port; yields a TestClient."""
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
def unique():
    return secrets.token_hex(4)


@pytest.fixture
def any_event_type(monkeypatch):
    """For tests whose events are of types of their own (unique ones, for their taps or
    queues), which have no schema (shared/events/payloads.py): emit then takes any data
    for such a type. Real types are still checked, at emit and at consume."""
    from shared.events import payloads

    class AnyType(dict):
        def get(self, key, default=None):
            return super().get(key, payloads.Payload)

    monkeypatch.setattr(payloads, "PAYLOADS", AnyType(payloads.PAYLOADS))
