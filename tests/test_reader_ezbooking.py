"""The legacy module's reader against the simulator: every page state gets its honest outcome."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from aiohttp import web

from guichets.clock import SimulatedClock
from guichets.http import ForbiddenRequest, HostGates, Politeness
from guichets.model import Category, Detail, Observation, Outcome
from guichets.platforms import Target
from guichets.platforms.ezbooking import EzBookingReader, GridError, guard, parse_week
from guichets.probe import ProbeSpec, run_probe
from guichets.simulator.groundtruth import PARIS, ServiceTruth
from tests.robotsim import LOCAL_AGENT, Bench, bench


def _first_instant(service: ServiceTruth, start, predicate, hours: int = 24 * 30):  # type: ignore[no-untyped-def]
    for hour in range(hours):
        at = start + timedelta(hours=hour, minutes=17)
        if predicate(at):
            return at
    raise AssertionError(f"no instant found for {service.id}")


def _up(service: ServiceTruth, at) -> bool:  # type: ignore[no-untyped-def]
    return service.outages.at(at) is None and service.layout_at(at) == "v1"


async def _truth_first_two(b: Bench, service_id: str, counter: int | None = None) -> list:  # type: ignore[type-arg]
    free = b.world.services[service_id].counter(counter).free_slots(b.clock.now())
    return [s.start for s in free[:2]]


async def test_closed_counter_is_unavailable_from_the_exact_sentence() -> None:
    async with bench() as b:
        obs = await b.probe("63-clermont-renouvellement")
    assert (obs.outcome, obs.detail) == (Outcome.UNAVAILABLE, Detail.NO_SLOT_PAGE)
    assert obs.category is Category.E and obs.slots == ()
    assert [s.url.rsplit("/", 1)[1] for s in obs.trail] == ["robots.txt", "7001", "0", "2"]
    assert obs.requests == 4
    assert not b.sim.forbidden


async def test_available_slots_are_the_truth() -> None:
    async with bench() as b:
        obs = await b.probe("974-saint-denis-titre-sejour")
        expected = await _truth_first_two(b, "974-saint-denis-titre-sejour")
    assert obs.outcome is Outcome.AVAILABLE and obs.detail == Detail.SLOTS_SEEN
    assert list(obs.slots[:2]) == expected
    assert obs.category is Category.A
    assert all(s.tzinfo is not None and s.utcoffset() == s.astimezone(PARIS).utcoffset()
               for s in obs.slots)  # fmt: skip
    assert obs.horizon_end == obs.started_at.astimezone(PARIS) + timedelta(days=91)  # wall clock
    assert not b.sim.forbidden


async def test_several_counters_without_planning_probe_the_first_and_say_so() -> None:
    async with bench() as b:
        obs = await b.probe("92-nanterre-remise-titre")
        chosen = await b.probe("92-nanterre-remise-titre", counter="14932")
        expected = await _truth_first_two(b, "92-nanterre-remise-titre", 14932)
        missing = await b.probe("92-nanterre-remise-titre", counter="99")
    assert obs.counter == "14673"
    assert chosen.counter == "14932" and list(chosen.slots[:2]) == expected
    assert (missing.outcome, missing.detail) == (Outcome.UNRECOGNIZED, Detail.COUNTER_MISSING)
    assert missing.kept_page and b"planning14806" in missing.kept_page


@pytest.mark.parametrize(
    "service_id",
    [
        "92-nanterre-naturalisation",  # notice step, fixed week origin
        "34-montpellier-titre-sejour",  # step-2 page and notice
        "67-strasbourg-etrangers-malades",  # half-English header
        "93-le-raincy-titre-sejour",  # /index.php/ prefix
        "95-cergy-renouvellement",  # daily release
    ],
)
async def test_variants_read_like_the_truth(service_id: str) -> None:
    async with bench() as b:
        service = b.world.services[service_id]
        for wanted in (True, False):

            def predicate(t: datetime, wanted: bool = wanted) -> bool:
                return _up(service, t) and bool(service.counter().free_slots(t)) is wanted

            try:
                at = _first_instant(service, max(b.clock.now(), b.world.start), predicate)
            except AssertionError:
                continue
            b.at(at)
            obs = await b.probe(service_id)
            truth = service.counter(int(obs.counter or 0) or None).free_slots(at)
            if truth:
                assert obs.outcome is Outcome.AVAILABLE
                assert list(obs.slots[:2]) == [s.start for s in truth[:2]]
            else:
                assert obs.outcome is Outcome.UNAVAILABLE
        assert not b.sim.forbidden


async def test_none_within_horizon_when_grids_are_read_to_the_end() -> None:
    """Slots exist, but none within a short horizon: unavailable, read to the horizon."""
    async with bench() as b:
        service = b.world.services["92-nanterre-naturalisation"]
        counter = service.counter()

        def far_only(t: datetime) -> bool:
            free = counter.free_slots(t)
            return _up(service, t) and bool(free) and free[0].start > t + timedelta(days=8)

        b.at(_first_instant(service, b.world.start, far_only))
        obs = await b.probe(service.id, horizon_days=7)
    assert (obs.outcome, obs.detail) == (Outcome.UNAVAILABLE, Detail.NONE_WITHIN_HORIZON)
    assert obs.category is Category.E and obs.slots == ()
    assert int(obs.extra["weeks_read"]) in (2, 3)


async def test_layout_change_is_unrecognized_with_the_page_kept() -> None:
    async with bench() as b:
        service = b.world.services["95-sarcelles-vie-privee"]
        assert service.config.layout_change_at is not None
        b.at(service.config.layout_change_at + timedelta(minutes=5))
        obs = await b.probe(service.id)
    assert (obs.outcome, obs.detail) == (Outcome.UNRECOGNIZED, Detail.LAYOUT_CHANGED)
    assert obs.kept_page is not None and b"accept_cgu" in obs.kept_page
    assert obs.category is None


async def test_robot_user_agent_blocked_is_a_barrier() -> None:
    async with bench() as b:  # the default User-Agent says "guichets": Val-de-Marne blocks it
        obs = await b.probe("94-creteil-titre-sejour")
    assert (obs.outcome, obs.detail) == (Outcome.BARRIER, Detail.BLOCKED)
    assert obs.http_status == 403 and obs.category is None


async def test_burst_block_mid_walk_is_a_barrier_never_unavailable() -> None:
    async with bench(user_agent=LOCAL_AGENT) as b:
        # Without a gap, ten probes at one instant exceed the site's 20 requests in 10 s.
        seen = [await b.probe("31-toulouse-premiere-demande") for _ in range(10)]
    blocked = [
        i for i, o in enumerate(seen) if (o.outcome, o.detail) == (Outcome.BARRIER, Detail.BLOCKED)
    ]
    assert blocked and blocked == list(range(blocked[0], 10)), "blocked, then blocked for good"
    assert all(o.outcome.valid for o in seen[: blocked[0]])


async def test_polite_gap_avoids_the_burst_block() -> None:
    async with bench(user_agent=LOCAL_AGENT, gap=1.0) as b:
        outcomes = {(await b.probe("31-toulouse-renouvellement")).outcome for _ in range(3)}
    assert Outcome.BARRIER not in outcomes


@pytest.mark.parametrize(
    ("service_id", "kind", "expected"),
    [
        ("93-bobigny-titre-sejour", "http_502", (Outcome.SITE_ERROR, "http_502")),
        ("93-bobigny-titre-sejour", "http_503", (Outcome.SITE_ERROR, "http_503")),
        ("93-bobigny-titre-sejour", "http_504", (Outcome.SITE_ERROR, "http_504")),
        ("75-paris-aes-travail", "overloaded", (Outcome.SITE_ERROR, Detail.OVERLOADED)),
        ("78-versailles-naturalisation", "closed", (Outcome.SITE_ERROR, Detail.CLOSED)),
    ],
)
async def test_outages_are_site_errors(
    service_id: str, kind: str, expected: tuple[str, str]
) -> None:
    async with bench(user_agent=LOCAL_AGENT) as b:
        service = b.world.services[service_id]
        spells = service.outages.between(b.world.start, b.world.start + timedelta(days=30))
        spell = next(s for s in spells if s.kind == kind)
        b.at(spell.start + (spell.end - spell.start) / 2)
        obs = await b.probe(service_id)
    assert (obs.outcome, obs.detail) == expected
    assert obs.category is None


def _scenario(tmp_path: Path, site_extra: str) -> Path:
    path = tmp_path / "scenario.toml"
    path.write_text(
        f"""
[scenario]
name = "edge"
start = 2026-10-05T00:00:00+02:00

[[sites]]
slug = "edge"
name = "Préfecture de test"
host = "www.edge.gouv.fr"
departement = "38"
{site_extra}

[[sites.services]]
id = "38-edge-renouvellement"
procedure = "renouvellement"
title = "Renouvellement"
form_id = 10
counters = [{{ id = 11, label = "Guichet 1" }}]
model = {{ demand_per_hour = 0.1 }}
""",
        encoding="utf-8",
    )
    return path


async def test_429_is_rate_limited(tmp_path: Path) -> None:
    scenario = _scenario(
        tmp_path,
        "throttle = { max_requests = 3, per_seconds = 60, status = 429, retry_after = 5000 }",
    )
    async with bench(scenario, user_agent=LOCAL_AGENT) as b:
        obs = await b.probe("38-edge-renouvellement")
    assert (obs.outcome, obs.detail) == (Outcome.BARRIER, Detail.RATE_LIMITED)


async def test_throttle_502_is_a_site_error(tmp_path: Path) -> None:
    scenario = _scenario(
        tmp_path, "throttle = { max_requests = 3, per_seconds = 60, status = 502, retry_after = 1 }"
    )
    async with bench(scenario, user_agent=LOCAL_AGENT) as b:
        obs = await b.probe("38-edge-renouvellement")
    assert (obs.outcome, obs.detail) == (Outcome.SITE_ERROR, "http_502")


@pytest.mark.parametrize(
    ("robots", "expected"),
    [
        ("disallow", (Outcome.BARRIER, Detail.ROBOTS)),
        ("error", (Outcome.BARRIER, Detail.ROBOTS)),
        ("missing", (Outcome.AVAILABLE, Detail.SLOTS_SEEN)),
        ("allow", (Outcome.AVAILABLE, Detail.SLOTS_SEEN)),
    ],
)
async def test_robots_txt_is_obeyed(tmp_path: Path, robots: str, expected: tuple[str, str]) -> None:
    scenario = _scenario(tmp_path, f'robots = "{robots}"')
    async with bench(scenario, hosts="loopback") as b:
        obs = await b.probe("38-edge-renouvellement")
    assert (obs.outcome, obs.detail) == expected
    if robots == "disallow":
        assert obs.requests == 1  # robots.txt only: nothing else was asked


async def test_robots_override_is_recorded(tmp_path: Path) -> None:
    scenario = _scenario(tmp_path, 'robots = "disallow"')
    async with bench(scenario, hosts="loopback") as b:
        host = b.url("38-edge-renouvellement").split("/")[2]
        b.gates = HostGates(
            b.clock, Politeness(min_gap=0, robots_overrides={host: "test of the override"})
        )
        obs = await b.probe("38-edge-renouvellement")
    assert obs.outcome is Outcome.AVAILABLE
    assert host in obs.extra["robots_override"]


@pytest.fixture
async def odd_site() -> AsyncIterator[str]:
    """A site that answers the booking URL with pages the module never shows."""
    hang = asyncio.Event()

    async def unknown(request: web.Request) -> web.Response:
        return web.Response(text="<html><body><h1>Nouveau site</h1><p>Bienvenue</p></body></html>",
                            content_type="text/html")  # fmt: skip

    async def slow(request: web.Request) -> web.Response:
        await hang.wait()
        return web.Response(text="late")

    async def binary(request: web.Request) -> web.Response:
        return web.Response(body=bytes(range(256)) * 10, content_type="text/html")

    async def robots(request: web.Request) -> web.Response:
        return web.Response(status=404)

    app = web.Application()
    app.router.add_get("/robots.txt", robots)
    app.router.add_get("/unknown/booking/create/1", unknown)
    app.router.add_get("/slow/booking/create/1", slow)
    app.router.add_get("/binary/booking/create/1", binary)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}"
    hang.set()
    await runner.cleanup()


async def _probe_url(url: str, limit: float = 20.0) -> Observation:
    clock = SimulatedClock(datetime(2026, 10, 5, tzinfo=PARIS))
    gates = HostGates(clock, Politeness(min_gap=0, timeout=limit))
    return await run_probe(ProbeSpec("adhoc", "ezbooking", Target(url)), gates, clock)


async def test_unknown_page_timeout_and_binary(odd_site: str) -> None:
    unknown = await _probe_url(f"{odd_site}/unknown/booking/create/1")
    assert (unknown.outcome, unknown.detail) == (Outcome.UNRECOGNIZED, Detail.LAYOUT_CHANGED)
    assert b"Nouveau site" in unknown.kept_page
    slow = await _probe_url(f"{odd_site}/slow/booking/create/1", limit=2.0)  # robots.txt first
    assert (slow.outcome, slow.detail) == (Outcome.SITE_ERROR, Detail.TIMEOUT)
    binary = await _probe_url(f"{odd_site}/binary/booking/create/1")
    assert binary.outcome is Outcome.UNRECOGNIZED


async def test_network_error_is_a_site_error() -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    obs = await _probe_url(f"http://127.0.0.1:{port}/booking/create/1")
    assert obs.outcome is Outcome.SITE_ERROR


def test_guard_refuses_every_booking_step() -> None:
    base = "https://www.isere.gouv.fr/booking/create/4129"
    for ok in (base, f"{base}/0", f"{base}/3"):
        guard("GET", ok)
    guard("POST", f"{base}/2", {"nextButton": "Etape suivante"})
    guard("GET", f"{base}/4")
    refused = [
        ("POST", f"{base}/4", {"nextButton": "Etape suivante"}),
        ("GET", f"{base}/5/4130/1791356400", {}),
        ("GET", f"{base}/9", {}),
        ("GET", f"{base}/%35", {}),  # sent as /5
        ("POST", f"{base}/2", {"nextButton": "Première plage horaire libre"}),
        ("POST", f"{base}/2", {"nextButton": "  PREMIÈRE plage  horaire libre "}),
    ]
    for method, url, data in refused:
        with pytest.raises(ForbiddenRequest):
            guard(method, url, data)


def test_check_url_says_what_a_booking_url_looks_like() -> None:
    reader = EzBookingReader()
    reader.check_url("https://www.isere.gouv.fr/booking/create/4129")
    reader.check_url("https://www.seine-saint-denis.gouv.fr/index.php/booking/create/9845/0")
    for bad in (
        "ftp://x/booking/create/1",
        "https://www.isere.gouv.fr/rdv",
        "https://x/booking/create/1/5",
    ):
        with pytest.raises(ValueError, match=r"booking|http"):
            reader.check_url(bad)


GRID = """<table class="planning"><thead><tr><th colspan="7">{header}</th></tr></thead><tbody>
<tr><th>09:00</th><td class="status-1 free"><a href="/booking/create/1/5/2/{ts}">libre</a></td>
<td class="status-2 busy">réservé</td></tr></tbody></table>
<div class="legende"><ul><li><span class="status-1 free">libre</span></li></ul></div>"""


def test_parse_week_reads_header_and_timestamps_not_the_legend() -> None:
    ts = 1791356400  # Wednesday 2026-10-07 09:00 Paris
    week = parse_week(
        GRID.format(header="Semaine du lundi 05 octobre 2026 au dimanche 11 octobre 2026", ts=ts)
    )
    assert str(week.monday) == "2026-10-05" and len(week.free) == 1
    assert week.free[0].isoformat() == "2026-10-07T09:00:00+02:00"
    english = parse_week(
        GRID.format(header="Week from lundi 05 octobre 2026 to dimanche 11 octobre 2026", ts=ts)
    )
    assert english.free == week.free


@pytest.mark.parametrize(
    "fragment",
    [
        GRID.format(header="Semaine prochaine", ts=1791356400),
        GRID.format(
            header="Semaine du lundi 12 octobre 2026 au dimanche 18 octobre 2026", ts=1791356400
        ),
        GRID.format(
            header="Semaine du mardi 06 octobre 2026 au lundi 12 octobre 2026", ts=1791356400
        ),
        GRID.format(header="Semaine du lundi 05 octobre 2026 au dimanche 11 octobre 2026", ts="x"),
        "",
    ],
)
def test_parse_week_refuses_what_it_cannot_be_sure_of(fragment: str) -> None:
    with pytest.raises(GridError):
        parse_week(fragment)


@pytest.fixture
async def leading_site() -> AsyncIterator[tuple[str, list[str]]]:
    """A site whose pages lead into booking steps: by redirect, or by an encoded form action."""
    seen: list[str] = []
    form = (
        '<form id="FormBookingCreate" name="create" method="post" action="{action}">'
        '<input type="checkbox" name="condition" id="condition" />'
        '<input type="submit" name="nextButton" value="Effectuer une demande de rendez-vous" />'
        "</form>"
    )

    async def conditions(request: web.Request) -> web.Response:
        seen.append(f"{request.method} {request.path}")
        action = "/encoded/booking/create/1/%35" if "encoded" in request.path else request.path
        return web.Response(text=form.format(action=action), content_type="text/html")

    async def redirect(request: web.Request) -> web.Response:
        seen.append(f"{request.method} {request.path}")
        raise web.HTTPTemporaryRedirect("/redirect/booking/create/1/5")  # 307 keeps the POST

    async def anything(request: web.Request) -> web.Response:
        seen.append(f"{request.method} {request.path}")
        return web.Response(text="booked!", content_type="text/html")

    app = web.Application()
    app.router.add_get("/redirect/booking/create/1", conditions)
    app.router.add_post("/redirect/booking/create/1", redirect)
    app.router.add_get("/encoded/booking/create/1", conditions)
    app.router.add_route("*", "/{tail:.*}", anything)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}", seen
    await runner.cleanup()


async def test_the_guard_sees_every_hop_and_the_decoded_path(
    leading_site: tuple[str, list[str]],
) -> None:
    base, seen = leading_site
    for path in ("redirect", "encoded"):
        obs = await _probe_url(f"{base}/{path}/booking/create/1")
        assert (obs.outcome, obs.detail) == (Outcome.UNRECOGNIZED, Detail.BOOKING_STEP_REFUSED)
    assert not [s for s in seen if "/5" in s], f"a booking step was sent: {seen}"
    assert "POST /redirect/booking/create/1" in seen  # the walk went as far as it may


def _grid(
    cells: str, header: str = "Semaine du lundi 05 octobre 2026 au dimanche 11 octobre 2026"
) -> str:
    return f'<table><thead><tr><th colspan="7">{header}</th></tr></thead><tbody><tr>{cells}</tr></tbody></table>'  # noqa: E501


@pytest.mark.parametrize(
    "cells",
    [
        "",  # a grid without cells
        '<td class="status-1 libre"><a href="/x/1791356400">libre</a></td>',  # renamed class
        "<td>Erreur interne</td>",
        '<td class="status-1">x</td>',  # status-1 without "free"
        '<td class="status-2 free"><a href="/x/1791356400">x</a></td>',
    ],
)
def test_a_grid_with_unknown_cells_is_not_an_empty_week(cells: str) -> None:
    with pytest.raises(GridError):
        parse_week(_grid(cells))


def test_grid_cells_of_known_kinds_and_the_empty_week_row() -> None:
    week = parse_week(_grid('<td class="status-0 closed"></td><td class="status-2 busy">r</td>'
                            '<td class="status-3 past"></td>'))  # fmt: skip
    assert week.free == ()
    empty = parse_week(_grid('<td colspan="7" class="vide">Aucune plage horaire</td>'))
    assert empty.free == ()


def test_headers_across_the_new_year_and_the_first_of_the_month() -> None:
    ts = 1798790400  # 2027-01-01 09:00 Paris
    week = parse_week(_grid(
        f'<td class="status-1 free"><a href="/b/5/1/{ts}">libre</a></td>',
        "Semaine du lundi 28 décembre 2026 au dimanche 03 janvier 2027",
    ))  # fmt: skip
    assert (
        str(week.monday) == "2026-12-28" and week.free[0].isoformat() == "2027-01-01T09:00:00+01:00"
    )
    header = "Semaine du lundi 1er février 2027 au dimanche 07 février 2027"
    first = parse_week(_grid('<td class="status-0"></td>', header))
    assert str(first.monday) == "2027-02-01"


async def test_a_single_counter_site_showing_another_planning_is_not_read_as_asked() -> None:
    async with bench() as b:
        obs = await b.probe("69-lyon-etudiants", counter="9999")
    assert (obs.outcome, obs.detail) == (Outcome.UNRECOGNIZED, Detail.COUNTER_MISSING)
    assert "2202" in obs.message
