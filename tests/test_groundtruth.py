"""The ground truth of the simulator: what was really bookable, at every instant.

Scenarios are built in code, small, so that every expectation can be worked out by hand.
"""

from __future__ import annotations

import bisect
import functools
import math
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guichets.simulator.groundtruth import (
    PARIS,
    Calendar,
    CounterTruth,
    OutagePlan,
    Segment,
    ServiceTruth,
    Slot,
    World,
    share_without_slot,
)
from guichets.simulator.scenario import (
    CounterConfig,
    ModelConfig,
    OutageConfig,
    ScenarioConfig,
)

SERVICE = "38-grenoble-test"
START = datetime(2026, 1, 5, 0, 0, tzinfo=PARIS)  # a Monday, far from any DST change
ZERO_DEMAND: dict[str, Any] = {"demand_per_hour": 0, "cancel_probability": 0}
ALL_DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAY = timedelta(days=1)


def make_scenario(
    model: dict[str, Any] | None = None,
    *,
    outages: dict[str, Any] | None = None,
    seed: int = 7,
    start: datetime = START,
    counters: list[dict[str, Any]] | None = None,
    layout_change_at: datetime | None = None,
) -> ScenarioConfig:
    service: dict[str, Any] = {
        "id": SERVICE,
        "procedure": "renouvellement",
        "title": "Renouvellement - Grenoble",
        "form_id": 4129,
        "counters": counters or [{"id": 11, "label": "Guichet 1"}],
        "model": model or {},
        "outages": outages or {},
        "layout_change_at": layout_change_at,
    }
    return ScenarioConfig.model_validate(
        {
            "scenario": {"name": "test", "seed": seed, "start": start},
            "sites": [
                {
                    "slug": "isere",
                    "name": "Préfecture de l'Isère",
                    "host": "www.isere.gouv.fr",
                    "departement": "38",
                    "services": [service],
                }
            ],
        }
    )


def counter_of(model: dict[str, Any], *, seed: int = 7, start: datetime = START) -> CounterTruth:
    """The single counter of a one-service scenario (warmed up like the simulator does)."""
    return World.from_scenario(make_scenario(model, start=start), seed).services[SERVICE].counter()


def bare_counter(model: dict[str, Any], *, seed: int = 7, origin: datetime = START) -> CounterTruth:
    """A counter whose model starts at ``origin`` (no warm-up): cheap with heavy demand."""
    config = ModelConfig.model_validate(model)
    return CounterTruth(SERVICE, CounterConfig(id=1, label="Guichet"), config, seed, origin)


def starts(slots: list[Slot]) -> list[datetime]:
    return [s.start for s in slots]


def bookable(counter: CounterTruth, at: datetime) -> list[Slot]:
    """Every slot inside the bookable window at ``at``, taken or not."""
    counter.advance_to(at)
    return [s for s in counter.slots if s.release_at <= at < s.closes_at]


def calendar_starts(model: dict[str, Any], first: date, last: date) -> list[datetime]:
    calendar = Calendar(ModelConfig.model_validate(model))
    out: list[datetime] = []
    day = first
    while day <= last:
        out.extend(calendar.starts_on(day))
        day += DAY
    return out


def paris_date(instant: datetime) -> date:
    return instant.astimezone(PARIS).date()


def segment_at(segments: list[Segment], instant: datetime) -> Segment:
    index = bisect.bisect_right([s.start for s in segments], instant) - 1
    segment = segments[index]
    assert segment.start <= instant < segment.end
    return segment


def assert_well_formed(segments: list[Segment], start: datetime, end: datetime) -> None:
    assert segments[0].start == start
    assert segments[-1].end == end
    for before, after in pairwise(segments):
        assert before.end == after.start
        assert before.start < before.end
    for segment in segments:
        assert (segment.first is None) == (segment.free == 0)
        assert (segment.second is None) == (segment.free < 2)
        if segment.first is not None and segment.second is not None:
            assert segment.first <= segment.second


# -- determinism --------------------------------------------------------------------------------

BUSY: dict[str, Any] = {
    "window_days": 21,
    "demand_per_hour": 2.0,
    "cancel_probability": 0.3,
    "earliest_share": 0.5,
}
PERIOD = timedelta(days=14)


def test_same_seed_same_timeline_other_seed_other_timeline() -> None:
    scenario = make_scenario(BUSY, counters=[{"id": 1, "label": "A"}, {"id": 2, "label": "B"}])
    end = START + PERIOD
    one = World.from_scenario(scenario, seed=3)
    two = World.from_scenario(scenario, seed=3)
    other = World.from_scenario(scenario, seed=4)
    for counter_id in (1, 2):
        segments, spells = one.timeline(SERVICE, START, end, counter_id)
        assert len(segments) > 50  # a real, changing timeline
        assert_well_formed(segments, START, end)
        assert two.timeline(SERVICE, START, end, counter_id) == (segments, spells)
        assert other.timeline(SERVICE, START, end, counter_id)[0] != segments
    # Two counters of one service do not share their random draws.
    assert one.timeline(SERVICE, START, end, 1)[0] != one.timeline(SERVICE, START, end, 2)[0]


def test_seed_drives_the_arrivals() -> None:
    # Everybody takes the earliest slot and nobody cancels: only the arrival times can differ.
    model = {**BUSY, "earliest_share": 1.0, "cancel_probability": 0}
    end = START + PERIOD
    first, second = (counter_of(model, seed=seed).timeline(START, end) for seed in (1, 2))
    assert first != second
    assert counter_of(model, seed=1).timeline(START, end) == first


def test_scenario_seed_is_the_default() -> None:
    scenario = make_scenario(BUSY, seed=11)
    end = START + PERIOD
    assert World.from_scenario(scenario).seed == 11
    assert World.from_scenario(scenario).timeline(SERVICE, START, end) == World.from_scenario(
        scenario, seed=11
    ).timeline(SERVICE, START, end)


def test_query_order_does_not_change_the_answers() -> None:
    scenario = make_scenario(BUSY)
    instants = [START + timedelta(hours=h, minutes=7) for h in range(0, 14 * 24, 5)]
    in_order = World.from_scenario(scenario, seed=5).services[SERVICE].counter()
    expected = {t: starts(in_order.free_slots(t)) for t in instants}
    expected_timeline = in_order.timeline(START, START + PERIOD)

    shuffled = World.from_scenario(scenario, seed=5).services[SERVICE].counter()
    far = instants[-1]
    assert starts(shuffled.free_slots(far)) == expected[far]  # far future first
    for t in reversed(instants):  # then the past, backwards
        assert starts(shuffled.free_slots(t)) == expected[t]
    assert shuffled.timeline(START, START + PERIOD) == expected_timeline
    assert len({len(v) for v in expected.values()}) > 3  # the answers do vary over time


# -- consistency of free_slots and timeline ---------------------------------------------------


@functools.cache
def busy_counter() -> tuple[CounterTruth, list[Segment]]:
    counter = counter_of(BUSY, seed=3)
    segments = counter.timeline(START, START + PERIOD)
    assert_well_formed(segments, START, START + PERIOD)
    share = share_without_slot(segments)
    assert 0.05 < share < 0.95  # both states occur: the property below is not vacuous
    return counter, segments


def check_instant(counter: CounterTruth, segments: list[Segment], at: datetime) -> None:
    free = counter.free_slots(at)
    segment = segment_at(segments, at)
    assert len(free) == segment.free
    assert (free[0].start if free else None) == segment.first
    assert (free[1].start if len(free) > 1 else None) == segment.second
    assert starts(free) == sorted(starts(free))
    window = timedelta(days=BUSY["window_days"])
    for slot in free:
        assert slot.release_at <= at < slot.closes_at
        assert slot.start > at
        assert slot.start <= at + window  # never beyond the bookable window
        assert counter.slot_state(slot.start, at) == "free"


@settings(deadline=None, max_examples=120)
@given(offset=st.integers(0, int(PERIOD.total_seconds() * 1_000_000) - 1))
def test_free_slots_agree_with_the_timeline(offset: int) -> None:
    counter, segments = busy_counter()
    check_instant(counter, segments, START + timedelta(microseconds=offset))


@settings(deadline=None, max_examples=80)
@given(data=st.data())
def test_free_slots_agree_with_the_timeline_at_change_instants(data: st.DataObject) -> None:
    counter, segments = busy_counter()
    index = data.draw(st.integers(0, len(segments) - 1))
    segment = segments[index]
    check_instant(counter, segments, segment.start)  # a change applies from its instant on
    check_instant(counter, segments, segment.end - timedelta(microseconds=1))
    # A timeline that starts or ends exactly on change instants cuts the whole one there.
    assert counter.timeline(segment.start, segment.end) == [segment]
    if index + 1 < len(segments):
        assert (
            counter.timeline(segment.start, segments[index + 1].end) == segments[index : index + 2]
        )


def test_timeline_of_a_sub_period_is_a_cut_of_the_whole() -> None:
    counter, segments = busy_counter()
    cut_start, cut_end = START + timedelta(days=3, hours=5), START + timedelta(days=6, minutes=1)
    cut = counter.timeline(cut_start, cut_end)
    assert_well_formed(cut, cut_start, cut_end)
    inner = [s for s in segments if s.start > cut_start and s.end < cut_end]
    assert [s for s in cut if s.start > cut_start and s.end < cut_end] == inner
    head = segment_at(segments, cut_start)
    assert (cut[0].free, cut[0].first, cut[0].second) == (head.free, head.first, head.second)


# -- release policies ---------------------------------------------------------------------------

CONTINUOUS: dict[str, Any] = {**ZERO_DEMAND, "window_days": 10, "min_lead_hours": 2}


@settings(deadline=None, max_examples=40)
@given(offset=st.integers(0, 20 * 86400 - 1))
def test_continuous_release_with_no_demand_fills_the_window(offset: int) -> None:
    counter = _continuous_counter()
    at = START + timedelta(seconds=offset)
    lead, window = timedelta(hours=2), timedelta(days=10)
    expected = [
        s
        for s in calendar_starts(CONTINUOUS, paris_date(at), paris_date(at + window))
        if at + lead < s <= at + window
    ]
    assert starts(counter.free_slots(at)) == expected


@functools.cache
def _continuous_counter() -> CounterTruth:
    return counter_of(CONTINUOUS)


def test_continuous_window_edges_are_exact() -> None:
    counter = _continuous_counter()
    slot_start = datetime(2026, 1, 20, 9, 0, tzinfo=PARIS)
    released = slot_start - timedelta(days=10)
    closes = slot_start - timedelta(hours=2)
    tick = timedelta(microseconds=1)
    assert slot_start not in starts(counter.free_slots(released - tick))
    assert slot_start in starts(counter.free_slots(released))
    assert slot_start in starts(counter.free_slots(closes - tick))
    assert slot_start not in starts(counter.free_slots(closes))
    assert counter.slot_state(slot_start, released - tick) == "closed"
    assert counter.slot_state(slot_start, released) == "free"
    assert counter.slot_state(slot_start, closes) == "past"
    assert counter.slot_state(slot_start + timedelta(minutes=7), released) == "closed"  # no slot


def test_daily_release_at_a_fixed_time() -> None:
    model = {
        **ZERO_DEMAND,
        "release": "daily",
        "release_time": "14:00",
        "window_days": 7,
        "opening_days": ALL_DAYS,
        "opening_hours": ["09:00-12:00"],
    }
    counter = counter_of(model)
    for day in (date(2026, 1, 7), date(2026, 1, 10), date(2026, 1, 12)):
        release = datetime.combine(day, time(14, 0), tzinfo=PARIS)
        before = counter.free_slots(release - timedelta(microseconds=1))
        at = counter.free_slots(release)
        after = counter.free_slots(release + timedelta(seconds=1))
        assert max(paris_date(s.start) for s in before) == day + 6 * DAY
        assert max(paris_date(s.start) for s in at) == day + 7 * DAY
        assert starts(after) == starts(at)
        new = set(starts(at)) - set(starts(before))
        assert sorted(new) == calendar_starts(model, day + 7 * DAY, day + 7 * DAY)
        assert len(new) == 12
        # Between two releases nothing new appears: the count only goes down (slots closing).
        segments = counter.timeline(release, release + DAY - timedelta(microseconds=1))
        counts = [s.free for s in segments]
        assert counts == sorted(counts, reverse=True)
        assert counts[0] > counts[-1]


def test_weekly_batches() -> None:
    model = {
        **ZERO_DEMAND,
        "release": "weekly",
        "release_weekday": "wed",
        "release_time": "10:00",
        "window_days": 14,
        "opening_days": ALL_DAYS,
        "opening_hours": ["09:00-10:00"],
    }
    counter = counter_of(model)
    wednesday = date(2026, 1, 14)
    release = datetime.combine(wednesday, time(10, 0), tzinfo=PARIS)
    tick = timedelta(microseconds=1)
    # The week before the batch: no new slot, only closing ones.
    segments = counter.timeline(release - timedelta(days=7) + tick, release)
    counts = [s.free for s in segments]
    assert counts == sorted(counts, reverse=True)
    assert len(counts) > 5
    before = counter.free_slots(release - tick)
    at = counter.free_slots(release)
    assert max(paris_date(s.start) for s in before) == wednesday + 7 * DAY
    assert max(paris_date(s.start) for s in at) == wednesday + 14 * DAY
    new = sorted(set(starts(at)) - set(starts(before)))
    assert new == calendar_starts(model, wednesday + 8 * DAY, wednesday + 14 * DAY)
    assert len(new) == 7 * 4
    # Every change that adds slots happens on a Wednesday at 10:00 Paris time.
    segments = counter.timeline(START, START + timedelta(days=28))
    for before_seg, after_seg in pairwise(segments):
        if after_seg.free > before_seg.free:
            local = after_seg.start.astimezone(PARIS)
            assert (local.weekday(), local.time()) == (2, time(10, 0))


def furthest(counter: CounterTruth, at: datetime) -> timedelta:
    return max(s.start for s in counter.free_slots(at)) - at


def test_window_change_widens_the_window() -> None:
    change = datetime(2026, 1, 20, 12, 0, tzinfo=PARIS)
    model = {
        **ZERO_DEMAND,
        "window_days": 10,
        "window_changes": [{"at": change, "window_days": 30}],
        "opening_days": ALL_DAYS,
        "opening_hours": ["09:00-17:00"],
    }
    counter = counter_of(model)
    tick = timedelta(microseconds=1)
    for at in (change - timedelta(days=2), change - timedelta(hours=1), change - tick):
        assert timedelta(days=9) < furthest(counter, at) <= timedelta(days=10)
        assert counter.release.window_at(at) == 10
    for at in (change, change + timedelta(hours=1), change + timedelta(days=3)):
        assert timedelta(days=29) < furthest(counter, at) <= timedelta(days=30)
        assert counter.release.window_at(at) == 30


def test_window_change_narrows_the_window() -> None:
    change = datetime(2026, 1, 20, 12, 0, tzinfo=PARIS)
    model = {
        **ZERO_DEMAND,
        "window_days": 30,
        "window_changes": [{"at": change, "window_days": 10}],
        "opening_days": ALL_DAYS,
        "opening_hours": ["09:00-17:00"],
    }
    counter = counter_of(model)
    assert timedelta(days=29) < furthest(counter, change - timedelta(hours=1)) <= timedelta(days=30)
    # Slots already offered stay offered; nothing new is released beyond the new window.
    for hours in range(1, 40 * 24, 7):
        at = change + timedelta(hours=hours)
        reach = max(s.start for s in counter.free_slots(at))
        assert reach <= max(change + timedelta(days=30), at + timedelta(days=10))
    at = change + timedelta(days=25)
    assert timedelta(days=9) < furthest(counter, at) <= timedelta(days=10)


# -- the shape of the calendar ------------------------------------------------------------------


def test_opening_days_and_closed_dates() -> None:
    closed = date(2026, 1, 14)  # a Wednesday
    model = {
        **ZERO_DEMAND,
        "window_days": 30,
        "opening_days": ["mon", "tue", "wed", "thu", "fri"],
        "opening_hours": ["09:00-10:00"],
        "slot_minutes": 15,
        "closed_dates": [closed],
    }
    counter = counter_of(model)
    free = counter.free_slots(datetime(2026, 1, 9, 18, 0, tzinfo=PARIS))
    by_day: dict[date, list[time]] = {}
    for slot in free:
        local = slot.start.astimezone(PARIS)
        by_day.setdefault(local.date(), []).append(local.time())
    expected_days = [
        date(2026, 1, 12) + n * DAY
        for n in range(30)
        if (date(2026, 1, 12) + n * DAY).weekday() < 5 and date(2026, 1, 12) + n * DAY != closed
    ]
    assert sorted(by_day) == [d for d in expected_days if d <= date(2026, 2, 8)]
    for times in by_day.values():
        assert times == [time(9, 0), time(9, 15), time(9, 30), time(9, 45)]


@pytest.mark.parametrize(
    ("hours", "minutes", "expected"),
    [
        (["09:00-10:00"], 15, ["09:00", "09:15", "09:30", "09:45"]),
        (["09:00-10:00"], 45, ["09:00"]),  # a slot never runs past closing time
        (["09:00-10:00", "14:00-15:00"], 30, ["09:00", "09:30", "14:00", "14:30"]),
        (["14:00-15:00", "09:00-10:00"], 30, ["09:00", "09:30", "14:00", "14:30"]),
        (["22:00-24:00"], 30, ["22:00", "22:30", "23:00", "23:30"]),
        (["00:00-24:00"], 240, ["00:00", "04:00", "08:00", "12:00", "16:00", "20:00"]),
        ([], 15, []),
    ],
)
def test_opening_hours_and_slot_minutes(
    hours: list[str], minutes: int, expected: list[str]
) -> None:
    calendar = Calendar(ModelConfig(opening_hours=hours, slot_minutes=minutes))
    monday = date(2026, 1, 5)
    got = calendar.starts_on(monday)
    assert [s.strftime("%H:%M") for s in got] == expected
    assert all(s.date() == monday and s.tzinfo is PARIS for s in got)
    assert calendar.starts_on(date(2026, 1, 10)) == []  # Saturday: closed by default
    assert [t.strftime("%H:%M") for t in calendar.times_of_week(monday)] == expected


@pytest.mark.parametrize(
    ("start", "change_day", "utc_before", "utc_after"),
    [
        (datetime(2026, 10, 19, tzinfo=PARIS), date(2026, 10, 25), 7, 8),  # back to winter time
        (datetime(2026, 3, 23, tzinfo=PARIS), date(2026, 3, 29), 8, 7),  # forward to summer time
    ],
)
def test_slots_keep_their_paris_wall_clock_across_dst(
    start: datetime, change_day: date, utc_before: int, utc_after: int
) -> None:
    model = {
        **ZERO_DEMAND,
        "window_days": 20,
        "opening_days": ALL_DAYS,
        "opening_hours": ["09:00-10:00"],
    }
    counter = counter_of(model, start=start)
    free = counter.free_slots(start + timedelta(hours=12))
    by_day: dict[date, list[Slot]] = {}
    for slot in free:
        by_day.setdefault(paris_date(slot.start), []).append(slot)
    for day in (change_day - DAY, change_day, change_day + DAY):
        slots = by_day[day]
        local = [s.start.astimezone(PARIS).time() for s in slots]
        assert local == [time(9, 0), time(9, 15), time(9, 30), time(9, 45)]
        utc_hour = utc_before if day < change_day else utc_after
        assert [s.start.astimezone(UTC).hour for s in slots] == [utc_hour] * 4
        # The grid cell of a slot is found again from its instant.
        for slot in slots:
            assert counter.slot_state(slot.start.astimezone(UTC), start + timedelta(hours=12)) == (
                "free"
            )
    # The next day's slot is not 24 hours later: the model kept the wall clock.
    before, on = by_day[change_day - DAY][0].start, by_day[change_day][0].start
    assert (on.astimezone(UTC) - before.astimezone(UTC)).total_seconds() == 86400 + 3600 * (
        utc_after - utc_before
    )


# -- demand -------------------------------------------------------------------------------------

RUSH: dict[str, Any] = {
    "window_days": 14,
    "demand_per_hour": 600,
    "demand_profile": "flat",
    "earliest_share": 1.0,
    "cancel_probability": 0,
}


def test_enormous_demand_takes_slots_as_soon_as_they_appear() -> None:
    period = (START + timedelta(days=2), START + timedelta(days=9))
    segments = bare_counter(RUSH).timeline(*period)
    assert_well_formed(segments, *period)
    assert share_without_slot(segments) > 0.99
    offered = [s for s in segments if s.free > 0]
    assert len(offered) > 50  # slots were released all along ...
    assert max(s.seconds for s in offered) < 600  # ... and each went within minutes
    # The same model without demand always has slots on offer.
    calm = bare_counter({**RUSH, "demand_per_hour": 0}).timeline(*period)
    assert share_without_slot(calm) == 0.0
    assert min(s.free for s in calm) > 100


def test_no_demand_nothing_is_ever_taken() -> None:
    counter = counter_of({**ZERO_DEMAND, "window_days": 21})
    for hours in range(0, 14 * 24, 3):
        at = START + timedelta(hours=hours, minutes=17)
        window = bookable(counter, at)
        assert len(window) > 100
        assert starts(counter.free_slots(at)) == starts(window)
        assert all(counter.slot_state(s.start, at) == "free" for s in window[::10])


def is_tail(free: list[Slot], window: list[Slot]) -> bool:
    return not free or window[len(window) - len(free) :] == free


def test_earliest_share_one_takes_the_earliest_slot() -> None:
    # Without cancellations, people who always take the earliest slot leave a tail of the window.
    model = {"window_days": 14, "demand_per_hour": 0.5, "cancel_probability": 0}
    greedy = bare_counter({**model, "earliest_share": 1.0})
    random_choice = bare_counter({**model, "earliest_share": 0.0})
    instants = [START + timedelta(days=1, hours=h) for h in range(0, 14 * 24, 2)]
    taken = 0
    holes = 0
    for at in instants:
        window = bookable(greedy, at)
        free = greedy.free_slots(at)
        taken += len(window) - len(free)
        assert is_tail(free, window), at
        holes += not is_tail(random_choice.free_slots(at), bookable(random_choice, at))
    assert taken > 0
    assert holes > len(instants) // 2  # the control: random choices leave holes


def comebacks(counter: CounterTruth, instants: list[datetime]) -> int:
    """Slots seen free, then taken (gone before closing), then free again."""
    seen: dict[int, list[str]] = {}
    for at in instants:
        free = {s.index for s in counter.free_slots(at)}
        for slot in bookable(counter, at):
            states = seen.setdefault(slot.index, [])
            state = "free" if slot.index in free else "taken"
            assert counter.slot_state(slot.start, at) == state
            if not states or states[-1] != state:
                states.append(state)
    return sum(1 for states in seen.values() if "free,taken,free" in ",".join(states))


def test_cancellations_bring_slots_back() -> None:
    model = {"window_days": 21, "demand_per_hour": 2, "earliest_share": 0.5}
    instants = [START + timedelta(days=1, minutes=m) for m in range(0, 7 * 24 * 60, 20)]
    with_cancels = comebacks(bare_counter({**model, "cancel_probability": 1.0}), instants)
    without = comebacks(bare_counter({**model, "cancel_probability": 0.0}), instants)
    assert with_cancels > 10
    assert without == 0


# -- outages ------------------------------------------------------------------------------------


def test_scheduled_outages() -> None:
    first = (datetime(2026, 1, 6, 9, 0, tzinfo=PARIS), datetime(2026, 1, 6, 17, 0, tzinfo=PARIS))
    second = (datetime(2026, 1, 12, tzinfo=PARIS), datetime(2026, 1, 19, tzinfo=PARIS))
    outages = {
        "scheduled": [
            {"start": second[0], "end": second[1], "kind": "closed"},
            {"start": first[0], "end": first[1], "kind": "http_503"},
        ]
    }
    plan = World.from_scenario(make_scenario(outages=outages)).services[SERVICE].outages
    tick = timedelta(microseconds=1)
    assert plan.at(first[0] - tick) is None
    spell = plan.at(first[0])
    assert spell is not None
    assert (spell.start, spell.end, spell.kind) == (*first, "http_503")
    assert plan.at(first[1] - tick) == spell
    assert plan.at(first[1]) is None
    assert plan.at(datetime(2026, 1, 15, 12, tzinfo=UTC)).kind == "closed"  # type: ignore[union-attr]
    assert plan.at(second[1]) is None

    whole = plan.between(START, START + timedelta(days=30))
    assert [(s.start, s.end, s.kind) for s in whole] == [(*first, "http_503"), (*second, "closed")]
    assert plan.between(first[1], second[0]) == []  # touching is not overlapping
    assert [s.kind for s in plan.between(first[1] - tick, second[0] + tick)] == [
        "http_503",
        "closed",
    ]
    assert [s.kind for s in plan.between(second[0] + DAY, second[0] + 2 * DAY)] == ["closed"]


def random_plan(seed: int = 7, service: str = SERVICE, **config: Any) -> OutagePlan:
    settings_ = {"per_week": 3.0, "mean_minutes": 60.0, "kinds": ["http_502", "overloaded"]}
    return OutagePlan(OutageConfig.model_validate({**settings_, **config}), seed, service, START)


def test_random_outages_rate_and_kinds() -> None:
    weeks = 52
    end = START + timedelta(weeks=weeks)
    spells = random_plan().between(START, end)
    assert 100 < len(spells) < 215  # expected 156
    assert {s.kind for s in spells} == {"http_502", "overloaded"}
    mean_minutes = sum((s.end - s.start).total_seconds() for s in spells) / len(spells) / 60
    assert 40 < mean_minutes < 85
    assert all(s.start < s.end for s in spells)
    assert [s.start for s in spells] == sorted(s.start for s in spells)
    assert random_plan(per_week=0).between(START, end) == []
    # About ten times more with ten times the rate.
    assert 1300 < len(random_plan(per_week=30).between(START, end)) < 1820


def test_random_outages_are_deterministic_per_seed() -> None:
    end = START + timedelta(weeks=20)
    reference = random_plan().between(START, end)
    assert random_plan().between(START, end) == reference
    assert random_plan(seed=8).between(START, end) != reference
    assert random_plan(service="38-other-service").between(START, end) != reference
    # Asking about the far future first changes nothing.
    lazy = random_plan()
    lazy.at(end + timedelta(days=3))
    assert lazy.between(START, end) == reference
    piecewise = random_plan()
    middle = START + timedelta(weeks=10)
    assert piecewise.between(START, middle) == [s for s in reference if s.start < middle]
    assert piecewise.between(START, end) == reference


def test_outage_at_agrees_with_between() -> None:
    # Many long spells: some overlap, and ``at`` must still see every one of them.
    plan = random_plan(per_week=20, mean_minutes=600)
    end = START + timedelta(weeks=8)
    spells = plan.between(START, end)
    for minutes in range(0, 8 * 7 * 24 * 60, 13):
        at = START + timedelta(minutes=minutes)
        covering = [s for s in spells if s.start <= at < s.end]
        found = plan.at(at)
        if covering:
            assert found in covering, at
        else:
            assert found is None, at


# -- services and the world ---------------------------------------------------------------------


def test_layout_change() -> None:
    change = datetime(2026, 1, 20, 8, 0, tzinfo=UTC)
    service = World.from_scenario(make_scenario(layout_change_at=change)).services[SERVICE]
    assert isinstance(service, ServiceTruth)
    assert service.layout_at(change - timedelta(microseconds=1)) == "v1"
    assert service.layout_at(change) == "v2"
    assert service.layout_at(change + timedelta(days=100)) == "v2"
    assert service.layout_at(datetime(2026, 1, 20, 9, 0, tzinfo=PARIS)) == "v2"  # same instant
    unchanged = World.from_scenario(make_scenario()).services[SERVICE]
    assert unchanged.layout_at(START + timedelta(days=1000)) == "v1"
    with pytest.raises(ValueError):
        service.layout_at(datetime(2026, 1, 20, 9, 0))  # naive


def test_snapshot() -> None:
    spell = (datetime(2026, 1, 8, 10, 0, tzinfo=UTC), datetime(2026, 1, 8, 11, 0, tzinfo=UTC))
    scenario = make_scenario(
        {"window_days": 14, "demand_per_hour": 0.5},
        counters=[{"id": 21, "label": "Guichet A"}, {"id": 22, "label": "Guichet B"}],
        outages={"scheduled": [{"start": spell[0], "end": spell[1], "kind": "overloaded"}]},
        layout_change_at=datetime(2026, 1, 8, 10, 30, tzinfo=UTC),
    )
    world = World.from_scenario(scenario)
    assert [s.id for s in world] == [SERVICE]
    service = world.services[SERVICE]
    at = datetime(2026, 1, 7, 15, 0, tzinfo=PARIS)
    snap = service.snapshot(at)
    assert snap["service"] == SERVICE
    assert snap["site"] == "isere"
    assert snap["departement"] == "38"
    assert snap["at"] == "2026-01-07T14:00:00+00:00"
    assert snap["state"] == "up"
    assert snap["layout"] == "v1"
    rows = snap["counters"]
    assert isinstance(rows, list)
    assert [r["planning"] for r in rows] == [21, 22]
    assert [r["label"] for r in rows] == ["Guichet A", "Guichet B"]
    for row in rows:
        free = service.counter(row["planning"]).free_slots(at)
        assert row["window_days"] == 14
        assert row["free_count"] == len(free) > 0
        assert row["available"] is True
        assert row["free_slots"] == [s.start.isoformat() for s in free]
        assert row["first_slots"] == row["free_slots"][:2]
    assert rows[0]["free_slots"] != rows[1]["free_slots"]

    one = service.snapshot(at, counter_id=22)
    assert one["counters"] == [rows[1]]

    down = service.snapshot(spell[0] + timedelta(minutes=45))
    assert (down["state"], down["layout"]) == ("overloaded", "v2")
    assert service.snapshot(spell[1])["state"] == "up"


def test_snapshot_of_a_counter_without_slots() -> None:
    world = World.from_scenario(make_scenario({"opening_hours": []}))
    snap = world.services[SERVICE].snapshot(START)
    rows = snap["counters"]
    assert isinstance(rows, list)
    (row,) = rows
    assert row["available"] is False
    assert row["free_count"] == 0
    assert row["first_slots"] == row["free_slots"] == []


def test_world_timeline_combines_counter_and_outages() -> None:
    outages = {"per_week": 5.0}
    scenario = make_scenario(BUSY, outages=outages)
    world = World.from_scenario(scenario, seed=9)
    end = START + PERIOD
    segments, spells = world.timeline(SERVICE, START, end)
    twin = World.from_scenario(scenario, seed=9).services[SERVICE]
    assert segments == twin.counter(11).timeline(START, end)
    assert spells == twin.outages.between(START, end)
    assert spells  # five a week: some in two weeks
    assert world.start == START


# -- share_without_slot -------------------------------------------------------------------------


def test_share_without_slot() -> None:
    t0 = START
    slot = datetime(2026, 2, 1, 9, 0, tzinfo=PARIS)

    def seg(a: int, b: int, free: int) -> Segment:
        first = slot if free else None
        second = slot if free > 1 else None
        return Segment(t0 + timedelta(seconds=a), t0 + timedelta(seconds=b), free, first, second)

    segments = [seg(0, 10, 0), seg(10, 40, 2), seg(40, 50, 0), seg(50, 100, 1)]
    assert segments[1].seconds == 30
    assert share_without_slot(segments) == pytest.approx(20 / 100)
    assert share_without_slot([seg(0, 10, 0)]) == 1.0
    assert share_without_slot([seg(0, 10, 3)]) == 0.0
    assert math.isnan(share_without_slot([]))


def test_opening_hours_past_midnight_are_refused() -> None:
    # The scenario pattern lets "24:30" through; the calendar must not spill into the next day.
    with pytest.raises(ValueError, match="midnight"):
        Calendar(ModelConfig(opening_hours=["22:00-24:30"]))
