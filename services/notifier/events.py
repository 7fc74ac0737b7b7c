"""Events the notifier consumes."""

from __future__ import annotations

from pydantic import ValidationError

from services.notifier import store
from services.notifier.domain import EmailRequested, build_message
from services.notifier.mailer import Mailer
from shared.events import Event, PermanentError, UnitOfWork
from shared.logging import get_logger

log = get_logger(__name__)


def email_handlers(mailer: Mailer, sender: str):
    async def on_email_requested(event: Event, uow: UnitOfWork) -> None:
        try:
            request = EmailRequested.model_validate(event.data)
            message = build_message(request, sender=sender, event_id=str(event.id),
                                    correlation_id=event.correlation_id)
        except (ValidationError, ValueError) as exc:
            raise PermanentError(f"invalid email.requested data: {exc}") from exc
        # An SMTP failure raises, the transaction (and inbox row) rolls back and
        # the consumer retries on its delay schedule while the server is away.
        await mailer.send(message)
        await store.record_email(uow.conn, event_id=event.id, recipients=request.to,
                                 subject=request.subject, correlation_id=event.correlation_id,
                                 message_id=message["Message-ID"])
        log.info("email_sent", event_id=str(event.id), recipients=len(request.to))

    return {"email.requested": on_email_requested}
