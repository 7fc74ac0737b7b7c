"""The notifier mails one address at most EMAILS_PER_RECIPIENT_PER_HOUR times an hour,
whoever asks (issue 19 item 8b): past it the address is left out, the mail recorded as
suppressed, logged and counted, and the consumer carries on. Real RabbitMQ, PostgreSQL
and an SMTP sink."""

from __future__ import annotations

import asyncpg

from deploy.mailsink import start_mailsink
from services.notifier.email.events import EMAILS_PER_RECIPIENT_PER_HOUR, SUPPRESSED
from tests.integration.test_notifier_email import (  # noqa: F401
    _messages,
    _notifier,
    _ready,
    producer,
)
from tests.support.poll import poll_until


async def _records(settings, event_ids) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(settings.dsn_of("notifier"))
    try:
        return await conn.fetch(
            "SELECT event_id, recipients, suppressed, message_id FROM emails "
            "WHERE event_id = ANY($1)", list(event_ids))
    finally:
        await conn.close()


async def test_one_address_gets_at_most_its_hourly_mails(
        settings, producer, tmp_path, unique):  # noqa: F811
    limit = EMAILS_PER_RECIPIENT_PER_HOUR
    victim = f"victim.{unique}@example.com"
    bystander = f"bystander.{unique}@example.com"
    sink = await start_mailsink(settings, host="127.0.0.1", smtp_port=0, http_port=0,
                                mail_dir=tmp_path)
    before = SUPPRESSED._value.get()
    try:
        async with await _notifier(settings, sink.smtp_port) as client:
            await poll_until(lambda: _ready(client), what="notifier ready")
            # The same mailbox however it is cased or tagged.
            spellings = [victim, victim.upper(), victim.replace("@", "+promo@")]
            events = [await producer({"to": [spellings[i % 3]],
                                      "subject": f"Invoice {unique} #{i}", "text": "pay"})
                      for i in range(limit + 5)]


            async def recorded(ids):
                rows = await _records(settings, ids)
                return len(rows) == len(ids) and rows
            await poll_until(lambda: recorded([e.id for e in events]), timeout=30,
                             what="every mail handled")
            # Then a mail to the victim and a bystander still reaches the bystander.
            both = await producer({"to": [victim, bystander],
                                   "subject": f"Shared {unique}", "text": "hi"})
            ids = [e.id for e in events] + [both.id]
            rows = await poll_until(lambda: recorded(ids), timeout=15,
                                    what="the shared mail handled")
            # The consumer is alive and well: a later mail to someone else goes out.
            later = await producer({"to": [f"later.{unique}@example.com"],
                                    "subject": f"Later {unique}", "text": "hi"})
            await poll_until(lambda: _records(settings, [later.id]), timeout=15,
                             what="a mail after the suppressed ones")
        mails = [m for m in _messages(tmp_path) if unique in m["Subject"]]
    finally:
        await sink.stop()
    by_id = {r["event_id"]: r for r in rows}
    sent = [e for e in events if by_id[e.id]["recipients"]]
    suppressed = [e for e in events if not by_id[e.id]["recipients"]]
    assert (len(sent), len(suppressed)) == (limit, 5)
    for event in suppressed:
        row = by_id[event.id]
        assert len(row["suppressed"]) == 1 and row["message_id"] is None
    shared = by_id[both.id]
    assert (shared["recipients"], shared["suppressed"]) == ([bystander], [victim])
    to_victim = [m for m in mails if "victim" in m["To"].lower()]
    assert len(to_victim) == limit
    [shared_mail] = [m for m in mails if m["Subject"] == f"Shared {unique}"]
    assert shared_mail["To"] == bystander
    assert SUPPRESSED._value.get() - before == 6
