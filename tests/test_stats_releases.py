"""Batch releases and how long they last, from probes alone, against the simulator's truth.

The probes here are what a robot probing hourly would have recorded: the simulator's truth at
those instants (the demo test checks, probe by probe, that the robot records exactly that). The
batches' real release times and lifetimes come from the truth's timeline.
"""

from __future__ import annotations

import itertools
import random
import statistics
from datetime import UTC, datetime, timedelta

import pytest

from guichets.model import PARIS
from guichets.schedule import Plan, planned_at
from guichets.simulator import World, load_scenario
from guichets.stats.releases import detect_release, episodes, release_rows

WEEKS = 10
SCENARIO = """
[scenario]
name = "batches"
seed = 5
start = 2026-10-05T00:00:00+02:00

[[sites]]
slug = "seine-maritime"
name = "Préfecture de la Seine-Maritime"
host = "www.seine-maritime.gouv.fr"
departement = "76"

[[sites.services]]
id = "76-thursday-batch"
procedure = "premiere-demande"
title = "A Thursday batch that lasts hours"
form_id = 1
counters = [{ id = 11, label = "Guichet" }]
[sites.services.model]
window_days = 21
release = "weekly"
release_weekday = "thu"
release_time = "10:00"
demand_per_hour = 12.0
demand_profile = "flat"

[[sites.services]]
id = "76-monday-batch"
procedure = "renouvellement"
title = "A Monday batch gone in about an hour"
form_id = 2
counters = [{ id = 12, label = "Guichet" }]
[sites.services.model]
window_days = 28
release = "weekly"
release_weekday = "mon"
release_time = "14:00"
demand_per_hour = 90.0
demand_profile = "flat"
earliest_share = 0.3

[[sites.services]]
id = "76-daily-batch"
procedure = "etudiants"
title = "A daily batch at 08:00"
form_id = 3
counters = [{ id = 13, label = "Guichet" }]
[sites.services.model]
window_days = 45
release = "daily"
release_time = "08:00"
demand_per_hour = 8.0
demand_profile = "flat"

[[sites.services]]
id = "76-continuous"
procedure = "naturalisation"
title = "Slots that come and go all day"
form_id = 4
counters = [{ id = 14, label = "Guichet" }]
[sites.services.model]
window_days = 30
demand_per_hour = 1.2
earliest_share = 0.8

[[sites.services]]
id = "76-closed"
procedure = "asile"
title = "Never any slot"
form_id = 5
counters = [{ id = 15, label = "Guichet" }]
[sites.services.model]
opening_hours = []

[[sites.services]]
id = "76-plenty"
procedure = "visiteur"
title = "Always slots"
form_id = 6
counters = [{ id = 16, label = "Guichet" }]
[sites.services.model]
window_days = 60
demand_per_hour = 0.25
"""
RELEASES = {
    "76-thursday-batch": (3, 10, 0),
    "76-monday-batch": (0, 14, 0),
    "76-daily-batch": (None, 8, 0),
}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    path = tmp_path_factory.mktemp("batches") / "batches.toml"
    path.write_text(SCENARIO, encoding="utf-8")
    return World.from_scenario(load_scenario(path))


def _probes(world: World, service: str, plan: Plan = Plan.RANDOM) -> list[tuple[datetime, bool]]:
    counter = world.services[service].counter()
    start = world.start
    points = []
    for h in range(WEEKS * 7 * 24):
        hour = start + timedelta(hours=h)
        at = planned_at(service, hour, 3600, seed=3, plan=plan)
        points.append((at, bool(counter.free_slots(at))))
    return points


def _batches(world: World, service: str) -> list[tuple[datetime, float]]:
    """The truth: each batch released at its time, and how long until no slot was left."""
    weekday, hour, minute = RELEASES[service]
    segments = (
        world.services[service]
        .counter()
        .timeline(world.start, world.start + timedelta(weeks=WEEKS))
    )
    found = []
    for before, segment in itertools.pairwise(segments):
        local = segment.start.astimezone(PARIS)
        on_time = (local.hour, local.minute) == (hour, minute)
        if on_time and weekday in (None, local.weekday()) and before.free == 0 and segment.free:
            gone = next(s.start for s in segments if s.start > segment.start and s.free == 0)
            found.append((segment.start, (gone - segment.start).total_seconds() / 60))
    return found


def test_episodes_are_runs_with_a_date_between_empty_probes() -> None:
    t = datetime(2026, 10, 5, tzinfo=UTC)
    h = [t + timedelta(hours=i) for i in range(9)]
    points = [
        (h[0], True),
        (h[1], False),
        (h[2], True),
        (h[3], True),
        (h[4], False),
        (h[5], False),
        (h[6], True),
        (h[7], False),
        (h[8], True),
    ]
    found = episodes(points)
    assert [(e.before, e.first, e.last, e.after, e.probes) for e in found] == [
        (h[1], h[2], h[3], h[4], 2),
        (h[5], h[6], h[6], h[7], 1),
    ]  # the runs at both edges bound nothing


def test_a_thursday_batch_that_lasts_hours(world: World) -> None:
    service = "76-thursday-batch"  # Thursdays 10:00 Paris, gone after 8.5 to 9.5 hours
    truth = _batches(world, service)
    assert len(truth) >= WEEKS - 1 and all(420 < m < 660 for _, m in truth)
    release = detect_release(service, _probes(world, service))
    assert release is not None and release.cycle == "weekly"
    day, start, end = release.opens_at()
    assert day == 3 and start <= "10:00" <= end, (start, end)
    assert release.opens_width <= 3600
    lasts = statistics.median(minutes for _, minutes in truth)
    assert release.lasts_at_least_minutes <= lasts <= release.lasts_at_most_minutes
    assert release.lasts_mean_minutes is not None
    assert release.lasts_mean_minutes == pytest.approx(
        statistics.fmean(m for _, m in truth), abs=45
    )
    assert release.agreeing >= 0.8 * WEEKS


def test_a_monday_batch_gone_within_the_hour_or_so(world: World) -> None:
    service = "76-monday-batch"  # Mondays 14:00, gone after about an hour
    truth = _batches(world, service)
    assert len(truth) >= WEEKS - 1 and all(30 < m < 120 for _, m in truth)
    release = detect_release(service, _probes(world, service))
    assert release is not None
    day, start, end = release.opens_at()
    assert day == 0 and start <= "14:00" <= end
    lasts = statistics.median(minutes for _, minutes in truth)
    assert release.lasts_at_least_minutes <= lasts <= release.lasts_at_most_minutes
    assert release.lasts_mean_minutes == pytest.approx(
        statistics.fmean(m for _, m in truth), abs=30
    )


def test_probes_at_a_fixed_minute_cannot_draw_the_curve(world: World) -> None:
    service = "76-thursday-batch"
    release = detect_release(service, _probes(world, service, Plan.FIXED))
    assert release is not None and release.lasts_mean_minutes is None


def test_a_daily_batch(world: World) -> None:
    service = "76-daily-batch"
    truth = _batches(world, service)
    release = detect_release(service, _probes(world, service))
    assert release is not None and release.cycle == "daily"
    day, start, end = release.opens_at()
    assert day is None and start <= "08:00" <= end
    # Slots on weekdays, released 45 days ahead: releases from Friday to Tuesday.
    assert release.weekdays == tuple(sorted({at.astimezone(PARIS).weekday() for at, _ in truth}))
    assert len(release.weekdays) == 5
    lasts = statistics.median(minutes for _, minutes in truth)
    assert release.lasts_at_least_minutes <= lasts <= release.lasts_at_most_minutes
    assert release.lasts_mean_minutes == pytest.approx(
        statistics.fmean(m for _, m in truth), abs=30
    )


@pytest.mark.parametrize("service", ["76-continuous", "76-closed", "76-plenty"])
def test_no_batch_where_there_is_none(world: World, service: str) -> None:
    assert detect_release(service, _probes(world, service)) is None


def test_release_rows_read_store_points() -> None:
    t = datetime(2026, 10, 1, 10, 20, tzinfo=PARIS)  # a Thursday
    rng = random.Random(2)
    rows = []
    for week in range(6):
        for hour in range(-30, 60):
            at = t + timedelta(weeks=week, hours=hour, minutes=rng.randrange(-15, 15))
            found = 0 <= hour < 5
            rows.append(
                (
                    "76-x",
                    at.astimezone(UTC),
                    "available" if found else "unavailable",
                    "A" if found else "E",
                )
            )
        rows.append(("76-x", t + timedelta(weeks=week, hours=61), "site_error", None))
    (found,) = release_rows(sorted(rows, key=lambda r: r[1]))
    assert found.service == "76-x" and found.to_json()["weekday"] == 3
    assert found.to_json()["valid"] == 6 * 90


def _best_window_by_every_pair(
    spans: list[tuple[float, float]], period: int
) -> tuple[float, float, int]:
    """The window as first written: every span tested against every point (the reference)."""
    best: tuple[float, float, int] = (0.0, 0.0, 0)
    for start, length in spans:
        point = (start + length) % period
        offsets = [(point - s) % period for s, n in spans if 0 < (point - s) % period <= n]
        if len(offsets) > best[2]:
            best = ((point - min(offsets)) % period, min(offsets), len(offsets))
    return best


@pytest.mark.parametrize("cycle", ["weekly", "daily"])
def test_best_window_is_the_one_every_pair_finds(cycle: str) -> None:
    """Points counted only when a bound says they may beat the best find the same window as
    testing every pair: at random, at fixed minutes (spans meeting end to start), across the
    cycle's end, with a few long spans."""
    from guichets.stats.releases import CYCLES, _best_window

    period = CYCLES[cycle]
    rng = random.Random(7)
    for trial in range(300):
        n = rng.choice([0, 1, 2, 5, 40, 200])
        spans: list[tuple[float, float]] = []
        for _ in range(n):
            kind = rng.random()
            if kind < 0.3:  # hourly probes at a fixed minute: spans of exactly an hour
                start = float(rng.randrange(period // 3600) * 3600 + 600)
                length = 3600.0
            elif kind < 0.4:  # near the end of the cycle, reaching over it
                start = period - rng.random() * 7200
                length = rng.random() * 7200
            elif kind < 0.45:  # a long outage before the episode
                start = rng.random() * period
                length = rng.random() * (period / 2 - 1)
            else:
                start = rng.random() * period
                length = rng.choice([0.25, 1.0, 60.0, 3599.5, 3600.0]) * rng.random() * 4
            spans.append((start, length))
        if trial % 7 == 0 and spans:  # equal spans, repeated
            spans += spans[: n // 2]
        assert _best_window(spans, period) == _best_window_by_every_pair(spans, period), trial
