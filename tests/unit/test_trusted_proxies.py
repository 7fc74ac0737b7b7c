"""Whose X-Forwarded-For the gateway reads (issue 19 item 11 b): NORGATE_TRUSTED_PROXIES
lists the proxies; from any other peer the header is ignored, and behind them the first
hop from the right that is not a trusted proxy is the client."""

from __future__ import annotations

import ipaddress
import os

import pytest

from services.gateway.authn import forwarded_client
from shared.settings import Settings, load_settings

LB = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("2001:db8:ffff::/48"))


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in [k for k in os.environ if k.startswith("NORGATE_")]:
        monkeypatch.delenv(key)


@pytest.mark.parametrize("peer,forwarded,client", [
    # No proxy is trusted, or the peer is not one: the peer, whatever the header says.
    ("127.0.0.1", ["1.2.3.4"], "127.0.0.1"),
    ("192.0.2.9", ["1.2.3.4, 10.0.0.1"], "192.0.2.9"),
    # Behind the proxies: the first hop from the right that is not one of them.
    ("10.0.0.5", ["1.2.3.4"], "1.2.3.4"),
    ("10.0.0.5", ["6.6.6.6, 1.2.3.4, 10.9.9.9"], "1.2.3.4"),
    ("10.0.0.5", ["6.6.6.6", "1.2.3.4, 10.9.9.9"], "1.2.3.4"),  # two header lines
    ("10.0.0.5", ["1.2.3.4:5678"], "1.2.3.4"),
    ("10.0.0.5", ["[2001:db8::7]:443"], "2001:db8::7"),
    ("2001:db8:ffff::1", ["2001:db8:1::9"], "2001:db8:1::9"),
    ("::ffff:10.0.0.5", ["1.2.3.4"], "1.2.3.4"),  # a dual-stack socket's IPv4 peer
    # Nothing forwarded, or only proxies: the last proxy seen.
    ("10.0.0.5", [], "10.0.0.5"),
    ("10.0.0.5", ["10.1.1.1, 10.2.2.2"], "10.1.1.1"),
    # A hop that is no address was a client's: the trusted hop right of it stands.
    ("10.0.0.5", ["1.2.3.4, bogus, 10.9.9.9"], "10.9.9.9"),
    ("10.0.0.5", ["bogus"], "10.0.0.5"),
    ("10.0.0.5", [""], "10.0.0.5"),
    (None, ["1.2.3.4"], None),
])
def test_the_client_behind_trusted_proxies(peer, forwarded, client):
    trusted = LB if peer not in ("127.0.0.1",) else ()
    assert forwarded_client(peer, forwarded, trusted) == client


def test_trusted_proxies_are_read_as_json_or_comma_separated(monkeypatch):
    monkeypatch.setenv("NORGATE_TRUSTED_PROXIES", "10.0.0.7/8, 192.0.2.1 ,2001:db8::/32")
    assert load_settings().trusted_proxies == ("10.0.0.0/8", "192.0.2.1/32", "2001:db8::/32")
    monkeypatch.setenv("NORGATE_TRUSTED_PROXIES", '["127.0.0.1"]')
    assert load_settings().trusted_proxies == ("127.0.0.1/32",)
    monkeypatch.setenv("NORGATE_TRUSTED_PROXIES", "")
    assert load_settings().trusted_proxies == ()
    assert Settings().trusted_proxies == ()  # the default trusts nobody


@pytest.mark.parametrize("env,says", [
    ({"NORGATE_TRUSTED_PROXIES": "10.0.0.0/33"}, "NORGATE_TRUSTED_PROXIES: '10.0.0.0/33'"),
    ({"NORGATE_TRUSTED_PROXIES": "[1, 2"}, "NORGATE_TRUSTED_PROXIES: must be a JSON list"),
    # Replaced: it trusted the header from anyone; a deployment that set it must list
    # its proxies rather than start trusting nobody (every client one address) unseen.
    ({"NORGATE_TRUSTED_PROXY_HOPS": "1"}, "NORGATE_TRUSTED_PROXIES"),
])
def test_bad_proxy_settings_stop_the_process_naming_the_variable(monkeypatch, capsys,
                                                                 env, says):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(SystemExit) as exc:
        load_settings()
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err
    assert next(iter(env)) in err
