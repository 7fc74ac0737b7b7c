"""Local mail sink for development: `python -m deploy.mailsink`.

An SMTP server (aiosmtpd) on NORGATE_BIND_HOST:NORGATE_MAILSINK_SMTP_PORT accepts every
message and writes it atomically as `<arrival-ns>-<random>.eml` into NORGATE_MAIL_DIR
(names sort by arrival). A small page on NORGATE_MAILSINK_HTTP_PORT shows them:
`GET /` (newest first), `GET /messages/{name}`, `GET /messages.json`.
Tests and the local runner use `await start_mailsink(settings)`; port 0 picks a free port.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import email.utils
import html
import logging
import os
import re
import secrets
import signal
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.errors import MessageError
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiohttp import web
from aiosmtpd.smtp import SMTP, Envelope, Session

from shared.logging import configure_logging, get_logger
from shared.settings import Settings, load_settings

log = get_logger("deploy.mailsink")
NAME_RE = re.compile(r"^[0-9]{20}-[0-9a-f]{8}\.eml$")
URL_RE = re.compile(r"https?://[^\s<>\"']+")
LIST_LIMIT = 500


class _Store:
    """Writes and reads the .eml files of one directory."""

    def __init__(self, mail_dir: Path) -> None:
        self.dir = mail_dir
        self._last_ns = 0

    def write(self, data: bytes) -> str:
        self._last_ns = max(time.time_ns(), self._last_ns + 1)
        name = f"{self._last_ns:020d}-{secrets.token_hex(4)}.eml"
        tmp = self.dir / f".{name}.tmp"
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.dir / name)
        return name

    def names(self) -> list[str]:
        found = [p.name for p in self.dir.iterdir() if NAME_RE.match(p.name)]
        return sorted(found, reverse=True)[:LIST_LIMIT]

    def read(self, name: str) -> EmailMessage | None:
        if not NAME_RE.match(name) or not (self.dir / name).is_file():
            return None
        return email.message_from_bytes(
            (self.dir / name).read_bytes(), policy=email.policy.default
        )


def _header(msg: EmailMessage, key: str) -> str:
    try:
        return str(msg.get(key, "") or "")
    except (MessageError, LookupError, TypeError, ValueError):  # malformed header
        return ""


def _text_body(msg: EmailMessage) -> str:
    try:
        part = msg.get_body(preferencelist=("plain",))
        if part is not None:
            return part.get_content()
        part = msg.get_body(preferencelist=("html",))
        if part is not None:
            return html.unescape(re.sub(r"<[^>]+>", "", part.get_content()))
    except (MessageError, LookupError, TypeError, ValueError):
        return "(body could not be decoded)"
    return ""


def _arrival(name: str) -> str:
    ts = datetime.fromtimestamp(int(name[:20]) / 1e9, tz=UTC)
    return email.utils.format_datetime(ts)


def summary(name: str, msg: EmailMessage) -> dict[str, Any]:
    return {
        "name": name,
        "date": _header(msg, "Date") or _arrival(name),
        "received": _arrival(name),
        "from": _header(msg, "From"),
        "to": _header(msg, "To") or _header(msg, "X-Mailsink-Rcpt-To"),
        "subject": _header(msg, "Subject"),
        "text": _text_body(msg),
        "attachments": [p.get_filename() or "(unnamed)" for p in msg.iter_attachments()],
    }


def _linkify(text: str) -> str:
    out, pos = [], 0
    for m in URL_RE.finditer(text):
        url = html.escape(m.group(0))
        out += [html.escape(text[pos:m.start()]), f'<a href="{url}">{url}</a>']
        pos = m.end()
    return "".join(out + [html.escape(text[pos:])])


PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;margin:2em}}td,th{{padding:.3em .8em;text-align:left;
vertical-align:top}}tr:nth-child(even){{background:#f4f4f4}}pre{{white-space:pre-wrap}}
</style></head><body>{body}</body></html>"""


class _Handler:
    """aiosmtpd handler: every accepted message becomes one .eml file."""

    def __init__(self, store: _Store) -> None:
        self.store = store

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or envelope.content or b""
        if isinstance(content, str):
            content = content.encode("utf-8")
        trace = (
            f"X-Mailsink-Mail-From: {envelope.mail_from}\r\n"
            f"X-Mailsink-Rcpt-To: {', '.join(envelope.rcpt_tos)}\r\n"
        ).encode("utf-8", "replace")
        name = await asyncio.to_thread(self.store.write, trace + content)
        log.info("mail_received", name=name, mail_from=envelope.mail_from,
                 rcpt_to=list(envelope.rcpt_tos))
        return "250 Message accepted for delivery"


def _make_app(store: _Store) -> web.Application:
    async def index(request: web.Request) -> web.Response:
        rows = []
        for name in store.names():
            msg = store.read(name)
            if msg is None:
                continue
            s = {k: html.escape(str(v)) for k, v in summary(name, msg).items()}
            rows.append(f'<tr><td>{s["date"]}</td><td>{s["from"]}</td><td>{s["to"]}</td>'
                        f'<td><a href="/messages/{s["name"]}">{s["subject"] or "(no subject)"}'
                        "</a></td></tr>")
        body = ("<h1>norgate mail sink</h1><p>" f"{len(rows)} message(s), newest first. "
                '<a href="/messages.json">JSON</a></p><table><tr><th>Date</th><th>From</th>'
                "<th>To</th><th>Subject</th></tr>" + "".join(rows) + "</table>")
        return web.Response(text=PAGE.format(title="Mail sink", body=body),
                            content_type="text/html")

    async def message(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        msg = store.read(name)
        if msg is None:
            raise web.HTTPNotFound(text="no such message")
        s = summary(name, msg)
        headers = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
                          for k, v in msg.items())
        files = "".join(f"<li>{html.escape(f)}</li>" for f in s["attachments"])
        body = (f'<p><a href="/">&larr; all messages</a></p><h1>{html.escape(s["subject"])}</h1>'
                f"<table>{headers}</table><h2>Text</h2><pre>{_linkify(s['text'])}</pre>"
                + (f"<h2>Attachments</h2><ul>{files}</ul>" if files else ""))
        return web.Response(text=PAGE.format(title=html.escape(s["subject"]), body=body),
                            content_type="text/html")

    async def messages_json(request: web.Request) -> web.Response:
        items = [summary(n, m) for n in store.names() if (m := store.read(n)) is not None]
        return web.json_response(items)

    app = web.Application()
    app.router.add_get("/", index)
    app.router.add_get("/messages.json", messages_json)
    app.router.add_get("/messages/{name}", message)
    return app


@dataclass
class MailSink:
    smtp_port: int
    http_port: int
    mail_dir: Path
    _smtp: asyncio.Server = field(repr=False)
    _runner: web.AppRunner = field(repr=False)

    async def stop(self) -> None:
        self._smtp.close()
        await self._smtp.wait_closed()
        await self._runner.cleanup()
        log.info("mailsink_stopped")


async def start_mailsink(
    settings: Settings,
    *,
    host: str | None = None,
    smtp_port: int | None = None,
    http_port: int | None = None,
    mail_dir: str | os.PathLike[str] | None = None,
) -> MailSink:
    """Start SMTP + HTTP on the running loop; keyword arguments override `settings`."""
    host = host or settings.bind_host
    smtp_port = settings.mailsink_smtp_port if smtp_port is None else smtp_port
    http_port = settings.mailsink_http_port if http_port is None else http_port
    directory = Path(mail_dir if mail_dir is not None else settings.mail_dir).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    store = _Store(directory)
    handler = _Handler(store)
    loop = asyncio.get_running_loop()
    smtp = await loop.create_server(
        lambda: SMTP(handler, hostname="mailsink.norgate.local", ident="norgate mailsink",
                     enable_SMTPUTF8=True),
        host=host, port=smtp_port,
    )
    runner = web.AppRunner(_make_app(store), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, http_port).start()
    except BaseException:
        smtp.close()
        await runner.cleanup()
        raise
    sink = MailSink(smtp_port=smtp.sockets[0].getsockname()[1],
                    http_port=runner.addresses[0][1], mail_dir=directory,
                    _smtp=smtp, _runner=runner)
    log.info("mailsink_started", smtp=f"{host}:{sink.smtp_port}",
             http=f"http://{host}:{sink.http_port}/", mail_dir=str(directory))
    return sink


async def _serve(settings: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    sink = await start_mailsink(settings)
    try:
        await stop.wait()
    finally:
        await sink.stop()


def main() -> None:
    settings = load_settings()
    configure_logging("mailsink", settings.log_level)
    if settings.log_level != "debug":  # aiosmtpd logs every SMTP command at INFO
        logging.getLogger("mail.log").setLevel(logging.WARNING)
    asyncio.run(_serve(settings))


if __name__ == "__main__":
    main()
