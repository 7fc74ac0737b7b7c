"""The event path end to end: a service emits email.requested, the notifier sends it."""

from __future__ import annotations

import base64
from email import policy
from email.parser import BytesParser

import pytest

from deploy.mailsink import start_mailsink
from services.notifier.app import build_spec
from shared import metrics
from shared.events import OutboxRelay, Topology, UnitOfWork
from shared.events.broker import Broker
from shared.http.app import create_app
from shared.logging import bind_ids
from tests.conftest import DECLARED_DELAYS, DECLARED_QUEUES, serve
from tests.support.net import free_port
from tests.support.poll import poll_until


@pytest.fixture
async def producer(settings, billing_pool):
    """Billing stands in as the service asking for an e-mail, through its outbox."""
    broker = Broker(settings.amqp_url, name="test-email-producer")
    await broker.start()
    relay = OutboxRelay(billing_pool, broker, Topology(settings.events_namespace),
                        service="billing", poll_seconds=0.1)
    await relay.start()

    async def request_email(data: dict):
        async with UnitOfWork(billing_pool, producer="billing", relay=relay) as uow:
            return uow.emit("email.requested", data)

    yield request_email
    await relay.stop()
    await broker.stop()


def _with_event_id(mail_dir, event_id):
    return [m for m in _messages(mail_dir) if m["X-Norgate-Event-Id"] == str(event_id)]


def _messages(mail_dir):
    return [BytesParser(policy=policy.default).parsebytes(p.read_bytes())
            for p in sorted(mail_dir.glob("*.eml"))]


async def _notifier(settings, smtp_port: int, **overrides):
    s = settings.model_copy(update={"smtp_url": f"smtp://127.0.0.1:{smtp_port}", **overrides})
    DECLARED_DELAYS.extend(s.consumer_retry_delays)
    spec = build_spec(s)
    DECLARED_QUEUES.append(Topology(s.events_namespace).queue("notifier", "email"))
    return serve(create_app(s, spec))


async def test_email_requested_event_is_delivered_through_smtp(
        settings, producer, tmp_path, unique):
    sink = await start_mailsink(settings, host="127.0.0.1", smtp_port=0, http_port=0,
                                mail_dir=tmp_path)
    try:
        async with await _notifier(settings, sink.smtp_port) as client:
            await poll_until(lambda: _ready(client), what="notifier ready")
            bind_ids(request_id="req-email-1", correlation_id=f"corr-{unique}")
            event = await producer({
                "to": ["merchant@example.com"], "subject": f"Confirm your account {unique}",
                "text": "Your code is 123456",
                "attachments": [{"filename": "invoice.pdf", "content_type": "application/pdf",
                                 "content_base64": base64.b64encode(b"%PDF-1.4 test").decode()}],
            })
            # Other tests' sign-ups may be queued for the notifier too: pick ours.
            found = await poll_until(lambda: _with_event_id(tmp_path, event.id),
                                     timeout=15, what="e-mail in the sink")
    finally:
        await sink.stop()
    [msg] = found
    assert msg["Subject"] == f"Confirm your account {unique}"
    assert msg["To"] == "merchant@example.com"
    assert msg["X-Norgate-Event-Id"] == str(event.id)
    assert msg["X-Correlation-ID"] == f"corr-{unique}"
    assert "Your code is 123456" in msg.get_body(("plain",)).get_content()
    [attachment] = list(msg.iter_attachments())
    assert attachment.get_filename() == "invoice.pdf"
    assert attachment.get_content() == b"%PDF-1.4 test"


async def test_email_is_sent_once_the_smtp_server_comes_back(
        settings, producer, tmp_path, unique):
    port = free_port()  # nothing listens here yet: the SMTP server is away
    async with await _notifier(settings, port, consumer_max_attempts=20,
                               consumer_retry_delays=(0.3,)) as client:
        await poll_until(lambda: _ready(client), what="notifier ready")
        retried = metrics.EVENTS_HANDLED.labels(
            "notifier", Topology(settings.events_namespace).queue("notifier", "email"),
            "retried")
        before = retried._value.get()
        await producer({"to": ["ops@example.com"], "subject": f"Later {unique}", "text": "hi"})
        await poll_until(lambda: retried._value.get() >= before + 2, timeout=15,
                         what="failed attempts while SMTP is down")
        assert _messages(tmp_path) == []
        sink = await start_mailsink(settings, host="127.0.0.1", smtp_port=port, http_port=0,
                                    mail_dir=tmp_path)
        try:
            found = await poll_until(
                lambda: [m for m in _messages(tmp_path)
                                if m["Subject"] == f"Later {unique}"],
                timeout=15, what="e-mail after SMTP returned")
        finally:
            await sink.stop()
    assert len(found) == 1


async def test_invalid_email_request_is_dead_lettered_not_retried(settings, producer, unique):
    from tests.support.broker import queue_messages

    queue = Topology(settings.events_namespace).queue("notifier", "email")
    async with await _notifier(settings, free_port()) as client:
        await poll_until(lambda: _ready(client), what="notifier ready")
        event = await producer({"to": ["not-an-address"], "subject": "x", "text": "y"})
        dead: list = []

        async def ours():
            dead.extend(await queue_messages(settings.amqp_url, Topology.dead_letter_queue(queue)))
            return [m for m in dead if m.message_id == str(event.id)]

        [message] = await poll_until(ours, timeout=10, what="dead-lettered invalid e-mail")
    assert message.headers["x-norgate-attempts"] == 1  # not retried
    assert "not an e-mail address" in message.headers["x-norgate-error"]


async def _ready(client) -> bool:
    resp = await client.get("/readyz")
    return resp.status == 200

