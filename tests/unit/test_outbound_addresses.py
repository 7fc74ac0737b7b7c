"""The SSRF guard of webhook and trigger URLs (shared/outbound/addresses.py): every
IPv6 form that embeds or tunnels to an IPv4 address is judged by that address or
refused, every non-global range is refused whatever Python's tables say, and in prod
only the allowed ports are."""

from __future__ import annotations

import pytest

from shared.outbound import addresses
from shared.outbound.addresses import AddressNotAllowed, check_literal_host, check_url, ip_allowed

REFUSED = [
    # IPv4 ranges that are not globally routable.
    "0.0.0.0", "10.0.0.7", "100.64.0.1", "127.0.0.1", "169.254.169.254", "172.16.0.1",
    "192.0.0.8", "192.0.2.1", "192.88.99.1", "192.168.1.1", "198.18.0.1", "198.51.100.1",
    "203.0.113.1", "224.0.0.1", "240.0.0.1", "255.255.255.255",
    # IPv6 specials.
    "::", "::1", "fe80::1", "fe80::1%eth0", "fc00::1", "fd12:3456::1", "ff02::1",
    "2001:db8::1", "100::1", "3fff::1", "5f00::1",
    # Site-local (deprecated, still routed inside some networks).
    "fec0::1", "feff:ffff::1",
    # IPv4-mapped, judged as the IPv4.
    "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254",
    # IPv4-compatible (deprecated): refused whatever it embeds.
    "::127.0.0.1", "::10.0.0.1", "::169.254.169.254", "::8.8.8.8",
    # IPv4-translated (SIIT): refused whatever it embeds.
    "::ffff:0:127.0.0.1", "::ffff:0:10.0.0.1", "::ffff:0:8.8.8.8",
    # NAT64 well-known prefix: the embedded IPv4 decides.
    "64:ff9b::127.0.0.1", "64:ff9b::10.0.0.1", "64:ff9b::169.254.169.254",
    "64:ff9b::a9fe:a9fe",
    # Local-use NAT64: the translator's mapping is unknown, so refused.
    "64:ff9b:1::a00:1", "64:ff9b:1:ffff::808:808",
    # 6to4: refused, private embedded IPv4 or not.
    "2002:7f00:1::1", "2002:a00:7::1", "2002:a9fe:a9fe::1", "2002:808:808::1",
    # Teredo: refused.
    "2001:0:4136:e378:8000:63bf:3fff:fdd2", "2001::1",
    # Not an address at all.
    "localhost", "", "1.2.3", "::gg",
]

ALLOWED = ["8.8.8.8", "93.184.215.14", "1.1.1.1", "2606:4700:4700::1111",
           "2a00:1450:4001:82a::200e", "::ffff:8.8.8.8", "64:ff9b::8.8.8.8",
           "64:ff9b::5db8:d70e"]


@pytest.mark.parametrize("address", REFUSED)
def test_non_global_and_embedded_private_addresses_are_refused(address: str):
    assert ip_allowed(address) is False


@pytest.mark.parametrize("address", ALLOWED)
def test_global_unicast_addresses_are_allowed(address: str):
    assert ip_allowed(address) is True


def _url(address: str, port: str = "") -> str:
    host = f"[{address}]" if ":" in address else address
    return f"https://{host}{port}/hook"


@pytest.mark.parametrize("address", [a for a in REFUSED if a and a != "localhost"
                                     and "%" not in a and a not in ("1.2.3", "::gg")])
async def test_check_url_refuses_each_literal_form_in_prod(address: str):
    with pytest.raises(AddressNotAllowed, match="not a public address"):
        await check_url(_url(address), strict=True)
    with pytest.raises(AddressNotAllowed):
        check_literal_host(_url(address), strict=True)
    await check_url(_url(address), strict=False)  # dev and test: local receivers are fine


@pytest.mark.parametrize("address", ["8.8.8.8", "2606:4700:4700::1111", "64:ff9b::8.8.8.8"])
async def test_check_url_allows_public_literals_on_the_default_ports(address: str):
    for url in (_url(address), _url(address, ":443"), _url(address).replace("https", "http"),
                _url(address, ":80").replace("https", "http")):
        await check_url(url, strict=True)
        check_literal_host(url, strict=True)


@pytest.mark.parametrize("port", [":8080", ":22", ":6379", ":5432", ":8443", ":1", ":0"])
async def test_prod_refuses_other_ports_unless_allowed(port: str):
    url = _url("8.8.8.8", port)
    with pytest.raises(AddressNotAllowed, match=f"port {port[1:]} "):
        await check_url(url, strict=True)
    with pytest.raises(AddressNotAllowed, match="port"):
        check_literal_host(url, strict=True)
    # Port 80 over https is as much a default port as 443 over http: both allowed.
    await check_url(url, strict=True, allowed_ports=(80, 443, int(port[1:])))
    check_literal_host(url, strict=True, allowed_ports=(int(port[1:]),))
    await check_url(url, strict=False)  # dev and test: any port
    check_literal_host(url, strict=False)


async def test_prod_port_rule_applies_to_names_too():
    # Refused before any DNS look-up: the port alone decides.
    with pytest.raises(AddressNotAllowed, match="port 8080"):
        await check_url("https://hooks.example.com:8080/h", strict=True)
    with pytest.raises(AddressNotAllowed, match="port 8080"):
        check_literal_host("https://hooks.example.com:8080/h", strict=True)
    check_literal_host("https://hooks.example.com/h", strict=True)  # names: the resolver


async def test_names_resolving_to_embedded_private_addresses_are_refused(monkeypatch):
    """A DNS answer with a NAT64 or mapped form of a private address is refused too."""
    import asyncio
    import socket

    async def fake_getaddrinfo(host, port, **_kw):
        return [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("64:ff9b::a9fe:a9fe", 0, 0, 0))]

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", fake_getaddrinfo)
    with pytest.raises(AddressNotAllowed, match="64:ff9b::a9fe:a9fe"):
        await check_url("https://rebind.example.com/h", strict=True)


async def test_resolver_refuses_embedded_private_answers(monkeypatch):
    resolver = addresses.PublicOnlyResolver(strict=True)

    async def answer(host, port=0, family=0):
        return [{"hostname": host, "host": "::ffff:0:10.0.0.1", "port": port, "family": family,
                 "proto": 0, "flags": 0}]

    monkeypatch.setattr(resolver._inner, "resolve", answer)
    try:
        with pytest.raises(AddressNotAllowed, match="::ffff:0:a00:1|::ffff:0:10.0.0.1"):
            await resolver.resolve("rebind.example.com", 443)
    finally:
        await resolver.close()


def test_the_setting_defaults_to_the_guards_ports():
    from shared.settings import Settings

    assert Settings.model_fields["webhook_allowed_ports"].default == \
        addresses.DEFAULT_ALLOWED_PORTS
