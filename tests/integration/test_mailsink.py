"""The local mail sink: SMTP in, .eml files on disk, HTML and JSON pages out (no database)."""

from __future__ import annotations

import asyncio
import time
from email.message import EmailMessage
from pathlib import Path

import aiohttp
import aiosmtplib
import pytest

from deploy.mailsink import MailSink, start_mailsink
from shared.settings import Settings

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


async def _wait_for_files(directory: Path, count: int, timeout: float = 10.0) -> list[Path]:
    deadline = time.monotonic() + timeout
    while True:
        files = sorted(directory.glob("*.eml"))
        if len(files) >= count:
            return files
        if time.monotonic() > deadline:
            raise AssertionError(f"expected {count} .eml files in {directory}, found {files}")
        await asyncio.sleep(0.02)


@pytest.fixture
async def sink(tmp_path: Path):
    settings = Settings().model_copy(update={
        "mailsink_smtp_port": 0, "mailsink_http_port": 0,
        "mail_dir": str(tmp_path / "mail"), "bind_host": "127.0.0.1",
    })
    running = await start_mailsink(settings)
    try:
        yield running
    finally:
        await running.stop()


async def _send(sink: MailSink, subject: str, to: str, body: str, pdf_name: str | None = None):
    msg = EmailMessage()
    msg["From"] = "norgate <no-reply@norgate.local>"
    msg["To"] = to
    msg["Subject"] = subject
    msg.set_content(body)
    if pdf_name:
        msg.add_attachment(PDF, maintype="application", subtype="pdf", filename=pdf_name)
    await aiosmtplib.send(msg, hostname="127.0.0.1", port=sink.smtp_port, start_tls=False,
                          timeout=10)


async def test_free_ports_and_mail_dir_are_exposed(sink: MailSink, tmp_path: Path):
    assert sink.smtp_port > 0 and sink.http_port > 0
    assert sink.smtp_port != sink.http_port
    assert sink.mail_dir == (tmp_path / "mail").resolve()
    assert sink.mail_dir.is_dir()


async def test_message_is_stored_and_shown(sink: MailSink):
    await _send(sink, "Invoice INV-42 is ready", "merchant@example.com",
                "Pay here: https://pay.example.com/i/42?a=1&b=2\nThanks", "invoice-42.pdf")
    [eml] = await _wait_for_files(sink.mail_dir, 1)
    assert b"Invoice INV-42 is ready" in eml.read_bytes()
    assert not list(sink.mail_dir.glob(".*.tmp"))

    base = f"http://127.0.0.1:{sink.http_port}"
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/") as resp:
            assert resp.status == 200
            assert resp.content_type == "text/html"
            page = await resp.text()
        assert "Invoice INV-42 is ready" in page
        assert "merchant@example.com" in page
        assert f"/messages/{eml.name}" in page

        async with http.get(f"{base}/messages.json") as resp:
            assert resp.status == 200
            items = await resp.json()
        [item] = items
        assert item["name"] == eml.name
        assert item["subject"] == "Invoice INV-42 is ready"
        assert item["to"] == "merchant@example.com"
        assert "no-reply@norgate.local" in item["from"]
        assert "Pay here" in item["text"]
        assert item["attachments"] == ["invoice-42.pdf"]
        assert item["date"]

        async with http.get(f"{base}/messages/{eml.name}") as resp:
            assert resp.status == 200
            detail = await resp.text()
        assert "Invoice INV-42 is ready" in detail
        assert "merchant@example.com" in detail
        assert "invoice-42.pdf" in detail
        assert '<a href="https://pay.example.com/i/42?a=1&amp;b=2">' in detail

        for bad in ("nope.eml", "..%2F..%2Fetc%2Fpasswd", eml.name + ".x"):
            async with http.get(f"{base}/messages/{bad}") as resp:
                assert resp.status == 404


async def test_html_is_escaped_and_newest_first(sink: MailSink):
    await _send(sink, "first", "a@example.com", "one")
    await _wait_for_files(sink.mail_dir, 1)
    await _send(sink, "<script>alert(1)</script>", "b@example.com", "<b>bold</b> & co")
    files = await _wait_for_files(sink.mail_dir, 2)
    assert [f.name for f in files] == sorted(f.name for f in files)

    base = f"http://127.0.0.1:{sink.http_port}"
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/") as resp:
            page = await resp.text()
        assert "<script>" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        assert page.index("&lt;script&gt;") < page.index(">first<")

        async with http.get(f"{base}/messages.json") as resp:
            items = await resp.json()
        assert [i["subject"] for i in items] == ["<script>alert(1)</script>", "first"]

        async with http.get(f"{base}/messages/{files[-1].name}") as resp:
            detail = await resp.text()
        assert "<script>" not in detail and "<b>bold</b>" not in detail
        assert "&lt;b&gt;bold&lt;/b&gt; &amp; co" in detail
