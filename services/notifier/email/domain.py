"""What an e-mail request is, and how it becomes a MIME message."""

from __future__ import annotations

import base64
import binascii
import re
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from pydantic import BaseModel, Field, field_validator

_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")


class Attachment(BaseModel):
    filename: str = Field(min_length=1, max_length=255)
    content_type: str = Field(default="application/octet-stream", pattern=r"^[\w.+-]+/[\w.+-]+$")
    content_base64: str

    def content(self) -> bytes:
        try:
            return base64.b64decode(self.content_base64, validate=True)
        except binascii.Error as exc:
            raise ValueError(f"attachment {self.filename} is not valid base64") from exc


class EmailRequested(BaseModel):
    """Data of the `email.requested` event any service may emit."""

    to: list[str] = Field(min_length=1, max_length=50)
    subject: str = Field(min_length=1, max_length=998)
    text: str
    html: str | None = None
    reply_to: str | None = None
    attachments: list[Attachment] = Field(default_factory=list)

    @field_validator("to")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        for address in value:
            if not _EMAIL.match(address):
                raise ValueError(f"not an e-mail address: {address!r}")
        return value


def mailbox(address: str) -> str:
    """The mailbox an address reaches, for the per-recipient cap: lower case, without a
    +tag (victim+1@ and Victim@ fill one inbox). Never used to send."""
    local, _, domain = address.strip().lower().rpartition("@")
    return local.split("+", 1)[0] + "@" + domain


def build_message(request: EmailRequested, *, sender: str, event_id: str,
                  correlation_id: str | None) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = ", ".join(request.to)
    msg["Subject"] = request.subject
    msg["Date"] = formatdate(localtime=False)
    # Derived from the event id: a redelivered event yields the same Message-ID,
    # so a receiving system can drop the duplicate.
    msg["Message-ID"] = make_msgid(idstring=event_id.replace("-", ""), domain="norgate")
    msg["X-Norgate-Event-Id"] = event_id
    if correlation_id:
        msg["X-Correlation-ID"] = correlation_id
    if request.reply_to:
        msg["Reply-To"] = request.reply_to
    msg.set_content(request.text)
    if request.html:
        msg.add_alternative(request.html, subtype="html")
    for att in request.attachments:
        maintype, subtype = att.content_type.split("/", 1)
        msg.add_attachment(att.content(), maintype=maintype, subtype=subtype,
                           filename=att.filename)
    return msg
