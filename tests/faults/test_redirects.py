"""The robot stays on the booking site and never sends a personal field, redirects included.

Two hosts on loopback (127.0.0.1 and 127.0.0.2, as two sites): a booking page that redirects to
the other host must not lead the robot there (not even to its robots.txt) unless the catalogue
lists it; a redirect whose target carries a personal field, however spelled, is refused before it
is sent."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime

import pytest
from aiohttp import web

from guichets.clock import SimulatedClock
from guichets.http import HostGates, Politeness
from guichets.http.personal import is_personal
from guichets.model import PARIS, Detail, Observation, Outcome
from guichets.platforms import Target
from guichets.probe import ProbeSpec, run_probe

START = datetime(2026, 10, 5, 9, 0, tzinfo=PARIS)


@dataclass
class Host:
    url: str
    seen: list[str] = field(default_factory=list)


async def _host(address: str, routes: dict[str, str]) -> tuple[Host, web.AppRunner]:
    """A host whose paths redirect to ``routes[path]`` (a URL), else answer a small page."""
    host = Host("")

    async def handle(request: web.Request) -> web.StreamResponse:
        host.seen.append(str(request.rel_url))
        if request.path == "/robots.txt":
            return web.Response(status=404)
        target = routes.get(request.path)
        if target is not None:
            raise web.HTTPFound(target)
        return web.Response(text="<html><body><p>page</p></body></html>", content_type="text/html")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, address, 0)
    await site.start()
    host.url = f"http://{address}:{runner.addresses[0][1]}"
    return host, runner


@pytest.fixture
async def two_hosts() -> AsyncIterator[tuple[Host, Host, dict[str, str]]]:
    routes: dict[str, str] = {}
    elsewhere, other = await _host("127.0.0.2", {})
    booking, runner = await _host("127.0.0.1", routes)
    yield booking, elsewhere, routes
    await runner.cleanup()
    await other.cleanup()


async def _probe(url: str, other_hosts: tuple[str, ...] = ()) -> Observation:
    clock = SimulatedClock(START)
    gates = HostGates(clock, Politeness(min_gap=0, timeout=30))
    spec = ProbeSpec("38-x", "ezbooking", Target(url, other_hosts=other_hosts))
    return await run_probe(spec, gates, clock)


async def test_a_redirect_to_another_host_is_not_followed(
    two_hosts: tuple[Host, Host, dict[str, str]],
) -> None:
    """Booking page → other host: ``barrier`` / ``off_site`` naming the host; the other host
    receives nothing at all, robots.txt included."""
    booking, elsewhere, routes = two_hosts
    routes["/booking/create/1"] = elsewhere.url + "/booking/create/1"
    obs = await _probe(booking.url + "/booking/create/1")
    assert (obs.outcome, obs.detail) == (Outcome.BARRIER, Detail.OFF_SITE), obs.message
    assert "127.0.0.2" in obs.message
    assert elsewhere.seen == []


async def test_a_host_the_catalogue_lists_is_followed(
    two_hosts: tuple[Host, Host, dict[str, str]],
) -> None:
    """The same redirect, with the other host in ``other_hosts``: followed (robots.txt first)."""
    booking, elsewhere, routes = two_hosts
    routes["/booking/create/1"] = elsewhere.url + "/booking/create/1"
    obs = await _probe(booking.url + "/booking/create/1", other_hosts=("127.0.0.2",))
    assert obs.detail != Detail.OFF_SITE
    assert elsewhere.seen[:2] == ["/robots.txt", "/booking/create/1"]


@pytest.mark.parametrize(
    "name",
    ["email", "e-mail", "E_Mail", "courriel", "adresseMail", "captcha_code", "captchaCode",
     "g-recaptcha-response", "telephone", "date_naissance", "nom", "user[email]"],
)  # fmt: skip
async def test_a_personal_field_on_a_redirect_hop_is_never_sent(
    two_hosts: tuple[Host, Host, dict[str, str]], name: str
) -> None:
    """A redirect to the same host whose query carries a personal field: refused before it is
    sent (the probe is no finding about availability), the host never sees the field."""
    booking, _, routes = two_hosts
    routes["/booking/create/1"] = f"{booking.url}/booking/create/1/2?{name}=x%40y.fr"
    obs = await _probe(booking.url + "/booking/create/1")
    assert (obs.outcome, obs.detail) == (Outcome.UNRECOGNIZED, Detail.BOOKING_STEP_REFUSED)
    assert not any("x%40y" in path or "x@y" in path for path in booking.seen), booking.seen


@pytest.mark.parametrize(
    "name", ["planning", "nextButton", "condition", "selectedMotiveKeyList", "sitekey", "motif"]
)
def test_the_fields_the_readers_send_are_not_personal(name: str) -> None:
    """The filter does not stop the robot's own fields."""
    assert not is_personal(name)
