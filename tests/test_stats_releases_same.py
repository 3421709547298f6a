"""The release analysis (``stats/releases.py``) finds what it found before its window search was
made cheaper (issue 18): the same ``Release``, floats to the last bit, for random series of
probes with and without batches.

The reference is the search as it was (each span's end tested against the spans a bisection
by start finds, for every end; both cycles' phases from the instants each time), kept here;
the release found in its window is described by the module's ``_release``, which did not
change, but for its curve: taken here from the delays as they were found (every probe's day
looked up), binned by the module's ``_binned``, which did not change either.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from guichets.model import PARIS
from guichets.stats import releases
from guichets.stats.releases import (
    AGREEMENT,
    CYCLES,
    MIN_EPISODES,
    Release,
    _binned,
    _release,
    detect_release,
    episodes,
)
from guichets.stats.wilson import Share


def _old_phase(instant: datetime, cycle: str) -> float:
    local = instant.astimezone(PARIS)
    seconds = local.hour * 3600 + local.minute * 60 + local.second + local.microsecond / 1e6
    return seconds + (local.weekday() * 86_400 if cycle == "weekly" else 0)


def _old_covers(start: float, length: float, point: float, period: int) -> bool:
    return 0 < (point - start) % period <= length


class _OldStarts:
    def __init__(self, spans: Sequence[tuple[float, float]], period: int) -> None:
        self.period = period
        groups: dict[int, list[tuple[float, float]]] = {}
        for start, length in spans:
            groups.setdefault(math.frexp(length)[1], []).append((start, length))
        self.groups = []
        for found in groups.values():
            found.sort()
            reach = max(length for _, length in found) + 1.0
            self.groups.append(([start for start, _ in found], found, reach))

    def near(self, point: float) -> list[tuple[float, float]]:
        period, near = self.period, []
        for starts, spans, reach in self.groups:
            low, high = point - reach, point + 1.0
            if reach + 1.0 >= period:
                near += spans
                continue
            if low < 0:
                near += spans[: bisect_right(starts, high)]
                near += spans[bisect_left(starts, low + period) :]
            elif high > period:
                near += spans[bisect_left(starts, low) :]
                near += spans[: bisect_right(starts, high - period)]
            else:
                near += spans[bisect_left(starts, low) : bisect_right(starts, high)]
        return near


def _old_best_window(spans: Sequence[tuple[float, float]], period: int) -> tuple[float, float, int]:
    best: tuple[float, float, int] = (0.0, 0.0, 0)
    starts = _OldStarts(spans, period)
    for start, length in spans:
        point = (start + length) % period
        offsets = [
            (point - s) % period for s, n in starts.near(point) if _old_covers(s, n, point, period)
        ]
        if len(offsets) > best[2]:
            width = min(offsets)
            best = ((point - width) % period, width, len(offsets))
    return best


def _old_detect(service: str, points: Sequence[tuple[datetime, bool]]) -> Release | None:
    """``detect_release`` as it was, up to the description of the release it finds."""
    dated = Share(sum(1 for _, d in points if d), len(points)) if points else None
    if dated is None or dated.value is None or dated.value >= 0.5:
        return None  # no probes, or a date found too often
    runs = episodes(points)
    for cycle, period in CYCLES.items():
        usable = [e for e in runs if (e.first - e.before).total_seconds() < period / 2]
        if len(usable) < MIN_EPISODES:
            continue
        spans = [
            (_old_phase(e.before, cycle), (e.first - e.before).total_seconds()) for e in usable
        ]
        start, width, count = _old_best_window(spans, period)
        agreeing = [
            e
            for e, (s, n) in zip(usable, spans, strict=True)
            if _old_covers(s, n, (start + width) % period, period)
        ]
        cycles = {int(e.first.timestamp() // period) for e in agreeing}
        if count < AGREEMENT * len(usable) or len(cycles) < 2 or len(agreeing) < MIN_EPISODES:
            continue
        found = _release(service, points, cycle, (start, width), agreeing, len(usable), dated)
        days = frozenset(found.weekdays)
        curve, mean = _binned(_old_delays(points, cycle, start + width / 2, days), cycle)
        return replace(found, curve=curve, lasts_mean_minutes=mean)
    return None


def _old_delays(
    points: Sequence[tuple[datetime, bool]], cycle: str, release: float, days: frozenset[int]
) -> list[tuple[float, bool]]:
    """The delays ``_curve`` binned, as it found them: every probe's day looked up."""
    kept = []
    for at, dated in points:
        delay = (_old_phase(at, cycle) - release) % CYCLES[cycle]
        if (at - timedelta(seconds=delay)).astimezone(PARIS).weekday() in days:
            kept.append((delay, dated))
    return kept


def _series(rng: random.Random) -> list[tuple[datetime, bool]]:
    """A service's valid probes: a weekly or daily batch (or none), probed at random or fixed
    minutes (whole seconds, so that spans meet end to start exactly), with noise, ties, gaps,
    over daylight saving changes sometimes."""
    first = datetime(2024, rng.choice([1, 3, 6, 10, 12]), rng.randint(1, 28), tzinfo=UTC)
    step = rng.choice([3600, 3600, 1800, 1200, 7200, 600])
    count = rng.choice([0, 1, 3, 5, 5, 8, 8]) * 7 * 86_400 // step - rng.randrange(2)
    plan = rng.choice(["random", "fixed", "whole"])
    kind = rng.choice(["weekly"] * 4 + ["daily"] * 2 + ["none"])
    release = rng.uniform(0, CYCLES["weekly" if kind == "weekly" else "daily"])
    lasts = rng.choice([0.2, 1.0, 3.0, 9.0, 30.0]) * rng.uniform(0.5, 1.5) * 3600
    days = set(rng.sample(range(7), rng.randint(3, 7)))
    noise = rng.choice([0.0, 0.0, 0.0, 0.001, 0.01, 0.05])
    ties = rng.choice([0.0, 0.0, 0.001, 0.01])
    share = rng.uniform(0.02, 0.7)
    fixed = rng.uniform(0, step)
    points: list[tuple[datetime, bool]] = []
    for k in range(count):
        if rng.random() < 0.03:
            continue  # a probe that failed: not a valid point
        offset = rng.uniform(0, step) if plan == "random" else fixed
        if plan == "whole":
            offset = float(int(offset))
        at = first + timedelta(seconds=k * step + offset)
        if kind == "none":
            dated = rng.random() < share
        else:
            cycle = "weekly" if kind == "weekly" else "daily"
            delay = (_old_phase(at, cycle) - release) % CYCLES[cycle]
            opened = (at - timedelta(seconds=delay)).astimezone(PARIS).weekday()
            dated = delay < lasts and (kind == "weekly" or opened in days)
            if rng.random() < noise:
                dated = not dated
        points.append((at, dated))
        if rng.random() < ties:  # two probes at the same instant
            points.append((at, rng.random() < 0.5))
    return points


def test_releases_are_those_of_the_search_as_it_was() -> None:
    rng = random.Random(18)
    found = {"weekly": 0, "daily": 0, None: 0}
    for trial in range(600):
        points = _series(rng)
        new, old = detect_release("s", points), _old_detect("s", points)
        assert repr(new) == repr(old), trial  # repr: floats to the last bit
        assert new == old
        found[None if new is None else new.cycle] += 1
    # The series exercise both cycles and none (the loop above would pass vacuously otherwise).
    assert min(found.values()) >= 50, found


def _spans_near_ties(rng: random.Random, period: int) -> list[tuple[float, float]]:
    """Spans whose ends fall on, or a few rounding steps or a microsecond beside, other spans'
    starts and ends, across the cycle's end too: where a bound could miss a covering span."""
    spans: list[tuple[float, float]] = []
    for _ in range(rng.choice([1, 3, 20, 80])):
        if spans and rng.random() < 0.7:
            start, length = rng.choice(spans)
            anchor = rng.choice([start, (start + length) % period])
            nudge = rng.choice([0.0, 1e-6, -1e-6, 2e-6, 5e-7, -5e-7])
            value = anchor + nudge
            for _ in range(rng.randint(0, 3)):
                value = math.nextafter(value, rng.choice([-math.inf, math.inf]))
            if rng.random() < 0.5:
                spans.append((value % period, rng.choice([length, rng.uniform(0, 7200)])))
            else:  # a span ending there
                length = rng.uniform(0, 7200)
                spans.append(((value - length) % period, length))
        else:
            near_end = rng.random() < 0.3
            start = period - rng.uniform(0, 3600) if near_end else rng.uniform(0, period)
            spans.append((start % period, rng.choice([3600.0, rng.uniform(0, 7200)])))
    return spans


@pytest.mark.parametrize("cycle", ["weekly", "daily"])
def test_window_is_the_search_as_it_was_near_ties(cycle: str) -> None:
    period = CYCLES[cycle]
    rng = random.Random(5)
    for trial in range(2000):
        spans = _spans_near_ties(rng, period)
        points = [(s + n) % period for s, n in spans]
        bounds = releases._at_most(spans, points, period)
        for point, bound in zip(points, bounds, strict=True):
            exact = sum(_old_covers(s, n, point, period) for s, n in spans)
            assert bound >= exact, (trial, point)
        new, old = releases._best_window(spans, period), _old_best_window(spans, period)
        assert repr(new) == repr(old), trial
