"""The outbound-URL guard's decisions: which addresses, names and URLs a webhook may target."""

from __future__ import annotations

import ipaddress

import pytest

from infra.net import (
    Address,
    HostUnresolved,
    OutboundGuard,
    TargetNotAllowed,
    parse_networks,
    refusal,
)
from infra.settings import Settings

REFUSED = {
    "0.0.0.0": "unspecified",
    "::": "unspecified",
    "127.0.0.1": "loopback",
    "127.5.6.7": "loopback",
    "::1": "loopback",
    "10.0.0.1": "private",
    "172.16.0.1": "private",
    "192.168.1.1": "private",
    "100.64.0.1": "shared (CGNAT)",
    "100.127.255.254": "shared (CGNAT)",
    "169.254.169.254": "link-local",
    "fe80::1": "link-local",
    "fc00::1": "private",
    "fd12:3456::1": "private",
    "224.0.0.1": "multicast",
    "239.255.255.250": "multicast",
    "ff02::1": "multicast",
    "240.0.0.1": "private",  # 240.0.0.0/4 is both reserved and in the IANA special registry
    "255.255.255.255": "private",
    "198.18.0.1": "private",
    "192.0.2.1": "private",
    "fec0::1": "site-local",
}
# IPv6 spellings of refused IPv4 addresses.
EMBEDDED = {
    "::ffff:127.0.0.1": "loopback",
    "::ffff:10.0.0.1": "private",
    "::ffff:169.254.169.254": "link-local",
    "::127.0.0.1": "loopback",  # IPv4-compatible (deprecated)
    "::10.0.0.1": "private",
    "64:ff9b::a00:1": "private",  # NAT64 of 10.0.0.1
    "2002:a00:1::": "private",  # 6to4 of 10.0.0.1
    "2002:7f00:1::": "loopback",  # 6to4 of 127.0.0.1
}
PUBLIC = ["93.184.216.34", "8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"]


@pytest.mark.parametrize(("text", "why"), sorted({**REFUSED, **EMBEDDED}.items()))
def test_non_public_addresses_are_refused_saying_why(text: str, why: str) -> None:
    reason = refusal(ipaddress.ip_address(text))
    assert reason is not None
    assert reason.endswith(f"is {why}")


@pytest.mark.parametrize("text", PUBLIC)
def test_public_addresses_pass(text: str) -> None:
    assert refusal(ipaddress.ip_address(text)) is None


def test_allowed_networks_let_through_what_they_contain_and_nothing_else() -> None:
    allowed = parse_networks("127.0.0.0/8, ::1/128")
    assert refusal(ipaddress.ip_address("127.0.0.1"), allowed) is None
    assert refusal(ipaddress.ip_address("::1"), allowed) is None
    assert refusal(ipaddress.ip_address("::ffff:127.0.0.1"), allowed) is None
    assert refusal(ipaddress.ip_address("10.0.0.1"), allowed) is not None
    assert refusal(ipaddress.ip_address("169.254.169.254"), allowed) is not None


def test_allowed_networks_must_be_cidrs() -> None:
    assert parse_networks("") == ()
    assert parse_networks(" , ") == ()
    with pytest.raises(ValueError, match=r"10\.0\.0\.1/8"):
        parse_networks("10.0.0.1/8")  # host bits set: a typo, not a network
    with pytest.raises(ValueError, match="nope"):
        parse_networks("127.0.0.0/8,nope")
    with pytest.raises(ValueError, match="webhook_allowed_networks"):
        Settings(webhook_allowed_networks="10.0.0.0/33")
    assert Settings(webhook_allowed_networks="10.0.0.0/8").webhook_allowed_networks


class TableResolver:
    """A DNS stand-in: names to the addresses they resolve to."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.asked: list[str] = []

    async def __call__(self, host: str, port: int) -> list[Address]:
        self.asked.append(host)
        if host not in self.table:
            msg = f"{host} does not resolve"
            raise HostUnresolved(msg)
        return [ipaddress.ip_address(a) for a in self.table[host]]


DNS = TableResolver(
    {
        "public.test": ["93.184.216.34", "2606:2800:220:1::"],
        "mixed.test": ["93.184.216.34", "10.1.2.3"],
        "meta.test": ["169.254.169.254"],
        "loop.test": ["127.0.0.1"],
    }
)


async def test_urls_pass_when_http_s_and_every_address_is_public() -> None:
    guard = OutboundGuard(resolver=DNS)
    url = await guard.check_url("https://public.test/hook?x=1")
    assert url.host == "public.test"
    assert (await guard.check_url("http://93.184.216.34:8080/")).port == 8080


@pytest.mark.parametrize(
    ("url", "detail"),
    [
        ("http://mixed.test/", "10.1.2.3 is private"),
        ("http://meta.test/", "169.254.169.254 is link-local"),
        ("http://loop.test:9/", "127.0.0.1 is loopback"),
        ("http://127.0.0.1:6379/", "loopback"),
        ("http://[::1]/", "loopback"),
        ("http://[::ffff:a9fe:a9fe]/", "link-local"),
        ("http://0.0.0.0/", "unspecified"),
        ("ftp://public.test/", "scheme"),
        ("javascript:alert(1)", "scheme"),
        ("file:///etc/passwd", "scheme"),
        ("http:///nohost", "host"),
    ],
)
async def test_refused_urls_say_generically_that_they_are_not_allowed(
    url: str, detail: str
) -> None:
    with pytest.raises(TargetNotAllowed) as refused:
        await OutboundGuard(resolver=DNS).check_url(url)
    assert str(refused.value) == "webhook target not allowed"
    assert detail in refused.value.detail


async def test_allowed_networks_apply_to_names_and_literals() -> None:
    guard = OutboundGuard(parse_networks("127.0.0.0/8"), resolver=DNS)
    await guard.check_url("http://loop.test/")
    await guard.check_url("http://127.0.0.1:1/")
    with pytest.raises(TargetNotAllowed):
        await guard.check_url("http://[::1]/")
    with pytest.raises(TargetNotAllowed):
        await guard.check_url("http://mixed.test/")


async def test_unresolvable_names_are_transient() -> None:
    with pytest.raises(HostUnresolved):
        await OutboundGuard(resolver=DNS).check_url("http://nowhere.test/")


async def test_the_system_resolver_resolves_localhost_to_loopback() -> None:
    with pytest.raises(TargetNotAllowed) as refused:
        await OutboundGuard().check_url("http://localhost:8080/hook")
    assert "loopback" in refused.value.detail
