"""Which addresses the robot connects to: never its own network, whatever a host name resolves to.

``catalogue check`` refuses numeric loopback, private and link-local hosts, but a name is only an
address once resolved, and DNS is the site's (or an attacker's): ``rdv.example.fr`` may resolve to
``127.0.0.1``, ``10.0.0.7`` or ``169.254.169.254`` (a cloud's metadata service) on the day of the
run, or a redirect may lead to such a name. What the robot fetches is archived, rendered and
published, so a page from the robot's own network must never be fetched. The check is made where
the connection is made: aiohttp asks :class:`GuardedResolver` for the addresses of every host it
connects to, redirect hops and robots.txt included, and connects only to the addresses it returns,
so the address checked is the address used (no second lookup that could answer otherwise).

Numeric hosts are not resolved (aiohttp connects to them as written): they are the catalogue's to
refuse, and a redirect to another host is not followed anyway (``session._refuse_off_site``).
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Final

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

__all__ = ["GuardedResolver", "LocalAddressRefused", "local_kind"]


# IPv6 addresses that carry an IPv4 address, reached through it: NAT64's well-known prefix
# (RFC 6052: the network's NAT64 gateway connects to the IPv4 address in its last 32 bits) and
# its local-use prefix (RFC 8215: meant for the network's own, private, IPv4 addresses).
_NAT64: Final = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL: Final = ipaddress.IPv6Network("64:ff9b:1::/48")
_COMPATIBLE: Final = ipaddress.IPv6Network("::/96")  # ::a.b.c.d, deprecated (RFC 4291)


def _embedded(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one leads to, if it is written in it: IPv4-mapped, NAT64,
    6to4 (2002:a.b.c.d::), IPv4-compatible (not :: and ::1, which are IPv6's own)."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64 or (ip in _COMPATIBLE and int(ip) > 1):
        return ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF)
    return None


def local_kind(address: str, *, allow_local: bool) -> str | None:
    """What makes ``address`` part of the robot's own network ("loopback", "private"...), or
    None for a public address. With ``allow_local`` (a catalogue of simulated sites, tests),
    loopback and private addresses pass; link-local, multicast, unspecified and reserved ones
    never do, as in ``catalogue check``. An IPv6 address that carries an IPv4 one (mapped,
    NAT64, 6to4, IPv4-compatible) is judged by the IPv4 address it leads to."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "unreadable"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in _NAT64_LOCAL:
            return None if allow_local else "private"
        ip = _embedded(ip) or ip
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_loopback:
        return None if allow_local else "loopback"
    if ip.is_private or not ip.is_global:
        if ip.is_reserved:
            return "reserved"
        return None if allow_local else "private"
    return None


class LocalAddressRefused(OSError):
    """Every address of a host name lies in the robot's own network: no connection is made."""

    def __init__(self, host: str, refused: list[tuple[str, str]]) -> None:
        shown = ", ".join(f"{address} ({kind})" for address, kind in refused[:4])
        super().__init__(
            f"the host {host} resolves to {shown}, in the robot's own network: not connected "
            "(a catalogue of simulated sites says allow_local = true)"
        )
        self.host = host
        self.refused = refused


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver, but addresses in the robot's own network are dropped; a host left
    with none raises :class:`LocalAddressRefused`. ``inner`` is the resolver asked (aiohttp's
    default; tests give one that maps names to loopback addresses)."""

    def __init__(self, inner: AbstractResolver | None = None, *, allow_local: bool = False) -> None:
        self._inner = inner if inner is not None else DefaultResolver()
        self._owned = inner is None  # a resolver given by the caller is the caller's to close
        self.allow_local = allow_local

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        kept: list[ResolveResult] = []
        refused: list[tuple[str, str]] = []
        for result in found:
            kind = local_kind(result["host"], allow_local=self.allow_local)
            if kind is None:
                kept.append(result)
            else:
                refused.append((result["host"], kind))
        if not kept and refused:
            raise LocalAddressRefused(host.rstrip("."), refused)
        return kept

    async def close(self) -> None:
        if self._owned:
            await self._inner.close()
