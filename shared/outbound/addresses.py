"""Where webhooks may be sent: the address policy against SSRF.

In `prod`, an endpoint must resolve only to public (globally routable) addresses:
loopback, private (RFC 1918, ULA), link-local (169.254/16 and the cloud metadata
address in it, fe80::/10), CGNAT, multicast, reserved and unspecified addresses are
refused, both when the endpoint is registered and at every send. At send time the
resolver below checks the addresses it hands to aiohttp, so the connection goes to
an address that was checked (a DNS answer that changes between the checks, "DNS
rebinding", cannot slip a private address in). Other environments allow them, so
tests and local development can use receivers on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

BLOCKED_NAMES = ("localhost", "metadata.google.internal")


class AddressNotAllowed(OSError):
    """The URL or one of the addresses it resolves to may not receive webhooks."""


def ip_allowed(value: str) -> bool:
    """Only globally routable unicast addresses (IPv4-mapped IPv6 is judged as IPv4)."""
    try:
        ip = ipaddress.ip_address(value.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def check_url_shape(url: str) -> None:
    """Rules that hold in every environment: an absolute http(s) URL with a host and
    no credentials."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise AddressNotAllowed("must be an http:// or https:// URL")
    if not parts.hostname:
        raise AddressNotAllowed("must name a host")
    if parts.username or parts.password:
        raise AddressNotAllowed("must not carry credentials")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise AddressNotAllowed("has an invalid port") from None


def _literal(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host.strip("[]").split("%", 1)[0]))
    except ValueError:
        return None


async def check_url(url: str, *, strict: bool) -> None:
    """Registration-time check. `strict` (prod) resolves the host and refuses
    private, loopback, link-local and metadata addresses."""
    check_url_shape(url)
    if not strict:
        return
    host = (urlsplit(url).hostname or "").rstrip(".").lower()
    if host in BLOCKED_NAMES or host.endswith(".localhost"):
        raise AddressNotAllowed(f"{host} is not a public address")
    literal = _literal(host)
    if literal is not None:
        if not ip_allowed(literal):
            raise AddressNotAllowed(f"{literal} is not a public address")
        return
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None,
                                                             type=socket.SOCK_STREAM)
    except socket.gaierror:
        raise AddressNotAllowed(f"{host} does not resolve") from None
    for info in infos:
        address = info[4][0]
        if not ip_allowed(address):
            raise AddressNotAllowed(f"{host} resolves to {address}, not a public address")


def check_literal_host(url: str, *, strict: bool) -> None:
    """Send-time check of a URL whose host is an IP literal (aiohttp does not ask
    the resolver about those)."""
    host = urlsplit(url).hostname or ""
    literal = _literal(host)
    if strict and literal is not None and not ip_allowed(literal):
        raise AddressNotAllowed(f"{literal} is not a public address")


class PublicOnlyResolver(AbstractResolver):
    """Resolves like aiohttp's default, then refuses the whole answer when any
    address is not public (prod only). aiohttp connects to what this returns."""

    def __init__(self, *, strict: bool):
        self._inner = DefaultResolver()
        self._strict = strict

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        name = host.rstrip(".").lower()
        if self._strict and (name in BLOCKED_NAMES or name.endswith(".localhost")):
            raise AddressNotAllowed(f"{host} is not a public address")
        results = await self._inner.resolve(host, port, family)
        if self._strict:
            for result in results:
                if not ip_allowed(result["host"]):
                    raise AddressNotAllowed(
                        f"{host} resolves to {result['host']}, not a public address")
        return results

    async def close(self) -> None:
        await self._inner.close()
