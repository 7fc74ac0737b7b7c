"""Where webhooks may be sent: the address policy against SSRF.

In `prod`, an endpoint must resolve only to public (globally routable) addresses:
loopback, private (RFC 1918, ULA), link-local (169.254/16 and the cloud metadata
address in it, fe80::/10), site-local (fec0::/10), CGNAT, multicast, reserved,
documentation and unspecified addresses are refused, both when the endpoint is
registered and at every send. IPv6 forms that carry an IPv4 address are judged by
it (IPv4-mapped `::ffff:a.b.c.d`, NAT64 `64:ff9b::a.b.c.d`) or refused outright
when the path to that IPv4 is a tunnel or translator we cannot judge (IPv4-compatible
`::a.b.c.d`, IPv4-translated `::ffff:0:a.b.c.d`, local-use NAT64 `64:ff9b:1::/48`,
6to4 `2002::/16`, Teredo `2001::/32`). The ranges are listed here rather than taken
from `ipaddress.is_global` alone, whose tables differ between Python versions (3.11
calls fec0::1 and ::10.0.0.1 global). The port must be one of the allowed ones
(NORGATE_WEBHOOK_ALLOWED_PORTS, default 80 and 443), so a public host's SSH,
database or admin ports cannot be aimed at. At send time the resolver below checks
the addresses it hands to aiohttp, so the connection goes to an address that was
checked (a DNS answer that changes between the checks, "DNS rebinding", cannot slip
a private address in). Other environments allow all of this, so tests and local
development can use receivers on 127.0.0.1 and any port.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Collection
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

BLOCKED_NAMES = ("localhost", "metadata.google.internal")


class AddressNotAllowed(OSError):
    """The URL or one of the addresses it resolves to may not receive webhooks."""


DEFAULT_ALLOWED_PORTS = (80, 443)
_SCHEME_PORTS = {"http": 80, "https": 443}

# Refused even where Python's own tables call them global (they vary by version).
_DENIED_V4 = tuple(ipaddress.IPv4Network(n) for n in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
    "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16",
    "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4"))
_DENIED_V6 = tuple(ipaddress.IPv6Network(n) for n in (
    "::/96",            # unspecified, loopback and IPv4-compatible ::a.b.c.d
    "::ffff:0:0:0/96",  # IPv4-translated ::ffff:0:a.b.c.d (SIIT)
    "64:ff9b:1::/48",   # local-use NAT64: where its IPv4 sits is the operator's choice
    "100::/64",         # discard
    "2001::/23",        # IETF protocol assignments: Teredo 2001::/32, benchmarking, ORCHID
    "2001:db8::/32", "3fff::/20",  # documentation
    "2002::/16",        # 6to4: tunnels to whatever IPv4 it embeds
    "5f00::/16",        # SRv6 SIDs
    "fc00::/7",         # unique local
    "fe80::/10",        # link-local
    "fec0::/10",        # site-local (deprecated, still routed inside some networks)
    "ff00::/8"))        # multicast
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # well-known prefix: the IPv4 is the last 32 bits


def ip_allowed(value: str) -> bool:
    """Only globally routable unicast addresses; an IPv6 address carrying an IPv4 one
    is judged as that IPv4 (mapped, NAT64) or refused (the other embeddings)."""
    try:
        ip = ipaddress.ip_address(value.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        elif ip in _NAT64:
            ip = ipaddress.IPv4Address(ip.packed[12:])
        elif any(ip in net for net in _DENIED_V6):
            return False
    if isinstance(ip, ipaddress.IPv4Address) and any(ip in net for net in _DENIED_V4):
        return False
    return ip.is_global and not ip.is_multicast


def check_port(url: str, allowed_ports: Collection[int]) -> None:
    """The URL's port, explicit or the scheme's, must be an allowed one."""
    parts = urlsplit(url)
    port = parts.port if parts.port is not None else _SCHEME_PORTS.get(parts.scheme, 0)
    if port not in allowed_ports:
        allowed = ", ".join(str(p) for p in sorted(allowed_ports))
        raise AddressNotAllowed(f"port {port} is not allowed (allowed ports: {allowed}; "
                                "the operator can allow more with "
                                "NORGATE_WEBHOOK_ALLOWED_PORTS)")


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


async def check_url(url: str, *, strict: bool,
                    allowed_ports: Collection[int] = DEFAULT_ALLOWED_PORTS) -> None:
    """Registration-time check. `strict` (prod) refuses ports other than
    `allowed_ports`, then resolves the host and refuses private, loopback,
    link-local and metadata addresses (ip_allowed)."""
    check_url_shape(url)
    if not strict:
        return
    check_port(url, allowed_ports)
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
        address = str(info[4][0])  # an int only for AF_INET6's scope id, not here
        if not ip_allowed(address):
            raise AddressNotAllowed(f"{host} resolves to {address}, not a public address")


def check_literal_host(url: str, *, strict: bool,
                       allowed_ports: Collection[int] = DEFAULT_ALLOWED_PORTS) -> None:
    """Send-time check of every URL (strict): its port, and its host when that is an
    IP literal (aiohttp does not ask the resolver about those; names go through
    PublicOnlyResolver)."""
    if not strict:
        return
    check_port(url, allowed_ports)
    literal = _literal(urlsplit(url).hostname or "")
    if literal is not None and not ip_allowed(literal):
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
