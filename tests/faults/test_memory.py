"""The demo's memory stays flat: the in-process simulator forgets the truth of the past it is
told to (``keep``), answers every question about the recent past exactly as a simulator that
remembers everything, and refuses questions about what it forgot. Sizes of the truth's own lists
are asserted, not process memory (which a busy machine and the allocator blur); bench/memory.py
measures the process."""

from __future__ import annotations

from datetime import timedelta

import pytest

from guichets.simulator import load_scenario
from guichets.simulator.groundtruth import CounterTruth, World

SCENARIO = load_scenario("france-demo")
START = SCENARIO.scenario.start
KEEP = timedelta(days=10)
SOME = ("63-clermont-renouvellement", "974-saint-denis-titre-sejour", "93-bobigny-titre-sejour")


def _worlds() -> tuple[World, World]:
    """A world that forgets and one that remembers (three services: the work stays small)."""
    return World.from_scenario(SCENARIO, keep=KEEP), World.from_scenario(SCENARIO)


def _counters(world: World) -> list[CounterTruth]:
    return [c for ident in SOME for c in world.services[ident].counters.values()]


def _sizes(world: World) -> int:
    """Every list of the truth that grows with simulated time."""
    return sum(
        len(c.slots) + len(c._changes_at) + len(c._changes) + len(c._closes) + len(c._by_ts)
        + len(c._bookings) + len(c._events)
        for c in _counters(world)
    )  # fmt: skip


def test_what_is_kept_stays_bounded_over_months() -> None:
    """Simulated for 20 then 60 days, a forgetting world holds about as much as after 20, while
    one that remembers grows by more than half what the forgetting one holds in all (slots
    ahead in the booking window and pending events included)."""
    forgetting, remembering = _worlds()
    sizes: dict[str, list[int]] = {"forgetting": [], "remembering": []}
    for days in (20, 60):
        for name, world in (("forgetting", forgetting), ("remembering", remembering)):
            for counter in _counters(world):
                counter.advance_to(START + timedelta(days=days))
            sizes[name].append(_sizes(world))
    assert sizes["forgetting"][1] < sizes["forgetting"][0] * 1.2, sizes
    assert sizes["remembering"][1] - sizes["remembering"][0] > sizes["forgetting"][1] / 2, sizes


def test_recent_answers_are_those_of_a_world_that_remembers() -> None:
    """After 40 days, free slots, the timeline of the last week and a week grid's states are
    the same either way."""
    forgetting, remembering = _worlds()
    now = START + timedelta(days=40)
    week = now - timedelta(days=7)
    for world in (forgetting, remembering):
        for counter in _counters(world):
            counter.advance_to(now)
    for counter, other in zip(_counters(remembering), _counters(forgetting), strict=True):
        for at in (week, now - timedelta(hours=5), now):
            assert [s.start for s in other.free_slots(at)] == [
                s.start for s in counter.free_slots(at)
            ]
        assert other.timeline(week, now) == counter.timeline(week, now)
        monday = (now - timedelta(days=3)).date()
        assert other.states_of_days(monday, 7, now) == counter.states_of_days(monday, 7, now)


def test_the_forgotten_past_is_refused_not_made_up() -> None:
    """A question about a forgotten instant raises, saying so; it never answers wrong."""
    world = World.from_scenario(SCENARIO, keep=KEEP)
    counter = world.services[SOME[0]].counter()
    counter.advance_to(START + timedelta(days=40))
    with pytest.raises(ValueError, match="forgotten"):
        counter.free_slots(START + timedelta(days=2))
    with pytest.raises(ValueError, match="forgotten"):
        counter.timeline(START, START + timedelta(days=40))


def test_outage_spells_are_forgotten_too() -> None:
    """The random outage spells of every service (the last list of the truth that grew for ever,
    found by bench/memory.py over 40 days): after 60 days a forgetting world holds about as many
    as after 20, one that remembers three times as many; the recent past reads the same, the
    forgotten one is refused."""
    forgetting, remembering = _worlds()
    kept: dict[str, list[int]] = {"forgetting": [], "remembering": []}
    for days in (20, 60):
        for name, world in (("forgetting", forgetting), ("remembering", remembering)):
            for service in world:
                service.outages.at(START + timedelta(days=days))
            kept[name].append(sum(service.outages.kept for service in world))
    assert kept["remembering"][0] > 0, kept
    assert kept["forgetting"][1] < kept["forgetting"][0] * 1.5 + 10, kept
    assert kept["remembering"][1] > 2 * kept["remembering"][0], kept
    now = START + timedelta(days=60)
    for mine, other in zip(forgetting, remembering, strict=True):
        week = now - timedelta(days=7)
        assert mine.outages.between(week, now) == other.outages.between(week, now)
        assert mine.outages.at(now - timedelta(hours=3)) == other.outages.at(
            now - timedelta(hours=3)
        )
    some = next(iter(forgetting))
    with pytest.raises(ValueError, match="forgotten"):
        some.outages.between(START, now)
