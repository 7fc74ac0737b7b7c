"""Sends MIME messages through NORGATE_SMTP_URL."""

from __future__ import annotations

from email.message import EmailMessage
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib


class Mailer:
    """smtp://[user:pass@]host[:port][?starttls=true] or smtps://... (implicit TLS)."""

    def __init__(self, url: str, *, timeout: float = 15.0):
        parts = urlsplit(url)
        self._host = parts.hostname or "127.0.0.1"
        self._tls = parts.scheme == "smtps"
        self._port = parts.port or (465 if self._tls else 25)
        self._username = unquote(parts.username) if parts.username else None
        self._password = unquote(parts.password) if parts.password else None
        query = parse_qs(parts.query)
        flag = query.get("starttls", [""])[0].lower()
        # Unset means "upgrade when the server offers it" (aiosmtplib's default).
        self._starttls = True if flag in ("1", "true", "yes") else (
            False if flag in ("0", "false", "no") else None)
        self._timeout = timeout

    async def send(self, message: EmailMessage) -> None:
        await aiosmtplib.send(
            message, hostname=self._host, port=self._port, username=self._username,
            password=self._password, use_tls=self._tls, start_tls=self._starttls,
            timeout=self._timeout)
