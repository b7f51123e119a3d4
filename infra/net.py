"""The outbound-URL guard: where Impressox may send a request on a user's behalf (webhooks).

A target must be an ``http``/``https`` URL whose host resolves only to public addresses. Refused:
unspecified (``0.0.0.0``, ``::``), loopback, private (RFC 1918, IPv6 unique-local), shared
address space (CGNAT ``100.64.0.0/10``), link-local (``169.254.0.0/16`` with the cloud metadata
address, ``fe80::/10``), multicast, reserved and site-local addresses, and every IPv6 form that
embeds such an IPv4 address (IPv4-mapped, IPv4-compatible, NAT64, 6to4, Teredo). A host name is
refused when *any* of its addresses is. Networks listed in ``IXO_WEBHOOK_ALLOWED_NETWORKS`` are
allowed even so (the test suite allows loopback for its local receivers).

:func:`guarded_client` pins what was checked: its connections resolve and check the host again
when they open and connect to the checked address, so a name cannot pass the check with a public
address and then be connected to a private one (DNS rebinding). It ignores proxy variables.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import httpcore
import httpx

from schemas import PermanentError, TransientError

if TYPE_CHECKING:
    from infra.settings import Settings

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[list[Address]]]
"""Resolves a host name and port to addresses (raises :class:`HostUnresolved`)."""

SCHEMES: Final = frozenset({"http", "https"})
NOT_ALLOWED: Final = "webhook target not allowed"
RESOLVE_TIMEOUT_S: Final = 5.0

_SHARED = ipaddress.ip_network("100.64.0.0/10")  # RFC 6598 (carrier-grade NAT)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052, the last 32 bits are IPv4
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")  # RFC 8215


class TargetNotAllowed(PermanentError):  # noqa: N818 - a verdict, like the schemas' errors
    """The URL is not one Impressox may send to. ``str()`` is generic (safe to show anyone);
    ``detail`` says why, for the operator's logs and for the URL's owner at creation."""

    def __init__(self, detail: str) -> None:
        super().__init__(NOT_ALLOWED)
        self.detail = detail


class HostUnresolved(TransientError):  # noqa: N818 - a verdict
    """The host name does not resolve now (it may later)."""


def parse_networks(text: str | Iterable[str]) -> tuple[Network, ...]:
    """Comma-separated CIDRs (``"127.0.0.0/8, ::1/128"``) as networks; ValueError names a bad
    one."""
    parts = text.split(",") if isinstance(text, str) else list(text)
    out: list[Network] = []
    for part in (p.strip() for p in parts):
        if not part:
            continue
        try:
            out.append(ipaddress.ip_network(part, strict=True))
        except ValueError as exc:
            msg = f"not a network in CIDR form: {part!r} ({exc})"
            raise ValueError(msg) from None
    return tuple(out)


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, compatible, NAT64, 6to4, Teredo
    client), or None."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    value = int(address)
    if address in _NAT64 or address in _NAT64_LOCAL:
        return ipaddress.IPv4Address(value & 0xFFFFFFFF)
    if value >> 32 == 0 and value > 1:  # IPv4-compatible ::a.b.c.d (deprecated); not :: or ::1
        return ipaddress.IPv4Address(value)
    return None


def category(address: Address) -> str | None:
    """Why an address is not public (``"loopback"``, ``"private"``...), or None when it is."""
    checks: tuple[tuple[str, bool], ...] = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("shared (CGNAT)", isinstance(address, ipaddress.IPv4Address) and address in _SHARED),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
        ("site-local", isinstance(address, ipaddress.IPv6Address) and address.is_site_local),
        ("not global", not address.is_global),
    )
    return next((name for name, hit in checks if hit), None)


def refusal(address: Address, allowed: Sequence[Network] = ()) -> str | None:
    """Why ``address`` is refused as a target (None: it may be used). An IPv6 form of an IPv4
    address is judged as that IPv4 address too."""
    inner = embedded_ipv4(address) if isinstance(address, ipaddress.IPv6Address) else None
    candidates: list[Address] = [address] if inner is None else [inner, address]
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        candidates = [address.ipv4_mapped]  # only ever a way to reach that IPv4 address
    if any(a in net for a in candidates for net in allowed if a.version == net.version):
        return None
    for a in candidates:
        why = category(a)
        if why is not None:
            return f"{a} is {why}" if a == address else f"{address} ({a}) is {why}"
    return None


async def system_resolver(host: str, port: int) -> list[Address]:
    """Every address ``host`` resolves to (``getaddrinfo``), within :data:`RESOLVE_TIMEOUT_S`."""
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(RESOLVE_TIMEOUT_S):
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, TimeoutError, UnicodeError) as exc:
        msg = f"{host} does not resolve ({type(exc).__name__})"
        raise HostUnresolved(msg) from None
    out: list[Address] = []
    for info in infos:
        text = str(info[4][0]).split("%", 1)[0]  # drop an IPv6 scope id
        address = ipaddress.ip_address(text)
        if address not in out:
            out.append(address)
    if not out:
        msg = f"{host} does not resolve"
        raise HostUnresolved(msg)
    return out


def _literal(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


@dataclass(frozen=True)
class OutboundGuard:
    """Checks URLs and hosts against the policy in the module doc. ``allowed`` networks are
    accepted even when not public; ``resolver`` is swappable for tests."""

    allowed: tuple[Network, ...] = ()
    resolver: Resolver = system_resolver

    @classmethod
    def from_settings(cls, settings: Settings) -> OutboundGuard:
        return cls(parse_networks(settings.webhook_allowed_networks))

    async def addresses(self, host: str, port: int) -> list[Address]:
        """The addresses of ``host``, all allowed; :class:`TargetNotAllowed` if any is not,
        :class:`HostUnresolved` if there are none."""
        literal = _literal(host)
        found = [literal] if literal is not None else await self.resolver(host.rstrip("."), port)
        for address in found:
            why = refusal(address, self.allowed)
            if why is not None:
                raise TargetNotAllowed(why if literal is not None else f"{host}: {why}")
        return found

    async def check_url(self, url: str | httpx.URL) -> httpx.URL:
        """The parsed URL when its scheme is http(s) and its host resolves only to allowed
        addresses; :class:`TargetNotAllowed` (or :class:`HostUnresolved`) otherwise."""
        try:
            parsed = url if isinstance(url, httpx.URL) else httpx.URL(url)
        except (httpx.InvalidURL, TypeError) as exc:
            msg = f"not a URL ({exc})"
            raise TargetNotAllowed(msg) from None
        if parsed.scheme not in SCHEMES:
            msg = f"scheme {parsed.scheme or '(none)'!r} is not http or https"
            raise TargetNotAllowed(msg)
        host = parsed.raw_host.decode("ascii")
        if not host:
            msg = "the URL has no host"
            raise TargetNotAllowed(msg)
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        await self.addresses(host, port)
        return parsed


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """An httpcore network backend that resolves and checks every host it connects to, then
    connects to the checked address (TLS still verifies and sends SNI for the host name)."""

    def __init__(self, guard: OutboundGuard, inner: httpcore.AsyncNetworkBackend | None = None):
        self._guard = guard
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self._guard.addresses(host, port)
        last: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    str(address),
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        msg = "unix sockets are not webhook targets"
        raise TargetNotAllowed(msg)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over a :class:`GuardedBackend` (no proxies, no environment)."""

    def __init__(self, guard: OutboundGuard, *, limits: httpx.Limits) -> None:
        super().__init__(trust_env=False, limits=limits)
        # httpx (pinned) takes no network backend; its pool is rebuilt with ours, same knobs.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(guard),
        )


def guarded_client(
    guard: OutboundGuard,
    *,
    timeout_s: float = 10.0,
    connections: int = 64,
    headers: dict[str, str] | None = None,
) -> httpx.AsyncClient:
    """An HTTP client that never follows redirects by itself, ignores proxy variables and
    connects only to addresses ``guard`` allows (checked when each connection opens)."""
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncClient(
        timeout=timeout_s,
        follow_redirects=False,
        trust_env=False,
        transport=GuardedTransport(guard, limits=limits),
        headers=headers,
    )
