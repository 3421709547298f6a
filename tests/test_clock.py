"""Clocks: the simulated clock must wake sleepers at exactly their deadlines, in order."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest

from guichets.clock import (
    Clock,
    ScaledClock,
    SimulatedClock,
    SystemClock,
    ensure_utc,
    parse_instant,
)

START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


# -- ensure_utc / parse_instant ---------------------------------------------------------------


def test_parse_instant_z_suffix() -> None:
    parsed = parse_instant("2026-01-05T09:00:00Z")
    assert parsed == datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    assert parsed.tzinfo is UTC
    assert parse_instant(" 2026-01-05T09:00:00z ") == parsed


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-05T09:00:00+01:00", datetime(2026, 1, 5, 8, 0, tzinfo=UTC)),
        ("2026-07-05T09:00:00+02:00", datetime(2026, 7, 5, 7, 0, tzinfo=UTC)),
        ("2026-01-05T09:00:00-05:30", datetime(2026, 1, 5, 14, 30, tzinfo=UTC)),
        ("2026-01-05T09:00:00.250+00:00", datetime(2026, 1, 5, 9, 0, 0, 250000, tzinfo=UTC)),
    ],
)
def test_parse_instant_offsets(text: str, expected: datetime) -> None:
    parsed = parse_instant(text)
    assert parsed == expected
    assert parsed.tzinfo is UTC
    assert parsed.hour == expected.hour  # converted, not just compared equal


@pytest.mark.parametrize("text", ["2026-01-05T09:00:00", "2026-01-05 09:00", "2026-01-05"])
def test_parse_instant_rejects_naive_with_an_example(text: str) -> None:
    with pytest.raises(ValueError, match="offset") as info:
        parse_instant(text)
    assert "e.g. 2026-01-05T09:00:00+01:00" in str(info.value)


@pytest.mark.parametrize("text", ["", "yesterday", "2026-13-05T09:00:00Z", "09:00+01:00"])
def test_parse_instant_rejects_garbage_with_an_example(text: str) -> None:
    with pytest.raises(ValueError, match=r"e\.g\. 2026-01-05T09:00:00\+01:00"):
        parse_instant(text)


def test_ensure_utc_converts_and_rejects_naive() -> None:
    paris_winter = timezone(timedelta(hours=1))
    converted = ensure_utc(datetime(2026, 1, 5, 9, 0, tzinfo=paris_winter))
    assert converted == datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
    assert converted.tzinfo is UTC
    assert converted.hour == 8
    with pytest.raises(ValueError, match=r"offset.*e\.g\. 2026-01-05T09:00:00\+01:00"):
        ensure_utc(datetime(2026, 1, 5, 9, 0))


# -- SystemClock, ScaledClock -------------------------------------------------------------------


def test_system_clock_now_is_aware_utc() -> None:
    clock = SystemClock()
    assert isinstance(clock, Clock)
    before = datetime.now(UTC)
    now = clock.now()
    after = datetime.now(UTC)
    assert now.tzinfo is not None
    assert now.utcoffset() == timedelta(0)
    assert before <= now <= after


def test_scaled_clock_validates() -> None:
    with pytest.raises(ValueError):
        ScaledClock(START, speed=0)
    with pytest.raises(ValueError):
        ScaledClock(datetime(2026, 1, 5), speed=10)
    clock = ScaledClock(START, speed=60)
    assert isinstance(clock, Clock)
    assert clock.now() >= START
    assert clock.now().utcoffset() == timedelta(0)


# -- SimulatedClock: moving it by hand ----------------------------------------------------------


def test_simulated_clock_rejects_naive_start() -> None:
    with pytest.raises(ValueError, match="offset"):
        SimulatedClock(datetime(2026, 1, 5, 9, 0))


def test_simulated_clock_start_is_converted_to_utc() -> None:
    clock = SimulatedClock(datetime(2026, 1, 5, 9, 0, tzinfo=timezone(timedelta(hours=1))))
    assert isinstance(clock, Clock)
    assert clock.now() == START
    assert clock.now().tzinfo is UTC


def test_set_and_advance_move_forward() -> None:
    clock = SimulatedClock(START)
    assert clock.now() == START
    clock.advance(90)
    assert clock.now() == START + timedelta(seconds=90)
    clock.advance(0.5)
    assert clock.now() == START + timedelta(seconds=90.5)
    clock.advance(0)
    assert clock.now() == START + timedelta(seconds=90.5)
    target = START + timedelta(days=3, hours=2)
    clock.set(target)
    assert clock.now() == target
    clock.set(target)  # setting the same instant again is allowed
    assert clock.now() == target
    # An instant given with another offset is the same instant.
    clock.set(datetime(2026, 1, 8, 11, 0, tzinfo=timezone(timedelta(hours=1))))
    assert clock.now() == datetime(2026, 1, 8, 10, 0, tzinfo=UTC)


def test_going_back_raises_and_keeps_time() -> None:
    clock = SimulatedClock(START)
    clock.advance(3600)
    with pytest.raises(ValueError, match="back"):
        clock.set(START)
    with pytest.raises(ValueError, match="back"):
        clock.set(START + timedelta(seconds=3599, microseconds=999999))
    with pytest.raises(ValueError, match="back"):
        clock.advance(-1)
    with pytest.raises(ValueError):
        clock.set(datetime(2026, 2, 1))  # naive
    assert clock.now() == START + timedelta(seconds=3600)


async def test_advance_wakes_sleepers_in_deadline_order_at_their_deadlines() -> None:
    clock = SimulatedClock(START, autojump=False)
    woke: list[tuple[str, datetime]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append((name, clock.now()))

    delays = {"c": 30.0, "a": 10.0, "b": 20.0, "b2": 20.0, "d": 45.5}
    tasks = [asyncio.create_task(sleeper(n, s)) for n, s in delays.items()]
    await asyncio.sleep(0)
    assert clock.pending == 5

    # Step exactly onto each deadline in turn: each sleeper wakes seeing its own deadline, and
    # nobody wakes early.
    for deadline in sorted(set(delays.values())):
        clock.set(START + timedelta(seconds=deadline))
        for _ in range(3):
            await asyncio.sleep(0)
        due = {n for n, s in delays.items() if s <= deadline}
        assert {n for n, _ in woke} == due
        assert clock.pending == len(delays) - len(due)

    await asyncio.gather(*tasks)
    assert [n for n, _ in woke] == ["a", "b", "b2", "c", "d"]
    for name, at in woke:
        assert at == START + timedelta(seconds=delays[name]), name


async def test_one_advance_wakes_all_due_sleepers_in_deadline_order() -> None:
    clock = SimulatedClock(START, autojump=False)
    order: list[str] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        order.append(name)

    tasks = [
        asyncio.create_task(sleeper(n, s))
        for n, s in [("late", 30), ("early", 10), ("later", 300), ("mid", 20)]
    ]
    await asyncio.sleep(0)
    clock.advance(19.999)
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert order == ["early"]
    clock.advance(100)
    for _ in range(3):
        await asyncio.sleep(0)
    assert order == ["early", "mid", "late"]
    assert clock.pending == 1
    assert clock.now() == START + timedelta(seconds=119.999)
    clock.advance(180.001)  # lands exactly on the last deadline: due, since deadline <= now
    await asyncio.gather(*tasks)
    assert order == ["early", "mid", "late", "later"]
    assert clock.pending == 0


async def test_without_autojump_time_does_not_move_by_itself() -> None:
    clock = SimulatedClock(START, autojump=False)
    task = asyncio.create_task(clock.sleep(5))
    for _ in range(50):
        await asyncio.sleep(0)
    assert not task.done()
    assert clock.now() == START
    assert clock.pending == 1
    clock.advance(5)
    await task
    assert clock.now() == START + timedelta(seconds=5)


async def test_zero_and_negative_sleep_return_at_once() -> None:
    for autojump in (False, True):
        clock = SimulatedClock(START, autojump=autojump)
        await asyncio.wait_for(clock.sleep(0), timeout=5)
        await asyncio.wait_for(clock.sleep(-10), timeout=5)
        assert clock.now() == START
        assert clock.pending == 0


async def test_pending_counts_live_sleepers_only() -> None:
    clock = SimulatedClock(START, autojump=False)
    assert clock.pending == 0
    tasks = [asyncio.create_task(clock.sleep(s)) for s in (10, 20, 30)]
    await asyncio.sleep(0)
    assert clock.pending == 3
    tasks[1].cancel()
    await asyncio.gather(tasks[1], return_exceptions=True)
    assert clock.pending == 2
    clock.advance(10)
    await tasks[0]
    assert clock.pending == 1
    clock.advance(100)  # past the cancelled sleeper's deadline: nothing breaks
    await tasks[2]
    assert clock.pending == 0
    assert tasks[1].cancelled()


# -- SimulatedClock: autojump -----------------------------------------------------------------


async def test_autojump_wakes_concurrent_sleepers_in_order_at_exact_deadlines() -> None:
    clock = SimulatedClock(START)
    woke: list[tuple[str, datetime]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append((name, clock.now()))

    delays = [("ten", 10.0), ("five", 5.0), ("five-bis", 5.0), ("five+", 5.001), ("hour", 3600.0)]
    await asyncio.wait_for(asyncio.gather(*(sleeper(n, s) for n, s in delays)), timeout=10)
    assert [n for n, _ in woke] == ["five", "five-bis", "five+", "ten", "hour"]
    expected = dict(delays)
    for name, at in woke:
        assert at == START + timedelta(seconds=expected[name]), name
    assert clock.now() == START + timedelta(hours=1)
    assert clock.pending == 0


async def test_autojump_lets_chained_sleeps_register_before_jumping() -> None:
    # A sleeper that wakes at 3 s and sleeps 4 s more must wake at 7 s, before the 10 s one:
    # the jump must not skip over a deadline registered by a task that just woke up.
    clock = SimulatedClock(START)
    woke: list[tuple[str, float]] = []

    def elapsed() -> float:
        return (clock.now() - START).total_seconds()

    async def chained() -> None:
        await clock.sleep(3)
        woke.append(("chained-3", elapsed()))
        await asyncio.sleep(0)  # some ordinary async work in between
        await clock.sleep(4)
        woke.append(("chained-7", elapsed()))

    async def single(seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append((f"single-{seconds:g}", elapsed()))

    await asyncio.wait_for(asyncio.gather(single(10), chained(), single(5)), timeout=10)
    assert woke == [
        ("chained-3", 3.0),
        ("single-5", 5.0),
        ("chained-7", 7.0),
        ("single-10", 10.0),
    ]


async def test_autojump_a_month_of_sleeping_is_fast_and_exact() -> None:
    clock = SimulatedClock(START)
    ticks: list[datetime] = []

    async def prober() -> None:
        for _ in range(30 * 24 * 6):
            await clock.sleep(600)
            ticks.append(clock.now())

    async def hourly() -> None:
        for _ in range(30 * 24):
            await clock.sleep(3600)
            ticks.append(clock.now())

    # CPU time, generous: a month of real sleeping would never end; the work is 5040 wake-ups.
    began = time.process_time()
    await asyncio.wait_for(asyncio.gather(prober(), hourly()), timeout=300)
    assert time.process_time() - began < 60
    assert clock.now() == START + timedelta(days=30)
    assert len(ticks) == 30 * 24 * 7
    assert ticks == sorted(ticks)  # both loops observed one consistent, monotonic time
    assert ticks[0] == START + timedelta(minutes=10)


async def test_autojump_after_advance_by_hand() -> None:
    clock = SimulatedClock(START)
    clock.advance(100)
    await asyncio.wait_for(clock.sleep(50), timeout=5)
    assert clock.now() == START + timedelta(seconds=150)
