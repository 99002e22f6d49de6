"""Outgoing HTTP guard against server-side request forgery (docs/exports-and-reports.md, "Webhook
addresses").

The check sits in httpcore's network backend, the place where a TCP connection is opened: the host
is resolved there, every resolved address is checked, and the socket is opened to an address that
was checked. Checking the URL earlier and connecting later would leave a gap in which DNS can
answer differently (DNS rebinding); here the address checked is the address connected to.
Redirects are not followed, proxies from the environment are not used (they would be connected to
instead of the checked address).

Refused by default: loopback, private (RFC 1918), shared (100.64/10), link-local, unique-local
(fc00::/7), multicast, reserved, unspecified and every other non-global address, IPv4-mapped IPv6
forms of them, and the cloud metadata addresses. The operator's allowlist (`ANALYTICS_OUTGOING_ALLOW`)
names CIDRs or host names that are let through anyway.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

from analytics_engine.errors import InvalidInput

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]
METADATA = frozenset({ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")})


class UrlNotAllowed(InvalidInput):
    """The URL's host is, or resolves to, an address outgoing calls may not reach."""

    code = "url_not_allowed"


def system_resolve(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for host (IPv4 and IPv6), in its order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class OutgoingPolicy:
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    hosts: frozenset[str] = frozenset()

    @classmethod
    def from_entries(cls, entries: Iterable[str]) -> OutgoingPolicy:
        """Allowlist entries: a CIDR (`10.0.0.0/8`), an address (`127.0.0.1`, a /32 or /128) or a host
        name (`hooks.internal`, compared case-insensitively with the URL's host)."""
        networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        hosts: set[str] = set()
        for raw in entries:
            entry = raw.strip()
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                hosts.add(entry.lower().rstrip("."))
        return cls(tuple(networks), frozenset(hosts))

    def host_allowed(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.hosts

    def refusal(self, address: str) -> str | None:
        """Why address may not be reached, or None when it may."""
        ip = _unmapped(ipaddress.ip_address(address.split("%", 1)[0]))
        if any(ip in network for network in self.networks if network.version == ip.version):
            return None
        if ip in METADATA:
            return "a cloud metadata address"
        if ip.is_loopback:
            return "a loopback address"
        if ip.is_unspecified:
            return "the unspecified address"
        if ip.is_link_local:
            return "a link-local address"
        if ip.is_multicast:
            return "a multicast address"
        if ip.version == 6 and ip in ipaddress.ip_network("fc00::/7"):
            return "a unique-local address"
        if ip.is_private:
            return "a private address"
        if ip.is_reserved or not ip.is_global:
            return "a reserved (non-global) address"
        return None

    def check_addresses(self, host: str, addresses: Sequence[str]) -> list[str]:
        """The addresses to connect to, all checked; UrlNotAllowed when any is refused (an answer
        mixing public and internal addresses is refused whole, not filtered)."""
        if self.host_allowed(host):
            return list(addresses)
        for address in addresses:
            reason = self.refusal(address)
            if reason:
                raise UrlNotAllowed(
                    f"Outgoing calls may not reach {host!r}: it is or resolves to {reason}.",
                    details={"host": host, "address": address},
                )
        return list(addresses)


def _unmapped(ip: IPAddress) -> IPAddress:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _literal(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return None


def check_url(url: str, policy: OutgoingPolicy, resolve: Resolver = system_resolve) -> None:
    """Save-time check of a URL: a literal address or a host resolving to a refused address raises
    UrlNotAllowed. A host that does not resolve now is accepted: delivery checks it again."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if not host:
        raise UrlNotAllowed("The URL has no host.", details={"url": url})
    literal = _literal(host)
    if literal is not None:
        policy.check_addresses(host, [literal])
        return
    if policy.host_allowed(host):
        return
    try:
        addresses = resolve(host, parts.port or (443 if parts.scheme == "https" else 80))
    except (OSError, UnicodeError):
        return
    policy.check_addresses(host, addresses)


def _connect_addresses(host: str, port: int, policy: OutgoingPolicy, resolve: Resolver) -> list[str]:
    literal = _literal(host)
    if literal is not None:
        return policy.check_addresses(host, [literal])
    try:
        addresses = resolve(host, port)
    except (OSError, UnicodeError) as exc:
        raise httpcore.ConnectError(f"cannot resolve {host!r}: {exc}") from exc
    if not addresses:
        raise httpcore.ConnectError(f"{host!r} resolves to no address")
    return policy.check_addresses(host, addresses)


class GuardedBackend(httpcore.NetworkBackend):
    """httpcore's sync backend, opening TCP connections only to checked addresses."""

    def __init__(self, policy: OutgoingPolicy, resolve: Resolver = system_resolve) -> None:
        self.policy = policy
        self.resolve = resolve
        self.inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        last: Exception | None = None
        for address in _connect_addresses(host, port, self.policy, self.resolve):
            try:
                # The literal checked address: nothing is resolved again after the check. TLS still
                # verifies the URL's host name (httpcore passes it as server_hostname).
                return self.inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except httpcore.ConnectError as exc:
                last = exc
        raise last or httpcore.ConnectError(f"cannot connect to {host!r}")

    def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.NetworkStream:
        raise UrlNotAllowed("Outgoing calls do not use unix sockets.")

    def sleep(self, seconds: float) -> None:
        self.inner.sleep(seconds)


class AsyncGuardedBackend(httpcore.AsyncNetworkBackend):
    """The asyncio counterpart of GuardedBackend; resolution runs in a thread."""

    def __init__(self, policy: OutgoingPolicy, resolve: Resolver = system_resolve) -> None:
        self.policy = policy
        self.resolve = resolve
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await asyncio.to_thread(_connect_addresses, host, port, self.policy, self.resolve)
        last: Exception | None = None
        for address in addresses:
            try:
                return await self.inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except httpcore.ConnectError as exc:
                last = exc
        raise last or httpcore.ConnectError(f"cannot connect to {host!r}")

    async def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        raise UrlNotAllowed("Outgoing calls do not use unix sockets.")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


def _policy(allow: Iterable[str] | OutgoingPolicy) -> OutgoingPolicy:
    return allow if isinstance(allow, OutgoingPolicy) else OutgoingPolicy.from_entries(allow)


def outgoing_client(
    allow: Iterable[str] | OutgoingPolicy = (), *, resolve: Resolver = system_resolve, **kwargs: Any
) -> httpx.Client:
    """An httpx.Client whose every connection goes through the guard; redirects are not followed."""
    transport = httpx.HTTPTransport(retries=0)
    # httpx 0.28 takes no network_backend argument; the pool reads this attribute for every new
    # connection, so replacing it routes all of them through the guard.
    transport._pool._network_backend = GuardedBackend(_policy(allow), resolve)
    return httpx.Client(transport=transport, follow_redirects=False, trust_env=False, **kwargs)


def async_outgoing_client(
    allow: Iterable[str] | OutgoingPolicy = (), *, resolve: Resolver = system_resolve, **kwargs: Any
) -> httpx.AsyncClient:
    transport = httpx.AsyncHTTPTransport(retries=0)
    transport._pool._network_backend = AsyncGuardedBackend(_policy(allow), resolve)
    return httpx.AsyncClient(transport=transport, follow_redirects=False, trust_env=False, **kwargs)
