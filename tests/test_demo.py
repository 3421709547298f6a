"""A demo run, probe by probe, against the simulator's truth.

For every stored probe, the truth is asked at the instant each page was served (the trail records
it): a "no slot" page must meet an empty calendar, each week grid must show exactly the truth's
free slots of that week, an error must meet an outage, a barrier a block. Nothing the robot sent
may be a booking request.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from guichets.demo import run_demo
from guichets.model import PARIS, Detail, Observation, Outcome
from guichets.simulator import World, load_scenario
from guichets.simulator.groundtruth import ServiceTruth
from guichets.store import Store

DAYS = 7
OUTAGE_DETAILS = {"http_502", "http_503", "http_504", Detail.OVERLOADED, Detail.CLOSED}


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Observation], int]:
    home = tmp_path_factory.mktemp("demo")
    result = asyncio.run(run_demo(home, days=DAYS))
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
    return [s.at for s in obs.trail if "bookingserver::planning::assign" in s.url]


def _check(world: World, obs: Observation) -> None:
    service, counter_id = _service_of(world, obs.service)
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
    assert len(services) >= 28  # one catalogue entry per counter
    assert len(observations) >= len(services) * DAYS * 24 * 0.95
    for obs in observations:
        _check(world, obs)
    outcomes = {o.outcome for o in observations}
    assert outcomes == set(Outcome) - ({Outcome.UNRECOGNIZED} if DAYS < 15 else set())


def test_demo_data_directory_is_readable_by_report(
    demo_run: tuple[Path, list[Observation], int],
) -> None:
    home, observations, _ = demo_run
    assert (home / "guichets.sqlite").exists() and (home / "catalogue.toml").exists()
    with Store.open(None, home=home) as store:
        assert store.count() == len(observations)
