"""A host name that resolves into the robot's own network is not connected to, unless the
catalogue allows local hosts (``allow_local = true``, simulated sites only).

The names are resolved by a test resolver (the seam ``HostGates(resolver=...)``) that maps
them to loopback addresses where small servers listen; the servers count what they receive, so
"not connected" is checked at the other end of the wire. Addresses outside loopback (link-local,
public) are only ever handed to the resolver's filter, never connected to: no traffic leaves
loopback, whatever the outcome."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from guichets.catalogue import load_catalogue
from guichets.clock import SimulatedClock
from guichets.http import FetchError, HostGates, Politeness, PoliteSession
from guichets.http.addresses import GuardedResolver, LocalAddressRefused, local_kind
from guichets.model import PARIS, Detail, Observation, Outcome
from guichets.probe import run_probe
from guichets.runner import from_catalogue
from tests.faults.test_redirects import Host, _host

START = datetime(2026, 10, 5, 9, 0, tzinfo=PARIS)
NAME = "rdv.prefecture-exemple.fr"  # looks public; resolves to loopback in these tests
OTHER = "paiement.prefecture-exemple.fr"


class MapResolver(AbstractResolver):
    """Names to fixed addresses, as a hostile or broken DNS would answer."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.asked: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.asked.append(host)
        addresses = self.table.get(host.rstrip("."))
        if addresses is None:
            raise OSError(f"{host} is not in the test's table")
        return [
            ResolveResult(hostname=host, host=address, port=port, family=family, proto=0, flags=0)
            for address in addresses
        ]

    async def close(self) -> None:
        return None


@pytest.fixture
async def loopback() -> AsyncIterator[tuple[Host, Host, dict[str, str]]]:
    """Two small servers: the booking host on 127.0.0.1, another on 127.0.0.2."""
    routes: dict[str, str] = {}
    other, other_runner = await _host("127.0.0.2", {})
    booking, runner = await _host("127.0.0.1", routes)
    yield booking, other, routes
    await runner.cleanup()
    await other_runner.cleanup()


def _port(host: Host) -> int:
    return int(host.url.rsplit(":", 1)[1])


def _gates(resolver: MapResolver) -> HostGates:
    return HostGates(SimulatedClock(START), Politeness(min_gap=0, timeout=30), resolver=resolver)


async def test_a_name_resolving_to_loopback_is_refused_before_any_request(
    loopback: tuple[Host, Host, dict[str, str]],
) -> None:
    """``rdv.…`` resolving to 127.0.0.1: FetchError ``off_site`` naming the host and the
    address, and the server received nothing, robots.txt included."""
    booking, _, _ = loopback
    resolver = MapResolver({NAME: ["127.0.0.1"]})
    async with PoliteSession(_gates(resolver)) as session:
        with pytest.raises(FetchError) as raised:
            await session.get(f"http://{NAME}:{_port(booking)}/booking/create/1")
    assert raised.value.detail == Detail.OFF_SITE
    assert NAME in raised.value.message and "127.0.0.1 (loopback)" in raised.value.message
    assert resolver.asked and booking.seen == []


async def test_allow_local_lets_the_same_name_through(
    loopback: tuple[Host, Host, dict[str, str]],
) -> None:
    """The same name with ``allow_local`` (a catalogue of simulated sites): robots.txt and the
    page are fetched from 127.0.0.1."""
    booking, _, _ = loopback
    resolver = MapResolver({NAME: ["127.0.0.1"]})
    async with PoliteSession(_gates(resolver), allow_local=True) as session:
        response = await session.get(f"http://{NAME}:{_port(booking)}/booking/create/1")
    assert response.status == 200
    assert booking.seen == ["/robots.txt", "/booking/create/1"]


async def test_every_redirect_hop_is_checked(
    loopback: tuple[Host, Host, dict[str, str]],
) -> None:
    """The booking host (numeric, allowed) redirects to a name the catalogue lists in
    ``other_hosts`` but that resolves to 127.0.0.2: the hop is refused, ``off_site``, and the
    second server receives nothing, not even its robots.txt."""
    booking, other, routes = loopback
    routes["/booking/create/1"] = f"http://{OTHER}:{_port(other)}/booking/create/1"
    resolver = MapResolver({OTHER: ["127.0.0.2"]})
    async with PoliteSession(_gates(resolver), other_hosts=[OTHER]) as session:
        with pytest.raises(FetchError) as raised:
            await session.get(booking.url + "/booking/create/1")
    assert raised.value.detail == Detail.OFF_SITE and OTHER in raised.value.message
    assert booking.seen == ["/robots.txt", "/booking/create/1"]
    assert other.seen == []


def _catalogue(tmp_path: Path, port: int, allow_local: bool) -> Path:
    path = tmp_path / "catalogue.toml"
    path.write_text(
        ("allow_local = true\n\n" if allow_local else "")
        + f"""[[services]]
id = "38-exemple-titre-sejour"
departement = "38"
site = "Préfecture d'exemple"
procedure = "titre-sejour"
platform = "ezbooking"
url = "http://{NAME}:{port}/booking/create/1"
cadence = "1h"
""",
        "utf-8",
    )
    return path


async def _probe_from(path: Path, resolver: MapResolver) -> Observation:
    (scheduled,) = from_catalogue(load_catalogue(path).services)
    clock = SimulatedClock(START)
    return await run_probe(scheduled.spec, _gates(resolver), clock)


async def test_the_probe_records_an_honest_outcome_unless_the_catalogue_allows_local(
    loopback: tuple[Host, Host, dict[str, str]], tmp_path: Path
) -> None:
    """From the catalogue to the stored observation: without ``allow_local`` the probe is
    ``barrier`` / ``off_site`` (never "no slot"), with nothing sent; with ``allow_local = true``
    at the top of the same file, the probe reaches the page."""
    booking, _, _ = loopback
    resolver = MapResolver({NAME: ["127.0.0.1"]})
    refused = await _probe_from(_catalogue(tmp_path, _port(booking), False), resolver)
    assert (refused.outcome, refused.detail) == (Outcome.BARRIER, Detail.OFF_SITE)
    assert "own network" in refused.message and refused.slots == ()
    assert booking.seen == []
    allowed = await _probe_from(_catalogue(tmp_path, _port(booking), True), resolver)
    assert allowed.detail != Detail.OFF_SITE
    assert "/booking/create/1" in booking.seen


async def test_the_filter_keeps_public_addresses_and_never_allows_link_local() -> None:
    """The resolver's filter alone (nothing is connected): a name with a public and a loopback
    address keeps the public one; link-local (a cloud's metadata service), multicast and
    unspecified addresses are refused even with ``allow_local``; IPv6 loopback and an
    IPv4-mapped private address are local too."""
    inner = MapResolver({
        "mixed.example.fr": ["127.0.0.1", "192.0.43.10"],
        "metadata.example.fr": ["169.254.169.254"],
        "v6.example.fr": ["::1", "::ffff:10.1.2.3", "fe80::1%2"],
    })  # fmt: skip
    strict = GuardedResolver(inner)
    assert [r["host"] for r in await strict.resolve("mixed.example.fr", 443)] == ["192.0.43.10"]
    with pytest.raises(LocalAddressRefused, match="loopback"):
        await strict.resolve("v6.example.fr", 443)
    relaxed = GuardedResolver(inner, allow_local=True)
    with pytest.raises(LocalAddressRefused, match="link-local"):
        await relaxed.resolve("metadata.example.fr", 80)
    kept = await relaxed.resolve("v6.example.fr", 443)
    assert [r["host"] for r in kept] == ["::1", "::ffff:10.1.2.3"]
    for address, kind in (
        ("10.0.0.7", "private"), ("172.16.5.4", "private"), ("192.168.1.1", "private"),
        ("100.64.0.1", "private"), ("169.254.1.1", "link-local"), ("224.0.0.1", "multicast"),
        ("0.0.0.0", "unspecified"), ("fc00::1", "private"), ("8.8.8.8", None),
    ):  # fmt: skip
        assert local_kind(address, allow_local=False) == kind, address


def test_ipv4_addresses_written_inside_ipv6_are_judged_as_ipv4() -> None:
    """An AAAA record can carry an IPv4 address: NAT64 (64:ff9b::/96, reached through the
    network's NAT64 gateway), 6to4 (2002::/16), the old IPv4-compatible form (::a.b.c.d) and the
    local-use NAT64 prefix (64:ff9b:1::/48). Each is the embedded address's kind, so that a name
    answering ``64:ff9b::a9fe:a9fe`` does not lead to a cloud's metadata service."""
    for address, kind in (
        ("64:ff9b::a9fe:a9fe", "link-local"), ("64:ff9b::7f00:1", "loopback"),
        ("64:ff9b::a00:7", "private"), ("2002:7f00:1::1", "loopback"),
        ("2002:a9fe:a9fe::1", "link-local"), ("2002:c0a8:101::1", "private"),
        ("::7f00:1", "loopback"), ("::a9fe:a9fe", "link-local"), ("64:ff9b:1::a00:1", "private"),
        ("64:ff9b::808:808", None), ("2002:808:808::1", None), ("2606:4700::1111", None),
    ):  # fmt: skip
        assert local_kind(address, allow_local=False) == kind, address
    assert local_kind("64:ff9b::a9fe:a9fe", allow_local=True) == "link-local"
    assert local_kind("64:ff9b::a00:7", allow_local=True) is None
