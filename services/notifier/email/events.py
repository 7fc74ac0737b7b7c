"""The e-mail consumer (`email.requested`).

One mailbox gets at most EMAILS_PER_RECIPIENT_PER_HOUR e-mails an hour, whoever asks
(sign-ups, invoices, webhook notices; counted in the database, so across replicas): an
address that had its hour's mail is left out of the message, logged (`email_suppressed`)
and counted (`norgate_emails_suppressed_total`), and the request is recorded with it in
`suppressed`. A request left with nobody to mail sends nothing and is done (acked), so
a flood to one address never stalls or crashes the consumer.
"""

from __future__ import annotations

from prometheus_client import Counter
from pydantic import ValidationError

from services.notifier.email import store
from services.notifier.email.domain import EmailRequested, build_message, mailbox
from services.notifier.email.mailer import Mailer
from shared.events import Event, PermanentError, UnitOfWork
from shared.logging import get_logger

log = get_logger(__name__)

EMAILS_PER_RECIPIENT_PER_HOUR = 20
WINDOW_SECONDS = 3600.0
SUPPRESSED = Counter("norgate_emails_suppressed_total",
                     "Recipients left out of an e-mail: their mailbox had its hour's mail")


def email_handlers(mailer: Mailer, sender: str, *,
                   per_recipient_per_hour: int = EMAILS_PER_RECIPIENT_PER_HOUR):
    async def on_email_requested(event: Event, uow: UnitOfWork) -> None:
        try:
            request = EmailRequested.model_validate(event.data)
            build_message(request, sender=sender, event_id=str(event.id),
                          correlation_id=event.correlation_id)  # refuse a bad one early
        except (ValidationError, ValueError) as exc:
            raise PermanentError(f"invalid email.requested data: {exc}") from exc
        boxes = {address: mailbox(address) for address in request.to}
        await store.lock_mailboxes(uow.conn, list(boxes.values()))
        sent = await store.recent_sends(uow.conn, list(boxes.values()), WINDOW_SECONDS)
        allowed: list[str] = []
        suppressed: list[str] = []
        for address, box in boxes.items():
            if sent[box] < per_recipient_per_hour:
                allowed.append(address)
                sent[box] += 1  # the same mailbox twice in one request counts twice
            else:
                suppressed.append(address)
        message = None
        if allowed:
            message = build_message(request.model_copy(update={"to": allowed}), sender=sender,
                                    event_id=str(event.id),
                                    correlation_id=event.correlation_id)
            # An SMTP failure raises, the transaction (the inbox row and these counts)
            # rolls back and the consumer retries on its delay schedule.
            await mailer.send(message)
            await store.count_sends(uow.conn, [boxes[a] for a in allowed], WINDOW_SECONDS)
        await store.record_email(uow.conn, event_id=event.id, recipients=allowed,
                                 subject=request.subject, correlation_id=event.correlation_id,
                                 message_id=message["Message-ID"] if message else None,
                                 suppressed=suppressed)
        if allowed:
            log.info("email_sent", event_id=str(event.id), recipients=len(allowed))
        if suppressed:
            log.warning("email_suppressed", event_id=str(event.id), suppressed=len(suppressed),
                        kept=len(allowed), limit=per_recipient_per_hour)
            # Once committed: a send retried after an SMTP failure counts only once.
            uow.after_commit(lambda: SUPPRESSED.inc(len(suppressed)))

    return {"email.requested": on_email_requested}
