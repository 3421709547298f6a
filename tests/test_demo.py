"""A demo run, probe by probe, against the simulator's truth.

For every stored probe, the truth is asked at the instant each page was served (the trail records
it): a "no slot" page must meet an empty calendar, each week grid (or RDV-Préfecture slot page)
must show exactly the truth's free slots of that week, an eAppointment date page the first free
day's slots, an error must meet an outage, a barrier a block, a captcha or a firewall. Nothing the
robot sent may be a booking request or a captcha answer.
"""

from __future__ import annotations

import asyncio
import json
import os
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from guichets.model import PARIS, Detail, Extra, Observation, Outcome
from guichets.runlock import AlreadyRunning, run_lock
from guichets.simulator import World, load_scenario
from guichets.simulator.groundtruth import ServiceTruth
from guichets.store import Store
from guichets.usecases.demo import DEMO_CADENCE, run_demo
from tests.rdvpref_sim import expected_slots

DAYS = 30  # the full demo, as `guichets demo` runs it
PER_DAY = 4  # its cadence: one probe every 6 hours
OUTAGE_DETAILS = {"http_502", "http_503", "http_504", Detail.OVERLOADED, Detail.CLOSED}


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Observation], int]:
    home = tmp_path_factory.mktemp("demo")
    assert DEMO_CADENCE == "6h"
    result = asyncio.run(run_demo(home, days=DAYS, evidence=False))  # evidence: own tests
    with Store.open(None, home=home) as store:
        observations = list(store.observations())
    return home, observations, result.forbidden


def _service_of(world: World, probe_service: str) -> tuple[ServiceTruth, int | None]:
    """Catalogue ids of multi-counter services end with the counter id."""
    if probe_service in world.services:
        return world.services[probe_service], None
    base, _, counter = probe_service.rpartition("-")
    return world.services[base], int(counter)


def _grid_requests(obs: Observation) -> list[datetime]:
    """When each week grid was served, week after week from the week of today. A reader that
    builds the grid URL may first ask an offset whose origin it has yet to learn, then correct it
    once: that first grid is not a week of the walk (its header told the origin)."""
    grids = [s for s in obs.trail if "bookingserver::planning::assign" in s.url]
    offsets = [int(s.url.rsplit("::", 1)[1]) for s in grids]
    if len(grids) >= 2 and offsets[1] - offsets[0] != 7:
        grids = grids[1:]
    return [s.at for s in grids]


def _check_rdvpref(service: ServiceTruth, obs: Observation) -> None:
    """A démarche: its captcha on every probe, or its slot pages equal to the truth."""
    last = obs.trail[-1].at
    spell = service.outages.at(last)
    if spell is not None and spell.kind == "firewall":
        assert (obs.outcome, obs.detail) == (Outcome.BARRIER, Detail.BLOCKED), obs.service
        assert obs.extra[Extra.FIREWALL] == "imperva" and obs.http_status == 200
        return
    if obs.outcome is Outcome.SITE_ERROR:
        assert spell is not None and obs.detail == spell.kind, f"{obs.service} at {last}"
        return
    assert obs.detail != Detail.BLOCKED, f"{obs.service} blocked at {last} without a firewall"
    if service.config.captcha:
        assert (obs.outcome, obs.detail) == (Outcome.BARRIER, Detail.CAPTCHA), obs.service
        assert obs.extra[Extra.CAPTCHA] == "captchetat"
        assert obs.trail[-1].url.endswith("/cgu/") and obs.trail[-1].method == "GET"
        return
    assert obs.outcome.valid, f"unexpected {obs.outcome}/{obs.detail} for {obs.service}"
    assert all(service.outages.at(step.at) is None for step in obs.trail)
    counter = service.counter()
    if obs.detail == Detail.NO_SLOT_PAGE:
        assert counter.free_slots(last) == [], f"{obs.service} said no slot at {last}"
        if counter.model.release == "weekly":
            assert obs.extra[Extra.NEXT_RELEASE] == _next_release(service, last).isoformat()
        return
    if obs.detail == Detail.NONE_WITHIN_HORIZON:
        first = counter.free_slots(last)[0].start
        assert obs.horizon_end is not None and first > obs.horizon_end, obs.service
        return
    assert list(obs.slots) == expected_slots(counter, obs), obs.service


def _next_release(service: ServiceTruth, after: datetime) -> datetime:
    """The next weekly release after an instant, from the scenario's words."""
    model = service.counter().model
    weekday = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"].index(model.release_weekday)
    hour, minute = (int(x) for x in model.release_time.split(":"))
    day = after.astimezone(PARIS).date()
    while True:
        at = datetime(day.year, day.month, day.day, hour, minute, tzinfo=PARIS)
        if day.weekday() == weekday and at > after:
            return at
        day += timedelta(days=1)


def _check_eappointment(world: World, service: ServiceTruth, obs: Observation) -> None:
    """An office and motive: the alert when nothing, else the first free day's slots."""
    choice = obs.trail[-1]
    assert choice.method == "POST", "every probe of an office ends with its choice of motive"
    spell = service.outages.at(choice.at)
    if obs.outcome is Outcome.SITE_ERROR:
        assert spell is not None, f"{obs.service} error {obs.detail} at {choice.at}"
        own = spell.kind in ("closed", "overloaded")
        assert obs.detail == (Detail.APP_ERROR if own else spell.kind)
        return
    assert obs.outcome.valid and spell is None, f"{obs.outcome}/{obs.detail} for {obs.service}"
    free = service.counter().free_slots(choice.at)
    if obs.outcome is Outcome.UNAVAILABLE:
        assert not free, f"{obs.service} said no slot at {choice.at}"
        office = [s for s in world if s.config.sitekey == service.config.sitekey]
        others = any(s.counter().free_slots(choice.at) for s in office)
        assert obs.extra[Extra.NO_SLOT_MESSAGE] == ("motifs" if others else "service")
        return
    assert obs.horizon_end is not None
    first = free[0].start.date()
    assert list(obs.slots) == [
        s.start for s in free if s.start.date() == first and s.start <= obs.horizon_end
    ], obs.service
    # The datepicker shows the month of the first free day and the next one.
    months = {(first.year, first.month), (first.year + first.month // 12, first.month % 12 + 1)}
    last_day = obs.horizon_end.date()
    shown = sorted(
        {
            s.start.date().isoformat()
            for s in free
            if (s.start.year, s.start.month) in months and s.start.date() <= last_day
        }
    )
    assert obs.extra[Extra.AVAILABLE_DAYS] == ",".join(shown), obs.service


def _check(world: World, obs: Observation) -> None:
    service, counter_id = _service_of(world, obs.service)
    if service.site.platform == "rdvpref":
        _check_rdvpref(service, obs)
        return
    if service.site.platform == "eappointment":
        _check_eappointment(world, service, obs)
        return
    counter = service.counter(counter_id)
    booking = [s for s in obs.trail if "/booking/create/" in s.url]
    assert booking, "every probe that was not refused before starting walks the module"
    last = obs.trail[-1].at
    if service.site.block and service.site.block.user_agents:
        assert (obs.outcome, obs.detail) == (Outcome.BARRIER, Detail.BLOCKED)
        return
    if obs.outcome is Outcome.SITE_ERROR:
        spell = service.outages.at(last)
        assert spell is not None, f"{obs.service} error {obs.detail} at {last} without outage"
        assert obs.detail == spell.kind
        return
    if obs.outcome is Outcome.UNRECOGNIZED:
        assert obs.detail == Detail.LAYOUT_CHANGED and service.layout_at(last) == "v2"
        return
    assert obs.outcome.valid, f"unexpected {obs.outcome}/{obs.detail} for {obs.service}"
    for step in booking:
        assert service.outages.at(step.at) is None and service.layout_at(step.at) == "v1"
    if obs.detail == Detail.NO_SLOT_PAGE:
        assert counter.free_slots(last) == [], f"{obs.service} said no slot at {last}"
        return
    # Week k of the grids was served at the k-th grid request: compare it with the truth then.
    monday = obs.started_at.astimezone(PARIS).date()
    monday -= timedelta(days=monday.weekday())
    expected: list[datetime] = []
    assert obs.horizon_end is not None
    for k, at in enumerate(_grid_requests(obs)):
        week_start = monday + timedelta(days=7 * k)
        week_end = week_start + timedelta(days=7)
        expected += [
            s.start
            for s in counter.free_slots(at)
            if week_start <= s.start.date() < week_end
            and obs.started_at < s.start <= obs.horizon_end
        ]
    assert list(obs.slots) == sorted(expected), obs.service
    if obs.outcome is Outcome.AVAILABLE:
        # At the probe's instant the first two slots are the truth's, unless the truth itself
        # changed during the few (simulated) seconds the probe took.
        at_start = [s.start for s in counter.free_slots(obs.started_at)][:2]
        at_end = [s.start for s in counter.free_slots(obs.finished_at)][:2]
        assert list(obs.slots[:2]) == at_start or at_start != at_end, obs.service


def test_every_probe_of_the_demo_equals_the_truth(
    demo_run: tuple[Path, list[Observation], int],
) -> None:
    _, observations, forbidden = demo_run
    world = World.from_scenario(load_scenario("france-demo"))
    assert forbidden == 0
    services = {o.service for o in observations}
    assert len(services) >= 39  # one catalogue entry per counter, three platforms
    assert len(observations) >= len(services) * DAYS * PER_DAY * 0.95
    for obs in observations:
        _check(world, obs)
    outcomes = {o.outcome for o in observations}
    assert outcomes == set(Outcome) - ({Outcome.UNRECOGNIZED} if DAYS < 15 else set())
    # Every platform measured something, and the barriers were reported as such.
    seen = {(o.platform, o.outcome, o.detail) for o in observations}
    for platform in ("rdvpref", "eappointment"):
        assert (platform, Outcome.AVAILABLE, Detail.SLOTS_SEEN) in seen
        assert (platform, Outcome.UNAVAILABLE, Detail.NO_SLOT_PAGE) in seen
    assert ("rdvpref", Outcome.BARRIER, Detail.CAPTCHA) in seen
    assert ("rdvpref", Outcome.BARRIER, Detail.BLOCKED) in seen
    assert ("eappointment", Outcome.SITE_ERROR, Detail.APP_ERROR) in seen
    wordings = {o.extra.get(Extra.NO_SLOT_MESSAGE) for o in observations if o.extra}
    assert {"motifs", "service", "from_date"} <= wordings


def test_demo_data_directory_is_readable_by_report(
    demo_run: tuple[Path, list[Observation], int],
) -> None:
    home, observations, _ = demo_run
    assert (home / "guichets.sqlite").exists() and (home / "catalogue.toml").exists()
    with Store.open(None, home=home) as store:
        assert store.count() == len(observations)


def test_report_unrecognized_groups_the_layout_change(
    demo_run: tuple[Path, list[Observation], int],
) -> None:
    """The demo's Val-d'Oise site changes its layout mid-period: the pages the robot could not
    read form one group (platform, reason, page shape) with its probes and their commands."""
    from typer.testing import CliRunner

    from guichets.cli import app

    home, observations, _ = demo_run
    unread = [o for o in observations if o.outcome is Outcome.UNRECOGNIZED]
    assert unread, "the demo's layout change leaves pages the robot cannot read"
    runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})
    result = runner.invoke(
        app, ["report", "--unrecognized", "--home", str(home), "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    groups = json.loads(result.output)
    assert sum(g["count"] for g in groups) == len(unread)
    changed = [g for g in groups if g["detail"] == Detail.LAYOUT_CHANGED]
    assert changed and changed[0]["platform"] == "ezbooking" and len(changed[0]["shape"]) == 10
    latest = max(
        (o for o in unread if o.detail == Detail.LAYOUT_CHANGED), key=lambda o: o.started_at
    )
    assert latest.probe_id in changed[0]["probes"]
    assert f"guichets evidence screenshot {latest.probe_id}" in changed[0]["commands"]
    later = (latest.started_at + timedelta(days=1)).astimezone(PARIS).date().isoformat()
    since = runner.invoke(app, ["report", "--unrecognized", "--home", str(home), "--since", later])
    assert since.exit_code == 0 and "no unrecognized page" in since.output
    table = runner.invoke(app, ["report", "--unrecognized", "--home", str(home)])
    assert table.exit_code == 0 and "layout_changed" in table.output
    assert f"guichets evidence screenshot {latest.probe_id}" in table.output


def test_the_demo_takes_the_run_lock_of_its_data_directory(tmp_path: Path) -> None:
    """A demo on a data directory a run holds is refused before it probes anything, naming
    the run; the same lock as ``guichets run``."""
    home = tmp_path / "data"
    with Store.open(None, home=home) as store, run_lock(home, store):
        with pytest.raises(AlreadyRunning, match=f"pid {os.getpid()} "):
            asyncio.run(run_demo(home, days=1))
        assert store.count() == 0
