"""Outbound request guard (SSRF): which URLs the server may call on a business's behalf.

A URL passes when its scheme is http or https and EVERY address its host resolves to is a public
(globally routable, unicast) address. Loopback, RFC 1918 private, link-local (169.254.0.0/16, where
cloud metadata lives), CGNAT (100.64.0.0/10), multicast, unspecified, reserved, documentation,
IPv6 unique-local (fc00::/7) and link-local (fe80::/10) addresses are refused, also when they hide
inside an IPv4-mapped, 6to4 or Teredo IPv6 address.

`check_url` returns the addresses it checked; the caller connects to one of them (never resolving
the name again), so a DNS answer that changes between the check and the connection (DNS rebinding)
cannot reach a refused address. Used by HTTP rule actions (bot/http_action.py); URL ingestion can
reuse it.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from bot.errors import BotError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], list[str]]
SCHEMES = {"http": 80, "https": 443}
# Cloud metadata endpoints: refused even when private networks are allowed, unless allow-listed by CIDR.
METADATA = (ipaddress.ip_network("169.254.0.0/16"), ipaddress.ip_network("fd00:ec2::/32"))
_CGNAT = ipaddress.ip_network("100.64.0.0/10")


class BlockedURL(BotError):
    """The URL may not be called: bad scheme, no host, unresolvable, or a refused address."""


def system_resolver(host: str, port: int) -> list[str]:
    """Every address the operating system's resolver gives for host (IPv4 and IPv6)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise BlockedURL(f"cannot resolve host {host!r}: {exc}") from exc
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _embedded(address: IPAddress) -> IPAddress | None:
    """The IPv4 address an IPv6 address carries (IPv4-mapped, 6to4, Teredo), if any."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.sixtofour is not None:
            return address.sixtofour
        if address.teredo is not None:
            return address.teredo[1]
    return None


def refusal(address: IPAddress) -> str | None:
    """Why a plain policy refuses this address ('loopback', 'private', ...), or None if it is public."""
    inner = _embedded(address)
    if inner is not None:
        reason = refusal(inner)
        return f"{reason} (inside {address})" if reason else None
    checks = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("CGNAT", isinstance(address, ipaddress.IPv4Address) and address in _CGNAT),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
        ("not globally routable", not address.is_global),
    )
    return next((name for name, hit in checks if hit), None)


def parse_networks(values: Iterable[str]) -> tuple[IPNetwork, ...]:
    """CIDRs (or single addresses) as networks; ValueError names a bad one."""
    networks = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError as exc:
            raise ValueError(f"{value!r} is not an IP network like 10.0.0.0/8: {exc}") from exc
    return tuple(networks)


@dataclass(frozen=True)
class NetPolicy:
    """Which destinations are allowed.

    allow_private: also allow loopback, private, CGNAT and unique-local addresses (tests, on-prem
        installs); link-local/metadata, multicast and unspecified addresses stay refused.
    allow_networks: networks allowed whatever they are (e.g. 169.254.10.0/24 for an on-prem service).
    allow_hosts: host names (exact, case-insensitive) whose addresses are allowed whatever they are.
    """

    allow_private: bool = False
    allow_networks: tuple[IPNetwork, ...] = ()
    allow_hosts: frozenset[str] = frozenset()
    resolver: Resolver = field(default=system_resolver, compare=False)

    def refuses(self, address: IPAddress, host: str) -> str | None:
        """Why this address (of host) is refused, or None when it may be called."""
        if host.lower() in self.allow_hosts or any(address in n for n in self.allow_networks):
            return None
        reason = refusal(address)
        if reason is None or not self.allow_private:
            return reason
        base = _embedded(address) or address
        if base.is_link_local or base.is_multicast or base.is_unspecified or any(base in n for n in METADATA):
            return reason  # metadata endpoints and addresses that are never a service stay refused
        return None


@dataclass(frozen=True)
class Target:
    """A checked URL: where to connect (one of `addresses`) and what to call it (host, for TLS and Host)."""

    scheme: str
    host: str
    port: int
    addresses: tuple[str, ...]

    @property
    def netloc(self) -> str:
        """host[:port] as the Host header shows it (the port only when not the scheme's default)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == SCHEMES[self.scheme] else f"{host}:{self.port}"


def check_url(url: str, policy: NetPolicy) -> Target:
    """Check a URL against the policy: the addresses to connect to, or BlockedURL saying why not."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise BlockedURL(f"not a valid URL: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise BlockedURL(f"only http and https URLs may be called, not {scheme or 'a relative URL'!r}")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise BlockedURL("the URL has no host")
    if parts.username or parts.password:
        raise BlockedURL("credentials in the URL are not allowed; send them in a header")
    port = port or SCHEMES[scheme]
    addresses = _addresses(host, port, policy)
    if not addresses:
        raise BlockedURL(f"host {host!r} resolves to no address")
    for address in addresses:
        reason = policy.refuses(address, host)
        if reason:
            shown = host if str(address) == host else f"{host} ({address})"
            raise BlockedURL(f"{shown} is a {reason} address, which actions may not call")
    return Target(scheme, host, port, tuple(str(a) for a in addresses))


def _addresses(host: str, port: int, policy: NetPolicy) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host)]  # a literal address: nothing to resolve
    except ValueError:
        pass
    found = []
    for value in policy.resolver(host, port):
        try:
            found.append(ipaddress.ip_address(value.split("%", 1)[0]))  # drop an IPv6 zone id
        except ValueError as exc:
            raise BlockedURL(f"host {host!r} resolved to {value!r}, which is not an address") from exc
    return found
